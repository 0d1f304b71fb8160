"""Subjects, objects and requests: what the reference monitor decides about.

Plain frozen dataclasses with slots. Each carries a precomputed `key`, the part of it a
cacheable decision depends on (as SELinux's AVC keys on source SID, target SID and class),
so that the AVC lookup on the hot path is one tuple hash. `Subject.key` leaves out what
differs from process to process under the same credentials (pid, comm, exe, ancestors,
ptracer, the inheritable, bounding and ambient sets), so that one decision serves them all: a
verdict that reads any of these, of the subject or of a target task, must say
`cacheable=False`, its "no opinion" included (SecurityModule.no_opinion_uncached).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field

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


@dataclass(frozen=True, slots=True)
class AclEntry:
    """One POSIX ACL entry: tag (ACL_USER_OBJ, ...), qualifier id and rwx permission bits."""

    tag: int
    qualifier: int
    perm: int


@dataclass(frozen=True, slots=True)
class Subject:
    """A task's credentials and security state, as the kernel's `struct cred` holds them."""

    pid: int = 0
    comm: str = ""
    exe: str = ""
    uid: int = 0
    euid: int = 0
    suid: int = 0
    fsuid: int = 0
    gid: int = 0
    egid: int = 0
    sgid: int = 0
    fsgid: int = 0
    groups: frozenset[int] = frozenset()
    cap_effective: int = 0
    cap_permitted: int = 0
    cap_inheritable: int = 0
    cap_bounding: int = 0
    cap_ambient: int = 0
    no_new_privs: bool = False
    dumpable: bool = True
    # pids from the parent up to init, for Yama's "is a descendant" test
    ancestors: tuple[int, ...] = ()
    # PR_SET_PTRACER: the pid allowed to trace this task (-1: any), or None
    ptracer: int | None = None
    # (module, label) pairs: AppArmor profile, SELinux context, Smack label, ...
    contexts: tuple[tuple[str, str], ...] = ()
    key: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (
            self.uid, self.euid, self.suid, self.fsuid, self.gid, self.egid, self.sgid,
            self.fsgid, self.groups, self.cap_effective, self.cap_permitted, self.no_new_privs,
            self.contexts, self.dumpable,
        ))

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


@dataclass(frozen=True, slots=True)
class Object:
    """The target of a request: a path with its inode metadata, a socket, or a task.

    For a path that does not exist (a file about to be created), `exists` is False and the
    metadata describes a hypothetical inode; `parent` is then what DAC checks.
    """

    kind: str = ObjectKind.NONE
    path: str = ""
    exists: bool = True
    uid: int = 0
    gid: int = 0
    mode: int = 0  # st_mode, with the file type bits
    ino: int = 0
    dev: int = 0
    fstype: str = ""
    readonly: bool = False  # mounted read-only
    noexec: bool = False  # mounted noexec
    acl: tuple[AclEntry, ...] | None = None
    xattrs: tuple[tuple[str, bytes], ...] = ()
    parent: Object | None = None
    # the directories walked to reach the path, from "/" down to the parent
    ancestors: tuple[Object, ...] = ()
    # sockets
    family: int = 0
    sock_type: int = 0
    protocol: int = 0
    address: str = ""
    port: int = 0
    # tasks
    task: Subject | None = None
    key: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (
            self.kind, self.path, self.exists, self.uid, self.gid, self.mode, self.ino, self.dev,
            self.fstype, self.readonly, self.noexec, self.acl, self.xattrs,
            self.parent.key if self.parent is not None else None,
            tuple(a.key for a in self.ancestors),
            self.family, self.sock_type, self.protocol, self.address, self.port,
            self.task.key if self.task is not None else None,
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


@dataclass(frozen=True, slots=True)
class Request:
    """One hook invocation: the hook, who asks, about what, and for which access.

    Hook-specific arguments have their own fields: `cap` for `capable`, `signal` for
    `task_kill`, `what` for `locked_down` (a lockdown reason), `kernel_read_file` (the read
    id), `sb_mount` (the filesystem type) and `kernel_module_request` (the module name),
    `flags` for ptrace modes, mount flags or mmap protections, and `target` for the second
    object of rename and link.
    """

    hook: str
    subject: Subject
    obj: Object | None = None
    access: int = 0
    target: Object | None = None
    cap: int = -1
    signal: int = 0
    what: str = ""
    flags: int = 0
    key: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (
            self.hook, self.subject.key, self.obj.key if self.obj is not None else None,
            self.access, self.target.key if self.target is not None else None,
            self.cap, self.signal, self.what, self.flags,
        ))


def file_object_key(path: str, uid: int, gid: int, mode: int, ino: int, dev: int,
                    xattrs: tuple[tuple[str, bytes], ...]) -> tuple:
    """`Object(kind=FILE, path=..., uid=..., gid=..., mode=..., ino=..., dev=..., xattrs=...).key`
    without building the Object (hot paths ask the AVC with it first; tests keep them equal)."""
    return (ObjectKind.FILE, path, True, uid, gid, mode, ino, dev, "", False, False, None, xattrs,
            None, (), 0, 0, 0, "", 0, None)


def request_key(hook: str, subject: Subject, obj_key: tuple | None, access: int) -> tuple:
    """`Request(hook, subject, obj, access).key` for an object whose key is `obj_key`."""
    return (hook, subject.key, obj_key, access, None, -1, 0, "", 0)
