"""The supervisor's notification mechanics in C (the `_unotify` extension), when it is built.

The extension moves mechanics: receive, read strings from the target, ID_VALID, answer, ADDFD,
openat2. Every decision, and the order of the steps (read, then ID_VALID, then act), stays in the
Python handlers, which call the same methods on either implementation; `FastPath` only mirrors
allows that Python's AVC holds, so that C answers repeated plain opens with no Python call. The classes here
have the interfaces of notify.Listener and sys.MemReader; every C error comes back as -errno and
is raised as OSError (a handler's OSError denies the call: fail closed).

`STOCKADE_SUPERVISOR_PURE=1` forces the pure-Python path; it is also used when the extension is
missing (installed without a C compiler).
"""

from __future__ import annotations

import errno
import os
import struct
import threading
from collections.abc import Callable

from stockade.enforce.supervisor.notify import Listener

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

ENV_PURE = "STOCKADE_SUPERVISOR_PURE"
#: `STOCKADE_SUPERVISOR_NO_MIRROR=1`: C mechanics without the AVC mirror (benchmarks, tests)
ENV_NO_MIRROR = "STOCKADE_SUPERVISOR_NO_MIRROR"
_PAGE = 4096
_U32 = struct.Struct("=I")


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

    __slots__ = ("_buf", "_ffi", "_lib", "prefetch", "retry", "size")

    def __init__(self, backend: Backend, size: int = _PAGE) -> None:
        self.size = size
        self._ffi = backend.ffi
        self._lib = backend.lib
        self._buf = backend.ffi.new("char[]", size)
        #: the fast path's table while it serves: a path it read for the notification being
        #: handled is not read again (stk_fast_prefetched)
        self.prefetch: Any = None
        #: as sys.MemReader.retry: makes a failed read once more, or None
        self.retry: Callable[[Callable[[], int]], int] | None = None

    def read(self, pid: int, addr: int, n: int) -> bytes:
        """Up to `n` (<= size) bytes at `addr` in `pid`; fewer if a page is unmapped."""
        if not 0 <= n <= self.size:
            raise OSError(errno.EINVAL, "read larger than the buffer")
        got = self._lib.stk_read(pid, addr, self._buf, n)
        if got < 0 and self.retry is not None:
            got = self.retry(lambda: self._lib.stk_read(pid, addr, self._buf, n))
        if got < 0:
            _raise(got)
        return self._ffi.buffer(self._buf, got)[:]

    def cstring(self, pid: int, addr: int, limit: int = _PAGE) -> bytes:
        """The NUL-terminated string at `addr` (ENAMETOOLONG past `limit`, EFAULT if unmapped)."""
        buf = self._buf if limit <= self.size else self._ffi.new("char[]", limit)
        if self.prefetch is not None and limit <= self.size:
            got = self._lib.stk_fast_prefetched(self.prefetch, pid, addr, buf, limit)
            if got >= 0:
                return self._ffi.buffer(buf, got)[:]
        got = self._lib.stk_cstring(pid, addr, buf, limit)
        if got == -errno.EFAULT and self.retry is not None:
            got = self.retry(lambda: self._lib.stk_cstring(pid, addr, buf, limit))
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


_KEY_HEAD = struct.Struct("=QIIIIQQI")
_ABSENT = _U32.pack(0xFFFFFFFF)
_TASKS = 1024  # STK_TASKS in _unotify_build.py: the C table of tasks, direct-mapped by tid


class FastPath:
    """The C mirror of the AVC's allows for plain opens (docs/supervisor.md, "Fast path").

    Python's AVC stays the one source of decisions: an entry is put here only after the Stack
    answered an open with an allow that its AVC holds without audit events, under a key made of
    exactly the AVC key's inputs (the subject, as a token for its `key`; the access; the path the
    lookup proved; the inode's owner, mode, number and device; the label xattrs read from the
    descriptor). The C loop (`stk_next_fast`) builds the same key from its own reads of a later
    open and completes it only on an equal key; every other notification reaches Python. The
    mirror is flushed with the AVC (`AccessVectorCache.on_reset`), a task is forgotten when the
    task cache drops or relabels it, and a task's entries apply only while the supervisor
    thread still has the credentials it had when they were put (`creds`).
    """

    __slots__ = ("_ffi", "_lib", "_lock", "_next", "_stats", "_tasks", "_tokens", "ctx", "names")

    def __init__(self, backend: Backend, ctx: Any, names: tuple[str, ...]) -> None:
        self._ffi = backend.ffi
        self._lib = backend.lib
        self.ctx = ctx
        self.names = names
        self._tokens: dict[tuple, int] = {}
        #: what the C table of tasks holds, slot by slot: (tid, pidfd, token, cred_gen) as last
        #: given to stk_fast_task, so that a put for a task it already holds neither dups its
        #: pidfd nor takes the lock again
        self._tasks: dict[int, tuple[int, int, int, int]] = {}
        self._next = 1
        self._stats = backend.ffi.new("uint64_t[5]")
        #: a reset in another thread may race `close`: never use a freed table
        self._lock = threading.Lock()

    @classmethod
    def create(cls, backend: Backend, names: tuple[str, ...], nr_open: int, nr_openat: int,
               arch: int, proc_dev: int, may: tuple[int, int, int, int]) -> FastPath | None:
        """A mirror for opens of `nr_open`/`nr_openat` on `arch`, keyed with the label
        xattrs `names` (None if C cannot hold them)."""
        packed = b"".join(os.fsencode(n) + b"\0" for n in names) + b"\0"
        ctx = backend.lib.stk_fast_new(arch, nr_open, nr_openat, proc_dev, packed, *may)
        if ctx == backend.ffi.NULL:
            return None
        return cls(backend, ctx, names)

    def key(self, token: int, access: int, path: str, st: os.stat_result,
            xattrs: tuple[tuple[str, bytes], ...]) -> bytes:
        """The mirror key (the layout the C side builds from its own reads)."""
        raw = os.fsencode(path)
        parts = [_KEY_HEAD.pack(token, access, st.st_uid, st.st_gid, st.st_mode, st.st_ino,
                                st.st_dev, len(raw)), raw]
        values = dict(xattrs)
        for name in self.names:
            value = values.get(name)
            parts.append(_ABSENT if value is None else _U32.pack(len(value)) + value)
        return b"".join(parts)

    def token(self, subject_key: tuple) -> int:
        """A number for `subject_key`, never given to another key (bounded: a full table starts
        over with new numbers)."""
        tokens = self._tokens
        found = tokens.get(subject_key)
        if found is None:
            if len(tokens) >= 4096:
                tokens.clear()
            found = tokens[subject_key] = self._next
            self._next += 1
        return found

    def put(self, tid: int, pidfd: int, subject_key: tuple, cred_gen: int, access: int,
            path: str, st: os.stat_result, xattrs: tuple[tuple[str, bytes], ...],
            seqno: int) -> None:
        """Mirror an allow of the AVC (decided against policy `seqno`) for task `tid`."""
        if self.ctx is None:
            return
        token = self.token(subject_key)
        task = (tid, pidfd, token, cred_gen)
        slot = tid & (_TASKS - 1)
        if self._tasks.get(slot) != task:
            dup = os.dup(pidfd)
            self._tasks[slot] = task  # before the C call: a forget racing it clears both
            self._lib.stk_fast_task(self.ctx, tid, dup, token, cred_gen)
        key = self.key(token, access, path, st, xattrs)
        self._lib.stk_fast_put(self.ctx, key, len(key), seqno)

    def flush(self, seqno: int) -> None:
        """The AVC was reset (from any thread)."""
        with self._lock:
            if self.ctx is not None:
                self._lib.stk_fast_flush(self.ctx, seqno)

    def forget(self, tid: int) -> None:
        """Task `tid` changed or went away (-1: every task)."""
        slot = tid & (_TASKS - 1)
        if tid < 0:
            self._tasks.clear()
        elif self._tasks.get(slot, (0,))[0] == tid:
            self._tasks.pop(slot, None)
        if self.ctx is not None:
            self._lib.stk_fast_forget(self.ctx, tid)

    def creds(self, generation: int) -> None:
        """The supervisor thread switched credentials."""
        if self.ctx is not None:
            self._lib.stk_fast_creds(self.ctx, generation)

    def counts(self) -> tuple[int, int, int, int, int]:
        """(opens completed in C, C lookups that missed, vanished, ADDFD failures, opens
        answered ENOENT/ENOTDIR)."""
        self._lib.stk_fast_stats(self.ctx, self._stats)
        s = self._stats
        return int(s[0]), int(s[1]), int(s[2]), int(s[3]), int(s[4])

    def close(self) -> None:
        """Free the mirror (after the loop ended)."""
        with self._lock:
            if self.ctx is not None:
                self._lib.stk_fast_free(self.ctx)
                self.ctx = None
