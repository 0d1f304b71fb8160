"""Resolve a target's path as the target would, open it in the supervisor, describe what opened.

Relative paths start at the target's cwd (/proc/TID/cwd) or dirfd (/proc/TID/fd/N), absolute ones
at its root (/proc/TID/root with RESOLVE_IN_ROOT when it is not ours). Every lookup uses
openat2 with RESOLVE_NO_MAGICLINKS: /proc/self and /dev/fd would otherwise name the
*supervisor's* process. The spellings a program uses for its own descriptors (/proc/self/fd/N,
/proc/thread-self/fd/N, /dev/fd/N, /dev/stdin...) are rewritten to the target's own
/proc/TGID/fd/N, which is then followed on purpose. Anything that still lands in the supervisor's
own /proc directory (a symlink to /proc/self/mem, say) is refused with EACCES.

Decisions are made on what was opened: `object_from_fd` reads the inode's metadata and labels
from the descriptor (fstat, fgetxattr), never from the path again.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.sys import AT_FDCWD
from stockade.enforce.supervisor.target import TaskInfo
from stockade.lsm.probe import directory_chain
from stockade.lsm.types import Object, ObjectKind

_LABEL_PREFIXES = ("security.", "user.")
#: the xattr prefixes that hold labels
LABEL_PREFIXES = _LABEL_PREFIXES
_STD = {b"/dev/stdin": b"0", b"/dev/stdout": b"1", b"/dev/stderr": b"2"}
_SPECIAL = (b"/proc/", b"/dev/")
_NO_LINKS = ksys.RESOLVE_NO_MAGICLINKS | ksys.RESOLVE_NO_SYMLINKS
_O_CLOEXEC = os.O_CLOEXEC
_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()  # where rewrite_self and _own_fd_link can apply
_PROC_DEV = os.stat("/proc").st_dev
#: the device of /proc (what lands there is guarded: _guard_proc)
PROC_DEV = _PROC_DEV
_OWN_PID = os.getpid()


class Refused(Exception):
    """The supervisor refuses a lookup: `errno` is what the target gets, `reason` why."""

    def __init__(self, err: int, reason: str) -> None:
        super().__init__(reason)
        self.errno = err
        self.reason = reason


def rewrite_self(task: TaskInfo, path: bytes) -> bytes:
    """The target's spellings of its own /proc entries, made explicit."""
    if path.startswith(b"/proc/self") and path[10:11] in (b"", b"/"):
        return b"/proc/%d" % task.tgid + path[10:]
    for link in (b"/proc/net", b"/proc/mounts"):  # symbolic links to self/net, self/mounts
        if path.startswith(link) and path[len(link):len(link) + 1] in (b"", b"/"):
            return b"/proc/%d" % task.tgid + path[5:]
    if path.startswith(b"/proc/thread-self") and path[17:18] in (b"", b"/"):
        return b"/proc/%d/task/%d" % (task.tgid, task.tid) + path[17:]
    if path.startswith(b"/dev/fd/"):
        return b"/proc/%d/fd/" % task.tgid + path[8:]
    std = _STD.get(path)
    if std is not None:
        return b"/proc/%d/fd/" % task.tgid + std
    return path


def _fd_link(path: bytes) -> tuple[int, bytes | None] | None:
    """(PID, TID or None) of /proc/PID[/task/TID]/fd/N (digits each; a final newline allowed,
    as a regular expression's `$` allows it), else None. (A plain run does not import re.)"""
    parts = path.removesuffix(b"\n").split(b"/")
    if len(parts) == 5 and parts[:2] == [b"", b"proc"] and parts[3] == b"fd":
        numbers, tid = (parts[2], parts[4]), None
    elif (len(parts) == 7 and parts[:2] == [b"", b"proc"] and parts[3] == b"task"
          and parts[5] == b"fd"):
        numbers, tid = (parts[2], parts[4], parts[6]), parts[4]
    else:
        return None
    if not all(n.isdigit() for n in numbers):  # bytes: ASCII digits, not empty
        return None
    return int(parts[2]), tid


def _own_fd_link(task: TaskInfo, path: bytes) -> bool:
    link = _fd_link(path)
    return link is not None and link[0] == task.tgid and link[1] in (None, b"%d" % task.tid)


def proc_pid(where: str) -> int | None:
    """N of /proc/N or /proc/N/... (N decimal digits, of any script as int() reads them; a
    final newline allowed after N, as `$` allows it), else None."""
    if not where.startswith("/proc/"):
        return None
    rest = where[6:]
    digits = 0
    while digits < len(rest) and rest[digits].isdecimal():  # \d: any script's decimal digits
        digits += 1
    after = rest[digits:]
    if not digits or (after not in ("", "\n") and not after.startswith("/")):
        return None
    return int(rest[:digits])


def start(task: TaskInfo, dirfd: int, path: bytes) -> tuple[int, bytes, int, int]:
    """Where a lookup of `path` by the target begins: (dirfd, path, resolve flags, fd to close).

    Raises Refused with the errno the kernel would give (EBADF for a bad dirfd).
    """
    if path.startswith(b"/"):
        if task.root_is_ours:
            return AT_FDCWD, path, 0, -1
        try:
            root = os.open(f"/proc/{task.tid}/root", os.O_PATH | os.O_CLOEXEC)
        except OSError as err:
            raise Refused(errno.ESRCH, f"task root unavailable: {err.strerror}") from None
        return root, path, ksys.RESOLVE_IN_ROOT, root
    if not task.root_is_ours:
        raise Refused(errno.EACCES, "relative lookups in a chrooted target are not supported")
    where = f"/proc/{task.tid}/cwd" if dirfd == AT_FDCWD else f"/proc/{task.tid}/fd/{dirfd}"
    try:
        fd = os.open(where, os.O_PATH | os.O_CLOEXEC)
    except OSError as err:
        if dirfd != AT_FDCWD and err.errno == errno.ENOENT:
            raise Refused(errno.EBADF, f"bad dirfd {dirfd}") from None
        raise Refused(err.errno or errno.EACCES, f"{where}: {err.strerror}") from None
    return fd, path or b".", 0, fd


def open_as_target(task: TaskInfo, dirfd: int, path: bytes, flags: int, mode: int = 0,
                   resolve: int = 0) -> int:
    """Open `path` as the target would (the caller has switched to its credentials).

    Returns our fd (always O_CLOEXEC); raises OSError with the kernel's errno, or Refused.
    """
    return open_file(task, dirfd, path, flags, mode, resolve)[0]


def open_file(task: TaskInfo, dirfd: int, path: bytes, flags: int, mode: int = 0,
              resolve: int = 0) -> tuple[int, os.stat_result]:
    """`open_as_target`, also returning the fstat of what was opened (the /proc guard reads it
    anyway, and the caller decides on it)."""
    fd, st, _ = open_described(task, dirfd, path, flags, mode, resolve)
    return fd, st


def open_described(task: TaskInfo, dirfd: int, path: bytes, flags: int, mode: int = 0,
                   resolve: int = 0) -> tuple[int, os.stat_result, str | None]:
    """`open_file`, also returning the opened file's path when the lookup itself proves it
    (else None: ask `fd_path`).

    A canonical absolute path (no ".", "..", "//", trailing "/") in the supervisor's own root is
    first opened with RESOLVE_NO_SYMLINKS: if that succeeds, the walk followed exactly the
    components written, so the path the kernel would report for the descriptor (d_path, what
    readlink of /proc/self/fd/N gives) is that string, and one readlink is saved. A symlink
    anywhere makes it fail with ELOOP (nothing opened, nothing created), and the lookup is
    made again without the restriction.
    """
    if not path:
        raise OSError(errno.ENOENT, "empty path")
    if path.startswith(_SPECIAL):
        path = rewrite_self(task, path)
        if _own_fd_link(task, path):  # the target reopening its own descriptor: follow the link
            fd = os.open(path, flags | os.O_CLOEXEC, mode)
            return fd, _guarded(fd), None
    elif path[0] == 0x2F and task.root_is_ours and path[-1] != 0x2F and b"/." not in path \
            and b"//" not in path:
        try:
            fd = ksys.openat2(AT_FDCWD, path, flags | _O_CLOEXEC, mode, resolve | _NO_LINKS)
        except OSError as err:
            if err.errno != errno.ELOOP:
                raise
        else:
            return fd, _guarded(fd), path.decode(_FS_ENCODING, _FS_ERRORS)  # os.fsdecode
    if path[0] == 0x2F and task.root_is_ours:  # absolute, same root: no starting point to pin
        fd = ksys.openat2(AT_FDCWD, path, flags | os.O_CLOEXEC, mode,
                          resolve | ksys.RESOLVE_NO_MAGICLINKS)
        return fd, _guarded(fd), None
    base, rel, extra, close = start(task, dirfd, path)
    try:
        fd = ksys.openat2(base, rel, flags | os.O_CLOEXEC, mode,
                          resolve | extra | ksys.RESOLVE_NO_MAGICLINKS)
    finally:
        if close >= 0:
            os.close(close)
    return fd, _guarded(fd), None


def _guarded(fd: int) -> os.stat_result:
    """fstat `fd`, refusing (and closing) what lands in the supervisor's own /proc directory."""
    try:
        st = os.fstat(fd)
        if st.st_dev == _PROC_DEV:
            _guard_proc(fd)
    except BaseException:
        os.close(fd)
        raise
    return st


def _guard_proc(fd: int) -> None:
    st = os.fstat(fd)
    if st.st_dev != _PROC_DEV:
        return
    try:
        where = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return
    n = proc_pid(where)
    if n is None:
        return
    if n == _OWN_PID or os.path.exists(f"/proc/{_OWN_PID}/task/{n}"):
        raise Refused(errno.EACCES, f"{where} belongs to the supervisor")


def split_parent(path: bytes) -> tuple[bytes, bytes]:
    """(directory part, last component) as the kernel's last-component lookup sees them."""
    stripped = path.rstrip(b"/") or (b"/" if path.startswith(b"/") else b"")
    head, _, name = stripped.rpartition(b"/")
    if not _:
        return b".", stripped
    return head or b"/", name


def open_parent(task: TaskInfo, dirfd: int, path: bytes) -> tuple[int, bytes]:
    """(O_PATH fd of the directory that holds the last component, that component's name)."""
    if not path:
        raise OSError(errno.ENOENT, "empty path")
    directory, name = split_parent(rewrite_self(task, path))
    fd = open_as_target(task, dirfd, directory, os.O_PATH | os.O_DIRECTORY)
    return fd, name


def fd_path(fd: int) -> str:
    """The path the kernel gives an open file (readlink of /proc/self/fd/N); "" when it cannot
    be read (a path longer than PATH_MAX): callers must treat "" as unknown, never as no path."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


#: when set (by the supervisor, from its modules), only these attributes are read: no listxattr
LABEL_NAMES: tuple[str, ...] | None = None


def labels_of(fd: int, is_path_fd: bool) -> tuple[tuple[str, bytes], ...]:
    """The label xattrs (security.*, user.*) of the inode at `fd`, sorted by name."""
    names = LABEL_NAMES
    if names is not None and not is_path_fd:  # the hot path: known names, a real descriptor
        found = []
        for name in names:
            if name.startswith(_LABEL_PREFIXES):
                try:
                    found.append((name, os.getxattr(fd, name)))
                except OSError:
                    continue
        return tuple(found)
    target: int | str = f"/proc/self/fd/{fd}" if is_path_fd else fd
    if names is None:
        try:
            names = tuple(sorted(os.listxattr(target)))
        except OSError:
            return ()
    found = []
    for name in names:
        if name.startswith(_LABEL_PREFIXES):
            try:
                found.append((name, os.getxattr(target, name)))
            except OSError:
                continue
    return tuple(found)


def object_from_fd(fd: int, *, labels: bool, walk: bool, path_fd: bool = False,
                   st: os.stat_result | None = None, path: str | None = None) -> Object:
    """The Object for the inode open at `fd`: metadata and labels read from the descriptor
    (`st` and `path` when the caller already has them: fstat and `fd_path` of that fd)."""
    st = st if st is not None else os.fstat(fd)
    path = path if path is not None else fd_path(fd)
    parent: Object | None = None
    ancestors: tuple[Object, ...] = ()
    if walk and path.startswith("/"):
        chain = directory_chain(os.path.dirname(path) or "/")
        if chain:
            parent, ancestors = chain[-1], chain[:-1]
    xattrs = labels_of(fd, path_fd or stat.S_ISLNK(st.st_mode)) if labels else ()
    return Object(kind=ObjectKind.FILE, path=path, uid=st.st_uid, gid=st.st_gid, mode=st.st_mode,
                  ino=st.st_ino, dev=st.st_dev, xattrs=xattrs, parent=parent, ancestors=ancestors)


def object_at(dirfd: int, name: bytes, *, labels: bool, walk: bool) -> Object:
    """The Object for `name` inside directory `dirfd` (not following a final symlink), or a
    hypothetical one (exists=False) whose parent is that directory."""
    parent = object_from_fd(dirfd, labels=labels, walk=walk, path_fd=True)
    try:
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
    except OSError:
        path = os.path.join(parent.path, os.fsdecode(name))
        return Object(kind=ObjectKind.FILE, path=path, exists=False, mode=stat.S_IFREG | 0o644,
                      uid=0, gid=0, parent=parent, ancestors=(*parent.ancestors, *(
                          (parent.parent,) if parent.parent is not None else ())))
    try:
        obj = object_from_fd(fd, labels=labels, walk=False, path_fd=True)
    finally:
        os.close(fd)
    return Object(kind=ObjectKind.FILE, path=obj.path, uid=obj.uid, gid=obj.gid, mode=obj.mode,
                  ino=obj.ino, dev=obj.dev, xattrs=obj.xattrs, parent=parent,
                  ancestors=(*parent.ancestors, *((parent.parent,) if parent.parent else ())))


def open_in(dirfd: int, name: bytes, flags: int, mode: int = 0) -> int:
    """Open `name` inside our directory fd `dirfd` (same rules as `open_as_target`)."""
    fd = ksys.openat2(dirfd, name, flags | os.O_CLOEXEC, mode, ksys.RESOLVE_NO_MAGICLINKS)
    _guarded(fd)
    return fd
