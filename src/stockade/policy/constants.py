"""Name tables of the profile language (apparmor.d(5)): capabilities, families, signals, flags."""

from __future__ import annotations

#: The 41 Linux capabilities, in kernel order (include/uapi/linux/capability.h).
CAPABILITIES: tuple[str, ...] = (
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid",
    "setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast",
    "net_admin", "net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio",
    "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
    "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write",
    "audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
    "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
)

#: Address families accepted by network rules.
NETWORK_FAMILIES: frozenset[str] = frozenset({
    "unix", "inet", "ax25", "ipx", "appletalk", "netrom", "bridge", "atmpvc", "x25",
    "inet6", "rose", "netbeui", "security", "key", "netlink", "packet", "ash",
    "econet", "atmsvc", "rds", "sna", "irda", "pppox", "wanpipe", "llc", "ib", "mpls",
    "can", "tipc", "bluetooth", "iucv", "rxrpc", "isdn", "phonet", "ieee802154", "caif",
    "alg", "nfc", "vsock", "kcm", "qipcrtr", "smc", "xdp", "mctp", "local",
})

#: Socket types accepted by network rules.
NETWORK_TYPES: frozenset[str] = frozenset({
    "stream", "dgram", "seqpacket", "rdm", "raw", "packet",
})

#: Protocols accepted by network rules.
NETWORK_PROTOCOLS: frozenset[str] = frozenset({"tcp", "udp", "icmp", "icmpv6"})

#: Access words of network rules (AppArmor 3+ fine-grained form).
NETWORK_ACCESS: frozenset[str] = frozenset({
    "create", "bind", "listen", "accept", "connect", "shutdown", "getattr", "setattr",
    "getopt", "setopt", "send", "receive", "r", "w", "rw", "read", "write",
})

#: Signal names accepted in `set=(...)`.
SIGNALS: frozenset[str] = frozenset({
    "hup", "int", "quit", "ill", "trap", "abrt", "bus", "fpe", "kill", "usr1", "segv",
    "usr2", "pipe", "alrm", "term", "stkflt", "chld", "cont", "stop", "stp", "ttin",
    "ttou", "urg", "xcpu", "xfsz", "vtalrm", "prof", "winch", "io", "pwr", "sys", "emt",
    "exists",
} | {f"rtmin+{i}" for i in range(33)})

# the kernel's signal names (security/apparmor/include/sig_names.h), x86 numbering
SIGNAL_NAMES: dict[int, str] = {
    0: "exists", 1: "hup", 2: "int", 3: "quit", 4: "ill", 5: "trap", 6: "abrt", 7: "bus",
    8: "fpe", 9: "kill", 10: "usr1", 11: "segv", 12: "usr2", 13: "pipe", 14: "alrm", 15: "term",
    16: "stkflt", 17: "chld", 18: "cont", 19: "stop", 20: "stp", 21: "ttin", 22: "ttou",
    23: "urg", 24: "xcpu", 25: "xfsz", 26: "vtalrm", 27: "prof", 28: "winch", 29: "io",
    30: "pwr", 31: "sys"}


def signal_name(sig: int) -> str:
    """`term` for 15, `rtmin+2` for 34 (the kernel's SIGRTMIN is 32): the `set=` spelling."""
    return SIGNAL_NAMES.get(sig, f"rtmin+{sig - 32}" if sig >= 32 else str(sig))


SIGNAL_ACCESS: frozenset[str] = frozenset({"send", "receive", "r", "w", "rw", "read", "write"})
PTRACE_ACCESS: frozenset[str] = frozenset({
    "read", "trace", "readby", "tracedby", "r", "w", "rw",
})
UNIX_ACCESS: frozenset[str] = NETWORK_ACCESS
DBUS_ACCESS: frozenset[str] = frozenset({
    "send", "receive", "bind", "eavesdrop", "r", "w", "rw", "read", "write",
})
MQUEUE_ACCESS: frozenset[str] = frozenset({
    "r", "w", "rw", "read", "write", "create", "open", "delete", "getattr", "setattr",
})
IO_URING_ACCESS: frozenset[str] = frozenset({"sqpoll", "override_creds"})
USERNS_ACCESS: frozenset[str] = frozenset({"create"})

#: Resource limits of `set rlimit NAME <= VALUE,`.
RLIMITS: frozenset[str] = frozenset({
    "cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile", "ofile", "memlock",
    "as", "locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime",
})

#: Profile flags; `error=` and `attach_disconnected.path=` take a value.
PROFILE_FLAGS: frozenset[str] = frozenset({
    "enforce", "complain", "kill", "unconfined", "prompt", "default_allow", "audit",
    "debug", "interruptible", "mediate_deleted", "delegate_deleted",
    "attach_disconnected", "no_attach_disconnected", "chroot_relative",
    "namespace_relative", "chroot_attach", "chroot_no_attach", "user",
})
VALUED_FLAGS: frozenset[str] = frozenset({
    "error", "attach_disconnected.path", "attach_disconnected.ipc",
})
#: Flags that set the profile's mode; at most one may be given.
MODE_FLAGS: tuple[str, ...] = (
    "enforce", "complain", "kill", "unconfined", "prompt", "default_allow",
)

#: Rule qualifiers that may precede any rule or a `{ ... }` block.
QUALIFIERS: frozenset[str] = frozenset({"audit", "deny", "allow", "owner", "other", "quiet"})

#: Keywords that start a non-file rule.
RULE_KEYWORDS: frozenset[str] = frozenset({
    "capability", "network", "signal", "ptrace", "unix", "dbus", "mount", "remount",
    "umount", "pivot_root", "change_profile", "set", "rlimit", "userns", "io_uring",
    "mqueue", "all", "file", "link", "syscall",
})
#: stockade's `syscall` rule (an extension): actions and argument comparisons.
SYSCALL_ACTIONS: frozenset[str] = frozenset({"allow", "errno", "kill", "kill_process",
                                             "kill_thread", "trap", "log"})
SYSCALL_ARG_OPS: frozenset[str] = frozenset({"eq", "ne", "lt", "le", "gt", "ge", "masked_eq"})
