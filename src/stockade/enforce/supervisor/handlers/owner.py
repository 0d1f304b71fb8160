"""Handlers for chmod and chown (every variant): the inode is pinned by a descriptor, the plan
(PlanGuard) and the stack decide on what it shows, then the supervisor performs the call on
that descriptor with the target's credentials. Routed by a plain run's hybrid rules too, so it
imports no module-stack helpers."""

from __future__ import annotations

import os

from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.handlers.attr import guard
from stockade.enforce.supervisor.resolve import object_from_fd, open_as_target
from stockade.enforce.supervisor.sys import AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, s32
from stockade.lsm.setattr import chmod_request, chown_request

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from stockade.enforce.supervisor.loop import Handler, Supervisor


def _attr(sup: Supervisor, nid: int, tid: int, dirfd: int, addr: int | None, follow: bool,
          syscall: str, mode: int | None = None, owner: tuple[int, int] | None = None) -> None:
    task = sup.task(tid)
    if addr is None:  # fchmod/fchown: the target's descriptor, pinned now
        fd = os.open(f"/proc/{tid}/fd/{dirfd}", os.O_PATH | os.O_CLOEXEC)
    else:
        path = sup.mem.cstring(tid, addr)
        if not sup.valid(nid):
            return
        sup.act_as(task)
        fd = open_as_target(task, dirfd, path, os.O_PATH | (0 if follow else os.O_NOFOLLOW))
    try:
        if addr is None and not sup.valid(nid):
            return
        sup.act_as(task)
        obj = object_from_fd(fd, labels=sup.labels, walk=sup.walk, path_fd=True)
        if not guard(sup, nid, task, obj, True, "inode_setattr"):
            return
        if mode is not None:
            req = chmod_request(task.subject, obj, mode)
            op = "chmod"
        else:
            assert owner is not None
            req = chown_request(task.subject, obj, *owner)
            op = "chown"
        err = sup.decide(task, [req], syscall, op)
        if err:
            sup.deny(nid, err)
            return
        if mode is not None:
            ksys.fchmod_path_fd(fd, mode)
        else:
            assert owner is not None
            ksys.fchownat_empty(fd, *owner)
    finally:
        os.close(fd)
    sup.ok(nid)


def _id(value: int) -> int:
    value &= 0xFFFFFFFF
    return -1 if value == 0xFFFFFFFF else value


def h_chmod(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """chmod(path, mode)."""
    _attr(sup, nid, tid, AT_FDCWD, a[0], True, "chmod", mode=a[1] & 0o7777)


def h_fchmod(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """fchmod(fd, mode)."""
    _attr(sup, nid, tid, s32(a[0]), None, True, "fchmod", mode=a[1] & 0o7777)


def h_fchmodat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """fchmodat(dirfd, path, mode) (the system call has no flags)."""
    _attr(sup, nid, tid, s32(a[0]), a[1], True, "fchmodat", mode=a[2] & 0o7777)


def h_fchmodat2(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """fchmodat2(dirfd, path, mode, flags)."""
    flags = a[3] & 0xFFFFFFFF
    if flags & AT_EMPTY_PATH and not a[1]:
        _attr(sup, nid, tid, s32(a[0]), None, True, "fchmodat2", mode=a[2] & 0o7777)
        return
    _attr(sup, nid, tid, s32(a[0]), a[1], not flags & AT_SYMLINK_NOFOLLOW, "fchmodat2",
          mode=a[2] & 0o7777)


def h_chown(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """chown(path, uid, gid)."""
    _attr(sup, nid, tid, AT_FDCWD, a[0], True, "chown", owner=(_id(a[1]), _id(a[2])))


def h_lchown(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """lchown(path, uid, gid)."""
    _attr(sup, nid, tid, AT_FDCWD, a[0], False, "lchown", owner=(_id(a[1]), _id(a[2])))


def h_fchown(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """fchown(fd, uid, gid)."""
    _attr(sup, nid, tid, s32(a[0]), None, True, "fchown", owner=(_id(a[1]), _id(a[2])))


def h_fchownat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """fchownat(dirfd, path, uid, gid, flags)."""
    flags = a[4] & 0xFFFFFFFF
    owner = (_id(a[2]), _id(a[3]))
    if flags & AT_EMPTY_PATH:
        _attr(sup, nid, tid, s32(a[0]), None, True, "fchownat", owner=owner)
        return
    _attr(sup, nid, tid, s32(a[0]), a[1], not flags & AT_SYMLINK_NOFOLLOW, "fchownat",
          owner=owner)


HANDLERS: dict[str, Handler] = {
    "chmod": h_chmod, "fchmod": h_fchmod, "fchmodat": h_fchmodat, "fchmodat2": h_fchmodat2,
    "chown": h_chown, "lchown": h_lchown, "fchown": h_fchown, "fchownat": h_fchownat,
}
