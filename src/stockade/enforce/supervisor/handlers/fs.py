"""Handlers for the calls that change names (unlink, mkdir, rename, link, symlink, mknod):
resolved to a pinned parent directory, decided on what the descriptors show, then performed by
the supervisor with the target's credentials. chmod and chown are in owner.py."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING

from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.resolve import object_at, object_from_fd, open_as_target, open_parent
from stockade.enforce.supervisor.sys import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_REMOVEDIR,
    AT_SYMLINK_FOLLOW,
    s32,
)
from stockade.lsm.types import MAY_WRITE, Object, Request
from stockade.modules.labels import new_file_labels
from stockade.slotted import replace

if TYPE_CHECKING:
    from stockade.enforce.supervisor.loop import Handler, Supervisor
    from stockade.enforce.supervisor.target import TaskInfo


def _dot_errno(name: bytes, op: str) -> int:
    """What the kernel answers for "." or ".." as the last component."""
    if op == "mkdir":
        return errno.EEXIST
    if op == "rmdir":
        return errno.EINVAL if name == b"." else errno.ENOTEMPTY
    if op == "unlink":
        return errno.EISDIR
    return errno.EBUSY


class _Parent:
    """A resolved parent directory (closed on exit) and the victim Object inside it."""

    def __init__(self, sup: Supervisor, task: TaskInfo, dirfd: int, path: bytes) -> None:
        self.fd, self.name = open_parent(task, dirfd, path)
        self.obj: Object | None = None
        try:
            if self.name not in (b".", b"..", b""):
                self.obj = object_at(self.fd, self.name, labels=sup.labels, walk=sup.walk)
        except BaseException:
            os.close(self.fd)
            raise

    def __enter__(self) -> _Parent:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def _name_op(sup: Supervisor, nid: int, tid: int, dirfd: int, addr: int, op: str, syscall: str,
             mode: int = 0, dev: int = 0) -> None:
    task = sup.task(tid)
    path = sup.mem.cstring(tid, addr)
    if not sup.valid(nid):
        return
    sup.act_as(task, umask=op in ("mkdir", "mknod"))
    with _Parent(sup, task, dirfd, path) as par:
        if par.obj is None:
            sup.deny(nid, _dot_errno(par.name, op) if par.name else errno.ENOENT)
            return
        obj = par.obj
        if op in ("mkdir", "mknod"):
            if obj.exists:
                sup.deny(nid, errno.EEXIST)
                return
            kind = stat.S_IFDIR if op == "mkdir" else (stat.S_IFMT(mode) or stat.S_IFREG)
            obj = replace(obj, mode=kind | (mode & 0o7777 & ~task.umask), uid=task.subject.fsuid,
                          gid=task.subject.fsgid)
            if sup.labels and kind in (stat.S_IFDIR, stat.S_IFREG):  # user.* only on these
                obj = replace(obj, xattrs=new_file_labels(sup.stack.modules, task.subject, obj))
        elif not obj.exists:
            sup.deny(nid, errno.ENOENT)
            return
        hook = {"unlink": "inode_unlink", "rmdir": "inode_rmdir", "mkdir": "inode_mkdir",
                "mknod": "inode_mknod" if stat.S_IFMT(mode) not in (0, stat.S_IFREG)
                else "inode_create"}[op]
        err = sup.decide(task, [Request(hook, task.subject, obj, MAY_WRITE)], syscall, op)
        if err:
            sup.deny(nid, err)
            return
        if op == "unlink":
            os.unlink(par.name, dir_fd=par.fd)
        elif op == "rmdir":
            os.rmdir(par.name, dir_fd=par.fd)
        elif op == "mkdir":
            os.mkdir(par.name, _writable(mode & 0o7777, obj), dir_fd=par.fd)
            _label_made(par.fd, par.name, obj, os.rmdir)
        else:
            os.mknod(par.name, stat.S_IFMT(mode) | _writable(mode & 0o7777, obj), dev,
                     dir_fd=par.fd)
            _label_made(par.fd, par.name, obj, os.unlink)
    sup.ok(nid)


def _writable(mode: int, new: Object) -> int:
    """The mode to create with: owner read and write added while labels are still to be set
    (the object is opened, and `user.*` attributes need write permission); `_label_made` sets
    the real one."""
    return mode | 0o600 if new.xattrs and new.mode & 0o600 != 0o600 else mode


def _label_made(dirfd: int, name: bytes, new: Object, remove: Callable[..., None]) -> None:
    """Give the object just made as `name` the labels decided on (`new.xattrs`) and its mode,
    before the target's call returns; on failure remove it again."""
    if not new.xattrs:
        return
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd)
        try:
            for attr, value in new.xattrs:
                try:
                    os.setxattr(fd, attr, value)
                except OSError as why:
                    if why.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                        raise
            now = stat.S_IMODE(os.fstat(fd).st_mode)
            if now & 0o777 != new.mode & 0o777:
                os.chmod(fd, (now & ~0o777) | (new.mode & 0o777))
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            remove(name, dir_fd=dirfd)
        raise


def h_unlink(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """unlink(path)."""
    _name_op(sup, nid, tid, AT_FDCWD, a[0], "unlink", "unlink")


def h_unlinkat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """unlinkat(dirfd, path, flags): AT_REMOVEDIR makes it rmdir."""
    op = "rmdir" if a[2] & AT_REMOVEDIR else "unlink"
    _name_op(sup, nid, tid, s32(a[0]), a[1], op, "unlinkat")


def h_rmdir(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """rmdir(path)."""
    _name_op(sup, nid, tid, AT_FDCWD, a[0], "rmdir", "rmdir")


def h_mkdir(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """mkdir(path, mode)."""
    _name_op(sup, nid, tid, AT_FDCWD, a[0], "mkdir", "mkdir", a[1] & 0o7777)


def h_mkdirat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """mkdirat(dirfd, path, mode)."""
    _name_op(sup, nid, tid, s32(a[0]), a[1], "mkdir", "mkdirat", a[2] & 0o7777)


def h_mknod(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """mknod(path, mode, dev)."""
    _name_op(sup, nid, tid, AT_FDCWD, a[0], "mknod", "mknod", a[1] & 0o177777, a[2])


def h_mknodat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """mknodat(dirfd, path, mode, dev)."""
    _name_op(sup, nid, tid, s32(a[0]), a[1], "mknod", "mknodat", a[2] & 0o177777, a[3])


def _two(sup: Supervisor, nid: int, tid: int, olddir: int, oldaddr: int, newdir: int,
         newaddr: int, op: str, syscall: str, flags: int = 0) -> None:
    """rename and link: two resolved names."""
    task = sup.task(tid)
    old = sup.mem.cstring(tid, oldaddr)
    new = sup.mem.cstring(tid, newaddr)
    if not sup.valid(nid):
        return
    sup.act_as(task)
    with _Parent(sup, task, olddir, old) as src, _Parent(sup, task, newdir, new) as dst:
        if src.obj is None or dst.obj is None:
            sup.deny(nid, errno.EBUSY if op == "rename" else errno.EEXIST)
            return
        source = src.obj
        if op == "link" and flags & AT_SYMLINK_FOLLOW and source.exists:
            fd = open_as_target(task, olddir, old, os.O_PATH)
            try:
                source = replace(object_from_fd(fd, labels=sup.labels, walk=False, path_fd=True),
                                 parent=source.parent, ancestors=source.ancestors)
            finally:
                os.close(fd)
        if not source.exists:
            sup.deny(nid, errno.ENOENT)
            return
        hook = "inode_rename" if op == "rename" else "inode_link"
        err = sup.decide(task, [Request(hook, task.subject, source, MAY_WRITE, target=dst.obj,
                                        flags=flags if op == "rename" else 0)],
                         syscall, op, target=dst.obj.path)
        if err:
            sup.deny(nid, err)
            return
        if op == "rename":
            ksys.renameat2(src.fd, src.name, dst.fd, dst.name, flags)
        else:
            os.link(src.name, dst.name, src_dir_fd=src.fd, dst_dir_fd=dst.fd,
                    follow_symlinks=bool(flags & AT_SYMLINK_FOLLOW))
    sup.ok(nid)


def h_rename(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """rename(old, new)."""
    _two(sup, nid, tid, AT_FDCWD, a[0], AT_FDCWD, a[1], "rename", "rename")


def h_renameat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """renameat(olddir, old, newdir, new)."""
    _two(sup, nid, tid, s32(a[0]), a[1], s32(a[2]), a[3], "rename", "renameat")


def h_renameat2(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """renameat2(olddir, old, newdir, new, flags)."""
    _two(sup, nid, tid, s32(a[0]), a[1], s32(a[2]), a[3], "rename", "renameat2",
         a[4] & 0xFFFFFFFF)


def h_link(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """link(old, new)."""
    _two(sup, nid, tid, AT_FDCWD, a[0], AT_FDCWD, a[1], "link", "link")


def h_linkat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """linkat(olddir, old, newdir, new, flags); AT_EMPTY_PATH is refused (needs
    CAP_DAC_READ_SEARCH in the kernel, and the supervisor would link its own descriptor)."""
    if a[4] & AT_EMPTY_PATH:
        sup.deny(nid, errno.ENOENT)
        return
    _two(sup, nid, tid, s32(a[0]), a[1], s32(a[2]), a[3], "link", "linkat", a[4] & 0xFFFFFFFF)


def _symlink(sup: Supervisor, nid: int, tid: int, textaddr: int, newdir: int, newaddr: int,
             syscall: str) -> None:
    task = sup.task(tid)
    text = sup.mem.cstring(tid, textaddr)
    new = sup.mem.cstring(tid, newaddr)
    if not sup.valid(nid):
        return
    sup.act_as(task)
    with _Parent(sup, task, newdir, new) as dst:
        if dst.obj is None or dst.obj.exists:
            sup.deny(nid, errno.EEXIST)
            return
        obj = replace(dst.obj, mode=stat.S_IFLNK | 0o777, uid=task.subject.fsuid,
                      gid=task.subject.fsgid)
        err = sup.decide(task, [Request("inode_symlink", task.subject, obj, MAY_WRITE)],
                         syscall, "symlink", target=os.fsdecode(text))
        if err:
            sup.deny(nid, err)
            return
        os.symlink(text, dst.name, dir_fd=dst.fd)
    sup.ok(nid)


def h_symlink(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """symlink(target, new)."""
    _symlink(sup, nid, tid, a[0], AT_FDCWD, a[1], "symlink")


def h_symlinkat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """symlinkat(target, newdir, new)."""
    _symlink(sup, nid, tid, a[0], s32(a[1]), a[2], "symlinkat")


HANDLERS: dict[str, Handler] = {
    "unlink": h_unlink, "unlinkat": h_unlinkat, "rmdir": h_rmdir, "mkdir": h_mkdir,
    "mkdirat": h_mkdirat, "mknod": h_mknod, "mknodat": h_mknodat, "rename": h_rename,
    "renameat": h_renameat, "renameat2": h_renameat2, "link": h_link, "linkat": h_linkat,
    "symlink": h_symlink, "symlinkat": h_symlinkat,
}
