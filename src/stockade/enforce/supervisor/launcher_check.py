"""The supervisor's half of the launcher guard (enforce/launcher_guard.py): a call that names a
task by id is refused when that task is a thread of the launcher.

The launcher starts and ends threads during a run (the denial collector, the supervisor's
per-request threads), so the seccomp filter cannot list their ids: the calls of
`launcher_guard.TARGETS` naming a task come here. The task's thread-group id is read through a
pidfd of that very task (PIDFD_GET_INFO, Linux 6.13; /proc/PID/status before, with the pidfd
checked alive after the read), so a task that exits and whose id is reused while we look is not
mistaken for another. A call naming no task fails with ESRCH here (continued, the kernel would
look the id up again, and a launcher thread started meanwhile could have it); one naming
another process continues in the kernel: its id is taken until that task is reaped, and pids
are handed out cyclically, so the id of a task reaped in between goes to a new thread only
after the whole pid space wrapped around to it (docs/enforce.md, known limits).
"""

from __future__ import annotations

import _signal as signal  # signal's C core: no enum conversions (start-up)
import errno
import fcntl
import os
import struct

from stockade.enforce import seccomp as sc
from stockade.enforce.launcher_guard import TARGETS, Target
from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.target import status_fields

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from stockade.enforce.supervisor.loop import Handler, Supervisor

_INFO_SIZE = 64  # PIDFD_INFO_SIZE_VER0: mask, cgroupid, pid, tgid, ...
PIDFD_GET_INFO = (3 << 30) | (_INFO_SIZE << 16) | (0xFF << 8) | 11  # _IOWR(0xFF, 11, ...)
PIDFD_INFO_PID = 1


def _tgid_from_status(pid: int, pidfd: int) -> int:
    tgid = status_fields(pid).get("Tgid")
    if pidfd >= 0:
        signal.pidfd_send_signal(pidfd, 0)  # still that task: the status read was its own
    if not tgid:
        raise OSError(errno.ESRCH, "no Tgid")
    return int(tgid)


def thread_group(tid: int) -> int:
    """The thread-group id of task `tid` now; 0 when no such task exists."""
    try:
        pidfd = ksys.pidfd_open(tid, ksys.PIDFD_THREAD)
    except OSError as err:
        if err.errno == errno.ESRCH:
            return 0
        if err.errno != errno.EINVAL:
            raise
        return _tgid_from_status(tid, -1)  # before Linux 6.9 (no PIDFD_THREAD): read once
    try:
        buf = bytearray(_INFO_SIZE)
        struct.pack_into("=Q", buf, 0, PIDFD_INFO_PID)
        try:
            fcntl.ioctl(pidfd, PIDFD_GET_INFO, buf)
        except OSError as err:
            if err.errno == errno.ESRCH:
                return 0
            if err.errno not in (errno.ENOTTY, errno.EINVAL):
                raise
            return _tgid_from_status(tid, pidfd)
        return struct.unpack_from("=I", buf, 20)[0]
    finally:
        os.close(pidfd)


def _named(t: Target, a: tuple[int, ...]) -> int:
    if t.when is not None and a[t.when[0]] & 0xFFFFFFFF != t.when[1]:
        return 0
    return ksys.s32(a[t.arg])


def guarded(t: Target, inner: Handler | None, launcher: int) -> Handler:
    """`inner` (or: let the kernel perform the call), unless the call names a thread of
    `launcher`: then EPERM, audited as a refusal of the supervisor."""

    def handler(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
        target = _named(t, a)
        group = thread_group(target) if target > 0 else -1
        if group == launcher:
            sup.refuse(nid, sup.task(tid), "task_kill", None, errno.EPERM,
                       f"{t.syscall}({target}): the program may not signal its launcher")
            return
        if group == 0:  # the kernel's answer, given here: a continued call would look the id
            sup.deny(nid, errno.ESRCH)  # up again, and a thread started meanwhile may have it
            return
        if inner is not None:
            inner(sup, nid, tid, a)
        else:
            sup.cont(nid)  # integer arguments: the kernel acts on exactly what was checked

    return handler


def install(sup: Supervisor, launcher: int) -> None:
    """Put the check in front of the handlers of `TARGETS` in `sup`'s table."""
    for t in TARGETS:
        try:
            nr = sc.resolve_syscall(t.syscall)
        except KeyError:
            continue
        if nr >= 0:
            sup.table[nr] = guarded(t, sup.table.get(nr), launcher)

