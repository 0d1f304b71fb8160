"""Calls a supervisor refuses outright (EPERM) for what they could do later, each with one
audit record.

Under a supervisor that decides exec, or whose modules follow a task's lineage, some calls are
refused whatever they name: a clone sharing memory, files or cwd (execve/race.py
SHARING_CLONES), the later writers (io_setup, io_uring_setup, userfaultfd), a CLONE_PARENT clone,
a child subreaper, PR_SET_MM. The notification filter answered them EPERM itself, which left
no record anywhere (red team 14): that filter cannot carry SECCOMP_FILTER_FLAG_LOG as the
baseline does, since the kernel would then log every notification too (`user_notif` is in
/proc/sys/kernel/seccomp/actions_logged by default). So the filter routes them to the
supervisor, which refuses them here as module=supervisor, operation `syscall` and the call's
name as the object (as the kernel's SECCOMP records have them). Where the baseline refuses
one too (io_uring_setup), its ERRNO takes precedence over the notification and the kernel's
record is the one.
"""

from __future__ import annotations

import errno
import time

from stockade.enforce import seccomp as sc
from stockade.enforce.plan.types import SeccompRule
from stockade.lsm.module import Mode, Verdict
from stockade.lsm.stack import DENIED, AuditEvent
from stockade.lsm.types import Request

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Iterable

    from stockade.enforce.supervisor.loop import Handler, Supervisor

#: one refused call: (system call, the conditions on its arguments, why)
Refusal = tuple[str, tuple[sc.ArgCmp, ...], str]


def notify_rules(refused: Iterable[Refusal]) -> list[SeccompRule]:
    """The notification filter's routes of the refused calls (with their conditions)."""
    return [SeccompRule(name, sc.NOTIFY, conds, f"supervisor: refused ({why})")
            for name, conds, why in refused]


def install(sup: Supervisor, refused: Iterable[Refusal]) -> None:
    """Put a handler refusing the calls of `refused` in front of `sup`'s table: a call whose
    arguments meet one entry's conditions is refused (EPERM, audited); any other goes to the
    handler it had (a call routed for another reason), or is denied when it had none."""
    by_nr: dict[int, list[Refusal]] = {}
    for entry in refused:
        try:
            nr = sc.resolve_syscall(entry[0])
        except KeyError:
            continue
        if nr >= 0:
            by_nr.setdefault(nr, []).append(entry)
    for nr, entries in by_nr.items():
        sup.table[nr] = _handler(entries, sup.table.get(nr))


def _handler(entries: list[Refusal], inner: Handler | None) -> Handler:
    def refuse(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
        for name, conds, why in entries:
            if all(c.holds(a[c.arg]) for c in conds):
                task = sup.task(tid)
                if sup.audit_sink is not None:
                    sup.audit_sink(AuditEvent(
                        Request("syscall", task.subject, None),
                        Verdict("supervisor", errno.EPERM, why, fields=(("name", name),)),
                        DENIED, Mode.ENFORCE, time.time(), 0))
                sup.deny(nid, errno.EPERM)
                return
        if inner is None:
            sup.deny(nid, errno.EPERM)  # routed only to be refused: fail closed
            return
        inner(sup, nid, tid, a)
    return refuse
