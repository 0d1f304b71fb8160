"""Subjects, objects and requests: what the reference monitor decides about.

Plain frozen classes with slots (stockade.slotted: a dataclass's equality, hash and repr
without its start-up cost). Each carries a precomputed `key`, the part of it a
cacheable decision depends on (as SELinux's AVC keys on source SID, target SID and class),
so that the AVC lookup on the hot path is one tuple hash. `Subject.key` leaves out what
differs from process to process under the same credentials (pid, comm, exe, ancestors,
ptracer, the inheritable, bounding and ambient sets), so that one decision serves them all: a
verdict that reads any of these, of the subject or of a target task, must say
`cacheable=False`, its "no opinion" included (SecurityModule.no_opinion_uncached).
"""

from __future__ import annotations

import stat

from stockade.slotted import Frozen

# The kernel's MAY_* access bits (include/linux/fs.h).
#: where a label module keeps its file labels unless told otherwise (modules/labels.py)
LABEL_XATTR_PREFIX = "user.stockade."
MAY_EXEC = 0x01
MAY_WRITE = 0x02
MAY_READ = 0x04
MAY_APPEND = 0x08
MAY_ACCESS = 0x10
MAY_OPEN = 0x20
MAY_CHDIR = 0x40
_MAY_NAMES = ((MAY_READ, "read"), (MAY_WRITE, "write"), (MAY_APPEND, "append"),
              (MAY_EXEC, "exec"), (MAY_OPEN, "open"), (MAY_ACCESS, "access"),
              (MAY_CHDIR, "chdir"))

# ptrace modes (include/linux/ptrace.h)
PTRACE_MODE_READ = 0x01
PTRACE_MODE_ATTACH = 0x02
PTRACE_MODE_NOAUDIT = 0x04
PTRACE_MODE_FSCREDS = 0x08
PTRACE_MODE_REALCREDS = 0x10


def access_names(mask: int) -> list[str]:
    """`['read', 'write']` for MAY_READ|MAY_WRITE."""
    return [name for bit, name in _MAY_NAMES if mask & bit]


class AclEntry(Frozen):
    """One POSIX ACL entry: tag (ACL_USER_OBJ, ...), qualifier id and rwx permission bits."""

    FIELDS = ("tag", "qualifier", "perm")
    __slots__ = FIELDS
    tag: int
    qualifier: int
    perm: int

    def __init__(self, tag: int, qualifier: int, perm: int) -> None:
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "qualifier", qualifier)
        object.__setattr__(self, "perm", perm)


class Subject(Frozen):
    """A task's credentials and security state, as the kernel's `struct cred` holds them.

    `ancestors`: pids from the parent up to init, for Yama's "is a descendant" test;
    `ptracer`: PR_SET_PTRACER, the pid allowed to trace this task (-1: any), or None;
    `contexts`: (module, label) pairs: AppArmor profile, SELinux context, Smack label, ...
    """

    FIELDS = ("pid", "comm", "exe", "uid", "euid", "suid", "fsuid", "gid", "egid", "sgid",
              "fsgid", "groups", "cap_effective", "cap_permitted", "cap_inheritable",
              "cap_bounding", "cap_ambient", "no_new_privs", "dumpable", "ancestors", "ptracer",
              "contexts")
    __slots__ = (*FIELDS, "key")
    pid: int
    comm: str
    exe: str
    uid: int
    euid: int
    suid: int
    fsuid: int
    gid: int
    egid: int
    sgid: int
    fsgid: int
    groups: frozenset[int]
    cap_effective: int
    cap_permitted: int
    cap_inheritable: int
    cap_bounding: int
    cap_ambient: int
    no_new_privs: bool
    dumpable: bool
    ancestors: tuple[int, ...]
    ptracer: int | None
    contexts: tuple[tuple[str, str], ...]
    key: tuple

    def __init__(self, pid: int = 0, comm: str = "", exe: str = "", uid: int = 0,
                 euid: int = 0, suid: int = 0, fsuid: int = 0, gid: int = 0, egid: int = 0,
                 sgid: int = 0, fsgid: int = 0, groups: frozenset[int] = frozenset(),
                 cap_effective: int = 0, cap_permitted: int = 0, cap_inheritable: int = 0,
                 cap_bounding: int = 0, cap_ambient: int = 0, no_new_privs: bool = False,
                 dumpable: bool = True, ancestors: tuple[int, ...] = (),
                 ptracer: int | None = None, contexts: tuple[tuple[str, str], ...] = ()
                 ) -> None:
        put = object.__setattr__
        put(self, "pid", pid)
        put(self, "comm", comm)
        put(self, "exe", exe)
        put(self, "uid", uid)
        put(self, "euid", euid)
        put(self, "suid", suid)
        put(self, "fsuid", fsuid)
        put(self, "gid", gid)
        put(self, "egid", egid)
        put(self, "sgid", sgid)
        put(self, "fsgid", fsgid)
        put(self, "groups", groups)
        put(self, "cap_effective", cap_effective)
        put(self, "cap_permitted", cap_permitted)
        put(self, "cap_inheritable", cap_inheritable)
        put(self, "cap_bounding", cap_bounding)
        put(self, "cap_ambient", cap_ambient)
        put(self, "no_new_privs", no_new_privs)
        put(self, "dumpable", dumpable)
        put(self, "ancestors", ancestors)
        put(self, "ptracer", ptracer)
        put(self, "contexts", contexts)
        put(self, "key", (uid, euid, suid, fsuid, gid, egid, sgid, fsgid, groups, cap_effective,
                          cap_permitted, no_new_privs, contexts, dumpable))

    def context(self, module: str, default: str = "") -> str:
        """This subject's label for `module` (e.g. its AppArmor profile)."""
        for name, label in self.contexts:
            if name == module:
                return label
        return default

    def in_group(self, gid: int) -> bool:
        """The kernel's in_group_p(): the fsgid or a supplementary group."""
        return gid == self.fsgid or gid in self.groups


class ObjectKind:
    """What an `Object` is: one of these strings."""

    FILE = "file"
    SOCKET = "socket"
    TASK = "task"
    KERNEL = "kernel"
    NONE = "none"


class Object(Frozen):
    """The target of a request: a path with its inode metadata, a socket, or a task.

    For a path that does not exist (a file about to be created), `exists` is False and the
    metadata describes a hypothetical inode; `parent` is then what DAC checks. `mode` is
    st_mode with the file type bits; `readonly` and `noexec` are the mount's; `ancestors` are
    the directories walked to reach the path, from "/" down to the parent. Sockets have
    `family` to `port`, tasks `task`.
    """

    FIELDS = ("kind", "path", "exists", "uid", "gid", "mode", "ino", "dev", "fstype",
              "readonly", "noexec", "acl", "xattrs", "parent", "ancestors", "family",
              "sock_type", "protocol", "address", "port", "task")
    __slots__ = (*FIELDS, "key")
    kind: str
    path: str
    exists: bool
    uid: int
    gid: int
    mode: int
    ino: int
    dev: int
    fstype: str
    readonly: bool
    noexec: bool
    acl: tuple[AclEntry, ...] | None
    xattrs: tuple[tuple[str, bytes], ...]
    parent: Object | None
    ancestors: tuple[Object, ...]
    family: int
    sock_type: int
    protocol: int
    address: str
    port: int
    task: Subject | None
    key: tuple

    def __init__(self, kind: str = ObjectKind.NONE, path: str = "", exists: bool = True,
                 uid: int = 0, gid: int = 0, mode: int = 0, ino: int = 0, dev: int = 0,
                 fstype: str = "", readonly: bool = False, noexec: bool = False,
                 acl: tuple[AclEntry, ...] | None = None,
                 xattrs: tuple[tuple[str, bytes], ...] = (), parent: Object | None = None,
                 ancestors: tuple[Object, ...] = (), family: int = 0, sock_type: int = 0,
                 protocol: int = 0, address: str = "", port: int = 0,
                 task: Subject | None = None) -> None:
        put = object.__setattr__
        put(self, "kind", kind)
        put(self, "path", path)
        put(self, "exists", exists)
        put(self, "uid", uid)
        put(self, "gid", gid)
        put(self, "mode", mode)
        put(self, "ino", ino)
        put(self, "dev", dev)
        put(self, "fstype", fstype)
        put(self, "readonly", readonly)
        put(self, "noexec", noexec)
        put(self, "acl", acl)
        put(self, "xattrs", xattrs)
        put(self, "parent", parent)
        put(self, "ancestors", ancestors)
        put(self, "family", family)
        put(self, "sock_type", sock_type)
        put(self, "protocol", protocol)
        put(self, "address", address)
        put(self, "port", port)
        put(self, "task", task)
        put(self, "key", (
            kind, path, exists, uid, gid, mode, ino, dev, fstype, readonly, noexec, acl, xattrs,
            parent.key if parent is not None else None, tuple(a.key for a in ancestors),
            family, sock_type, protocol, address, port,
            task.key if task is not None else None,
        ))

    @property
    def is_dir(self) -> bool:
        """True for a directory."""
        return stat.S_ISDIR(self.mode)

    def xattr(self, name: str) -> bytes | None:
        """The value of extended attribute `name`, if the object carries it."""
        for key, value in self.xattrs:
            if key == name:
                return value
        return None


class Request(Frozen):
    """One hook invocation: the hook, who asks, about what, and for which access.

    Hook-specific arguments have their own fields: `cap` for `capable`, `signal` for
    `task_kill`, `what` for `locked_down` (a lockdown reason), `kernel_read_file` (the read
    id), `sb_mount` (the filesystem type) and `kernel_module_request` (the module name),
    `flags` for ptrace modes, mount flags or mmap protections, and `target` for the second
    object of rename and link.
    """

    FIELDS = ("hook", "subject", "obj", "access", "target", "cap", "signal", "what", "flags")
    __slots__ = (*FIELDS, "key")
    hook: str
    subject: Subject
    obj: Object | None
    access: int
    target: Object | None
    cap: int
    signal: int
    what: str
    flags: int
    key: tuple

    def __init__(self, hook: str, subject: Subject, obj: Object | None = None, access: int = 0,
                 target: Object | None = None, cap: int = -1, signal: int = 0, what: str = "",
                 flags: int = 0) -> None:
        put = object.__setattr__
        put(self, "hook", hook)
        put(self, "subject", subject)
        put(self, "obj", obj)
        put(self, "access", access)
        put(self, "target", target)
        put(self, "cap", cap)
        put(self, "signal", signal)
        put(self, "what", what)
        put(self, "flags", flags)
        put(self, "key", (hook, subject.key, obj.key if obj is not None else None, access,
                          target.key if target is not None else None, cap, signal, what, flags))


def file_object_key(path: str, uid: int, gid: int, mode: int, ino: int, dev: int,
                    xattrs: tuple[tuple[str, bytes], ...]) -> tuple:
    """`Object(kind=FILE, path=..., uid=..., gid=..., mode=..., ino=..., dev=..., xattrs=...).key`
    without building the Object (hot paths ask the AVC with it first; tests keep them equal)."""
    return (ObjectKind.FILE, path, True, uid, gid, mode, ino, dev, "", False, False, None, xattrs,
            None, (), 0, 0, 0, "", 0, None)


def request_key(hook: str, subject: Subject, obj_key: tuple | None, access: int) -> tuple:
    """`Request(hook, subject, obj, access).key` for an object whose key is `obj_key`."""
    return (hook, subject.key, obj_key, access, None, -1, 0, "", 0)
