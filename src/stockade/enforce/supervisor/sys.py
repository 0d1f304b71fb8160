"""Raw system calls the supervisor makes that Python's `os` module does not wrap.

Numbers come from libseccomp's table (`resolve_syscall`), so the same code runs on x86_64 and
aarch64. Every wrapper raises OSError with the kernel's errno.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Callable

from stockade.enforce._libc import LIBC
from stockade.enforce.seccomp import resolve_syscall

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

_libc_syscall = LIBC.syscall
_libc_syscall.restype = ctypes.c_long
_L = ctypes.c_long


def s32(value: int) -> int:
    """A register holding a C int (dirfd, pid, fd): the low 32 bits, signed."""
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


def _syscall(nr: int, *args: object) -> int:
    """syscall(2) with every integer passed as a full `long` (a variadic C int would leave the
    register's upper half undefined)."""
    return int(_libc_syscall(_L(nr), *[_L(a) if isinstance(a, int) else a for a in args]))

NR: dict[str, int] = {}
for _name in ("process_vm_readv", "openat2", "pidfd_open", "pidfd_getfd", "setfsuid", "setfsgid",
              "setgroups", "unshare", "fchownat", "fchmodat2", "renameat2", "capget", "capset"):
    try:
        NR[_name] = resolve_syscall(_name)
    except KeyError:  # pragma: no cover - every supported architecture has them
        NR[_name] = -1

CLONE_FS = 0x00000200
PIDFD_THREAD = os.O_EXCL  # Linux 6.9: a pidfd for a thread, not only a thread-group leader
#: the *at() calls' dirfd and flags (include/uapi/linux/fcntl.h); the os module has none of them
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


OPEN_HOW = struct.Struct("=QQQ")


def _check(result: int) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


# process_vm_readv through glibc's wrapper with a typed prototype: integers go straight into
# registers (no per-call c_long objects) and errno is captured for ctypes.get_errno()
_PVR = ctypes.CFUNCTYPE(ctypes.c_ssize_t, ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong,
                        ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong,
                        use_errno=True)(("process_vm_readv", LIBC))
_FIRST_READ = 256  # most paths fit: read the rest of the page only when they do not


class MemReader:
    """process_vm_readv into one reusable buffer (one copy, no /proc file to open).

    Not /proc/PID/mem: with CONFIG_PROC_MEM_ALWAYS_FORCE (the default) its reads use FOLL_FORCE
    and succeed on PROT_NONE pages where the kernel gives the target EFAULT, and a mem fd stays
    bound to the mm it was opened on (stale after exec).
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._buf = bytearray(size)
        self._view = memoryview(self._buf)
        self._cbuf = (ctypes.c_char * size).from_buffer(self._buf)
        self._local = _Iovec(ctypes.addressof(self._cbuf), size)
        self._remote = _Iovec(0, 0)
        self._lp = ctypes.addressof(self._local)
        self._rp = ctypes.addressof(self._remote)
        #: makes a read that failed once more (the supervisor's own capabilities back for it:
        #: Supervisor._read_as_self), or None
        self.retry: Callable[[Callable[[], Any]], Any] | None = None

    def _readv(self, pid: int, addr: int, n: int) -> int:
        self._local.len = n
        self._remote.base = addr
        self._remote.len = n
        got: int = _PVR(pid, self._lp, 1, self._rp, 1, 0)
        if got < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return got

    def read(self, pid: int, addr: int, n: int) -> bytes:
        """Up to `n` (<= size) bytes at `addr` in `pid`; fewer if a page is unmapped."""
        if not 0 <= n <= self.size:  # the kernel would write past the buffer
            raise OSError(22, "read larger than the buffer")
        try:
            got = self._readv(pid, addr, n)
        except OSError:
            if self.retry is None:
                raise
            got = self.retry(lambda: self._readv(pid, addr, n))
        return self._view[:got].tobytes()

    def cstring(self, pid: int, addr: int, limit: int = 4096) -> bytes:
        """The NUL-terminated string at `addr` (ENAMETOOLONG past `limit`, EFAULT if unmapped)."""
        if not addr:
            raise OSError(14, "Bad address")
        # the common case: the string ends within _FIRST_READ bytes of the same page
        chunk = 4096 - (addr & 4095)
        if chunk > _FIRST_READ:
            chunk = _FIRST_READ
        if chunk > limit:
            chunk = limit
        local, remote = self._local, self._remote
        local.len = remote.len = chunk
        remote.base = addr
        got = _PVR(pid, self._lp, 1, self._rp, 1, 0)
        if got > 0:
            nul = self._buf.find(0, 0, got)
            if nul >= 0:
                return self._view[:nul].tobytes()
        try:
            return self._cstring_slow(pid, addr, limit)
        except OSError as err:
            if err.errno != 14 or self.retry is None:
                raise
            return self.retry(lambda: self._cstring_slow(pid, addr, limit))

    def _cstring_slow(self, pid: int, addr: int, limit: int) -> bytes:
        buf = self._buf
        out = b""
        while len(out) < limit:
            # never cross a page boundary in one read: the next page may be unmapped
            chunk = min(4096 - (addr & 4095), limit - len(out), self.size)
            try:
                got = self._readv(pid, addr, chunk)
            except OSError as err:
                raise OSError(14, "Bad address") from err
            if not got:
                raise OSError(14, "Bad address")
            nul = buf.find(0, 0, got)
            if nul >= 0:
                return out + self._view[:nul].tobytes()
            out += self._view[:got].tobytes()
            addr += got
        raise OSError(36, "File name too long")


_HOW = _OpenHow()
_HOW_REF = ctypes.byref(_HOW)
_HOW_SIZE = _L(ctypes.sizeof(_OpenHow))
_OPENAT2 = _L(NR["openat2"])


def openat2_ctypes(dirfd: int, path: bytes, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """openat2(2); returns the new fd. Uses one shared open_how: call from one thread only
    (the supervisor thread)."""
    _HOW.flags = flags
    _HOW.mode = mode
    _HOW.resolve = resolve
    fd = _libc_syscall(_OPENAT2, _L(dirfd), path, _HOW_REF, _HOW_SIZE)
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return fd


#: openat2(dirfd, path, flags, mode=0, resolve=0) -> fd: ctypes, or the C extension's (use_openat2)
openat2: Callable[..., int] = openat2_ctypes


def use_openat2(impl: Callable[..., int] | None) -> None:
    """Route `openat2` through `impl` (fast.openat2_with) or, with None, through ctypes."""
    global openat2
    openat2 = impl if impl is not None else openat2_ctypes


def pidfd_open(pid: int, flags: int = 0) -> int:
    """A pidfd for `pid` (PIDFD_THREAD for a thread)."""
    return _check(_syscall(NR["pidfd_open"], pid, flags))


def pidfd_getfd(pidfd: int, targetfd: int) -> int:
    """A duplicate of the target's fd `targetfd` (same open file description), O_CLOEXEC."""
    return _check(_syscall(NR["pidfd_getfd"], pidfd, targetfd, 0))


class DescriptorRefused(Exception):
    """pidfd_getfd refused (EPERM): the kernel's ptrace_may_access(ATTACH) said no, which for
    the supervisor's own program means the task is not dumpable. Not an OSError, so that no
    handler turns it into a bare errno: the loop refuses the call with a record."""


def take_fd(pid: int, targetfd: int, pidfd: int = -1) -> int:
    """A duplicate of fd `targetfd` of the task behind `pidfd` (the task cache's, for the
    calling thread: its own fd table, one system call, and a pidfd cannot name a task that
    reused the number); without one (-1), of process `pid` (pidfd_open, getfd, close)."""
    opened = pidfd < 0
    if opened:
        pidfd = pidfd_open(pid)
    try:
        return pidfd_getfd(pidfd, targetfd)
    except PermissionError:
        raise DescriptorRefused(pid) from None
    finally:
        if opened:
            os.close(pidfd)


def set_fs_ids(fsuid: int, fsgid: int) -> None:
    """setfsgid then setfsuid for the calling thread only (the raw calls are per-thread)."""
    _syscall(NR["setfsgid"], fsgid)
    _syscall(NR["setfsuid"], fsuid)
    # setfs*id return the old value and never fail loudly: read back to check
    if _syscall(NR["setfsuid"], -1) != fsuid or _syscall(NR["setfsgid"], -1) != fsgid:
        raise OSError(1, "setfsuid/setfsgid refused")


def set_thread_groups(groups: tuple[int, ...]) -> None:
    """setgroups for the calling thread only (glibc's wrapper would change every thread)."""
    arr = (ctypes.c_uint32 * max(1, len(groups)))(*groups)
    _check(_syscall(NR["setgroups"], len(groups), arr))


def unshare_fs() -> None:
    """Give the calling thread its own cwd, root and umask (unshare(CLONE_FS))."""
    _check(_syscall(NR["unshare"], CLONE_FS))


def fchownat_empty(fd: int, uid: int, gid: int) -> None:
    """fchownat(fd, "", uid, gid, AT_EMPTY_PATH): works on O_PATH descriptors."""
    _check(_syscall(NR["fchownat"], fd, ctypes.c_char_p(b""), uid, gid, AT_EMPTY_PATH))


def fchmod_path_fd(fd: int, mode: int) -> None:
    """chmod the inode behind O_PATH `fd` (fchmodat2 AT_EMPTY_PATH, else /proc/self/fd)."""
    if NR["fchmodat2"] > 0:
        r = _syscall(NR["fchmodat2"], fd, ctypes.c_char_p(b""), mode, AT_EMPTY_PATH)
        if r == 0:
            return
        if ctypes.get_errno() not in (38, 22):  # ENOSYS, EINVAL: older kernel
            _check(r)
    os.chmod(f"/proc/self/fd/{fd}", mode)


def renameat2(olddir: int, old: bytes, newdir: int, new: bytes, flags: int) -> None:
    """renameat2(2)."""
    _check(_syscall(NR["renameat2"], olddir, ctypes.c_char_p(old), newdir, ctypes.c_char_p(new),
                    ctypes.c_uint(flags)))


LIBC.connect.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
LIBC.bind.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]


def raw_connect(fd: int, addr: bytes) -> int:
    """connect(2) with the exact sockaddr bytes; returns 0 or a positive errno."""
    return 0 if LIBC.connect(fd, addr, len(addr)) == 0 else ctypes.get_errno()


def raw_bind(fd: int, addr: bytes) -> int:
    """bind(2) with the exact sockaddr bytes; returns 0 or a positive errno."""
    return 0 if LIBC.bind(fd, addr, len(addr)) == 0 else ctypes.get_errno()
