"""sendto (with an address), sendmsg and sendmmsg: emulated so that a datagram cannot reach a
pathname unix socket the plan does not grant (AppArmor: `w` on the socket file).

The destination, the data and the control messages are in memory the program controls, so
nothing is continued: the supervisor copies them once (the data up to `MAX_DATA` bytes; a
stream socket gets a short write, a datagram over that is EMSGSIZE), decides on the
destination (a pathname is resolved and pinned as the target would, and sent to through the
pinned descriptor, /proc/self/fd/N), translates SCM_RIGHTS descriptors with pidfd_getfd, and
sends on its duplicate of the target's socket with MSG_DONTWAIT. A send that would block on a
blocking socket is finished by a waiter thread (the same bound as connect's).
"""

from __future__ import annotations

import _socket as socket  # socket's C core: see handlers/other.py
import ctypes
import errno
import fcntl
import os
import select
import struct
import threading
from collections.abc import Callable

from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.handlers.attr import write_memory
from stockade.enforce.supervisor.handlers.other import _pin_unix_peer, _target_socket, _waiters
from stockade.enforce.supervisor.sys import s32

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from stockade.enforce.supervisor.loop import Handler, Supervisor
    from stockade.enforce.supervisor.target import TaskInfo

MAX_DATA = 256 * 1024
MAX_CONTROL = 64 * 1024
UIO_MAXIOV = 1024
MSG_DONTWAIT = 0x40
SOL_SOCKET = 1
SCM_RIGHTS = 1
SCM_CREDENTIALS = 2
_MSGHDR = struct.Struct("=QI4xQQQQi4x")  # struct msghdr on 64-bit
_IOVEC = struct.Struct("=QQ")
_CMSGHDR = struct.Struct("=Qii")


class _Iov(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(_Iov)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


ksys.LIBC.sendmsg.argtypes = [ctypes.c_int, ctypes.POINTER(_MsgHdr), ctypes.c_int]
ksys.LIBC.sendmsg.restype = ctypes.c_ssize_t


class _Message:
    """One message copied out of the target: destination bytes, data, control bytes, and the
    descriptors we opened for it (closed by `close`)."""

    def __init__(self, name: bytes, data: bytes, control: bytes, fds: list[int]) -> None:
        self.name, self.data, self.control, self.fds = name, data, control, fds

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def _read(sup: Supervisor, tid: int, addr: int, size: int) -> bytes:
    out = b""
    while len(out) < size:
        chunk = sup.mem.read(tid, addr + len(out), min(sup.mem.size, size - len(out)))
        if not chunk:
            raise OSError(errno.EFAULT, "Bad address")
        out += chunk
    return out


def _data(sup: Supervisor, tid: int, iov: list[tuple[int, int]], stream: bool) -> bytes:
    total = sum(n for _, n in iov)
    if total > MAX_DATA and not stream:
        raise OSError(errno.EMSGSIZE, "Message too long")
    out = bytearray()
    for base, n in iov:
        n = min(n, MAX_DATA - len(out))
        if n <= 0:
            break
        out += _read(sup, tid, base, n)
    return bytes(out)


def _rights(task: TaskInfo, control: bytes) -> tuple[bytes, list[int]]:
    """`control` with every SCM_RIGHTS descriptor replaced by our duplicate of it;
    SCM_CREDENTIALS refused (EPERM)."""
    out, fds, pos = bytearray(control), [], 0
    pidfd = -1
    try:
        while pos + _CMSGHDR.size <= len(control):
            length, level, kind = _CMSGHDR.unpack_from(control, pos)
            if length < _CMSGHDR.size or pos + length > len(control):
                raise OSError(errno.EINVAL, "Invalid argument")
            if level == SOL_SOCKET and kind == SCM_CREDENTIALS:
                # the supervisor's send would carry what the program claims with the
                # launcher's pid accepted by the kernel (an unconfined process), and the
                # program's own pid cannot be claimed from here: refused, EPERM as the kernel
                # answers a claim it cannot vouch for (docs/supervisor.md#unix-peer-credentials)
                raise OSError(errno.EPERM, "Operation not permitted")
            if level == SOL_SOCKET and kind == SCM_RIGHTS:
                if pidfd < 0:
                    pidfd = ksys.pidfd_open(task.tgid)
                for at in range(pos + _CMSGHDR.size, pos + length - 3, 4):
                    theirs = struct.unpack_from("=i", control, at)[0]
                    try:
                        ours = ksys.pidfd_getfd(pidfd, theirs)
                    except PermissionError:  # not dumpable: the loop says so
                        raise ksys.DescriptorRefused(task.tgid) from None
                    except OSError:
                        raise OSError(errno.EBADF, "Bad file descriptor") from None
                    fds.append(ours)
                    struct.pack_into("=i", out, at, ours)
            pos += (length + 7) & ~7
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    finally:
        if pidfd >= 0:
            os.close(pidfd)
    return bytes(out), fds


def _copy(sup: Supervisor, tid: int, task: TaskInfo, hdr_addr: int, stream: bool) -> _Message:
    raw = _read(sup, tid, hdr_addr, _MSGHDR.size)
    name_addr, namelen, iov_addr, iovlen, ctl_addr, ctllen, _ = _MSGHDR.unpack(raw)
    if iovlen > UIO_MAXIOV:
        raise OSError(errno.EMSGSIZE, "Message too long")
    if namelen > 128:
        raise OSError(errno.EINVAL, "Invalid argument")
    if ctllen > MAX_CONTROL:
        raise OSError(errno.ENOBUFS, "No buffer space available")
    name = _read(sup, tid, name_addr, namelen) if name_addr and namelen else b""
    iov_raw = _read(sup, tid, iov_addr, iovlen * _IOVEC.size) if iovlen else b""
    iov = [_IOVEC.unpack_from(iov_raw, i * _IOVEC.size) for i in range(iovlen)]
    data = _data(sup, tid, iov, stream)
    control, fds = _rights(task, _read(sup, tid, ctl_addr, ctllen)) if ctl_addr and ctllen \
        else (b"", [])
    return _Message(name, data, control, fds)


def _destination(sup: Supervisor, nid: int, task: TaskInfo, msg: _Message) -> bool:
    """Decide the destination; a pathname unix address is replaced by our pinned descriptor.
    False when the call was answered (refused)."""
    name = msg.name
    if sup.guard is None or len(name) < 3 or struct.unpack_from("=H", name)[0] != socket.AF_UNIX \
            or name[2:3] == b"\0":
        return True
    pinned = _pin_unix_peer(sup, nid, task, name)
    if pinned is None:
        return False
    msg.name, pin_fd = pinned
    msg.fds.append(pin_fd)
    return True


def _sendmsg(fd: int, msg: _Message, flags: int) -> int:
    """sendmsg(2) with our copies; the byte count or -errno."""
    data = ctypes.create_string_buffer(msg.data, max(len(msg.data), 1))
    iov = _Iov(ctypes.addressof(data), len(msg.data))
    name = ctypes.create_string_buffer(msg.name, max(len(msg.name), 1))
    ctl = ctypes.create_string_buffer(msg.control, max(len(msg.control), 1))
    hdr = _MsgHdr(ctypes.addressof(name) if msg.name else None, len(msg.name),
                  ctypes.pointer(iov), 1, ctypes.addressof(ctl) if msg.control else None,
                  len(msg.control), 0)
    res = ksys.LIBC.sendmsg(fd, ctypes.byref(hdr), flags | MSG_DONTWAIT)
    return int(res) if res >= 0 else -(ctypes.get_errno() or errno.EIO)


def _answer(sup: Supervisor, nid: int, sock: socket.socket, flags: int,
            attempt: Callable[[], int], msg: _Message) -> bool:
    """Answer with `attempt()`'s result; a blocking socket whose send would block is retried
    by a waiter thread when it becomes writable (True: handed off, the waiter closes `sock`
    and `msg`)."""
    res = attempt()
    blocking = not flags & MSG_DONTWAIT and \
        not fcntl.fcntl(sock.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
    if res != -errno.EAGAIN or not blocking or not _waiters.acquire(blocking=False):
        sup.ok(nid, res) if res >= 0 else sup.deny(nid, -res)
        return False

    def wait() -> None:
        try:
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLOUT)
            result = -errno.EAGAIN
            while sup.listener is not None and sup.listener.id_valid(nid):
                if poller.poll(200):
                    result = attempt()
                    if result != -errno.EAGAIN:
                        break
            if sup.listener is not None:
                if result >= 0:
                    sup.listener.respond(nid, result)
                else:
                    sup.listener.respond(nid, 0, -result)
        except OSError:
            pass
        finally:
            msg.close()
            sock.close()
            _waiters.release()

    threading.Thread(target=wait, name="stockade-send", daemon=True).start()
    return True


def _send(sup: Supervisor, nid: int, tid: int, fd: int, flags: int,
          copy: Callable[[TaskInfo, bool], _Message]) -> None:
    task = sup.task(tid)
    sock = _target_socket(sup, nid, task, fd)
    if sock is None:
        return
    handed_off = False
    msg: _Message | None = None
    try:
        msg = copy(task, sock.type & 0xF == socket.SOCK_STREAM)
        if not sup.valid(nid):
            return
        sup.act_as(task)
        if not _destination(sup, nid, task, msg):
            return
        final = msg
        handed_off = _answer(sup, nid, sock, flags, lambda: _sendmsg(sock.fileno(), final, flags),
                             final)
        if handed_off:
            msg = None  # the waiter closes it
    finally:
        if msg is not None:
            msg.close()
        if not handed_off:
            sock.close()


def h_sendto(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """sendto(fd, buf, len, flags, addr, addrlen) (routed only with an address)."""
    flags, addrlen = a[3] & 0xFFFFFFFF, a[5] & 0xFFFFFFFF
    if addrlen > 128:
        sup.deny(nid, errno.EINVAL)
        return

    def copy(task: TaskInfo, stream: bool) -> _Message:
        name = _read(sup, tid, a[4], addrlen) if a[4] and addrlen else b""
        return _Message(name, _data(sup, tid, [(a[1], a[2])] if a[2] else [], stream), b"", [])

    _send(sup, nid, tid, s32(a[0]), flags, copy)


def h_sendmsg(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """sendmsg(fd, msghdr, flags)."""
    flags = a[2] & 0xFFFFFFFF
    _send(sup, nid, tid, s32(a[0]), flags,
          lambda task, stream: _copy(sup, tid, task, a[1], stream))


_MMSGHDR = _MSGHDR.size + 8  # struct mmsghdr: msghdr + unsigned int msg_len (+ padding)


def h_sendmmsg(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """sendmmsg(fd, mmsghdr[], vlen, flags): the messages one by one, each msg_len written
    back; the count sent (or the first error if none was)."""
    task = sup.task(tid)
    fd, vec, vlen, flags = s32(a[0]), a[1], min(a[2] & 0xFFFFFFFF, UIO_MAXIOV), \
        a[3] & 0xFFFFFFFF
    sock = _target_socket(sup, nid, task, fd)
    if sock is None:
        return
    sent = 0
    try:
        sup.act_as(task)
        for i in range(vlen):
            msg = _copy(sup, tid, task, vec + i * _MMSGHDR, sock.type & 0xF == socket.SOCK_STREAM)
            try:
                if not _destination(sup, nid, task, msg):
                    return
                res = _sendmsg(sock.fileno(), msg, flags | (MSG_DONTWAIT if sent else 0))
            finally:
                msg.close()
            if res < 0:
                if sent:
                    break
                sup.deny(nid, -res)
                return
            write_memory(tid, vec + i * _MMSGHDR + _MSGHDR.size, struct.pack("=I", res))
            sent += 1
        sup.ok(nid, sent)
    finally:
        sock.close()


HANDLERS: dict[str, Handler] = {"sendto": h_sendto, "sendmsg": h_sendmsg,
                                "sendmmsg": h_sendmmsg}
