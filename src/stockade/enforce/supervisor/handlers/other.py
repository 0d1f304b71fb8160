"""Handlers for sockets, signals, ptrace, mount and the cache-invalidating credential calls."""

from __future__ import annotations

# socket's C core, whose socket class the socket module subclasses: the same calls and
# constants, without the enum conversions (family and type are ints) and the selectors import
# that module adds (~1.5 ms of a plain run's start-up, which routes connect, listen and sends)
import _socket as socket
import ctypes
import errno
import fcntl
import os
import select
import stat
import struct
import threading

from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.handlers.signals import task_object
from stockade.enforce.supervisor.resolve import (
    object_at,
    object_from_fd,
    open_as_target,
    open_parent,
)
from stockade.enforce.supervisor.sys import AT_FDCWD, s32
from stockade.lsm.types import (
    MAY_WRITE,
    PTRACE_MODE_ATTACH,
    PTRACE_MODE_REALCREDS,
    Object,
    ObjectKind,
    Request,
)
from stockade.slotted import replace

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from stockade.enforce.supervisor.loop import Handler, Supervisor
    from stockade.enforce.supervisor.target import TaskInfo

FAMILY_NAMES = {socket.AF_UNIX: "unix", socket.AF_INET: "inet", socket.AF_INET6: "inet6",
                socket.AF_NETLINK: "netlink"}
_MAX_WAITERS = 64
_waiters = threading.BoundedSemaphore(_MAX_WAITERS)


# -- sockets ----------------------------------------------------------------------------------

def h_socket(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """socket(family, type, protocol): integer arguments, decided then continued."""
    _socket_create(sup, nid, tid, a, "socket")


def h_socketpair(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """socketpair(family, type, protocol, sv): the same socket_create decision."""
    _socket_create(sup, nid, tid, a, "socketpair")


def _socket_create(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...], syscall: str) -> None:
    task = sup.task(tid)
    family, sock_type, proto = a[0] & 0xFFFFFFFF, a[1] & 0xF, a[2] & 0xFFFFFFFF
    obj = Object(kind=ObjectKind.SOCKET, family=family, sock_type=sock_type, protocol=proto)
    peer = {"family": FAMILY_NAMES.get(family, str(family)), "type": sock_type, "protocol": proto}
    err = sup.decide(task, [Request("socket_create", task.subject, obj)], syscall, "socket",
                     peer=peer)
    if err:
        sup.deny(nid, err)
    else:
        sup.cont(nid)


def _target_socket(sup: Supervisor, nid: int, task: TaskInfo, fd: int) -> socket.socket | None:
    """Our duplicate of the target's socket `fd` (pidfd_getfd: the same open file
    description, so the fd number cannot be swapped under us); None when the notification is
    no longer valid or was answered (EBADF, ENOTSOCK)."""
    if not sup.valid(nid):
        return None
    try:
        dup = sup.take_fd(task, fd)
    except OSError as err:
        sup.deny(nid, err.errno or errno.EBADF)
        return None
    try:
        return socket.socket(fileno=dup)
    except OSError:
        os.close(dup)
        sup.deny(nid, errno.ENOTSOCK)
        return None


def h_listen(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """listen(fd, backlog): emulated on our duplicate of the socket. An unbound inet stream
    socket would bind an ephemeral port: refused (EACCES, as Landlock refuses a bind) unless
    the plan leaves TCP bind alone or grants port 0."""
    task = sup.task(tid)
    fd, backlog = s32(a[0]), s32(a[1])
    sock = _target_socket(sup, nid, task, fd)
    if sock is None:
        return
    try:
        family, kind = sock.family, sock.type & 0xF
        port = 0
        address = ""
        if family in (socket.AF_INET, socket.AF_INET6):
            name = sock.getsockname()
            address, port = str(name[0]), int(name[1])
        obj = Object(kind=ObjectKind.SOCKET, family=family, sock_type=kind, protocol=sock.proto,
                     address=address, port=port)
        if (family in (socket.AF_INET, socket.AF_INET6) and kind == socket.SOCK_STREAM
                and port == 0 and sup.guard is not None and not sup.guard.may_autobind()):
            sup.refuse(nid, task, "socket_listen", obj, errno.EACCES,
                       "listen on an unbound socket would bind an ephemeral TCP port that no "
                       "bind grant allows")
            return
        err = sup.decide(task, [Request("socket_listen", task.subject, obj)], "listen", "listen",
                         peer={"family": FAMILY_NAMES.get(family, str(family)), "port": port})
        if err:
            sup.deny(nid, err)
            return
        res = ksys.LIBC.listen(sock.fileno(), backlog)
        sup.ok(nid) if res == 0 else sup.deny(nid, ctypes.get_errno() or errno.EIO)
    finally:
        sock.close()


def ipv6_text(raw: bytes) -> str:
    """str(ipaddress.IPv6Address(raw)) of 16 bytes (RFC 5952: lower-case hex, the first of the
    longest runs of two or more zero groups as `::`), without importing ipaddress (start-up)."""
    groups = [f"{g:x}" for g in struct.unpack("!8H", raw)]
    best, best_len, start = 0, 0, -1
    for i, group in enumerate(groups):
        if group != "0":
            start = -1
            continue
        if start < 0:
            start = i
        if i + 1 - start > best_len:
            best, best_len = start, i + 1 - start
    if best_len < 2:
        return ":".join(groups)
    return ":".join(groups[:best]) + "::" + ":".join(groups[best + best_len:])


def parse_sockaddr(raw: bytes) -> tuple[int, str, int]:
    """(family, address text, port) of a sockaddr; unix paths as text, abstract as @name."""
    if len(raw) < 2:
        raise OSError(errno.EINVAL, "short sockaddr")
    family = struct.unpack_from("=H", raw)[0]
    if family == socket.AF_INET and len(raw) >= 8:
        return family, ".".join(map(str, raw[4:8])), struct.unpack_from("!H", raw, 2)[0]
    if family == socket.AF_INET6 and len(raw) >= 24:
        return family, ipv6_text(raw[8:24]), struct.unpack_from("!H", raw, 2)[0]
    if family == socket.AF_UNIX:
        path = raw[2:]
        if path[:1] == b"\0":
            return family, "@" + path[1:].decode("utf-8", "replace"), 0
        return family, path.split(b"\0", 1)[0].decode("utf-8", "replace"), 0
    return family, "", 0


def _sock_call(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...], op: str) -> None:
    """connect/bind: decide on the copied address, then perform it on our duplicate of the
    target's socket (pidfd_getfd: the same open file description) with exactly those bytes."""
    task = sup.task(tid)
    fd, addr, length = s32(a[0]), a[1], a[2] & 0xFFFFFFFF
    if length > 128 or length < 2:
        sup.deny(nid, errno.EINVAL)
        return
    raw = sup.mem.read(tid, addr, length)
    if len(raw) != length:
        sup.deny(nid, errno.EFAULT)
        return
    sock = _target_socket(sup, nid, task, fd)
    if sock is None:
        return
    handed_off = False
    try:
        family, address, port = parse_sockaddr(raw)
        obj = Object(kind=ObjectKind.SOCKET, path=address if family == socket.AF_UNIX else "",
                     family=family, sock_type=sock.type & 0xF, protocol=sock.proto,
                     address=address, port=port)
        peer = {"family": FAMILY_NAMES.get(family, str(family)), "address": address, "port": port}
        err = sup.decide(task, [Request(f"socket_{op}", task.subject, obj)], op, op, peer=peer)
        if err:
            sup.deny(nid, err)
            return
        sup.act_as(task, umask=op == "bind")
        if op == "connect" and sup.guard is not None and family == socket.AF_UNIX and \
                raw[2:3] not in (b"\0", b""):
            pinned = _pin_unix_peer(sup, nid, task, raw)
            if pinned is None:
                return
            raw, pin_fd = pinned
            try:
                handed_off = _connect(sup, nid, sock, raw)
            finally:
                os.close(pin_fd)  # the kernel resolved the path during connect()
            return
        if op == "bind" and family == socket.AF_UNIX and raw[2:3] not in (b"\0", b""):
            _bind_unix_path(sup, nid, task, sock, raw)
            return
        if family == socket.AF_UNIX and raw[2:3] not in (b"/", b"\0", b""):
            cwd = os.open(f"/proc/{tid}/cwd", os.O_PATH | os.O_CLOEXEC)
            try:
                os.fchdir(cwd)  # this thread's own cwd (unshare(CLONE_FS))
            finally:
                os.close(cwd)
        if op == "bind":
            res = ksys.raw_bind(sock.fileno(), raw)
            sup.ok(nid) if res == 0 else sup.deny(nid, res)
            return
        handed_off = _connect(sup, nid, sock, raw)
    finally:
        if not handed_off:
            sock.close()


#: a socket inode's mode before the umask (sock_alloc: S_IFSOCK | S_IRWXUGO)
_SOCKET_MODE = stat.S_IFSOCK | 0o777


def _bind_unix_path(sup: Supervisor, nid: int, task: TaskInfo, sock: socket.socket,
                    raw: bytes) -> None:
    """bind() to a pathname creates a name (the kernel's vfs_mknod(S_IFSOCK)): the parent is
    pinned, `inode_mknod` decided on the name, and the bind made relative to the pinned parent
    (this thread's own cwd, unshare(CLONE_FS)), so the name decided on is the name created."""
    path = raw[2:].split(b"\0", 1)[0]
    pfd, name = open_parent(task, AT_FDCWD, path)
    try:
        if name in (b"", b".", b".."):
            sup.deny(nid, errno.EADDRINUSE if name else errno.ENOENT)
            return
        obj = object_at(pfd, name, labels=sup.labels, walk=sup.walk)
        if obj.exists:
            sup.deny(nid, errno.EADDRINUSE)
            return
        obj = replace(obj, mode=_SOCKET_MODE & ~task.umask, uid=task.subject.fsuid,
                      gid=task.subject.fsgid)
        err = sup.decide(task, [Request("inode_mknod", task.subject, obj, MAY_WRITE)], "bind",
                         "mknod")
        if err:
            sup.deny(nid, err)
            return
        os.fchdir(pfd)
        res = ksys.raw_bind(sock.fileno(), struct.pack("=H", socket.AF_UNIX) + name + b"\0")
        sup.ok(nid) if res == 0 else sup.deny(nid, res)
    finally:
        os.close(pfd)


def _pin_unix_peer(sup: Supervisor, nid: int, task: TaskInfo, raw: bytes
                   ) -> tuple[bytes, int] | None:
    """A pathname unix peer: resolved as the target would (cwd, root, symlinks), pinned O_PATH,
    decided by the plan's write grant on the socket file (AppArmor: connect needs `w` on it),
    and given back as a sockaddr naming our pinned descriptor (/proc/self/fd/N), so the
    connect reaches exactly the inode decided on. None when answered."""
    path = raw[2:].split(b"\0", 1)[0]
    try:
        pfd = open_as_target(task, AT_FDCWD, path, os.O_PATH)
    except OSError as err:
        sup.deny(nid, err.errno or errno.ENOENT)
        return None
    try:
        st = os.fstat(pfd)
        if not stat.S_ISSOCK(st.st_mode):
            sup.deny(nid, errno.ECONNREFUSED)
            os.close(pfd)
            return None
        assert sup.guard is not None
        where = os.readlink(f"/proc/self/fd/{pfd}")
        err, why = sup.guard.check(where, st.st_mode, True)
        if err:
            obj = Object(kind=ObjectKind.SOCKET, path=where, family=socket.AF_UNIX,
                         address=where)
            sup.refuse(nid, task, "unix_stream_connect", obj, err, why)
            os.close(pfd)
            return None
    except BaseException:
        os.close(pfd)
        raise
    return struct.pack("=H", socket.AF_UNIX) + b"/proc/self/fd/%d\0" % pfd, pfd


def _connect(sup: Supervisor, nid: int, sock: socket.socket, raw: bytes) -> bool:
    """Connect; a blocking connect in progress is finished by a waiter thread (True)."""
    fd = sock.fileno()
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    if flags & os.O_NONBLOCK:
        res = ksys.raw_connect(fd, raw)
        sup.ok(nid) if res == 0 else sup.deny(nid, res)
        return False
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)  # never block the supervisor
    res = ksys.raw_connect(fd, raw)
    if res != errno.EINPROGRESS or not _waiters.acquire(blocking=False):
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)
        sup.ok(nid) if res == 0 else sup.deny(nid, res if res != errno.EINPROGRESS else errno.EAGAIN)
        return False

    def wait() -> None:
        try:
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
            while sup.listener is not None and sup.listener.id_valid(nid):
                if poller.poll(200):
                    break
            res = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags)
            if sup.listener is not None:
                sup.listener.respond(nid, 0, res)
        except OSError:
            pass
        finally:
            sock.close()
            _waiters.release()

    threading.Thread(target=wait, name="stockade-connect", daemon=True).start()
    return True


def h_connect(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """connect(fd, addr, addrlen)."""
    _sock_call(sup, nid, tid, a, "connect")


def h_bind(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """bind(fd, addr, addrlen)."""
    _sock_call(sup, nid, tid, a, "bind")


# -- signals and ptrace -----------------------------------------------------------------------

PTRACE_TRACEME = 0
PTRACE_ATTACH = 16
PTRACE_SEIZE = 0x4206


def h_ptrace(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """ptrace(request, pid, ...): attach and traceme are decided; other requests act on
    tracees already attached (the kernel checks that), so they continue."""
    task = sup.task(tid)
    request, pid = a[0] & 0xFFFFFFFF, s32(a[1])
    if request in (PTRACE_ATTACH, PTRACE_SEIZE):
        req = Request("ptrace_access_check", task.subject, task_object(sup, pid),
                      flags=PTRACE_MODE_ATTACH | PTRACE_MODE_REALCREDS)
    elif request == PTRACE_TRACEME:
        req = Request("ptrace_traceme", task.subject, task_object(sup, task.subject.ancestors[0]
                                                                   if task.subject.ancestors else 0))
    else:
        sup.cont(nid)
        return
    err = sup.decide(task, [req], "ptrace", "ptrace", peer={"pid": pid})
    if err:
        sup.deny(nid, err)
    else:
        sup.cont(nid)


def _pidfd_pid(fd: int) -> int:
    """The pid a pidfd names (its fdinfo's `Pid:` line: -1 once the task is gone); 0 when
    `fd` is not a pidfd."""
    with open(f"/proc/self/fdinfo/{fd}", "rb") as f:
        for line in f:
            if line.startswith(b"Pid:"):
                return int(line.split()[1])
    return 0


def h_pidfd_getfd(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """pidfd_getfd(pidfd, targetfd, flags): the kernel asks ptrace_may_access(ATTACH,
    REALCREDS) of the task the pidfd names, so the stack's ptrace_access_check decides it with
    that mode, on the task our duplicate of the pidfd names (the same open file). Continued
    when allowed: Landlock's ptrace scope and commoncap still apply in the kernel. A sibling
    thread's dup2 over the pidfd number in the window is the race mmap documents."""
    task = sup.task(tid)
    if not sup.valid(nid):
        return
    try:
        dup = sup.take_fd(task, s32(a[0]))
    except OSError as err:
        sup.deny(nid, err.errno or errno.EBADF)
        return
    try:
        pid = sup.helper.call(_pidfd_pid, dup)
    finally:
        os.close(dup)
    if pid == 0:
        sup.deny(nid, errno.EBADF)  # what the kernel answers for a descriptor not a pidfd
        return
    if pid < 0:
        sup.deny(nid, errno.ESRCH)
        return
    req = Request("ptrace_access_check", task.subject, task_object(sup, pid),
                  flags=PTRACE_MODE_ATTACH | PTRACE_MODE_REALCREDS)
    err = sup.decide(task, [req], "pidfd_getfd", "ptrace", peer={"pid": pid})
    if err:
        sup.deny(nid, err)
    else:
        sup.cont(nid)


def h_mount(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """mount(source, target, fstype, flags, data): decided for the record, then always EPERM:
    it cannot be emulated (it would mount in the supervisor's namespace with its privileges)
    and continuing would let the target change the strings after the check."""
    task = sup.task(tid)
    target = sup.mem.cstring(tid, a[1])
    fstype = sup.mem.cstring(tid, a[2], 256) if a[2] else b""
    if not sup.valid(nid):
        return
    sup.act_as(task)
    obj: Object | None
    try:
        fd = open_as_target(task, AT_FDCWD, target, os.O_PATH)
    except OSError:
        obj = None
    else:
        try:
            obj = object_from_fd(fd, labels=sup.labels, walk=False, path_fd=True)
        finally:
            os.close(fd)
    err = sup.decide(task, [Request("sb_mount", task.subject, obj, what=os.fsdecode(fstype) or
                                    "none", flags=a[3])], "mount", "mount")
    if err:
        sup.deny(nid, err)
        return
    sup.refuse(nid, task, "sb_mount", obj, errno.EPERM, "mount cannot be emulated safely")


def _refuse_nesting(name: str) -> Handler:
    def handler(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
        sup.refuse(nid, sup.task(tid), name, None, errno.EOPNOTSUPP,
                   "Landlock nesting is not available under the supervisor: its emulated "
                   "calls would not honour a nested domain")
    handler.__doc__ = f"""{name}: refused with EOPNOTSUPP (what a kernel with Landlock
    disabled answers; programs treat it as "run without it"). docs/supervisor.md#landlock-nesting"""
    return handler


def h_invalidate(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """set*id, setgroups, capset: forget this thread's cached credentials, then continue."""
    sup.tasks.drop(tid)
    sup.cont(nid)


def h_invalidate_group(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """umask, chroot: per process (shared fs_struct): forget every thread of the group."""
    sup.tasks.drop_group_of(tid)
    sup.cont(nid)


HANDLERS: dict[str, Handler] = {
    "socket": h_socket, "socketpair": h_socketpair, "connect": h_connect, "bind": h_bind,
    "listen": h_listen, "ptrace": h_ptrace, "pidfd_getfd": h_pidfd_getfd, "mount": h_mount,
    **{name: _refuse_nesting(name) for name in ("landlock_create_ruleset",
                                                "landlock_restrict_self")},
    **{name: h_invalidate for name in ("setuid", "setgid", "setreuid", "setregid", "setresuid",
                                       "setresgid", "setfsuid", "setfsgid", "setgroups", "capset")},
    "umask": h_invalidate_group, "chroot": h_invalidate_group,
}
