"""The seccomp user-notification ioctls (seccomp_unotify(2)) on a listener fd, without libseccomp.

Each call is one `fcntl.ioctl` on a preallocated buffer with a precompiled `struct.Struct`, so the
hot path allocates little. Values are the kernel's (include/uapi/linux/seccomp.h).
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct

SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5  # Linux 5.19
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
SECCOMP_ADDFD_FLAG_SETFD = 1 << 0
SECCOMP_ADDFD_FLAG_SEND = 1 << 1  # Linux 5.14
SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP = 1  # Linux 6.6


def _ioc(direction: int, nr: int, size: int) -> int:
    return direction << 30 | size << 16 | ord("!") << 8 | nr


_NOTIF = struct.Struct("=QIIiIQ6Q")  # struct seccomp_notif (80 bytes)
_RESP = struct.Struct("=QqiI")  # struct seccomp_notif_resp (24 bytes)
_ADDFD = struct.Struct("=QIIII")  # struct seccomp_notif_addfd (24 bytes)
_U64 = struct.Struct("=Q")
IOCTL_RECV = _ioc(3, 0, _NOTIF.size)
IOCTL_SEND = _ioc(3, 1, _RESP.size)
IOCTL_ID_VALID = _ioc(1, 2, 8)
IOCTL_ADDFD = _ioc(1, 3, _ADDFD.size)
IOCTL_SET_FLAGS = _ioc(1, 4, 8)
_ZERO = bytes(_NOTIF.size)


class Listener:
    """A listener fd: receive notifications, check them, answer them."""

    __slots__ = ("_addfd", "_buf", "_resp", "fd", "sync_wakeup")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buf = bytearray(_NOTIF.size)
        self._resp = bytearray(_RESP.size)
        self._addfd = bytearray(_ADDFD.size)
        self.sync_wakeup = False

    def enable_sync_wakeup(self) -> bool:
        """SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (6.6+): wake the target on our CPU; False if absent."""
        try:  # the flags are the ioctl's argument itself, not a pointer to them
            fcntl.ioctl(self.fd, IOCTL_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
        except OSError:
            return False
        self.sync_wakeup = True
        return True

    def receive(self) -> tuple[int, int, int, int, int, int, int, int, int, int] | None:
        """The next notification as `(id, pid, nr, arch, a0, a1, a2, a3, a4, a5)`.

        None when it vanished: ENOENT (the target died between wake-up and receive) or EINTR.
        """
        buf = self._buf
        buf[:] = _ZERO  # the kernel refuses a buffer that is not zeroed
        try:
            fcntl.ioctl(self.fd, IOCTL_RECV, buf, True)
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.EINTR):
                return None
            raise
        nid, pid, _flags, nr, arch, _ip, a0, a1, a2, a3, a4, a5 = _NOTIF.unpack(buf)
        return nid, pid, nr, arch, a0, a1, a2, a3, a4, a5

    def id_valid(self, nid: int) -> bool:
        """SECCOMP_IOCTL_NOTIF_ID_VALID: the target is still waiting in that very system call."""
        try:
            fcntl.ioctl(self.fd, IOCTL_ID_VALID, _U64.pack(nid))
        except OSError:
            return False
        return True

    def respond(self, nid: int, val: int = 0, error: int = 0, flags: int = 0) -> bool:
        """Answer `nid`: `error` is a positive errno (0: return `val`). False if it vanished."""
        buf = self._resp
        _RESP.pack_into(buf, 0, nid, val, -error if error else 0, flags)
        try:
            fcntl.ioctl(self.fd, IOCTL_SEND, buf, True)
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.EINPROGRESS):
                return False  # the target died or was interrupted: nothing to answer
            raise
        return True

    def continue_(self, nid: int) -> bool:
        """Let the kernel run the system call as the target made it."""
        return self.respond(nid, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)

    def inject(self, nid: int, srcfd: int, cloexec: bool) -> int:
        """ADDFD with SECCOMP_ADDFD_FLAG_SEND: install `srcfd` in the target and answer with its
        number, atomically. Returns the target's fd number, or -errno (e.g. -ENOENT: gone,
        -EMFILE: the target's fd table is full)."""
        arg = self._addfd
        _ADDFD.pack_into(arg, 0, nid, SECCOMP_ADDFD_FLAG_SEND, srcfd, 0,
                         os.O_CLOEXEC if cloexec else 0)
        try:
            return fcntl.ioctl(self.fd, IOCTL_ADDFD, arg, True)
        except OSError as err:
            return -(err.errno or errno.EIO)

    def inject_close(self, nid: int, srcfd: int, cloexec: bool) -> int:
        """inject(), then `srcfd` is closed in every case."""
        try:
            return self.inject(nid, srcfd, cloexec)
        finally:
            os.close(srcfd)

    def close(self) -> None:
        """Close the listener: pending and future notifications fail with ENOSYS in the target."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
