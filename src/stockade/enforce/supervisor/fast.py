"""The supervisor's notification mechanics in C (the `_unotify` extension), when it is built.

The extension only moves mechanics: receive, read strings from the target, ID_VALID, answer,
ADDFD, openat2. Every decision, and the order of the steps (read, then ID_VALID, then act), stays
in the Python handlers, which call the same methods on either implementation. The classes here
have the interfaces of notify.Listener and sys.MemReader; every C error comes back as -errno and
is raised as OSError (a handler's OSError denies the call: fail closed).

`STOCKADE_SUPERVISOR_PURE=1` forces the pure-Python path; it is also used when the extension is
missing (installed without a C compiler).
"""

from __future__ import annotations

import errno
import os
from typing import Any

from stockade.enforce.supervisor.notify import Listener

ENV_PURE = "STOCKADE_SUPERVISOR_PURE"
_PAGE = 4096


class Backend:
    """The loaded extension: its `ffi` and `lib`."""

    __slots__ = ("ffi", "lib")

    def __init__(self, ffi: Any, lib: Any) -> None:
        self.ffi = ffi
        self.lib = lib


def load() -> Backend | None:
    """The C backend, or None for pure Python (forced by STOCKADE_SUPERVISOR_PURE, or the
    extension is not built)."""
    if os.environ.get(ENV_PURE, "") not in ("", "0"):
        return None
    try:
        from stockade.enforce.supervisor._unotify import ffi, lib  # type: ignore[import-not-found]
    except ImportError:
        return None
    return Backend(ffi, lib)


def name(backend: Backend | None) -> str:
    """'c' or 'python': which path a supervisor uses (stats, benchmarks)."""
    return "c" if backend is not None else "python"


def _raise(result: int) -> None:
    raise OSError(-result, os.strerror(-result))


class CListener(Listener):
    """notify.Listener with the per-notification ioctls in C."""

    __slots__ = ("_lib",)

    def __init__(self, fd: int, backend: Backend) -> None:
        super().__init__(fd)
        self._lib = backend.lib

    def id_valid(self, nid: int) -> bool:
        """SECCOMP_IOCTL_NOTIF_ID_VALID: the target is still waiting in that very system call."""
        return self._lib.stk_id_valid(self.fd, nid) == 0

    def respond(self, nid: int, val: int = 0, error: int = 0, flags: int = 0) -> bool:
        """Answer `nid` (see Listener.respond)."""
        got = self._lib.stk_respond(self.fd, nid, val, error, flags)
        if got == 0:
            return True
        if got in (-errno.ENOENT, -errno.EINPROGRESS):
            return False
        _raise(got)
        return False  # pragma: no cover

    def inject(self, nid: int, srcfd: int, cloexec: bool) -> int:
        """ADDFD|SEND of a duplicate of `srcfd` (which stays ours): see Listener.inject."""
        dup = os.dup(srcfd)
        return self.inject_close(nid, dup, cloexec)

    def inject_close(self, nid: int, srcfd: int, cloexec: bool) -> int:
        """ADDFD|SEND, and `srcfd` is closed in every case: the target's fd number or -errno."""
        return int(self._lib.stk_inject_close(self.fd, nid, srcfd,
                                              os.O_CLOEXEC if cloexec else 0))


class CMemReader:
    """sys.MemReader with process_vm_readv and the NUL scan in C."""

    __slots__ = ("_buf", "_ffi", "_lib", "size")

    def __init__(self, backend: Backend, size: int = _PAGE) -> None:
        self.size = size
        self._ffi = backend.ffi
        self._lib = backend.lib
        self._buf = backend.ffi.new("char[]", size)

    def read(self, pid: int, addr: int, n: int) -> bytes:
        """Up to `n` (<= size) bytes at `addr` in `pid`; fewer if a page is unmapped."""
        if not 0 <= n <= self.size:
            raise OSError(errno.EINVAL, "read larger than the buffer")
        got = self._lib.stk_read(pid, addr, self._buf, n)
        if got < 0:
            _raise(got)
        return self._ffi.buffer(self._buf, got)[:]

    def cstring(self, pid: int, addr: int, limit: int = _PAGE) -> bytes:
        """The NUL-terminated string at `addr` (ENAMETOOLONG past `limit`, EFAULT if unmapped)."""
        buf = self._buf if limit <= self.size else self._ffi.new("char[]", limit)
        got = self._lib.stk_cstring(pid, addr, buf, limit)
        if got < 0:
            _raise(got)
        return self._ffi.buffer(buf, got)[:]


def openat2_with(backend: Backend) -> Any:
    """An openat2(dirfd, path, flags, mode=0, resolve=0) -> fd through the extension."""
    call = backend.lib.stk_openat2

    def openat2(dirfd: int, path: bytes, flags: int, mode: int = 0, resolve: int = 0) -> int:
        fd: int = call(dirfd, path, flags, mode, resolve)
        if fd < 0:
            _raise(fd)
        return fd
    return openat2
