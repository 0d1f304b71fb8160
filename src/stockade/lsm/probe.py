"""Subjects and objects read from the running system: users, processes and real paths."""

from __future__ import annotations

import grp
import os
import pwd
import stat

from stockade.errors import StockadeError
from stockade.lsm.acl import read_acl
from stockade.lsm.caps import ALL_CAPS
from stockade.lsm.types import Object, ObjectKind, Subject


def _read_text(path: str) -> str:
    """The text of a /proc file (pathlib is not loaded on the run path: start-up cost)."""
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()

_LABEL_XATTR_PREFIXES = ("security.", "user.stockade.")


MAX_ID = 0xFFFFFFFE  # (uid_t)-1 is "no change" to the kernel, never an id


def id_number(text: str, what: str) -> int | None:
    """`text` as a uid/gid number (0 to 4294967294), None when it is a name; out of range
    (negative, too large) is an error."""
    digits = text[1:] if text.startswith(("-", "+")) else text
    if not (digits.isascii() and digits.isdigit()):
        return None
    number = int(text)
    if not 0 <= number <= MAX_ID:
        raise StockadeError(f"{what} out of range (0-{MAX_ID}): {text}")
    return number


def lookup_uid(user: str | int) -> tuple[int, int, str | None]:
    """(uid, primary gid, name) for a user name or number; an unknown name is an error."""
    text = str(user)
    number = id_number(text, "uid")
    try:
        entry = pwd.getpwnam(text) if number is None else pwd.getpwuid(number)
    except KeyError:
        if number is not None:
            return number, number, None
        raise StockadeError(f"no such user: {text!r}") from None
    return entry.pw_uid, entry.pw_gid, entry.pw_name


def lookup_gid(group: str | int) -> int:
    """The gid of a group name or number."""
    text = str(group)
    number = id_number(text, "gid")
    if number is not None:
        return number
    try:
        return grp.getgrnam(text).gr_gid
    except KeyError:
        raise StockadeError(f"no such group: {text!r}") from None


def ancestors_of(pid: int) -> tuple[int, ...]:
    """The pids from `pid`'s parent up to init, read from /proc."""
    chain: list[int] = []
    current = pid
    while current > 1 and len(chain) < 4096:
        try:
            status = _read_text(f"/proc/{current}/status")
        except OSError:
            break
        ppid = int(_status_field(status, "PPid") or 0)
        if ppid <= 0:
            break
        chain.append(ppid)
        current = ppid
    return tuple(chain)


def subject_for_user(user: str | int, *, groups: list[str] | None = None,
                     caps: int | None = None, pid: int | None = None,
                     contexts: tuple[tuple[str, str], ...] = ()) -> Subject:
    """A subject running as `user`: root gets every capability unless `caps` says otherwise."""
    uid, gid, name = lookup_uid(user)
    if groups is not None:
        group_ids = frozenset(lookup_gid(g) for g in groups)
    elif name is not None:
        group_ids = frozenset(os.getgrouplist(name, gid))
    else:
        group_ids = frozenset()
    if caps is None:
        caps = ALL_CAPS if uid == 0 else 0
    pid = os.getpid() if pid is None else pid
    return Subject(
        pid=pid, comm="stockade", exe="", uid=uid, euid=uid, suid=uid, fsuid=uid, gid=gid,
        egid=gid, sgid=gid, fsgid=gid, groups=group_ids, cap_effective=caps,
        cap_permitted=caps, cap_bounding=ALL_CAPS, ancestors=ancestors_of(pid),
        contexts=contexts,
    )


def _status_field(status: str, key: str) -> str | None:
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    return None


def subject_from_pid(pid: int) -> Subject:
    """The credentials and security state of a live process; a dead pid is an error."""
    try:
        status = _read_text(f"/proc/{pid}/status")
    except OSError:
        raise StockadeError(f"no such process: {pid}") from None
    uids = [int(x) for x in (_status_field(status, "Uid") or "0 0 0 0").split()]
    gids = [int(x) for x in (_status_field(status, "Gid") or "0 0 0 0").split()]
    groups = frozenset(int(x) for x in (_status_field(status, "Groups") or "").split())

    def caps(key: str) -> int:
        return int(_status_field(status, key) or "0", 16)

    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    contexts = []
    for module, rel in (("apparmor", "attr/apparmor/current"), ("smack", "attr/smack/current"),
                        ("selinux", "attr/current")):
        try:
            label = _read_text(f"/proc/{pid}/{rel}").strip("\x00\n ")
        except OSError:
            continue
        if label:
            contexts.append((module, label))
    return Subject(
        pid=pid, comm=_status_field(status, "Name") or "", exe=exe,
        uid=uids[0], euid=uids[1], suid=uids[2], fsuid=uids[3],
        gid=gids[0], egid=gids[1], sgid=gids[2], fsgid=gids[3], groups=groups,
        cap_effective=caps("CapEff"), cap_permitted=caps("CapPrm"),
        cap_inheritable=caps("CapInh"), cap_bounding=caps("CapBnd"), cap_ambient=caps("CapAmb"),
        no_new_privs=(_status_field(status, "NoNewPrivs") == "1"),
        ancestors=ancestors_of(pid), contexts=tuple(contexts),
    )


def _labels(path: str) -> tuple[tuple[str, bytes], ...]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    found = []
    for name in sorted(names):
        if name.startswith(_LABEL_XATTR_PREFIXES):
            try:
                found.append((name, os.getxattr(path, name, follow_symlinks=False)))
            except OSError:
                continue
    return tuple(found)


def _inode(path: str, st: os.stat_result) -> Object:
    try:
        flags = os.statvfs(path).f_flag
    except OSError:
        flags = 0
    return Object(
        kind=ObjectKind.FILE, path=path, uid=st.st_uid, gid=st.st_gid, mode=st.st_mode,
        ino=st.st_ino, dev=st.st_dev, readonly=bool(flags & os.ST_RDONLY),
        noexec=bool(flags & os.ST_NOEXEC),
        acl=read_acl(path, follow_symlinks=False) if not stat.S_ISLNK(st.st_mode) else None,
        xattrs=_labels(path),
    )


def inode_object(path: str) -> Object:
    """The object for the inode at `path` itself (a final symlink not followed)."""
    return _inode(path, os.lstat(path))


def directory_chain(directory: str) -> tuple[Object, ...]:
    """Objects for "/" and every directory down to `directory` (inclusive)."""
    chain = []
    current = "/"
    parts = [p for p in directory.split("/") if p]
    for i in range(len(parts) + 1):
        if i:
            current = "/" + "/".join(parts[:i])
        try:
            chain.append(_inode(current, os.lstat(current)))
        except OSError:
            break
    return tuple(chain)


def file_object(path: str, *, follow: bool = True, owner: int | None = None,
                group: int | None = None, mode: int | None = None) -> Object:
    """The object for `path` with its real metadata, or a hypothetical one if it is absent.

    `owner`, `group` and `mode` override (or, for a missing path, describe) the inode.
    Directories on the way are resolved with realpath(); DAC search permission is checked on
    the resolved chain (the walk through a symlink's own directory is not modelled).
    """
    absolute = os.path.abspath(path)
    parent_dir = os.path.realpath(os.path.dirname(absolute))
    name = os.path.basename(absolute) or "/"
    resolved = os.path.join(parent_dir, name) if name != "/" else "/"
    chain = directory_chain(parent_dir)
    parent = chain[-1] if chain and chain[-1].path == parent_dir else None
    ancestors = chain[:-1] if parent is not None else chain
    try:
        st = os.stat(resolved) if follow else os.lstat(resolved)
        if follow:
            resolved = os.path.realpath(resolved)
        base = _inode(resolved, st)
        exists = True
    except OSError:
        base = Object(kind=ObjectKind.FILE, path=resolved, exists=False,
                      uid=owner if owner is not None else 0,
                      gid=group if group is not None else 0,
                      mode=stat.S_IFREG | (mode if mode is not None else 0o644))
        exists = False
    return Object(
        kind=ObjectKind.FILE, path=base.path, exists=exists,
        uid=owner if owner is not None else base.uid,
        gid=group if group is not None else base.gid,
        mode=(stat.S_IFMT(base.mode) | mode) if mode is not None else base.mode,
        ino=base.ino, dev=base.dev, readonly=base.readonly, noexec=base.noexec,
        acl=base.acl, xattrs=base.xattrs, parent=parent, ancestors=ancestors,
    )


def task_object(pid: int) -> Object:
    """A live process as the target of ptrace or kill."""
    return Object(kind=ObjectKind.TASK, path=f"/proc/{pid}", task=subject_from_pid(pid))
