"""Signals: every system call that sends one to another task reaches the `task_kill` hook.

kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo and pidfd_send_signal name their
target in registers: decided, then continued (the kernel sends exactly what was decided).
kill(0), kill(-pgrp) and kill(-1) reach a group: each member is decided, and the first denial
refuses the whole call (the kernel would deliver to the members it allows and skip the rest:
stricter, never weaker). SIGIO and F_SETSIG signals are sent by the kernel later, to a file's
owner: the calls that set the owner or the signal (fcntl F_SETOWN, F_SETOWN_EX, F_SETSIG;
ioctl FIOSETOWN, SIOCSPGRP) are decided for the owner and the signal the file will then send,
read from the same open file (pidfd_getfd). Residual races, documented in docs/supervisor.md:
a process that joins the group between the decision and the kernel's delivery, and another
thread changing the owner or signal of the same file at the same moment.
"""

from __future__ import annotations

import _signal as signal  # signal's C core: no enum conversions (start-up)
import errno
import fcntl
import os
import struct

from stockade.enforce.launcher_guard import F_SETOWN, F_SETOWN_EX
from stockade.enforce.supervisor.execve import race as exec_race
from stockade.enforce.supervisor.routing import F_SETSIG, OWNER_FCNTL
from stockade.enforce.supervisor.sys import s32
from stockade.errors import StockadeError
from stockade.lsm.probe import subject_from_pid
from stockade.lsm.types import Object, ObjectKind, Request
from stockade.slotted import replace

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from stockade.enforce.supervisor.loop import Handler, Supervisor
    from stockade.enforce.supervisor.target import TaskInfo

F_GETSIG, F_GETOWN_EX = 11, 16
F_OWNER_PGRP = 2


def task_object(sup: Supervisor, pid: int) -> Object | None:
    """A task as the object of a signal or ptrace; supervised tasks carry their labels."""
    if pid <= 0:
        return None
    try:
        subject = sup.helper.call(subject_from_pid, pid)
    except StockadeError:
        return None
    labels = sup.tasks.contexts_in_tree(pid)  # rooted lineages only: never UnknownTask
    if labels:
        merged = {**dict(subject.contexts), **dict(labels)}
        subject = replace(subject, contexts=tuple(sorted(merged.items())))
    return Object(kind=ObjectKind.TASK, path=f"/proc/{pid}", task=subject)


def _pgrp_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rpartition(b")")[2].split()[2])


def group_members(pgrp: int, caller: int, launcher: int) -> list[int]:
    """The processes kill(-pgrp) reaches (pgrp -1: every process but init and the caller),
    without the launcher, which its own seccomp rules and Landlock's scope keep out."""
    found: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == launcher or (pgrp == -1 and pid in (1, caller)):
            continue
        try:
            if pgrp == -1 or _pgrp_of(pid) == pgrp:
                found.append(pid)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return found


def _targets(sup: Supervisor, task: TaskInfo, pid: int) -> list[int]:
    """The processes a signal to `pid` (kill's meaning of 0 and negative values) reaches."""
    if pid > 0:
        return [pid]
    try:
        pgrp = -1 if pid == -1 else (sup.helper.call(_pgrp_of, task.tgid) if pid == 0 else -pid)
        return sup.helper.call(group_members, pgrp, task.tgid, os.getpid())
    except (OSError, ValueError, IndexError):
        return []


def decide_signal(sup: Supervisor, task: TaskInfo, pid: int, sig: int, syscall: str) -> int:
    """The stack's errno for sending `sig` to `pid` (kill's meaning): 0 when every process it
    reaches may get it, else the first denial's (audited by `decide`)."""
    for target in _targets(sup, task, pid):
        req = Request("task_kill", task.subject, task_object(sup, target), signal=sig)
        err = sup.decide(task, [req], syscall, "signal", peer={"pid": target})
        if err:
            return err
    return 0


def _answer(sup: Supervisor, nid: int, err: int) -> None:
    if err:
        sup.deny(nid, err)
    else:
        sup.cont(nid)  # integer arguments: the kernel sends exactly what was decided


def h_kill(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """kill(pid, sig)."""
    _answer(sup, nid, decide_signal(sup, sup.task(tid), s32(a[0]), a[1] & 0xFFFFFFFF, "kill"))


def h_tkill(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """tkill(tid, sig)."""
    _thread_signal(sup, nid, tid, s32(a[0]), a[1] & 0xFFFFFFFF, "tkill")


def h_tgkill(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """tgkill(tgid, tid, sig)."""
    _thread_signal(sup, nid, tid, s32(a[0]), a[2] & 0xFFFFFFFF, "tgkill")


def h_rt_sigqueueinfo(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """rt_sigqueueinfo(tgid, sig, info): a signal with data, to a process."""
    _thread_signal(sup, nid, tid, s32(a[0]), a[1] & 0xFFFFFFFF, "rt_sigqueueinfo")


def h_rt_tgsigqueueinfo(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """rt_tgsigqueueinfo(tgid, tid, sig, info): a signal with data, to a thread."""
    _thread_signal(sup, nid, tid, s32(a[0]), a[2] & 0xFFFFFFFF, "rt_tgsigqueueinfo")


def _thread_signal(sup: Supervisor, nid: int, tid: int, pid: int, sig: int, syscall: str) -> None:
    """A call whose target must be one process (no group meaning): the kernel refuses pid <= 0
    with EINVAL or ESRCH itself, so only a positive pid is decided."""
    if pid <= 0:
        sup.cont(nid)
        return
    _answer(sup, nid, decide_signal(sup, sup.task(tid), pid, sig, syscall))


def _pidfd_pid(tid: int, fd: int) -> int:
    with open(f"/proc/{tid}/fdinfo/{fd}", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("Pid:"):
                return int(line.split()[1])
    return -1


def _shared(sup: Supervisor, task: TaskInfo, addr: int, length: int) -> str:
    """Why another task could change, between the decision and the kernel's own look, what
    the call names through memory at `addr` or through its descriptor table ("": no one;
    exec_race.writers: threads and vfork share both)."""
    why, files = sup.helper.call(exec_race.writers, task.tid, task.tgid, addr, length)
    return why or (f"it lies in a mapping of {files[0]}" if files else "")


def _refuse_shared(sup: Supervisor, nid: int, task: TaskInfo, syscall: str, why: str) -> None:
    sup.refuse(nid, task, "task_kill", None, errno.EPERM,
               f"{syscall}: the signal's target cannot be decided soundly: {why}, so it could "
               "change between the decision and the call")


def h_pidfd_send_signal(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """pidfd_send_signal(pidfd, sig, info, flags): the pidfd's process from fdinfo. The kernel
    looks the descriptor up again: refused where another task shares the descriptor table."""
    task = sup.task(tid)
    why = _shared(sup, task, 0, 0)
    if why:
        _refuse_shared(sup, nid, task, "pidfd_send_signal", why)
        return
    try:
        pid = sup.helper.call(_pidfd_pid, tid, s32(a[0]))
    except OSError:
        sup.deny(nid, errno.EBADF)
        return
    if pid <= 0:
        sup.cont(nid)  # the process is gone: the kernel answers ESRCH
        return
    _answer(sup, nid, decide_signal(sup, task, pid, a[1] & 0xFFFFFFFF, "pidfd_send_signal"))


# -- SIGIO: the owner of a file and its signal -------------------------------------------------

def _file_owner(ours: int) -> tuple[int, int]:
    """(kill-style pid of the owner, the signal it gets) of the open file `ours`."""
    kind, pid = struct.unpack("ii", fcntl.fcntl(ours, F_GETOWN_EX, bytes(8)))
    sig = fcntl.fcntl(ours, F_GETSIG) or signal.SIGIO
    return (-pid if kind == F_OWNER_PGRP and pid else pid), sig


def _owner_ex(sup: Supervisor, tid: int, addr: int) -> int:
    """The kill-style pid a struct f_owner_ex at `addr` names (its type decides the sign)."""
    kind, pid = struct.unpack("ii", sup.mem.read(tid, addr, 8).ljust(8, b"\0"))
    return -pid if kind == F_OWNER_PGRP and pid else pid


def h_fcntl(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """fcntl F_SETOWN, F_SETOWN_EX, F_SETSIG: decided for the owner the file will signal and
    the signal it will send, after this call (routed only for these commands)."""
    cmd = a[1] & 0xFFFFFFFF
    _owner_call(sup, nid, tid, s32(a[0]), cmd, a[2])


def h_ioctl(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """ioctl FIOSETOWN, SIOCSPGRP: F_SETOWN with the pid in memory (routed only for these)."""
    _owner_call(sup, nid, tid, s32(a[0]), a[1] & 0xFFFFFFFF, a[2])


def _owner_call(sup: Supervisor, nid: int, tid: int, fd: int, cmd: int, arg: int) -> None:
    task = sup.task(tid)
    if cmd not in (F_SETOWN, F_SETSIG):  # the owner is read from memory: the kernel reads it
        why = _shared(sup, task, arg, 8)  # again, so no other task may be able to change it
        if why:
            _refuse_shared(sup, nid, task, "fcntl" if cmd == F_SETOWN_EX else "ioctl", why)
            return
    try:
        ours = sup.take_fd(task, fd)
    except OSError:
        sup.cont(nid)  # not an open descriptor: the kernel answers EBADF
        return
    try:
        owner, sig = _file_owner(ours)
        if cmd == F_SETSIG:
            sig = (arg & 0xFFFFFFFF) or signal.SIGIO
        elif cmd == F_SETOWN:
            owner = s32(arg)
        elif cmd == F_SETOWN_EX:
            owner = _owner_ex(sup, tid, arg)
        else:  # FIOSETOWN, SIOCSPGRP: an int in memory, F_SETOWN's meaning
            owner = struct.unpack("i", sup.mem.read(tid, arg, 4).ljust(4, b"\0"))[0]
    except OSError as e:
        sup.deny(nid, e.errno or errno.EFAULT)
        return
    finally:
        os.close(ours)
    if owner == 0 or not sup.valid(nid):
        sup.cont(nid)  # no owner: no signal will be sent
        return
    name = "fcntl" if cmd in OWNER_FCNTL else "ioctl"
    _answer(sup, nid, decide_signal(sup, task, owner, sig, name))


HANDLERS: dict[str, Handler] = {
    "kill": h_kill, "tkill": h_tkill, "tgkill": h_tgkill,
    "rt_sigqueueinfo": h_rt_sigqueueinfo, "rt_tgsigqueueinfo": h_rt_tgsigqueueinfo,
    "pidfd_send_signal": h_pidfd_send_signal, "fcntl": h_fcntl, "ioctl": h_ioctl,
}
