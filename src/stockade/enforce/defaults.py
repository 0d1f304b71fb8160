"""The baseline every confined process gets, and the plan that `stockade run`'s ad-hoc flags
build (`--ro/--rw/--rx PATH`, `--connect-tcp/--bind-tcp PORT`), in the manner of `landrun`.

Without a profile: Landlock handles every filesystem and TCP right the kernel knows and
grants only what the flags name; abstract unix sockets and signals are scoped to the domain;
seccomp refuses the calls that modify the kernel, open attack surface or escape the sandbox
(see `baseline_seccomp_rules`); no capability survives; no_new_privs is set.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Sequence

from stockade.enforce.landlock import (
    ALL_FS,
    ALL_NET,
    NO_NET,
    NO_SCOPE,
    AccessFs,
    AccessNet,
    RestrictFlag,
)
from stockade.enforce.plan.types import EnforcementPlan, FsRule, NetRule, SeccompRule
from stockade.enforce.seccomp import NOTIFY, Action, ActionKind, ArgCmp, Cmp, errno_action

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
MFD_NOEXEC_SEAL = 0x0008
S_ISUID = 0o4000
S_ISGID = 0o2000

AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16
SOCKET_FAMILIES: dict[str, int] = {
    "unix": AF_UNIX, "inet": AF_INET, "ax25": 3, "ipx": 4, "appletalk": 5, "netrom": 6,
    "bridge": 7, "atmpvc": 8, "x25": 9, "inet6": AF_INET6, "rose": 11, "decnet": 12,
    "netbeui": 13, "security": 14, "key": 15, "netlink": AF_NETLINK, "packet": 17,
    "vsock": 40, "alg": 38, "bluetooth": 31, "can": 29, "tipc": 30, "xdp": 44, "mctp": 45,
}
#: Families a confined program may open by default: TCP is governed by Landlock rules.
DEFAULT_SOCKET_FAMILIES = frozenset({AF_UNIX, AF_INET, AF_INET6, AF_NETLINK})

READ = AccessFs.READ_FILE | AccessFs.READ_DIR
READ_EXEC = READ | AccessFs.EXECUTE
READ_WRITE = (
    READ | AccessFs.WRITE_FILE | AccessFs.TRUNCATE | AccessFs.REMOVE_DIR
    | AccessFs.REMOVE_FILE | AccessFs.MAKE_DIR | AccessFs.MAKE_REG | AccessFs.MAKE_SYM
    | AccessFs.MAKE_FIFO | AccessFs.MAKE_SOCK | AccessFs.REFER | AccessFs.IOCTL_DEV
)

IPPROTO_TCP = 6
SOCK_STREAM = 1
SOCK_SEQPACKET = 5
#: The kernel keyring calls, refused by default as container runtimes do.
KEYRING_SYSCALLS = ("add_key", "request_key", "keyctl")

EPERM = errno_action(errno.EPERM)
ENOSYS = errno_action(errno.ENOSYS)


def _deny(syscalls: Iterable[str], action: Action, reason: str) -> list[SeccompRule]:
    return [SeccompRule(name, action, (), reason, "baseline") for name in syscalls]


def _masked(arg: int, bits: int) -> tuple[ArgCmp, ...]:
    return (ArgCmp(arg, Cmp.MASKED_EQ, bits, bits),)


def _low32_eq(arg: int, value: int) -> tuple[ArgCmp, ...]:
    # The kernel truncates `unsigned int cmd` / `int family` to 32 bits: compare only those,
    # so a value with high bits set cannot slip past the rule.
    return (ArgCmp(arg, Cmp.MASKED_EQ, 0xFFFFFFFF, value),)


def socket_family_rules(allowed: Iterable[int], source: str = "baseline") -> list[SeccompRule]:
    """Rules failing socket(2) with EAFNOSUPPORT for every family not in `allowed`.

    libseccomp cannot AND two comparisons of one argument, so the complement is spelled as
    "family >= max+1" plus one equality per gap. A 64-bit value with high bits set is caught
    by the ">=" rule (it is larger than any family), so int truncation cannot bypass it.
    """
    allowed_set = set(allowed)
    top = max(allowed_set, default=-1)
    action = errno_action(errno.EAFNOSUPPORT)
    names = {v: k for k, v in SOCKET_FAMILIES.items()}
    reason = "socket family not allowed (allowed: " + \
        ", ".join(names.get(f, str(f)) for f in sorted(allowed_set)) + ")"
    rules = [SeccompRule("socket", action, (ArgCmp(0, Cmp.GE, top + 1),), reason, source)]
    rules += [SeccompRule("socket", action, (ArgCmp(0, Cmp.EQ, fam),), reason, source)
              for fam in range(top) if fam not in allowed_set]
    return rules


def tcp_protocol_rules(source: str = "baseline") -> list[SeccompRule]:
    """While TCP ports are restricted: refuse (EPROTONOSUPPORT) inet/inet6 stream sockets of
    any protocol but 0 and TCP (MPTCP 262, SCTP 132) and inet/inet6 seqpacket sockets (SCTP).

    Landlock's TCP rights cover only sockets the kernel counts as TCP, so an MPTCP or SCTP
    socket would bind and connect to any port. libseccomp cannot AND two comparisons of one
    argument: "protocol not in {0, 6}" is spelled "protocol >= 7" plus one rule each for 1-5.
    """
    act = errno_action(errno.EPROTONOSUPPORT)
    reason = "a stream protocol other than TCP escapes Landlock's TCP port rules"
    rules = []
    for fam in (AF_INET, AF_INET6):
        family = ArgCmp(0, Cmp.MASKED_EQ, 0xFFFFFFFF, fam)
        stream = ArgCmp(1, Cmp.MASKED_EQ, 0xF, SOCK_STREAM)
        rules.append(SeccompRule("socket", act, (family, stream, ArgCmp(2, Cmp.GE, IPPROTO_TCP + 1)),
                                 reason, source))
        rules += [SeccompRule("socket", act, (family, stream, ArgCmp(2, Cmp.EQ, proto)), reason,
                              source) for proto in range(1, IPPROTO_TCP)]
        rules.append(SeccompRule("socket", act, (family, ArgCmp(1, Cmp.MASKED_EQ, 0xF,
                                                                 SOCK_SEQPACKET)),
                                 "inet seqpacket sockets are SCTP, outside Landlock's TCP rules",
                                 source))
    return rules


NETLINK_ROUTE = 0


def netlink_protocol_rules(source: str = "baseline") -> list[SeccompRule]:
    """Netlink sockets of any protocol but NETLINK_ROUTE: EACCES.

    ROUTE stays: glibc's getaddrinfo(AI_ADDRCONFIG) and `ip` use it. It lets the program
    read the host's interfaces, addresses, routes and neighbour (ARP) tables; what it would
    change needs CAP_NET_ADMIN (dropped). SOCK_DIAG (`ss`: every socket of the host), AUDIT,
    KOBJECT_UEVENT, GENERIC (nl80211, taskstats...) and the rest are refused. "protocol >= 1"
    on all 64 bits also catches values whose low 32 bits are 0 (the kernel's int)."""
    return [SeccompRule("socket", errno_action(errno.EACCES),
                        (ArgCmp(0, Cmp.MASKED_EQ, 0xFFFFFFFF, AF_NETLINK),
                         ArgCmp(2, Cmp.GE, NETLINK_ROUTE + 1)),
                        "netlink protocols other than NETLINK_ROUTE (SOCK_DIAG lists the "
                        "host's sockets)", source)]


CHMOD = ("chmod", "fchmod", "fchmodat", "fchmodat2")
CHOWN = ("chown", "fchown", "lchown", "fchownat")
UTIME = ("utime", "utimes", "futimesat", "utimensat")
XATTR_SET = ("setxattr", "lsetxattr", "fsetxattr", "setxattrat")
XATTR_REMOVE = ("removexattr", "lremovexattr", "fremovexattr", "removexattrat")
XATTR_GET = ("getxattr", "lgetxattr", "fgetxattr", "getxattrat", "listxattr", "llistxattr",
             "flistxattr", "listxattrat")
#: Calls Landlock does not mediate that change an inode (AppArmor: `w`)...
HYBRID_WRITE = CHMOD + CHOWN + UTIME + XATTR_SET + XATTR_REMOVE
#: ... and that read its extended attributes (AppArmor: `r`).
HYBRID_READ = XATTR_GET
HYBRID_SOURCE = "hybrid: not mediated by Landlock"
#: routed to `run`'s supervisor whenever the plan restricts writes: Landlock has no connect
#: right for pathname unix sockets (sendto too, only with an address: supervisor/session.py)
UNIX_PEER_SYSCALLS = ("connect", "sendmsg", "sendmmsg")


def hybrid_rules(handled_fs: AccessFs, handled_net: AccessNet) -> list[SeccompRule]:
    """user-notif rules for what Landlock cannot mediate but the plan restricts: the
    supervisor decides them on the plan's grants and performs them (docs/supervisor.md);
    without a supervisor `prepare` turns them into EPERM and reports it."""
    rules: list[SeccompRule] = []
    if handled_fs & AccessFs.WRITE_FILE:
        rules += [SeccompRule(name, NOTIFY, (), "changes an inode: needs the plan's write grant "
                              "on it (AppArmor: w)", HYBRID_SOURCE) for name in HYBRID_WRITE]
    if handled_fs & AccessFs.READ_FILE:
        rules += [SeccompRule(name, NOTIFY, (), "reads extended attributes: needs the plan's "
                              "read grant on the inode (AppArmor: r)", HYBRID_SOURCE)
                  for name in HYBRID_READ]
    if handled_net & AccessNet.BIND_TCP:
        rules.append(SeccompRule("listen", NOTIFY, (), "an unbound TCP socket would take an "
                                 "ephemeral port no --bind-tcp grants", HYBRID_SOURCE))
    return rules


def without_keyring(rules: Iterable[SeccompRule]) -> list[SeccompRule]:
    """`rules` without the refusal of the keyring calls (`--allow-keyring`)."""
    return [r for r in rules if r.syscall not in KEYRING_SYSCALLS]


def keyring_reachable(plan: EnforcementPlan) -> bool:
    """Whether a program under `plan` may call keyctl (the baseline refuses it), and so read
    the plan cache's key (enforce/plan/cache/keyring.py)."""
    rules = [r for r in plan.seccomp_rules if r.syscall == "keyctl"]
    if any(r.action.kind is ActionKind.ALLOW for r in rules):
        return True
    refused = any(not r.conditions and r.action.kind is not ActionKind.ALLOW for r in rules)
    return not refused and plan.seccomp_default.kind is ActionKind.ALLOW


def baseline_seccomp_rules() -> list[SeccompRule]:
    """The system calls a confined process is always refused, each with its reason."""
    rules = _deny(
        ["init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
         "bpf", "perf_event_open", "iopl", "ioperm", "reboot", "swapon", "swapoff"],
        EPERM, "modifies or inspects the running kernel")
    rules += _deny(["io_uring_setup", "io_uring_enter", "io_uring_register"], EPERM,
                   "io_uring bypasses seccomp and has a history of kernel bugs")
    rules += _deny(["mount", "umount2", "pivot_root", "fsopen", "fsmount", "fsconfig", "fspick",
                    "move_mount", "open_tree", "open_tree_attr", "mount_setattr"], EPERM,
                   "changes the mount table (Landlock rules are path-based)")
    rules += _deny(KEYRING_SYSCALLS, EPERM,
                   "the per-user kernel keyring is shared with the host (--allow-keyring)")
    rules += _deny(["setns"], EPERM, "joins another namespace")
    rules += _deny(["file_setattr"], EPERM,
                   "changes inode flags and project ids, which Landlock does not mediate")
    for syscall in ("unshare", "clone"):
        for flag, name in ((CLONE_NEWUSER, "CLONE_NEWUSER"), (CLONE_NEWNS, "CLONE_NEWNS")):
            rules.append(SeccompRule(syscall, EPERM, _masked(0, flag),
                                     f"{name}: a new user or mount namespace", "baseline"))
    rules += _deny(["clone3"], ENOSYS,
                   "clone3 flags are in memory seccomp cannot read: ENOSYS makes libc use clone")
    rules += _deny(["ptrace", "process_vm_readv", "process_vm_writev"], EPERM,
                   "reads or writes another process's memory")
    rules.append(SeccompRule("ioctl", EPERM, _low32_eq(1, TIOCSTI),
                             "TIOCSTI injects input into the controlling terminal", "baseline"))
    rules.append(SeccompRule("ioctl", EPERM, _low32_eq(1, TIOCLINUX),
                             "TIOCLINUX can inject input on a virtual console", "baseline"))
    rules += _deny(["open_by_handle_at"], EPERM,
                   "opens files by handle, bypassing path-based checks")
    rules += setid_mode_rules()
    rules += other_process_rules()
    rules.append(SeccompRule("memfd_create", ENOSYS, (ArgCmp(1, Cmp.MASKED_EQ, MFD_NOEXEC_SEAL,
                                                              0),),
                             "a memfd without MFD_NOEXEC_SEAL can be executed, and Landlock "
                             "does not check execute on it: ENOSYS makes programs fall back to "
                             "shm_open or a temporary file, which Landlock does check",
                             "baseline"))
    return rules


#: Calls that act on the process named by their first argument, 0 meaning the caller.
SELF_PID_FIRST = ("prlimit64", "sched_setaffinity", "sched_setscheduler", "sched_setparam",
                  "sched_setattr")
PRIO_PROCESS = 0
IOPRIO_WHO_PROCESS = 1


def other_process_rules() -> list[SeccompRule]:
    """EPERM for changing (or, for prlimit64, reading) the limits and scheduling of another
    process: the kernel checks only the uid, so a sandboxed program could reach the launcher,
    the user's shell or daemons. A static filter cannot know the caller's own pid, so only 0
    ("myself", what glibc's setrlimit/nice/sched_* wrappers pass) is let through; naming
    oneself or a thread by its id is refused too (pthread_setaffinity_np on another thread).
    NE compares all 64 bits: a value whose low 32 bits are 0 but high bits are not is refused,
    never let through, so the kernel's int truncation cannot be used against the rule."""
    reason = "acts on another process (the kernel checks only the uid)"
    rules = [SeccompRule(name, EPERM, (ArgCmp(0, Cmp.NE, 0),), reason, "baseline")
             for name in SELF_PID_FIRST]
    rules += [SeccompRule("setpriority", EPERM, (ArgCmp(0, Cmp.NE, PRIO_PROCESS),), reason,
                          "baseline"),
              SeccompRule("setpriority", EPERM, (ArgCmp(1, Cmp.NE, 0),), reason, "baseline"),
              SeccompRule("ioprio_set", EPERM, (ArgCmp(0, Cmp.NE, IOPRIO_WHO_PROCESS),), reason,
                          "baseline"),
              SeccompRule("ioprio_set", EPERM, (ArgCmp(1, Cmp.NE, 0),), reason, "baseline")]
    return rules


#: System calls that set a file mode, and the index of their mode argument.
MODE_ARGUMENT: dict[str, int] = {
    "chmod": 1, "fchmod": 1, "fchmodat": 2, "fchmodat2": 2,
    "open": 2, "openat": 3, "creat": 1, "mknod": 1, "mknodat": 2,
}


def setid_mode_rules() -> list[SeccompRule]:
    """Refuse setting S_ISUID / S_ISGID: a sandbox run as root must not plant a setuid-root
    file in a writable tree (Landlock does not restrict chmod). openat2 carries its mode in
    memory seccomp cannot read, so it gets ENOSYS and callers fall back to openat."""
    rules = []
    for syscall, arg in MODE_ARGUMENT.items():
        for bit, name in ((S_ISUID, "S_ISUID"), (S_ISGID, "S_ISGID")):
            rules.append(SeccompRule(syscall, EPERM, _masked(arg, bit),
                                     f"creating a {name} file", "baseline"))
    rules += _deny(["openat2"], ENOSYS,
                   "openat2's mode is in memory seccomp cannot read: ENOSYS makes libc use "
                   "openat")
    return rules


def baseline_plan(socket_families: Iterable[int] = DEFAULT_SOCKET_FAMILIES) -> EnforcementPlan:
    """Deny everything Landlock handles, scope IPC, refuse the baseline system calls."""
    return EnforcementPlan(
        name="adhoc",
        handled_fs=ALL_FS,
        handled_net=ALL_NET,
        # Restricting happens before execve: without this flag the kernel would log only the
        # launcher's own denials, not the program's.
        landlock_log=RestrictFlag.LOG_NEW_EXEC_ON,
        seccomp_rules=(baseline_seccomp_rules() + socket_family_rules(socket_families)
                       + netlink_protocol_rules() + tcp_protocol_rules()
                       + hybrid_rules(ALL_FS, ALL_NET)),
    )


def adhoc_plan(
    ro: Sequence[str] = (),
    rw: Sequence[str] = (),
    rx: Sequence[str] = (),
    connect_tcp: Sequence[int] = (),
    bind_tcp: Sequence[int] = (),
    *,
    keep_caps: Iterable[int] = (),
    clear_env: bool = False,
) -> EnforcementPlan:
    """The baseline plus the grants of `stockade run`'s flags (paths made absolute, trusted
    symbolic links resolved and others refused: enforce/grant_path.py)."""
    from stockade.enforce.grant_path import resolve_grant

    plan = baseline_plan()
    for flag, paths, access in (("--ro", ro, READ), ("--rw", rw, READ_WRITE),
                                ("--rx", rx, READ_EXEC)):
        for path in paths:
            plan.fs_rules.append(FsRule(resolve_grant(path, flag), access, f"{flag} {path}"))
    for flag, ports, net_access in (("--connect-tcp", connect_tcp, AccessNet.CONNECT_TCP),
                                    ("--bind-tcp", bind_tcp, AccessNet.BIND_TCP)):
        for port in ports:
            plan.net_rules.append(NetRule(port, net_access, f"{flag} {port}"))
    plan.keep_caps = frozenset(keep_caps)
    plan.clear_env = clear_env
    plan.check()
    return plan



def observe_plan() -> EnforcementPlan:
    """The plan of `stockade run --mode learn` without a profile: nothing that blocks what a
    profile could allow, so that learning sees the program as it runs unconfined.

    No Landlock limit (files, TCP bind/connect, abstract unix sockets and signals all pass;
    the supervisor records them), only a domain for ptrace isolation, and every socket family
    opens. Only the baseline seccomp
    refusals stay: what they refuse no profile can grant either.
    """
    # a Landlock domain that limits nothing (execute, granted on /; no write right is handled,
    # so no grant looks writable): being in a domain is what keeps the program from ptrace and
    # /proc/PID/mem of processes outside it, such as another `stockade run` holding the plan
    # cache's key (red team 3)
    return EnforcementPlan(name="learn", handled_fs=AccessFs.EXECUTE, handled_net=NO_NET,
                           scopes=NO_SCOPE, seccomp_rules=baseline_seccomp_rules(),
                           fs_rules=[FsRule("/", AccessFs.EXECUTE, "learn: a domain for ptrace "
                                            "isolation, no file limit")])
