"""Handlers for the attribute calls Landlock does not mediate: utime*, the xattr family.

Each call is resolved to a pinned inode (an O_PATH descriptor from the target's path, opened
as the target would, or the target's own descriptor), decided (the plan's grant on the inode's
path when the plan restricts the filesystem, then the stack's inode_setattr/inode_setxattr
hooks) and performed by the supervisor on that inode with the target's credentials; the
result (and for queries the bytes) is handed back. Nothing is continued: every argument the
kernel would read from the target's memory has been copied once, before the decision.
Label attributes (`user.stockade.*`) cannot be set or removed by the labelled program.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import struct

from stockade.enforce._libc import LIBC
from stockade.enforce.supervisor.resolve import object_from_fd, open_as_target
from stockade.enforce.supervisor.sys import AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, s32
from stockade.lsm.types import LABEL_XATTR_PREFIX, MAY_WRITE, Object, Request

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from stockade.enforce.supervisor.loop import Handler, Supervisor
    from stockade.enforce.supervisor.target import TaskInfo

XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_LIST_MAX = 65536
UTIME_NOW = (1 << 30) - 1
_XATTR_ARGS = struct.Struct("=QII")  # struct xattr_args { u64 value; u32 size; u32 flags; }

LIBC.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
_PVW = ctypes.CFUNCTYPE(ctypes.c_ssize_t, ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong,
                        ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong,
                        use_errno=True)(("process_vm_writev", LIBC))


class _Iov(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def write_memory(pid: int, addr: int, data: bytes) -> None:
    """Copy `data` into the target at `addr` (process_vm_writev); EFAULT if it does not fit."""
    if not data:
        return
    buf = ctypes.create_string_buffer(data, len(data))
    local, remote = _Iov(ctypes.addressof(buf), len(data)), _Iov(addr, len(data))
    got = _PVW(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    if got != len(data):
        raise OSError(errno.EFAULT, "Bad address")


def pin(sup: Supervisor, nid: int, tid: int, task: TaskInfo, dirfd: int, path: bytes | None,
        follow: bool) -> int | None:
    """An O_PATH descriptor of the object the call names (None: the target moved on).

    `path` None (or empty with AT_EMPTY_PATH): the target's descriptor `dirfd` itself.
    """
    if path is None or path == b"":
        if not sup.valid(nid):
            return None
        return os.open(f"/proc/{tid}/fd/{dirfd}", os.O_PATH | os.O_CLOEXEC)
    if not sup.valid(nid):
        return None
    sup.act_as(task)
    return open_as_target(task, dirfd, path, os.O_PATH | (0 if follow else os.O_NOFOLLOW))


class Pinned:
    """`with Pinned(...) as (task, fd)`: the task and `pin`'s descriptor (None: the target
    moved on), the supervisor acting as the task; the descriptor is closed on leaving."""

    __slots__ = ("_args", "_fd", "_sup")

    def __init__(self, sup: Supervisor, nid: int, tid: int, dirfd: int, path: bytes | None,
                 follow: bool) -> None:
        self._sup = sup
        self._args = (nid, tid, dirfd, path, follow)
        self._fd: int | None = None

    def __enter__(self) -> tuple[TaskInfo, int | None]:
        nid, tid, dirfd, path, follow = self._args
        task = self._sup.task(tid)
        fd = pin(self._sup, nid, tid, task, dirfd, path, follow)
        if fd is not None:
            try:
                self._sup.act_as(task)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
        return task, fd

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_path(sup: Supervisor, tid: int, addr: int, flags: int, nullable: bool = False
              ) -> bytes | None:
    """The path argument: None when the call names a descriptor (NULL where `nullable`, or ""
    with AT_EMPTY_PATH); EFAULT for NULL and ENOENT for "" otherwise, as the kernel."""
    if not addr:
        if nullable:
            return None
        raise OSError(errno.EFAULT, "Bad address")
    path = sup.mem.cstring(tid, addr)
    if not path and not flags & AT_EMPTY_PATH:
        raise OSError(errno.ENOENT, "No such file or directory")
    return path


def _at_path(sup: Supervisor, tid: int, addr: int, at_flags: int) -> bytes | None:
    """The path of an *xattrat call (NULL allowed with AT_EMPTY_PATH)."""
    return read_path(sup, tid, addr, at_flags, nullable=bool(at_flags & AT_EMPTY_PATH))


def guard(sup: Supervisor, nid: int, task: TaskInfo, obj: Object, write: bool,
          hook: str) -> bool:
    """The plan's answer (True: go on); a refusal is answered and audited here."""
    if sup.guard is None:
        return True
    err, why = sup.guard.check(obj.path, obj.mode, write)
    if err:
        sup.refuse(nid, task, hook, obj, err, why, "w" if write else "r")  # AppArmor's letter
        return False
    return True


# -- utime family -----------------------------------------------------------------------------

def _times(sup: Supervisor, tid: int, addr: int, kind: str) -> bytes | None:
    """struct timespec[2] for utimensat from the target's utimbuf / timeval[2] / timespec[2]."""
    if not addr:
        return None
    size = {"utimbuf": 16, "timeval": 32, "timespec": 32}[kind]
    raw = sup.mem.read(tid, addr, size)
    if len(raw) != size:
        raise OSError(errno.EFAULT, "Bad address")
    if kind == "timespec":
        return raw
    if kind == "utimbuf":
        atime, mtime = struct.unpack("=qq", raw)
        return struct.pack("=qqqq", atime, 0, mtime, 0)
    a_s, a_us, m_s, m_us = struct.unpack("=qqqq", raw)
    if not (0 <= a_us < 1_000_000 and 0 <= m_us < 1_000_000):
        raise OSError(errno.EINVAL, "Invalid argument")
    return struct.pack("=qqqq", a_s, a_us * 1000, m_s, m_us * 1000)


def _utime(sup: Supervisor, nid: int, tid: int, dirfd: int, path: bytes | None, follow: bool,
           times: bytes | None, syscall: str) -> None:
    with Pinned(sup, nid, tid, dirfd, path, follow) as (task, fd):
        if fd is None:
            return
        obj = object_from_fd(fd, labels=sup.labels, walk=sup.walk, path_fd=True)
        if not guard(sup, nid, task, obj, True, "inode_setattr"):
            return
        err = sup.decide(task, [Request("inode_setattr", task.subject, obj, MAY_WRITE,
                                        what="utime")], syscall, "utime")
        if err:
            sup.deny(nid, err)
            return
        buf = ctypes.create_string_buffer(times, 32) if times is not None else None
        # the O_PATH descriptor through its /proc link: utimensat's own fd form refuses O_PATH
        res = LIBC.utimensat(AT_FDCWD, f"/proc/self/fd/{fd}".encode(), buf, 0)
        if res != 0:
            sup.deny(nid, ctypes.get_errno() or errno.EIO)
            return
    sup.ok(nid)


def h_utime(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """utime(path, struct utimbuf *)."""
    _utime(sup, nid, tid, AT_FDCWD, read_path(sup, tid, a[0], 0), True,
           _times(sup, tid, a[1], "utimbuf"), "utime")


def h_utimes(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """utimes(path, struct timeval[2])."""
    _utime(sup, nid, tid, AT_FDCWD, read_path(sup, tid, a[0], 0), True,
           _times(sup, tid, a[1], "timeval"), "utimes")


def h_futimesat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """futimesat(dirfd, path, struct timeval[2]) (a NULL path names dirfd)."""
    _utime(sup, nid, tid, s32(a[0]), read_path(sup, tid, a[1], 0, nullable=True), True,
           _times(sup, tid, a[2], "timeval"), "futimesat")


def h_utimensat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """utimensat(dirfd, path, struct timespec[2], flags) (a NULL path names dirfd)."""
    flags = a[3] & 0xFFFFFFFF
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        sup.deny(nid, errno.EINVAL)
        return
    path = read_path(sup, tid, a[1], flags, nullable=True)
    _utime(sup, nid, tid, s32(a[0]), path, not flags & AT_SYMLINK_NOFOLLOW,
           _times(sup, tid, a[2], "timespec"), "utimensat")


# -- truncate (routed only for modules with inode_setattr: Landlock's truncate right applies) ----

def _truncate(sup: Supervisor, nid: int, tid: int, fd: int, length: int, syscall: str) -> None:
    """Decide inode_setattr(truncate) on the pinned inode at our O_PATH `fd`, then truncate a
    descriptor opened for writing from it (Landlock checks write_file and truncate)."""
    task = sup.task(tid)
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        raise OSError(errno.EISDIR, "Is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "Invalid argument")
    obj = object_from_fd(fd, labels=sup.labels, walk=sup.walk, path_fd=True)
    err = sup.decide(task, [Request("inode_setattr", task.subject, obj, MAY_WRITE,
                                    what="truncate", flags=length)], syscall, "truncate")
    if err:
        sup.deny(nid, err)
        return
    wfd = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        os.ftruncate(wfd, length)
    finally:
        os.close(wfd)
    sup.ok(nid)


def h_truncate(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """truncate(path, length)."""
    length = a[1] - (1 << 64) if a[1] >= 1 << 63 else a[1]
    if length < 0:
        sup.deny(nid, errno.EINVAL)
        return
    with Pinned(sup, nid, tid, AT_FDCWD, read_path(sup, tid, a[0], 0), True) as (_task, fd):
        if fd is None:
            return
        _truncate(sup, nid, tid, fd, length, "truncate")


def h_ftruncate(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """ftruncate(fd, length): decided on the descriptor's inode, performed on our duplicate
    of the target's descriptor (the same open file description: its write mode and Landlock
    truncate right are the target's)."""
    length = a[1] - (1 << 64) if a[1] >= 1 << 63 else a[1]
    if length < 0:
        sup.deny(nid, errno.EINVAL)
        return
    task = sup.task(tid)
    if not sup.valid(nid):
        return
    dup = sup.take_fd(task, s32(a[0]))
    try:
        sup.act_as(task)
        st = os.fstat(dup)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        obj = object_from_fd(dup, labels=sup.labels, walk=sup.walk, st=st)
        err = sup.decide(task, [Request("inode_setattr", task.subject, obj, MAY_WRITE,
                                        what="truncate", flags=length)], "ftruncate", "truncate")
        if err:
            sup.deny(nid, err)
            return
        os.ftruncate(dup, length)
    finally:
        os.close(dup)
    sup.ok(nid)


# -- extended attributes ----------------------------------------------------------------------

def _name(sup: Supervisor, tid: int, addr: int) -> bytes:
    name = sup.mem.cstring(tid, addr, XATTR_NAME_MAX + 1)
    if not name:
        raise OSError(errno.ERANGE, "Numerical result out of range")
    return name


def _label_name(name: bytes, sup: Supervisor) -> bool:
    text = name.decode("utf-8", "replace")
    return text.startswith(LABEL_XATTR_PREFIX) or text in sup.label_names


def _set(sup: Supervisor, nid: int, tid: int, dirfd: int, path: bytes | None, follow: bool,
         name: bytes, value: bytes | None, flags: int, syscall: str) -> None:
    """setxattr (value bytes) or removexattr (value None) on the resolved inode."""
    with Pinned(sup, nid, tid, dirfd, path, follow) as (task, fd):
        if fd is None:
            return
        text = name.decode("utf-8", "replace")
        obj = object_from_fd(fd, labels=sup.labels, walk=sup.walk, path_fd=True)
        if _label_name(name, sup):
            sup.refuse(nid, task, "inode_setxattr", obj, errno.EPERM,
                       f"{text} is a label: the labelled program cannot change it")
            return
        if not guard(sup, nid, task, obj, True, "inode_setxattr"):
            return
        target = Object(kind=obj.kind, path=obj.path, xattrs=(
            ((text, value),) if value is not None else ()))
        req = Request("inode_setxattr", task.subject, obj, MAY_WRITE, what=text, target=target,
                      flags=flags)
        err = sup.decide(task, [req], syscall, "setxattr" if value is not None else
                         "removexattr")
        if err:
            sup.deny(nid, err)
            return
        where = f"/proc/self/fd/{fd}"
        # the O_PATH descriptor through its /proc link (f*xattr refuse O_PATH descriptors);
        # following that one magic link lands on the pinned inode itself
        if value is None:
            os.removexattr(where, name)
        else:
            os.setxattr(where, name, value, flags)
    sup.ok(nid)


def _value(sup: Supervisor, tid: int, addr: int, size: int) -> bytes:
    if size > XATTR_SIZE_MAX:
        raise OSError(errno.E2BIG, "Argument list too long")
    if not size:
        return b""
    raw = sup.mem.read(tid, addr, size) if size <= sup.mem.size else _read_long(sup, tid, addr,
                                                                                  size)
    if len(raw) != size:
        raise OSError(errno.EFAULT, "Bad address")
    return raw


def _read_long(sup: Supervisor, tid: int, addr: int, size: int) -> bytes:
    out = b""
    while len(out) < size:
        chunk = sup.mem.read(tid, addr + len(out), min(sup.mem.size, size - len(out)))
        if not chunk:
            break
        out += chunk
    return out


def h_setxattr(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """setxattr(path, name, value, size, flags)."""
    _set(sup, nid, tid, AT_FDCWD, read_path(sup, tid, a[0], 0), True, _name(sup, tid, a[1]),
         _value(sup, tid, a[2], a[3]), a[4] & 0xFFFFFFFF, "setxattr")


def h_lsetxattr(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """lsetxattr(path, name, value, size, flags)."""
    _set(sup, nid, tid, AT_FDCWD, read_path(sup, tid, a[0], 0), False, _name(sup, tid, a[1]),
         _value(sup, tid, a[2], a[3]), a[4] & 0xFFFFFFFF, "lsetxattr")


def h_fsetxattr(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """fsetxattr(fd, name, value, size, flags)."""
    _set(sup, nid, tid, s32(a[0]), None, True, _name(sup, tid, a[1]),
         _value(sup, tid, a[2], a[3]), a[4] & 0xFFFFFFFF, "fsetxattr")


def _xattr_args(sup: Supervisor, tid: int, addr: int, usize: int) -> tuple[int, int, int]:
    if usize < _XATTR_ARGS.size:
        raise OSError(errno.EINVAL, "Invalid argument")
    raw = sup.mem.read(tid, addr, _XATTR_ARGS.size)
    if len(raw) != _XATTR_ARGS.size:
        raise OSError(errno.EFAULT, "Bad address")
    return _XATTR_ARGS.unpack(raw)


def h_setxattrat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """setxattrat(dirfd, path, at_flags, name, struct xattr_args *, size)."""
    at = a[2] & 0xFFFFFFFF
    value_addr, size, flags = _xattr_args(sup, tid, a[4], a[5])
    _set(sup, nid, tid, s32(a[0]), _at_path(sup, tid, a[1], at), not at & AT_SYMLINK_NOFOLLOW,
         _name(sup, tid, a[3]), _value(sup, tid, value_addr, size), flags, "setxattrat")


def h_removexattr(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """removexattr(path, name)."""
    _set(sup, nid, tid, AT_FDCWD, read_path(sup, tid, a[0], 0), True, _name(sup, tid, a[1]),
         None, 0, "removexattr")


def h_lremovexattr(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """lremovexattr(path, name)."""
    _set(sup, nid, tid, AT_FDCWD, read_path(sup, tid, a[0], 0), False, _name(sup, tid, a[1]),
         None, 0, "lremovexattr")


def h_fremovexattr(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """fremovexattr(fd, name)."""
    _set(sup, nid, tid, s32(a[0]), None, True, _name(sup, tid, a[1]), None, 0, "fremovexattr")


def h_removexattrat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """removexattrat(dirfd, path, at_flags, name)."""
    at = a[2] & 0xFFFFFFFF
    _set(sup, nid, tid, s32(a[0]), _at_path(sup, tid, a[1], at), not at & AT_SYMLINK_NOFOLLOW,
         _name(sup, tid, a[3]), None, 0, "removexattrat")


def _query(sup: Supervisor, nid: int, tid: int, dirfd: int, path: bytes | None, follow: bool,
           name: bytes | None, out_addr: int, size: int, syscall: str) -> None:
    """getxattr (name) or listxattr (name None): performed here, bytes copied back."""
    with Pinned(sup, nid, tid, dirfd, path, follow) as (task, fd):
        if fd is None:
            return
        obj = object_from_fd(fd, labels=False, walk=False, path_fd=True)
        if not guard(sup, nid, task, obj, False, "inode_getxattr"):
            return
        where = f"/proc/self/fd/{fd}"
        data = os.getxattr(where, name) if name is not None else \
            b"".join(n.encode() + b"\0" for n in os.listxattr(where))
    if size:
        if len(data) > size:
            sup.deny(nid, errno.ERANGE)
            return
        write_memory(tid, out_addr, data)
    sup.ok(nid, len(data))


def h_getxattr(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """getxattr(path, name, value, size)."""
    _query(sup, nid, tid, AT_FDCWD, read_path(sup, tid, a[0], 0), True, _name(sup, tid, a[1]),
           a[2], min(a[3], XATTR_SIZE_MAX), "getxattr")


def h_lgetxattr(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """lgetxattr(path, name, value, size)."""
    _query(sup, nid, tid, AT_FDCWD, read_path(sup, tid, a[0], 0), False, _name(sup, tid, a[1]),
           a[2], min(a[3], XATTR_SIZE_MAX), "lgetxattr")


def h_fgetxattr(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """fgetxattr(fd, name, value, size)."""
    _query(sup, nid, tid, s32(a[0]), None, True, _name(sup, tid, a[1]), a[2],
           min(a[3], XATTR_SIZE_MAX), "fgetxattr")


def h_getxattrat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """getxattrat(dirfd, path, at_flags, name, struct xattr_args *, size)."""
    at = a[2] & 0xFFFFFFFF
    value_addr, size, _flags = _xattr_args(sup, tid, a[4], a[5])
    _query(sup, nid, tid, s32(a[0]), _at_path(sup, tid, a[1], at), not at & AT_SYMLINK_NOFOLLOW,
           _name(sup, tid, a[3]), value_addr, min(size, XATTR_SIZE_MAX), "getxattrat")


def h_listxattr(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """listxattr(path, list, size)."""
    _query(sup, nid, tid, AT_FDCWD, read_path(sup, tid, a[0], 0), True, None, a[1],
           min(a[2], XATTR_LIST_MAX), "listxattr")


def h_llistxattr(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """llistxattr(path, list, size)."""
    _query(sup, nid, tid, AT_FDCWD, read_path(sup, tid, a[0], 0), False, None, a[1],
           min(a[2], XATTR_LIST_MAX), "llistxattr")


def h_flistxattr(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """flistxattr(fd, list, size)."""
    _query(sup, nid, tid, s32(a[0]), None, True, None, a[1], min(a[2], XATTR_LIST_MAX),
           "flistxattr")


def h_listxattrat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """listxattrat(dirfd, path, at_flags, list, size)."""
    at = a[2] & 0xFFFFFFFF
    _query(sup, nid, tid, s32(a[0]), _at_path(sup, tid, a[1], at), not at & AT_SYMLINK_NOFOLLOW,
           None, a[3], min(a[4], XATTR_LIST_MAX), "listxattrat")


HANDLERS: dict[str, Handler] = {
    "truncate": h_truncate, "ftruncate": h_ftruncate,
    "utime": h_utime, "utimes": h_utimes, "futimesat": h_futimesat, "utimensat": h_utimensat,
    "setxattr": h_setxattr, "lsetxattr": h_lsetxattr, "fsetxattr": h_fsetxattr,
    "setxattrat": h_setxattrat, "removexattr": h_removexattr, "lremovexattr": h_lremovexattr,
    "fremovexattr": h_fremovexattr, "removexattrat": h_removexattrat, "getxattr": h_getxattr,
    "lgetxattr": h_lgetxattr, "fgetxattr": h_fgetxattr, "getxattrat": h_getxattrat,
    "listxattr": h_listxattr, "llistxattr": h_llistxattr, "flistxattr": h_flistxattr,
    "listxattrat": h_listxattrat,
}
