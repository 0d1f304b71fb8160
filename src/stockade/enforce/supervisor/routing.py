"""Which system calls go to the supervisor: only those whose hooks the stack's modules implement.

`routed_syscalls(stack)` maps every hook a module in the stack implements (other than the ones
the kernel enforces itself: DAC and commoncap) to the system calls that reach that hook, as the
kernel's syscall paths do. Everything else stays in the kernel. A few credential-changing calls
are routed whenever anything is, only so that the supervisor drops its cached view of the task
(it lets them continue untouched).
"""

from __future__ import annotations

from stockade.enforce import seccomp as sc
from stockade.enforce.defaults import CHMOD, CHOWN, UTIME, XATTR_REMOVE, XATTR_SET
from stockade.enforce.launcher_guard import F_SETOWN, F_SETOWN_EX, FIOSETOWN, SIOCSPGRP
from stockade.enforce.plan.types import SeccompRule
from stockade.lsm.stack import Stack

OPEN = ("open", "openat", "openat2", "creat")
EXEC = ("execve", "execveat")
#: hooks that decide what an exec reads: where a stack implements one, exec is decided
EXEC_HOOKS = frozenset({"file_open", "bprm_check_security", "inode_permission", "mmap_file"})
NAMESPACE = ("unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir",
             "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat")
SIGNALS = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal")
#: routed only to invalidate the supervisor's per-task cache; always continued
INVALIDATE = ("setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
              "setfsgid", "setgroups", "capset", "umask", "chroot")

#: calls the supervisor performs for the program that Landlock checks in the supervisor's own
#: domain (the plan's), never in a domain the program nested on itself
LANDLOCK_EMULATED = frozenset({*OPEN, *NAMESPACE, "truncate", "ftruncate", "connect", "bind",
                               "sendto", "sendmsg", "sendmmsg"})
#: refused (EOPNOTSUPP, Landlock looks disabled) when anything in LANDLOCK_EMULATED is routed
SELF_LANDLOCK = ("landlock_create_ruleset", "landlock_restrict_self")

#: hook -> the system calls through which a program reaches it
HOOK_SYSCALLS: dict[str, tuple[str, ...]] = {
    "file_open": OPEN + EXEC,
    "inode_permission": OPEN + EXEC,
    "file_permission": OPEN,
    "mmap_file": EXEC,
    "locked_down": OPEN,  # /dev/mem, /proc/kcore, tracefs, debugfs are asked at open
    "bprm_check_security": EXEC,
    "inode_create": (*OPEN, "mknod", "mknodat"),
    "inode_mkdir": ("mkdir", "mkdirat"),
    "inode_mknod": ("mknod", "mknodat", "bind"),  # bind: a pathname unix socket's name
    "inode_unlink": ("unlink", "unlinkat"),
    "inode_rmdir": ("rmdir", "unlinkat"),
    "inode_rename": ("rename", "renameat", "renameat2"),
    "inode_link": ("link", "linkat"),
    "inode_symlink": ("symlink", "symlinkat"),
    "inode_setattr": CHMOD + CHOWN + UTIME + ("truncate", "ftruncate"),
    "inode_setxattr": XATTR_SET + XATTR_REMOVE,
    "socket_listen": ("listen",),
    "socket_create": ("socket", "socketpair"),
    "socket_connect": ("connect",),
    "unix_stream_connect": ("connect",),
    "socket_bind": ("bind",),
    "task_kill": SIGNALS,
    "ptrace_access_check": ("ptrace", "pidfd_getfd"),  # pidfd_getfd: ptrace_may_access
    "ptrace_traceme": ("ptrace",),
    "sb_mount": ("mount",),
}

PROT_EXEC = 0x4
READ_IMPLIES_EXEC = 0x0400000
F_SETSIG = 10
#: the fcntl and ioctl commands that set who gets a file's SIGIO, or which signal it is
OWNER_FCNTL = (F_SETOWN, F_SETSIG, F_SETOWN_EX)
OWNER_IOCTL = (FIOSETOWN, SIOCSPGRP)
_EXEC_PROT = sc.ArgCmp(2, sc.Cmp.MASKED_EQ, PROT_EXEC, PROT_EXEC)
#: hook -> system calls routed only when their integer arguments say the hook is reached
#: (seccomp tests the registers): mmap with PROT_EXEC and a descriptor (fd >= 0), mprotect and
#: pkey_mprotect adding PROT_EXEC, and personality() setting READ_IMPLIES_EXEC (after which the
#: kernel maps PROT_READ as executable, unseen by the mmap route). Everything else of these hot
#: calls stays in the kernel.
CONDITIONAL: dict[str, tuple[tuple[str, tuple[sc.ArgCmp, ...]], ...]] = {
    "mmap_file": (("mmap", (_EXEC_PROT, sc.ArgCmp(4, sc.Cmp.MASKED_EQ, 0x80000000, 0))),
                  ("mprotect", (_EXEC_PROT,)), ("pkey_mprotect", (_EXEC_PROT,)),
                  ("personality", (sc.ArgCmp(0, sc.Cmp.MASKED_EQ, READ_IMPLIES_EXEC,
                                             READ_IMPLIES_EXEC),))),
    # the calls that choose who gets a file's SIGIO and which signal (handlers/signals.py)
    "task_kill": (*(("fcntl", (sc.ArgCmp(1, sc.Cmp.MASKED_EQ, 0xFFFFFFFF, cmd),))
                    for cmd in OWNER_FCNTL),
                  *(("ioctl", (sc.ArgCmp(1, sc.Cmp.MASKED_EQ, 0xFFFFFFFF, cmd),))
                    for cmd in OWNER_IOCTL)),
}

#: Hooks modules implement that no routed system call reaches, and why (a test checks every
#: hook of every module is either routed or named here).
NOT_ROUTED: dict[str, str] = {
    "capable": "asked by the other hooks' decisions, not by a system call of its own",
    "sb_umount": "umount2 is refused by the baseline seccomp filter before the supervisor",
    "sb_pivotroot": "pivot_root is refused by the baseline seccomp filter",
    "kernel_read_file": "module and firmware loading are refused by the baseline filter",
    "kernel_load_data": "module and kexec loading are refused by the baseline filter",
    "kernel_module_request": "the kernel asks for modules itself; no system call to route",
    "bpf": "bpf is refused by the baseline filter",
    "perf_event_open": "perf_event_open is refused by the baseline filter",
    "file_lock": "locks apply to descriptors already opened (decided at open); fcntl is too "
                 "frequent to route",
    "file_ioctl": "ioctl is too frequent to route; Landlock's ioctl_dev and the TIOCSTI rule "
                  "apply",
}

#: layers whose rules the kernel applies to the target by itself (DAC, commoncap)
KERNEL_ENFORCED = frozenset({"dac", "capability"})


def hooks_needing_supervisor(stack: Stack) -> set[str]:
    """Hooks implemented by a module of `stack` that the kernel does not enforce by itself."""
    found: set[str] = set()
    for module in stack.modules:
        if module.name in KERNEL_ENFORCED:
            continue
        found.update(h for h in module.hooks() if h in HOOK_SYSCALLS)
    return found


def routed_syscalls(stack: Stack, *, observe_all: bool = False) -> set[str]:
    """The system calls to send to the supervisor for `stack` (empty: no supervisor needed).

    `observe_all` (learn mode) routes every family the supervisor understands.
    """
    names: set[str] = set()
    hooks = set(HOOK_SYSCALLS) if observe_all else hooks_needing_supervisor(stack)
    for hook in hooks:
        names.update(HOOK_SYSCALLS[hook])
    if names:
        names.update(INVALIDATE)
        names.update(EXEC)  # an exec changes credentials and labels: the cache must know
    return names


def nesting_refused(routed: set[str]) -> tuple[str, ...]:
    """The Landlock self-restriction calls to refuse when `routed` holds a call Landlock
    mediates: the supervisor performs it in the plan's domain, so a domain the program nested
    on itself would bind the program's own calls but not the emulated ones. Nesting is refused
    (fail closed) rather than honoured in part."""
    return SELF_LANDLOCK if routed & LANDLOCK_EMULATED else ()


def routed_rules(stack: Stack, *, observe_all: bool = False) -> list[SeccompRule]:
    """The conditional routes (`CONDITIONAL`) the hooks of `stack` need, as user-notif
    seccomp rules."""
    hooks = set(CONDITIONAL) if observe_all else hooks_needing_supervisor(stack)
    return [SeccompRule(name, sc.NOTIFY, conds, f"supervisor: {hook}")
            for hook in sorted(hooks & set(CONDITIONAL)) for name, conds in CONDITIONAL[hook]]
