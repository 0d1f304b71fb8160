"""Checks for the non-file classes: capability, network, unix, signal, ptrace, mount.

Each function returns a `Check` over the class's own access bits, built from the profile's
matching rules (deny beats allow, `audit` records, plain `deny` is quiet); `perms.judge`
turns it into a verdict. As in a kernel whose policy mediates every class, a profile with no
rule of a class denies that class (signals to itself included: abstractions/base grants
`signal peer=@{profile_name},`).

Simplified: network rules without access words grant every access; `r`/`w` in network and
unix rules mean receive/getattr/getopt and the other accesses; address conditionals (`ip=`,
`port=`, `peer=(ip= port=)`) apply to bind (local) and connect (peer) only, and a rule with
them grants neither create nor listen. Unix sockets: only stream connect is mediated, by
`unix` rules (type, addr, peer label) or `network unix` rules. Mount: `options=` is compared
as a set of flags the mount may use (no distinction between `options=` and `options in`, no
data options), the source device is only checked when the request carries it (`target`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence

from stockade.lsm.caps import cap_name
from stockade.modules.apparmor.perms import Check, all_rule_allows
from stockade.modules.apparmor.profiles import Aare
from stockade.policy import CompiledProfile
from stockade.policy import constants as c
from stockade.policy.ast import MountRule, NetworkRule, Rule, UnixRule

# -- access words ------------------------------------------------------------------------------

NET_WORDS = ("create", "bind", "listen", "accept", "connect", "shutdown", "getattr", "setattr",
             "getopt", "setopt", "send", "receive")
NET_BIT = {w: 1 << i for i, w in enumerate(NET_WORDS)}
_NET_ALL = (1 << len(NET_WORDS)) - 1
_NET_READ = NET_BIT["receive"] | NET_BIT["getattr"] | NET_BIT["getopt"]
_NET_ALIASES = {"r": _NET_READ, "read": _NET_READ, "w": _NET_ALL & ~_NET_READ,
                "write": _NET_ALL & ~_NET_READ, "rw": _NET_ALL, "wr": _NET_ALL}

SEND, RECEIVE = 1, 2
_SIGNAL_WORDS = {"send": SEND, "w": SEND, "write": SEND, "receive": RECEIVE, "r": RECEIVE,
                 "read": RECEIVE, "rw": SEND | RECEIVE, "wr": SEND | RECEIVE}
READ, TRACE, READBY, TRACEDBY = 1, 2, 4, 8
_PTRACE_WORDS = {"read": READ, "r": READ, "trace": TRACE | READ, "w": TRACE | READ,
                 "write": TRACE | READ, "rw": TRACE | READ, "wr": TRACE | READ,
                 "readby": READBY, "tracedby": TRACEDBY | READBY}

FAMILY_NAMES: dict[int, str] = {}
for _name in sorted(c.NETWORK_FAMILIES):
    _num = getattr(socket, "AF_" + _name.upper(), None)
    if _num is not None and _name != "local":
        FAMILY_NAMES.setdefault(int(_num), _name)
TYPE_NAMES = {int(socket.SOCK_STREAM): "stream", int(socket.SOCK_DGRAM): "dgram",
              int(socket.SOCK_RAW): "raw", int(socket.SOCK_SEQPACKET): "seqpacket",
              int(socket.SOCK_RDM): "rdm", 10: "packet"}
PROTOCOLS = {"tcp": (6, "stream"), "udp": (17, "dgram"), "icmp": (1, "raw"),
             "icmpv6": (58, "raw")}


def _words(words: Sequence[str], table: dict[str, int], everything: int) -> int:
    if not words:
        return everything
    mask = 0
    for w in words:
        mask |= table.get(w, 0)
    return mask


def _net_names(mask: int) -> str:
    return " ".join(w for w in NET_WORDS if mask & NET_BIT[w])


def _signal_names(mask: int) -> str:
    return " ".join(w for w, b in (("send", SEND), ("receive", RECEIVE)) if mask & b)


def _ptrace_names(mask: int) -> str:
    return " ".join(w for w, b in (("read", READ), ("trace", TRACE), ("readby", READBY),
                                   ("tracedby", TRACEDBY)) if mask & b)


def gather(op: str, cls: str, request: int, matched: Sequence[tuple[Rule, int]],
           names: Callable[[int], str], prof: CompiledProfile, *, err: int = 13,
           fields: tuple[tuple[str, str], ...] = (), mask_fields: bool = True) -> Check:
    """A Check from the rules that match a request, each with the bits it grants."""
    allow = deny = audit = quiet = 0
    allow_rules: list[Rule] = []
    deny_rules: list[Rule] = []
    for rule, bits in matched:
        q = rule.qualifiers
        if q.deny:
            deny |= bits
            if bits & request:
                deny_rules.append(rule)
            if q.audit:
                audit |= bits
            else:
                quiet |= bits
        else:
            allow |= bits
            if bits & request:
                allow_rules.append(rule)
            if q.audit:
                audit |= bits
            if q.quiet:
                quiet |= bits
    everything = all_rule_allows(prof)
    if everything is not None:
        allow |= request
        allow_rules.append(everything)
    return Check(op, cls, request, allow & ~deny, deny, audit, quiet & ~audit, names,
                 allow_rules, deny_rules, err=err, fields=fields, mask_fields=mask_fields)


# -- capability --------------------------------------------------------------------------------


def capability_check(prof: CompiledProfile, cap: int) -> Check:
    """`capability NAME,` rules (no names: every capability); EPERM when denied."""
    name = cap_name(cap)
    matched = [(r, 1) for r in prof.rules_of("capability") if not r.names or name in r.names]
    return gather("capable", "cap", 1, matched, lambda m: name if m else "", prof, err=1,
                  fields=(("capability", str(cap)),), mask_fields=False)


# -- network -----------------------------------------------------------------------------------


def _ip_ok(values: Sequence[str], address: str) -> bool:
    for v in values:
        try:
            if ipaddress.ip_address(v) == ipaddress.ip_address(address):
                return True
        except ValueError:
            if v in ("any", address):
                return True
    return False


def _port_ok(values: Sequence[str], port: int) -> bool:
    for v in values:
        lo, _, hi = v.partition("-")
        if lo.isdigit() and int(lo) <= port <= int(hi or lo):
            return True
    return False


def _addr_ok(conds: dict[str, tuple[str, ...]], address: str, port: int) -> bool:
    if "ip" in conds and not _ip_ok(conds["ip"], address):
        return False
    return not ("port" in conds and not _port_ok(conds["port"], port))


def _net_rule_matches(rule: NetworkRule, family: str, stype: str, proto: int, word: str,
                      address: str, port: int) -> bool:
    if rule.family and (rule.family if rule.family != "local" else "unix") != family:
        return False
    if rule.sock_type and rule.sock_type != stype:
        return False
    if rule.protocol:
        number, implied = PROTOCOLS.get(rule.protocol, (-1, ""))
        if proto != number and not (proto == 0 and stype == implied):
            return False
    local = {k: v for k, v in rule.conds.items() if k in ("ip", "port")}
    peer = {k: v for k, v in rule.peer.items() if k in ("ip", "port")}
    if word == "bind":
        return not peer and _addr_ok(local, address, port)
    if word == "connect":
        return not local and _addr_ok(peer, address, port)
    return not local and not peer


def network_check(prof: CompiledProfile, word: str, family: int, sock_type: int, protocol: int,
                  address: str = "", port: int = 0) -> Check:
    """socket_create/bind/connect/listen against `network` rules."""
    fname = FAMILY_NAMES.get(family, str(family))
    tname = TYPE_NAMES.get(sock_type & 0xF, str(sock_type))
    bit = NET_BIT[word]
    matched = [(r, _words(r.access, {**NET_BIT, **_NET_ALIASES}, _NET_ALL))
               for r in prof.network
               if _net_rule_matches(r, fname, tname, protocol, word, address, port)]
    fields = [("family", fname), ("sock_type", tname), ("protocol", str(protocol))]
    if address or port:
        key = "laddr" if word == "bind" else "faddr"
        fields += [(key, address), (key[0] + "port", str(port))]
    return gather(word, "net", bit, matched, _net_names, prof, fields=tuple(fields))


def unix_connect_check(prof: CompiledProfile, address: str, peer_label: str | None) -> Check:
    """A unix stream connect: `unix` rules (type, addr, peer label) or `network unix`."""
    bit = NET_BIT["connect"]
    table = {**NET_BIT, **_NET_ALIASES}
    matched: list[tuple[Rule, int]] = []
    for r in prof.unix:
        if _unix_rule_matches(r, address, peer_label):
            matched.append((r, _words(r.access, table, _NET_ALL)))
    for r in prof.network:
        if _net_rule_matches(r, "unix", "stream", 0, "connect", "", 0):
            matched.append((r, _words(r.access, table, _NET_ALL)))
    fields = (("family", "unix"), ("sock_type", "stream"), ("addr", address or "none"),
              *((("peer", peer_label),) if peer_label else ()))
    return gather("connect", "net", bit, matched, _net_names, prof, fields=fields)


def _unix_rule_matches(rule: UnixRule, address: str, peer_label: str | None) -> bool:
    types = rule.conds.get("type", ())
    if types and "stream" not in types:
        return False
    addrs = rule.peer.get("addr", ()) or rule.conds.get("addr", ())
    if addrs and not any(Aare.match(a, address or "none") for a in addrs):
        return False
    labels = rule.peer.get("label", ())
    return not labels or (peer_label is not None and any(Aare.match(x, peer_label)
                                                         for x in labels))


# -- signal and ptrace ---------------------------------------------------------------------------


def signal_check(prof: CompiledProfile, want: int, sig: int, peer: str) -> Check:
    """`signal` rules: `want` is SEND (the sender's profile) or RECEIVE (the target's)."""
    name = c.signal_name(sig)
    matched = [(r, _words(r.access, _SIGNAL_WORDS, SEND | RECEIVE)) for r in prof.signal
               if (not r.signals or name in r.signals)
               and (r.peer is None or Aare.match(r.peer, peer))]
    return gather("signal", "signal", want, matched, _signal_names, prof,
                  fields=(("signal", name), ("peer", peer)))


def ptrace_check(prof: CompiledProfile, want: int, peer: str) -> Check:
    """`ptrace` rules: READ/TRACE for the tracer, READBY/TRACEDBY for the tracee."""
    matched = [(r, _words(r.access, _PTRACE_WORDS, READ | TRACE | READBY | TRACEDBY))
               for r in prof.ptrace if r.peer is None or Aare.match(r.peer, peer)]
    return gather("ptrace", "ptrace", want, matched, _ptrace_names, prof,
                  fields=(("peer", peer),))


# -- mount ---------------------------------------------------------------------------------------

MS = {"ro": 1, "r": 1, "read-only": 1, "nosuid": 2, "nodev": 4, "noexec": 8, "sync": 16,
      "remount": 32, "mand": 64, "dirsync": 128, "noatime": 1024, "nodiratime": 2048,
      "bind": 4096, "B": 4096, "move": 8192, "M": 8192, "rec": 16384, "silent": 32768,
      "unbindable": 1 << 17, "private": 1 << 18, "slave": 1 << 19, "shared": 1 << 20,
      "relatime": 1 << 21, "strictatime": 1 << 24, "lazytime": 1 << 25}
for _p in ("bind", "unbindable", "private", "slave", "shared"):
    MS["r" + _p] = MS[_p] | MS["rec"]
MS_REMOUNT, MS_SILENT = 32, 32768


def _paths_match(pattern: str | None, path: str | None) -> bool:
    if pattern is None or path is None:
        return True
    return Aare.match(pattern, path) or Aare.match(pattern, path.rstrip("/") + "/")


def mount_check(prof: CompiledProfile, op: str, mountpoint: str, *, fstype: str = "",
                flags: int = 0, source: str | None = None) -> Check:
    """mount/remount/umount rules: fstype, options (as flags), source and mount point."""
    want_op = "remount" if op == "mount" and flags & MS_REMOUNT else op
    matched: list[tuple[Rule, int]] = []
    for r in prof.mount:
        if not _mount_rule_matches(r, want_op, mountpoint, fstype, flags, source):
            continue
        matched.append((r, 1))
    fields = (("fstype", fstype),) if fstype else ()
    if source:
        fields += (("srcname", source),)
    return gather(want_op, "mount", 1, matched, lambda m: want_op if m else "", prof,
                  fields=(*fields, ("flags", str(flags))) if flags else fields)


def _mount_rule_matches(r: MountRule, op: str, mountpoint: str, fstype: str, flags: int,
                        source: str | None) -> bool:
    rule_op = "remount" if r.operation == "mount" and "remount" in r.options else r.operation
    if rule_op != op:
        return False
    if op == "umount":
        return _paths_match(r.mountpoint or r.source, mountpoint)
    if r.fstype and not any(Aare.match(t, fstype, path=False) for t in r.fstype):
        return False
    if r.options:
        allowed = 0
        for opt in r.options:
            allowed |= MS.get(opt, 0)
        if flags & ~(allowed | MS_SILENT | MS_REMOUNT):
            return False
    return _paths_match(r.mountpoint, mountpoint) and _paths_match(r.source, source)


def pivot_root_check(prof: CompiledProfile, new_root: str, old_root: str | None) -> Check:
    """`pivot_root [oldroot=OLD] [NEW]` rules."""
    matched: list[tuple[Rule, int]] = [
        (r, 1) for r in prof.pivot_root
        if _paths_match(r.newroot, new_root) and _paths_match(r.oldroot, old_root)]
    return gather("pivotroot", "mount", 1, matched, lambda m: "pivotroot" if m else "", prof)
