"""Helpers for the apparmor tests: modules from inline text, stacks, subjects, objects."""

from __future__ import annotations

import stat

from stockade.lsm.stack import Decision, Stack
from stockade.lsm.types import Object, ObjectKind, Request, Subject
from stockade.modules.apparmor import AppArmor
from stockade.modules.registry import build_stack


def module(text: str, **kw: object) -> AppArmor:
    """An AppArmor module from profile text (stockade's bundled abstractions only)."""
    return AppArmor(profiles=[text], system_includes=False, **kw)  # type: ignore[arg-type]


def stack(aa: AppArmor, lsm: str = "capability,apparmor") -> Stack:
    """capability + apparmor, no DAC (the dac module is merged separately)."""
    return build_stack(lsm, dac=False, extra={"apparmor": aa})


def subject(profile: str | None = "p", uid: int = 1000, **kw: object) -> Subject:
    contexts = (("apparmor", profile),) if profile is not None else ()
    return Subject(pid=42, comm="t", uid=uid, euid=uid, fsuid=uid, gid=uid, fsgid=uid,
                   contexts=contexts, **kw)  # type: ignore[arg-type]


def fobj(path: str, uid: int = 0, *, is_dir: bool = False, exists: bool = True) -> Object:
    mode = (stat.S_IFDIR | 0o755) if is_dir else (stat.S_IFREG | 0o644)
    return Object(kind=ObjectKind.FILE, path=path, uid=uid, mode=mode, exists=exists)


def task(profile: str | None, pid: int = 7) -> Object:
    """A task object whose AppArmor label is `profile` (None: unconfined)."""
    peer = Subject(pid=pid, comm="peer", contexts=(("apparmor", profile),) if profile else ())
    return Object(kind=ObjectKind.TASK, task=peer)


def decide(st: Stack, req: Request) -> Decision:
    return st.decide(req)


def fields(decision: Decision) -> dict[str, str]:
    """The audit fields of the decision's last event (or of the deciding verdict)."""
    verdict = decision.events[-1].verdict if decision.events else decision.decider
    assert verdict is not None
    return dict(verdict.fields)
