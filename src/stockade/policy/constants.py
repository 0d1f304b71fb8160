"""Name tables of the profile language (apparmor.d(5)): capabilities, families, signals, flags."""

from __future__ import annotations

import errno
import re

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
    "alg", "nfc", "vsock", "kcm", "qipcrtr", "smc", "xdp", "mctp", "unspec",
})

#: Socket types accepted by network rules.
NETWORK_TYPES: frozenset[str] = frozenset({
    "stream", "dgram", "seqpacket", "rdm", "raw", "packet",
})

#: Socket type names of `type=` (network.cc sock_types).
SOCKET_TYPES: frozenset[str] = NETWORK_TYPES | {"dccp"}

#: Protocol names that may stand in the type position, per family (network.cc's mapped
#: types: `network inet tcp,`, `network inet6 udp,`; alone, `network tcp,`).
NETWORK_PROTO_TYPES: dict[str, frozenset[str]] = {
    "inet": frozenset({"tcp", "udp", "icmp"}), "inet6": frozenset({"tcp", "udp"}),
}
#: Local and peer conditionals of network rules (network.cc move_conditionals).
NETWORK_CONDS: frozenset[str] = frozenset({"ip", "port", "interface", "label"})
NETWORK_PEER_CONDS: frozenset[str] = frozenset({"ip", "port", "label", "interface"})
#: Accesses that have a peer (AA_PEER_NET_PERMS): only these take peer=(...).
PEER_NET_ACCESS: frozenset[str] = frozenset({
    "connect", "accept", "send", "receive", "r", "w", "rw", "wr", "read", "write",
})

#: Access words of network rules (AppArmor 3+ fine-grained form).
NETWORK_ACCESS: frozenset[str] = frozenset({
    "create", "bind", "listen", "accept", "connect", "shutdown", "getattr", "setattr",
    "getopt", "setopt", "send", "receive", "r", "w", "rw", "wr", "read", "write",
})

# the kernel's signal names (security/apparmor/include/sig_names.h), x86 numbering
SIGNAL_NAMES: dict[int, str] = {
    0: "exists", 1: "hup", 2: "int", 3: "quit", 4: "ill", 5: "trap", 6: "abrt", 7: "bus",
    8: "fpe", 9: "kill", 10: "usr1", 11: "segv", 12: "usr2", 13: "pipe", 14: "alrm", 15: "term",
    16: "stkflt", 17: "chld", 18: "cont", 19: "stop", 20: "stp", 21: "ttin", 22: "ttou",
    23: "urg", 24: "xcpu", 25: "xfsz", 26: "vtalrm", 27: "prof", 28: "winch", 29: "io",
    30: "pwr", 31: "sys"}


#: Signal names accepted in `set=(...)`: the kernel's, the aliases `emt`, `tstp` and `poll`,
#: and `rtmin+0`..`rtmin+32`.
SIGNALS: frozenset[str] = frozenset(SIGNAL_NAMES.values()) | {"emt", "tstp", "poll"} | {
    f"rtmin+{i}" for i in range(33)}


def canonical_signal(name: str) -> str:
    """The kernel's name for a valid signal name: `tstp` is `stp`, `poll` is `io`,
    `rtmin+007` is `rtmin+7` (signal.cc maps them to one number)."""
    if name.startswith("rtmin+"):
        m = re.match(r"[ \t]*[+-]?([0-9]*)", name[6:])
        return f"rtmin+{int(m.group(1) or 0) if m else 0}"
    return {"tstp": "stp", "poll": "io"}.get(name, name)


def is_signal(name: str) -> bool:
    """A signal name of `set=`/`kill.signal=`: a named signal, or `rtmin+N` read as
    signal.cc find_signal_mapping does (strtoul of what follows, at most 32)."""
    if name in SIGNALS:
        return True
    if not name.startswith("rtmin+"):
        return False
    m = re.match(r"[ \t]*([+-]?)([0-9]*)", name[6:])
    assert m is not None
    value = int(m.group(2) or 0)
    return value == 0 if m.group(1) == "-" else value <= 32


def signal_name(sig: int) -> str:
    """`term` for 15, `rtmin+2` for 34 (the kernel's SIGRTMIN is 32): the `set=` spelling."""
    return SIGNAL_NAMES.get(sig, f"rtmin+{sig - 32}" if sig >= 32 else str(sig))


SIGNAL_ACCESS: frozenset[str] = frozenset({
    "send", "receive", "r", "w", "rw", "wr", "read", "write",
})
PTRACE_ACCESS: frozenset[str] = frozenset({
    "read", "write", "trace", "readby", "tracedby", "r", "w", "rw", "wr",
})
UNIX_ACCESS: frozenset[str] = NETWORK_ACCESS
#: dbus access words and what they grant (parser_yacc.y dbus_perm, parse_dbus_perms).
DBUS_ACCESS_MAP: dict[str, frozenset[str]] = {
    "send": frozenset({"send"}), "write": frozenset({"send"}), "w": frozenset({"send"}),
    "receive": frozenset({"receive"}), "read": frozenset({"receive"}),
    "r": frozenset({"receive"}), "rw": frozenset({"send", "receive"}),
    "wr": frozenset({"send", "receive"}), "bind": frozenset({"bind"}),
    "eavesdrop": frozenset({"eavesdrop"}),
}
DBUS_ACCESS: frozenset[str] = frozenset(DBUS_ACCESS_MAP)
MQUEUE_ACCESS: frozenset[str] = frozenset({
    "r", "w", "rw", "wr", "read", "write", "create", "open", "delete", "getattr", "setattr",
})
IO_URING_ACCESS: frozenset[str] = frozenset({"sqpoll", "override_creds"})

#: Resource limits of `set rlimit NAME <= VALUE,`.
RLIMITS: frozenset[str] = frozenset({
    "cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile", "ofile", "memlock",
    "as", "locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime",
})

#: rlimits that take a plain count, no unit (nice has its own range).
RLIMIT_COUNTS: frozenset[str] = frozenset({
    "nofile", "ofile", "nproc", "locks", "sigpending", "rtprio",
})
#: Time units of cpu and rttime rlimits, in microseconds (parser_misc.c time_units).
TIME_UNITS_US: dict[str, int] = {
    "us": 1, "microsecond": 1, "microseconds": 1, "ms": 1000, "millisecond": 1000,
    "milliseconds": 1000, "s": 10**6, "sec": 10**6, "second": 10**6, "seconds": 10**6,
    "min": 60 * 10**6, "minute": 60 * 10**6, "minutes": 60 * 10**6, "h": 3600 * 10**6,
    "hour": 3600 * 10**6, "hours": 3600 * 10**6, "d": 86400 * 10**6, "day": 86400 * 10**6,
    "days": 86400 * 10**6, "week": 604800 * 10**6, "weeks": 604800 * 10**6,
}

#: Profile flags (profile.h flagvals::init); `error=`, `kill.signal=` and the
#: `attach_disconnected.path=`/`.ipc=` forms take a value.
PROFILE_FLAGS: frozenset[str] = frozenset({
    "enforce", "complain", "kill", "unconfined", "prompt", "default_allow", "audit",
    "debug", "interruptible", "mediate_deleted", "delegate_deleted",
    "attach_disconnected", "no_attach_disconnected", "attach_disconnected.ipc",
    "chroot_relative", "namespace_relative", "chroot_attach", "chroot_no_attach",
})
VALUED_FLAGS: frozenset[str] = frozenset({
    "error", "kill.signal", "attach_disconnected.path", "attach_disconnected.ipc",
})
#: Flags that set the profile's mode; at most one may be given.
MODE_FLAGS: tuple[str, ...] = (
    "enforce", "complain", "kill", "unconfined", "prompt", "default_allow",
)
#: Pairs of flags that may not be given together (profile.h flagvals::merge).
CONFLICTING_FLAGS: tuple[tuple[str, str], ...] = (
    ("chroot_relative", "namespace_relative"), ("mediate_deleted", "delegate_deleted"),
    ("attach_disconnected", "no_attach_disconnected"),
    ("attach_disconnected.path", "no_attach_disconnected"),
    ("attach_disconnected.ipc", "no_attach_disconnected"),
    ("chroot_attach", "chroot_no_attach"),
)
#: errno names accepted by `error=` (upstream's errnos.h, compared case-insensitively).
ERRNO_NAMES: frozenset[str] = frozenset(n.upper() for n in errno.errorcode.values())


def flag_value_error(flag: str, value: str) -> str | None:
    """Why `flag=value` is invalid, or None."""
    if flag == "error" and value.upper() not in ERRNO_NAMES:
        return f"unknown error code specified for error='{value}'"
    if flag == "kill.signal" and not is_signal(value):
        return f"unknown signal specified for kill.signal='{value}'"
    if flag.startswith("attach_disconnected.") and not value.startswith(("/", "@")):
        return "attach_disconnected path must begin with a /"
    return None


#: Rule qualifiers that may precede a rule or a `{ ... }` block, with their slot: upstream's
#: opt_prefix is `[priority=N] [audit] [allow|deny] [owner|user|other]` in that order
#: (`quiet` is stockade's, in the audit slot; `user` is upstream's synonym of `owner`).
QUALIFIER_SLOTS: dict[str, int] = {
    "audit": 1, "quiet": 1, "allow": 2, "deny": 2, "prompt": 2, "owner": 3, "user": 3,
    "other": 3,
}
QUALIFIERS: frozenset[str] = frozenset(QUALIFIER_SLOTS)

#: Keywords that start a non-file rule.
RULE_KEYWORDS: frozenset[str] = frozenset({
    "capability", "network", "signal", "ptrace", "unix", "dbus", "mount", "remount",
    "umount", "pivot_root", "change_profile", "set", "rlimit", "userns", "io_uring",
    "mqueue", "all", "file", "link", "unmount", "syscall",
})
#: stockade's `syscall` rule (an extension): actions and argument comparisons.
SYSCALL_ACTIONS: frozenset[str] = frozenset({"allow", "errno", "kill", "kill_process",
                                             "kill_thread", "trap", "log"})
SYSCALL_ARG_OPS: frozenset[str] = frozenset({"eq", "ne", "lt", "le", "gt", "ge", "masked_eq"})


#: mount(2) flag keywords of `options=`: name -> (flag it sets, flag it clears), as
#: upstream's mount.cc mnt_opts_table (flags named, not numbered).
MOUNT_OPTIONS: dict[str, tuple[str, str]] = {
    "ro": ("RDONLY", ""), "r": ("RDONLY", ""), "read-only": ("RDONLY", ""),
    "rw": ("", "RDONLY"), "w": ("", "RDONLY"), "suid": ("", "NOSUID"),
    "nosuid": ("NOSUID", ""), "dev": ("", "NODEV"), "nodev": ("NODEV", ""),
    "exec": ("", "NOEXEC"), "noexec": ("NOEXEC", ""), "sync": ("SYNC", ""),
    "async": ("", "SYNC"), "remount": ("REMOUNT", ""), "mand": ("MAND", ""),
    "nomand": ("", "MAND"), "dirsync": ("DIRSYNC", ""), "symfollow": ("", "NOSYMFOLLOW"),
    "nosymfollow": ("NOSYMFOLLOW", ""), "atime": ("", "NOATIME"), "noatime": ("NOATIME", ""),
    "diratime": ("", "NODIRATIME"), "nodiratime": ("NODIRATIME", ""), "bind": ("BIND", ""),
    "B": ("BIND", ""), "move": ("MOVE", ""), "M": ("MOVE", ""), "rbind": ("RBIND", ""),
    "R": ("RBIND", ""), "verbose": ("VERBOSE", ""), "silent": ("SILENT", ""),
    "loud": ("", "SILENT"), "acl": ("ACL", ""), "noacl": ("", "ACL"),
    "unbindable": ("UNBINDABLE", ""), "make-unbindable": ("UNBINDABLE", ""),
    "runbindable": ("RUNBINDABLE", ""), "make-runbindable": ("RUNBINDABLE", ""),
    "private": ("PRIVATE", ""), "make-private": ("PRIVATE", ""),
    "rprivate": ("RPRIVATE", ""), "make-rprivate": ("RPRIVATE", ""),
    "slave": ("SLAVE", ""), "make-slave": ("SLAVE", ""), "rslave": ("RSLAVE", ""),
    "make-rslave": ("RSLAVE", ""), "shared": ("SHARED", ""), "make-shared": ("SHARED", ""),
    "rshared": ("RSHARED", ""), "make-rshared": ("RSHARED", ""),
    "relatime": ("RELATIME", ""), "norelatime": ("", "RELATIME"),
    "iversion": ("IVERSION", ""), "noiversion": ("", "IVERSION"),
    "strictatime": ("STRICTATIME", ""), "nostrictatime": ("", "STRICTATIME"),
    "lazytime": ("LAZYTIME", ""), "nolazytime": ("", "LAZYTIME"),
    "user": ("", "NOUSER"), "nouser": ("NOUSER", ""),
}
#: Propagation-type flags: a rule changing propagation names only a mount point.
MOUNT_PROPAGATION: frozenset[str] = frozenset({
    "UNBINDABLE", "RUNBINDABLE", "PRIVATE", "RPRIVATE", "SLAVE", "RSLAVE", "SHARED", "RSHARED",
})
#: mount.cc MS_CMDS: the flags that select a mount command rather than modify one.
MOUNT_CMDS: frozenset[str] = MOUNT_PROPAGATION | {"BIND", "RBIND", "MOVE", "REMOUNT", ""}


def label_error(label: str) -> str | None:
    """Why a profile label such as `:ns:name` or `&name` is malformed (parser_misc.c
    _parse_label), or None."""
    rest = label[1:] if label.startswith("&") else label
    if rest.startswith(":"):
        end = rest.find(":", 1)
        if end < 0:
            return f"Namespace not terminated: {label}"
        if end == 1:
            return f"Empty namespace: {label}"
        rest = rest[end + 1 :]
        rest = rest[2:] if rest.startswith("//") else rest
    if not rest:
        return f"Empty named transition profile name: {label}"
    return None
