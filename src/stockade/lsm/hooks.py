"""The hook table: the single source of truth for every LSM hook stockade mediates.

Named and shaped like the kernel's `include/linux/lsm_hook_defs.h`: each hook has its
arguments (as the kernel names them, for documentation and explain output) and its default
return. `call_int_hook` semantics: modules are called in stack order and the first return
that differs from the default wins.
"""

from __future__ import annotations

import errno

from stockade.slotted import Frozen


class HookClass:
    """What kind of object a hook's request is about (strings: an Enum costs every start-up
    ~30 µs to create, and the hook table only documents the class)."""

    FILE = "file"
    SOCKET = "socket"
    TASK = "task"
    CAPABILITY = "capability"
    MOUNT = "mount"
    KERNEL = "kernel"


class HookSpec(Frozen):
    """One row of the hook table."""

    FIELDS = ("name", "args", "default", "hook_class", "doc")
    __slots__ = FIELDS
    name: str
    args: tuple[str, ...]
    default: int
    hook_class: str
    doc: str

    def __init__(self, name: str, args: tuple[str, ...], default: int, hook_class: str,
                 doc: str) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "hook_class", hook_class)
        object.__setattr__(self, "doc", doc)


def _h(name: str, args: str, hook_class: str, doc: str, default: int = 0) -> HookSpec:
    return HookSpec(name, tuple(a.strip() for a in args.split(",") if a.strip()), default,
                    hook_class, doc)


F, S, T, C, M, K = (HookClass.FILE, HookClass.SOCKET, HookClass.TASK, HookClass.CAPABILITY,
                    HookClass.MOUNT, HookClass.KERNEL)

HOOK_LIST: tuple[HookSpec, ...] = (
    _h("file_open", "file", F, "a file is opened (after DAC's may_open)"),
    _h("file_permission", "file, mask", F, "read or write on an open file"),
    _h("file_ioctl", "file, cmd, arg", F, "ioctl on an open file"),
    _h("file_lock", "file, cmd", F, "flock/fcntl lock on an open file"),
    _h("mmap_file", "file, reqprot, prot, flags", F, "a file is mapped (PROT_EXEC is 'm')"),
    _h("inode_permission", "inode, mask", F, "permission on an inode during a path walk"),
    _h("inode_create", "dir, dentry, mode", F, "a regular file is created in dir"),
    _h("inode_link", "old_dentry, dir, new_dentry", F, "a hard link is made"),
    _h("inode_unlink", "dir, dentry", F, "a name is removed from dir"),
    _h("inode_symlink", "dir, dentry, old_name", F, "a symbolic link is created"),
    _h("inode_mkdir", "dir, dentry, mode", F, "a directory is created"),
    _h("inode_rmdir", "dir, dentry", F, "a directory is removed"),
    _h("inode_mknod", "dir, dentry, mode, dev", F, "a device, fifo or socket node is made"),
    _h("inode_rename", "old_dir, old_dentry, new_dir, new_dentry", F, "a name is moved"),
    _h("inode_setattr", "idmap, dentry, attr", F, "chmod, chown, truncate, utimes"),
    _h("inode_setxattr", "idmap, dentry, name, value, size, flags", F, "an xattr is set"),
    _h("bprm_check_security", "bprm", F, "a program is about to be executed"),
    _h("socket_create", "family, type, protocol, kern", S, "a socket is created"),
    _h("socket_bind", "sock, address, addrlen", S, "a socket is bound to an address"),
    _h("socket_connect", "sock, address, addrlen", S, "a socket connects to a peer"),
    _h("socket_listen", "sock, backlog", S, "a socket starts listening"),
    _h("unix_stream_connect", "sock, other, newsk", S, "a unix stream socket connects"),
    _h("ptrace_access_check", "child, mode", T, "the caller wants to trace or inspect child"),
    _h("ptrace_traceme", "parent", T, "the caller asks its parent to trace it"),
    _h("task_kill", "p, info, sig, cred", T, "a signal is sent"),
    _h("task_prctl", "option, arg2, arg3, arg4, arg5", T, "a prctl() call", -errno.ENOSYS),
    _h("capable", "cred, ns, cap, opts", C, "a capability is exercised"),
    _h("sb_mount", "dev_name, path, type, flags, data", M, "a filesystem is mounted"),
    _h("sb_umount", "mnt, flags", M, "a filesystem is unmounted"),
    _h("sb_pivotroot", "old_path, new_path", M, "the root is pivoted"),
    _h("kernel_read_file", "file, id, contents", K, "the kernel reads a file (module, firmware)"),
    _h("kernel_load_data", "id, contents", K, "the kernel loads a blob from memory"),
    _h("kernel_module_request", "kmod_name", K, "the kernel is asked to load a module"),
    _h("locked_down", "what", K, "a feature that lockdown may restrict is used"),
    _h("bpf", "cmd, attr, size, kernel", K, "the bpf() system call"),
    _h("perf_event_open", "attr, type", K, "a perf event is opened"),
    _h("userns_create", "cred", T, "a user namespace is created"),
)

HOOKS: dict[str, HookSpec] = {spec.name: spec for spec in HOOK_LIST}


def hook(name: str) -> HookSpec:
    """The spec of hook `name`; a KeyError names the hook."""
    try:
        return HOOKS[name]
    except KeyError:
        raise KeyError(f"unknown LSM hook {name!r}") from None
