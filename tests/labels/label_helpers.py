"""Constructors shared by the label-module tests."""

from __future__ import annotations

import stat

from stockade.audit.formats import kernel_line
from stockade.audit.record import record_from_event
from stockade.lsm.stack import AuditEvent, Stack
from stockade.lsm.types import Object, ObjectKind, Subject


def subj(pid: int = 100, caps: int = 0, uid: int = 1000, nnp: bool = False,
         **contexts: str) -> Subject:
    return Subject(pid=pid, comm=f"p{pid}", uid=uid, euid=uid, suid=uid, fsuid=uid, gid=uid,
                   egid=uid, sgid=uid, fsgid=uid, cap_effective=caps, cap_permitted=caps,
                   no_new_privs=nnp, contexts=tuple(contexts.items()))


def fobj(path: str, module: str = "", label: str | None = None, *, is_dir: bool = False,
         parent: Object | None = None, exists: bool = True,
         extra: tuple[tuple[str, bytes], ...] = ()) -> Object:
    xattrs = ((f"user.stockade.{module}", label.encode()),) if label is not None else ()
    mode = (stat.S_IFDIR | 0o755) if is_dir else (stat.S_IFREG | 0o644)
    return Object(kind=ObjectKind.FILE, path=path, mode=mode, exists=exists, ino=7, dev=2049,
                  xattrs=xattrs + extra, parent=parent)


def task(s: Subject) -> Object:
    return Object(kind=ObjectKind.TASK, path=f"/proc/{s.pid}", task=s)


class Sink:
    """Collects the stack's audit events and renders them as kernel-style lines."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def __call__(self, event: AuditEvent) -> None:
        self.events.append(event)

    def lines(self) -> list[str]:
        return [kernel_line(record_from_event(e)) for e in self.events]


def stack_of(*modules, sink: Sink | None = None) -> Stack:
    from stockade.modules.capability import Capability

    return Stack([Capability(), *modules], audit_sink=sink)
