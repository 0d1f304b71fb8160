"""Handlers for the open and exec families.

Each handler answers its notification exactly once (or not at all when the target vanished):
deny with an errno, emulate and inject/return the result, or continue. docs/supervisor.md says
which, per system call, and why.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from typing import TYPE_CHECKING

from stockade.enforce.link_walk import MAX_LINKS
from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.execve import chain as exec_chain
from stockade.enforce.supervisor.execve import names as exec_names
from stockade.enforce.supervisor.execve import race as exec_race
from stockade.enforce.supervisor.handlers.proc_open import in_proc, plan_refusal, ptrace_refusal
from stockade.enforce.supervisor.resolve import (
    Refused,
    fd_path,
    labels_of,
    object_at,
    object_from_fd,
    open_as_target,
    open_described,
    open_in,
    open_parent,
    split_parent,
)
from stockade.enforce.supervisor.routing import EXEC_HOOKS
from stockade.enforce.supervisor.sys import AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, s32
from stockade.lsm.operations import driver_checks
from stockade.lsm.types import (
    MAY_APPEND,
    MAY_EXEC,
    MAY_OPEN,
    MAY_READ,
    MAY_WRITE,
    Object,
    ObjectKind,
    Request,
    file_object_key,
    request_key,
)
from stockade.modules.labels import new_file_labels, transition_subject
from stockade.slotted import replace

if TYPE_CHECKING:
    from stockade.enforce.supervisor.loop import Handler, Supervisor
    from stockade.enforce.supervisor.target import TaskInfo
    from stockade.lsm.types import Subject

_ACCESS = (MAY_READ, MAY_WRITE, MAY_READ | MAY_WRITE, MAY_READ | MAY_WRITE)
# flag values as module constants: the open path reads them per notification
_O_PATH, _O_ACCMODE, _O_TRUNC, _O_APPEND = os.O_PATH, os.O_ACCMODE, os.O_TRUNC, os.O_APPEND
_O_NOCTTY, _O_CREAT, _O_TMPFILE, _O_CLOEXEC = os.O_NOCTTY, os.O_CREAT, os.O_TMPFILE, os.O_CLOEXEC
_O_NONBLOCK, _O_RDONLY, _F_SETFL = os.O_NONBLOCK, os.O_RDONLY, fcntl.F_SETFL
#: what a non-blocking open answers where the target's blocking open would wait
_WOULD_WAIT = frozenset({errno.ENXIO, errno.EWOULDBLOCK})
_CHANGES = MAY_WRITE | MAY_APPEND


class Denied(Exception):
    """The stack denied an intermediate step (e.g. the creation of an O_CREAT open)."""

    def __init__(self, err: int) -> None:
        super().__init__(err)
        self.errno = err


# -- open family ------------------------------------------------------------------------------


def _create(sup: Supervisor, task: TaskInfo, dirfd: int, path: bytes, flags: int, mode: int,
            resolve: int, syscall: str, access: int) -> tuple[int, bool]:
    """O_CREAT: open an existing file, or decide the creation first and then create it.

    The file is created where the kernel would create it: a dangling symbolic link as the last
    component is followed by hand (readlinkat, then the link's parent pinned as a descriptor),
    so the creation is decided on the name that is really created, in the directory it is
    created in, and the creation itself is O_CREAT|O_EXCL in that directory (no link is followed
    by an open that may create). Nothing is created that the stack refuses: `_new_file` decides
    inode_create and the open on the would-be file (carrying the labels it will get) first.
    """
    plain = flags & ~(os.O_CREAT | os.O_EXCL)
    if not flags & os.O_EXCL:
        try:
            return open_as_target(task, dirfd, path, plain, 0, resolve), False
        except FileNotFoundError:
            pass
    pfd, name = open_parent(task, dirfd, path)
    try:
        for _ in range(MAX_LINKS + 1):
            new = object_at(pfd, name, labels=sup.labels, walk=sup.walk)
            if not new.exists:
                try:
                    return _new_file(sup, task, pfd, name, new, plain, mode, syscall, access), True
                except FileExistsError:
                    if flags & os.O_EXCL:
                        raise
                    continue  # made meanwhile: look again
            if flags & os.O_EXCL:
                raise FileExistsError(errno.EEXIST, "File exists")
            if stat.S_ISLNK(new.mode) and not flags & os.O_NOFOLLOW:
                pfd, name = _follow(task, pfd, name, resolve)
                continue
            try:  # it exists (or O_NOFOLLOW: ELOOP): the target's flags, never creating
                return open_in(pfd, name, plain, mode), False
            except FileNotFoundError:
                continue  # removed meanwhile: look again
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
    finally:
        os.close(pfd)


def _new_file(sup: Supervisor, task: TaskInfo, pfd: int, name: bytes, new: Object, flags: int,
              mode: int, syscall: str, access: int) -> int:
    """Create `name` in directory `pfd` for `task`, or raise Denied with nothing created.

    inode_create and file_open are decided on the would-be file: its mode, owner and the labels
    the modules give a new file (creator's label, transmute, type_transition). Then it is created
    O_EXCL, labelled through the new descriptor (fsetxattr, before the target can see it) and
    decided once more on what really exists (a filesystem without xattrs leaves it unlabelled);
    a refusal or any failure after the creation removes the file again.
    """
    xattrs = new_file_labels(sup.stack.modules, task.subject, new) if sup.labels else ()
    new = replace(new, mode=stat.S_IFREG | (mode & 0o7777 & ~task.umask),
                  uid=task.subject.fsuid, gid=task.subject.fsgid, xattrs=xattrs)
    err = sup.decide(task, [Request("inode_create", task.subject, new, MAY_WRITE),
                            Request("file_open", task.subject, new, access)], syscall, "create")
    if err:
        raise Denied(err)
    # user.* attributes need write permission on the inode: a read-only mode is set after them
    final = mode & 0o7777 & ~task.umask
    writable = mode | 0o200 if xattrs and not final & 0o200 else mode
    fd = os.open(name, flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, writable, dir_fd=pfd)
    try:
        _label_new(sup, task, fd, xattrs, final if writable != mode else -1, access, syscall)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=pfd)
        raise
    return fd


def _label_new(sup: Supervisor, task: TaskInfo, fd: int, xattrs: tuple[tuple[str, bytes], ...],
               chmod: int, access: int, syscall: str) -> None:
    """Label a file just created at `fd` (then `chmod` it, unless -1) and decide its open on
    what exists; Denied when refused (the caller removes it)."""
    for attr, value in xattrs:
        try:
            os.setxattr(fd, attr, value)
        except OSError as why:
            if why.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
    if chmod >= 0:
        os.chmod(fd, chmod)
    err = _decide_open(sup, task, fd, os.fstat(fd), None, access, syscall, "create")
    if err:
        raise Denied(err)


def _follow(task: TaskInfo, pfd: int, name: bytes, resolve: int) -> tuple[int, bytes]:
    """The (parent fd, name) a symbolic link `name` in directory `pfd` points to; `pfd` is
    closed (or handed back in the result)."""
    if resolve & ksys.RESOLVE_NO_SYMLINKS:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
    if resolve:
        raise Refused(errno.EXDEV, "O_CREAT through a symbolic link with openat2 resolve "
                      "flags is not emulated")
    text = os.readlink(name, dir_fd=pfd)
    if not text.startswith(b"/") and not task.root_is_ours:
        raise Refused(errno.EACCES, "relative lookups in a chrooted target are not supported")
    if text.startswith(b"/"):
        new = open_parent(task, AT_FDCWD, text)
    else:
        directory, last = split_parent(text)
        new = (open_in(pfd, directory, os.O_PATH | os.O_DIRECTORY), last)
    os.close(pfd)
    return new


def _open(sup: Supervisor, nid: int, tid: int, dirfd: int, addr: int, flags: int, mode: int,
          resolve: int, syscall: str) -> None:
    if flags & _O_PATH:
        sup.cont(nid)  # the kernel calls no LSM hook for O_PATH either: nothing to decide
        return
    task = sup.tasks.get(tid)
    path = sup.mem.cstring(tid, addr)
    if not sup.valid(nid):
        return
    access = MAY_OPEN | _ACCESS[flags & _O_ACCMODE]
    if flags & (_O_TRUNC | _O_APPEND):
        if flags & _O_TRUNC:
            access |= MAY_WRITE
        if flags & _O_APPEND:
            access |= MAY_APPEND
    # O_TRUNC is applied after the decision; no controlling terminal for the supervisor; and
    # never a blocking open in the decision loop (blocking.py): O_NONBLOCK is added, cleared
    # again before the descriptor is injected, and a wait the target asked for happens in a
    # thread of its own
    wait = not flags & _O_NONBLOCK
    flags_now = (flags | _O_NOCTTY | _O_NONBLOCK) & ~_O_TRUNC
    known: str | None = None  # the opened file's path, when the lookup proved it
    try:
        if flags & _O_CREAT or flags & _O_TMPFILE == _O_TMPFILE:  # O_TMPFILE has O_DIRECTORY
            sup.act_as(task, umask=True)
            try:
                fd, created = _open_creating(sup, task, dirfd, path, flags, flags_now, mode,
                                             resolve, syscall, access)
            except Denied as den:
                sup.deny(nid, den.errno)
                return
            st: os.stat_result | None = None
        else:
            sup.act_as(task)
            created = False
            fd, st, known = open_described(task, dirfd, path, flags_now, mode, resolve)
    except OSError as err:
        if err.errno not in _WOULD_WAIT:
            raise
        _open_waiting(sup, nid, task, dirfd, path, flags, flags_now, resolve, access, syscall,
                      err, wait)
        return
    try:
        if st is None:
            st = os.fstat(fd)
        # a created file was decided (and labelled) before and after its creation
        err = 0 if created else _decide_open(sup, task, fd, st, known, access, syscall, "open")
        if not err and flags & _O_TRUNC and stat.S_ISREG(st.st_mode) and not created:
            os.ftruncate(fd, 0)
        if not err and wait:
            if stat.S_ISFIFO(st.st_mode) and flags & _O_ACCMODE == _O_RDONLY:
                # a reader waits for a writer: decided, now wait in a thread of its own
                _start_waiting(sup, nid, task, fd, flags_now & ~_O_NONBLOCK,
                               bool(flags & _O_CLOEXEC), False, reader=True)
                return
            fcntl.fcntl(fd, _F_SETFL, flags_now & ~_O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    if err:
        os.close(fd)
        sup.deny(nid, err)
        return
    sup.inject(nid, fd, bool(flags & _O_CLOEXEC))


def _open_waiting(sup: Supervisor, nid: int, task: TaskInfo, dirfd: int, path: bytes,
                  flags: int, flags_now: int, resolve: int, access: int, syscall: str,
                  why: OSError, wait: bool) -> None:
    """A non-blocking open said ENXIO (a FIFO without a reader) or EWOULDBLOCK (a lease):
    decide on an O_PATH descriptor of the object (the kernel's file_open hook also comes before
    the FIFO's own open), then, if the target asked to `wait`, let a thread make the blocking
    open; else the target gets the kernel's answer. Anything else that answered ENXIO (a
    socket, a device without a driver) gets ENXIO."""
    fd = open_as_target(task, dirfd, path, os.O_PATH | (flags & (os.O_NOFOLLOW | os.O_DIRECTORY)),
                        0, resolve)
    try:
        st = os.fstat(fd)
        if why.errno == errno.ENXIO and not stat.S_ISFIFO(st.st_mode):
            raise why
        err = _decide_open(sup, task, fd, st, None, access, syscall, "open", path_fd=True)
    except BaseException:
        os.close(fd)
        raise
    if err or not wait:
        os.close(fd)
        sup.deny(nid, err or why.errno or errno.ENXIO)
        return
    _start_waiting(sup, nid, task, fd, flags_now, bool(flags & _O_CLOEXEC),
                   bool(flags & _O_TRUNC))


def _start_waiting(sup: Supervisor, nid: int, task: TaskInfo, fd: int, flags_now: int,
                   cloexec: bool, truncate: bool, reader: bool = False) -> None:
    """Hand the wait to blocking.py (it owns `fd` then)."""
    if sup.blocking.start(nid, task.tid, fd, flags_now, cloexec, truncate, reader):
        return
    os.close(fd)
    sup.refuse(nid, task, "file_open", None, errno.EAGAIN,
               "too many opens already wait (FIFOs, leases)")


def _open_creating(sup: Supervisor, task: TaskInfo, dirfd: int, path: bytes, flags: int,
                   flags_now: int, mode: int, resolve: int, syscall: str,
                   access: int) -> tuple[int, bool]:
    """O_CREAT and O_TMPFILE opens: (our fd, whether a file was created); Denied when the
    creation itself is denied."""
    if flags & os.O_TMPFILE == os.O_TMPFILE:
        dfd = open_as_target(task, dirfd, path, os.O_PATH | os.O_DIRECTORY, 0, resolve)
        try:
            parent = object_from_fd(dfd, labels=sup.labels, walk=sup.walk, path_fd=True)
            new = replace(parent, path=parent.path + "/#tmpfile", exists=False, parent=parent,
                          mode=stat.S_IFREG | (mode & 0o7777 & ~task.umask), uid=task.subject.fsuid,
                          gid=task.subject.fsgid, xattrs=())
            xattrs = new_file_labels(sup.stack.modules, task.subject, new) if sup.labels else ()
            new = replace(new, xattrs=xattrs)
            err = sup.decide(task, [Request("inode_create", task.subject, new, MAY_WRITE),
                                    Request("file_open", task.subject, new, access)],
                             syscall, "create")
            if err:
                raise Denied(err)
            final = mode & 0o7777 & ~task.umask
            writable = mode | 0o200 if xattrs and not final & 0o200 else mode
            fd = ksys.openat2(dfd, b".", flags_now | os.O_CLOEXEC, writable)
            try:  # unnamed until linked: closing it is removing it
                _label_new(sup, task, fd, xattrs, final if writable != mode else -1, access,
                           syscall)
            except BaseException:
                os.close(fd)
                raise
            return fd, True
        finally:
            os.close(dfd)
    return _create(sup, task, dirfd, path, flags_now, mode, resolve, syscall, access)


_DRIVER_PATHS = ("/dev/", "/proc/kcore", "/sys/kernel/")


def _open_request(subject: Subject, path: str, st: os.stat_result,
                  xattrs: tuple[tuple[str, bytes], ...], access: int) -> Request:
    return Request("file_open", subject, Object(
        kind=ObjectKind.FILE, path=path, uid=st.st_uid, gid=st.st_gid, mode=st.st_mode,
        ino=st.st_ino, dev=st.st_dev, xattrs=xattrs), access)


def _decide_open(sup: Supervisor, task: TaskInfo, fd: int, st: os.stat_result, known: str | None,
                 access: int, syscall: str, op: str, path_fd: bool = False) -> int:
    """The stack's errno for opening the file at `fd` (0: allowed), decided on its metadata and
    labels as read from the descriptor.

    Fast path (no directory walk, no observer or judge, no driver checks): the AVC is asked with the key
    the Request would have, and the Object and Request are built only when the AVC misses or
    replays audit events; `file_object_key`/`request_key` are tested equal to theirs.
    A write open of one of the launcher's own files (protect.py) is refused first.
    """
    path = known if known is not None else fd_path(fd)
    if sup.protect is not None and access & _CHANGES:
        why = sup.protect.open_refusal(st, path, access)
        if why is not None:
            sup.audit_refusal(task, "file_open", _open_request(
                task.subject, path, st, (), access).obj, errno.EACCES, why)
            return errno.EACCES
    if not in_proc(path, st):
        return _stack_open(sup, task, fd, st, path, known is not None, access, syscall, op,
                           path_fd)
    # the order of the kernel's open: file_open (Landlock, the plan; then every module),
    # then procfs's own open asks ptrace_may_access (mem, environ, maps, ...)
    return plan_refusal(sup, task, path, st, access) or _stack_open(
        sup, task, fd, st, path, False, access, syscall, op, path_fd) or ptrace_refusal(
        sup, task, path, syscall)


def _stack_open(sup: Supervisor, task: TaskInfo, fd: int, st: os.stat_result, path: str,
                proved: bool, access: int, syscall: str, op: str, path_fd: bool) -> int:
    """The stack's file_open (and driver checks) on `path`; an allow is mirrored for the C
    fast path when the lookup `proved` the path."""
    if not sup.watching and not sup.walk and not path.startswith(_DRIVER_PATHS):
        xattrs = labels_of(fd, path_fd or stat.S_ISLNK(st.st_mode)) if sup.labels else ()
        subject = task.subject
        key = request_key("file_open", subject, file_object_key(
            path, st.st_uid, st.st_gid, st.st_mode, st.st_ino, st.st_dev, xattrs), access)
        decision = sup.stack.decide_key(key, _open_request, subject, path, st, xattrs, access)
        if proved and sup.fastpath is not None and not decision.errno:
            sup.mirror(task, key, decision, access, path, st, xattrs)
        return decision.errno
    obj = object_from_fd(fd, labels=sup.labels, walk=sup.walk, st=st, path=path,
                         path_fd=path_fd)
    requests = [Request("file_open", task.subject, obj, access)]
    if obj.path.startswith(_DRIVER_PATHS):
        requests += driver_checks(task.subject, obj, bool(access & MAY_WRITE))
    return sup.decide(task, requests, syscall, op)


def h_open(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """open(path, flags, mode)."""
    _open(sup, nid, tid, AT_FDCWD, a[0], a[1] & 0xFFFFFFFF, a[2] & 0o7777, 0, "open")


def h_creat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """creat(path, mode) = open(path, O_CREAT|O_WRONLY|O_TRUNC, mode)."""
    _open(sup, nid, tid, AT_FDCWD, a[0], os.O_CREAT | os.O_WRONLY | os.O_TRUNC, a[1] & 0o7777, 0,
          "creat")


def h_openat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """openat(dirfd, path, flags, mode)."""
    dirfd = a[0] & 0xFFFFFFFF  # s32, inlined: the hottest handler
    if dirfd & 0x80000000:
        dirfd -= 0x100000000
    _open(sup, nid, tid, dirfd, a[1], a[2] & 0xFFFFFFFF, a[3] & 0o7777, 0, "openat")


def h_openat2(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """openat2(dirfd, path, how, size): struct open_how is read from the target."""
    if a[3] < ksys.OPEN_HOW.size:
        sup.deny(nid, errno.EINVAL)
        return
    try:
        raw = sup.mem.read(tid, a[2], ksys.OPEN_HOW.size)
    except OSError:
        raw = b""
    if len(raw) < ksys.OPEN_HOW.size:
        sup.deny(nid, errno.EFAULT)
        return
    flags, mode, resolve = ksys.OPEN_HOW.unpack(raw)
    _open(sup, nid, tid, s32(a[0]), a[1], flags, mode & 0o7777, resolve, "openat2")


# -- exec -------------------------------------------------------------------------------------

def _exec(sup: Supervisor, nid: int, tid: int, dirfd: int, addr: int, flags: int,
          syscall: str, argv_addr: int = 0, envp_addr: int = 0) -> None:
    task = sup.task(tid)
    if not sup.hooks & EXEC_HOOKS and not sup.watching:
        sup.tasks.drop_group(task.tgid)  # routed only so that the cache forgets the old image
        sup.cont(nid)
        return
    path = sup.mem.cstring(tid, addr)
    tomoyo = sup.tomoyo
    if tomoyo is not None:  # TOMOYO's exec conditions and env checks look at argv and envp
        argv, envp = exec_chain.strings(sup.mem, tid, argv_addr), \
            exec_chain.strings(sup.mem, tid, envp_addr)
    if not sup.valid(nid):
        return
    if tomoyo is not None:
        tomoyo.exec_strings(task.subject.pid, argv, envp)  # type: ignore[attr-defined]
    sup.act_as(task)
    if not path and flags & AT_EMPTY_PATH:
        fd = os.open(f"/proc/{tid}/fd/{dirfd}", os.O_PATH | os.O_CLOEXEC)
    else:
        nofollow = os.O_NOFOLLOW if flags & AT_SYMLINK_NOFOLLOW else 0
        fd = open_as_target(task, dirfd, path, os.O_PATH | nofollow)
    subject = task.subject
    interpreters: list[bytes] = []  # the #! interpreters and ELF loader decided after it
    choosers: list[str] = []  # the files whose first bytes decided what runs
    given = _name_as_given(task, dirfd, path) if tomoyo is not None else ""  # TOMOYO names domains by it
    try:
        obj = _exec_object(sup, fd)
        err = sup.decide(task, [Request("file_open", subject, obj, MAY_EXEC | MAY_OPEN),
                                Request("bprm_check_security", subject, obj, MAY_EXEC,
                                        what=given)],
                         syscall, "exec")
        if not err:
            err = _decide_interpreters(sup, task, fd, syscall, interpreters, choosers)
    finally:
        os.close(fd)
    if err:
        sup.deny(nid, err)
        return
    # learn mode, and complain mode for a profile, enforce no verdict: letting the exec
    # continue decides nothing
    if not sup.exec_enforced and sup.mode != "learn" and sup.judge is None:
        sup.refuse(nid, task, "bprm_check_security", obj, errno.EACCES,
                   "exec cannot be emulated and Landlock does not handle execute here")
        return
    why = exec_race.unsettled(sup, task, addr, path) if sup.mode == "enforce" else ""
    if why:
        sup.refuse(nid, task, "bprm_check_security", obj, errno.EACCES,
                   f"exec cannot be decided soundly: {why}, so the path could change between "
                   "the decision and the exec")
        return
    why = exec_names.swappable(sup.guard, task, dirfd, path, flags, interpreters) \
        if sup.mode == "enforce" and sup.hooks & EXEC_HOOKS else ""
    if why:
        sup.refuse(nid, task, "bprm_check_security", obj, errno.EACCES,
                   f"exec cannot be decided soundly: its name can be swapped after the "
                   f"decision: {why}")
        return
    # the first exec has no other process of the program beside it that could rewrite a file
    why = exec_names.rewritable(sup, task, choosers) \
        if sup.mode == "enforce" and sup.hooks & EXEC_HOOKS and sup.program_execd else ""
    if why:
        sup.refuse(nid, task, "bprm_check_security", obj, errno.EACCES,
                   f"exec cannot be decided soundly: {why}")
        return
    after = transition_subject(subject, obj, sup.stack.modules)
    # pending until the exec is known to have happened: the kernel may fail it (exec_confirm)
    if after.contexts != subject.contexts and not sup.tasks.expect_contexts(
            task.tid, task.tgid, after.contexts, subject.contexts, choosers):
        sup.refuse(nid, task, "bprm_check_security", obj, errno.EAGAIN,
                   "the exec transition cannot be kept (a store is full, or /proc unreadable)")
        return
    sup.tasks.drop_group(task.tgid)
    sup.program_execd = True
    sup.cont(nid)


def _name_as_given(task: TaskInfo, dirfd: int, path: bytes) -> str:
    """The program's name with its directories resolved and its last component not followed
    (TOMOYO names domains by it); "" when it cannot be told."""
    if not path:
        return ""
    try:
        pfd, name = open_parent(task, dirfd, path)
    except OSError:
        return ""
    try:
        directory = fd_path(pfd)
    finally:
        os.close(pfd)
    if not directory.startswith("/"):
        return ""
    return os.path.join(directory, os.fsdecode(name))


def _exec_object(sup: Supervisor, fd: int) -> Object:
    """The file pinned at `fd` as the object of an exec (its mount's noexec included)."""
    obj = object_from_fd(fd, labels=sup.labels, walk=sup.walk, path_fd=True)
    return replace(obj, noexec=bool(os.fstatvfs(fd).f_flag & os.ST_NOEXEC))


def _decide_interpreters(sup: Supervisor, task: TaskInfo, fd: int, syscall: str,
                         names: list[bytes], choosers: list[str]) -> int:
    """Decide what the kernel executes after the file pinned at `fd`: each `#!` interpreter
    (file_open + bprm_check_security, as binfmt_script's open_exec and the next
    search_binary_handler ask) up to the kernel's depth, then the ELF loader named by PT_INTERP
    (file_open for execution). The errno of the first denial (0: all allowed); the names
    looked up are added to `names`, the paths of the files read to find them (the last one,
    which names nothing, too) to `choosers`."""
    pinned, owned = fd, -1
    try:
        for depth in range(exec_chain.MAX_INTERPRETERS + 1):
            try:
                head = exec_chain.read_file(pinned, exec_chain.BINPRM_BUF_SIZE)
                interp = exec_chain.script_interpreter(head)
                last = exec_chain.elf_interpreter(pinned, head) if interp is None else None
            except OSError as err:
                if err.errno == errno.ENOEXEC:
                    raise
                raise Refused(errno.EACCES, f"cannot read {fd_path(pinned)} to find what it "
                              f"runs: {err.strerror}") from None
            choosers.append(fd_path(pinned))  # its first bytes decide what runs, or that
            name = interp if interp is not None else last  # nothing more does (a static ELF)
            if name is None:
                return 0
            if depth == exec_chain.MAX_INTERPRETERS and interp is not None:
                return errno.ELOOP
            nxt = open_as_target(task, AT_FDCWD, name, os.O_PATH)  # open_exec: AT_FDCWD
            names.append(name)
            if owned >= 0:
                os.close(owned)
            pinned = owned = nxt
            obj = _exec_object(sup, nxt)
            requests = [Request("file_open", task.subject, obj, MAY_EXEC | MAY_OPEN)]
            if interp is not None:
                requests.append(Request("bprm_check_security", task.subject, obj, MAY_EXEC))
            err = sup.decide(task, requests, syscall, "exec")
            if err or interp is None:
                return err
        return errno.ELOOP
    finally:
        if owned >= 0:
            os.close(owned)


def h_execve(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """execve(path, argv, envp)."""
    _exec(sup, nid, tid, AT_FDCWD, a[0], 0, "execve", a[1], a[2])


def h_execveat(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """execveat(dirfd, path, argv, envp, flags)."""
    _exec(sup, nid, tid, s32(a[0]), a[1], a[4] & 0xFFFFFFFF, "execveat", a[2], a[3])


HANDLERS: dict[str, Handler] = {
    "open": h_open, "creat": h_creat, "openat": h_openat, "openat2": h_openat2,
    "execve": h_execve, "execveat": h_execveat,
}
