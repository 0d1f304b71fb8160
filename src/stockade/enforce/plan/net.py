"""Network, unix, signal and ptrace rules -> seccomp socket filters, Landlock TCP ports and
Landlock scopes.

* `network FAMILY [TYPE|PROTOCOL]` allows socket(2) of that family (and type); every other
  family fails with EAFNOSUPPORT, every other type of an allowed family with EACCES. AF_UNIX
  is always allowed (unix rules govern it). `network,` allows every family.
* TCP: a rule without ports allows bind/connect on every port (the right is then not handled
  by Landlock); `port=` (local) grants bind, `peer=(port=)` grants connect (Landlock ABI 4).
* Signals: without a signal rule that sends outside the profile, Landlock's signal scope
  (ABI 6) keeps signals inside the sandbox. ptrace: refused by seccomp unless a rule allows
  trace; Landlock itself only lets a sandboxed process trace processes of its own sandbox.
* Abstract unix sockets are scoped to the sandbox (ABI 6) unless a unix rule reaches out.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stockade.enforce import defaults
from stockade.enforce.landlock import AccessNet, Scope
from stockade.enforce.plan.common import APPROX, EXACT, NOT_ENFORCED, Context, Verdict, by_abi
from stockade.enforce.plan.types import NetRule, SeccompRule
from stockade.enforce.seccomp import ArgCmp, Cmp, errno_action

if TYPE_CHECKING:  # the run path without -p does not load the policy compiler
    from stockade.policy import NetworkRule, PtraceRule, SignalRule, UnixRule

SOCK_TYPES = {"stream": 1, "dgram": 2, "raw": 3, "rdm": 4, "seqpacket": 5, "dccp": 6,
              "packet": 10}
PROTO_TYPE = {"tcp": 1, "udp": 2, "icmp": 3, "icmpv6": 3}
INET = frozenset({defaults.AF_INET, defaults.AF_INET6})
MAX_PORTS = 1024
UNIX_PEER_SYSCALLS = defaults.UNIX_PEER_SYSCALLS
PTRACE_SYSCALLS = ("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd")


def family_number(name: str) -> int | None:
    """AF_* number of an AppArmor family name (`inet6`, `netlink`, ...)."""
    if name in defaults.SOCKET_FAMILIES:
        return defaults.SOCKET_FAMILIES[name]
    value = getattr(socket, "AF_" + name.upper(), None)
    return int(value) if value is not None else None


def _ports(values: tuple[str, ...]) -> set[int] | None:
    """Ports of `port=80` / `port=1000-1010`; None when a value is not understood."""
    out: set[int] = set()
    for value in values:
        lo, _, hi = value.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            return None
        if not 0 <= first <= last <= 65535 or last - first >= MAX_PORTS:
            return None
        out.update(range(first, last + 1))
    return out


@dataclass
class _Net:
    all_families: bool = False
    any_family_types: set[int] = field(default_factory=set)
    families: dict[int, set[int] | None] = field(default_factory=dict)  # None: every type
    denied_families: set[int] = field(default_factory=set)
    denied_types: set[tuple[int | None, int]] = field(default_factory=set)
    bind_all: bool = False
    connect_all: bool = False
    bind_ports: set[int] = field(default_factory=set)
    connect_ports: set[int] = field(default_factory=set)


def _type_of(rule: NetworkRule) -> int | None:
    if rule.sock_type:
        return SOCK_TYPES.get(rule.sock_type, -1)
    if rule.protocol:
        return PROTO_TYPE.get(rule.protocol, -1)
    return None


def _network_rule(rule: NetworkRule, net: _Net, ctx: Context) -> Verdict:
    v = Verdict(enforced_by="seccomp-bpf")
    fam = family_number(rule.family) if rule.family else None
    typ = _type_of(rule)
    if rule.family and fam is None:
        v.part(NOT_ENFORCED, f"unknown socket family {rule.family!r}")
        return v
    if typ == -1:
        v.part(APPROX, f"type/protocol {rule.sock_type or rule.protocol!r} not checked "
               "(wider: every type of the family)")
        typ = None
    if rule.protocol and rule.protocol not in PROTO_TYPE:
        v.part(APPROX, f"protocol {rule.protocol} is checked only as its socket type")
    if rule.qualifiers.deny:
        return _deny_network(rule, net, fam, typ, v)
    if fam is None and typ is None:
        net.all_families = True
        v.part(EXACT, "every socket family allowed")
    elif fam is None and typ is not None:
        net.any_family_types.add(typ)
        v.part(APPROX, "wider: a type-only rule lets every socket family through the family "
               "filter (other types of families without rules are not refused)")
    elif fam is not None:
        if typ is None:
            net.families[fam] = None
        elif net.families.get(fam, set()) is not None:
            net.families.setdefault(fam, set()).add(typ)  # type: ignore[union-attr]
        v.part(EXACT, "socket(2) of this family allowed by seccomp")
    access = set(rule.access)
    if access - {"create", "bind", "connect", "listen", "accept", "send", "receive"}:
        v.part(APPROX, "access " + ",".join(sorted(access)) + ": only socket creation and TCP "
               "bind/connect ports are mediated")
    elif access & {"listen", "accept", "send", "receive"}:
        v.part(APPROX, "listen/accept/send/receive are not mediated (wider)")
    tcp = (fam is None or fam in INET) and typ in (None, 1)
    for key in ("ip", "interface", "label"):
        if rule.conds.get(key) or rule.peer.get(key):
            v.part(APPROX, f"{key}= not checked (wider: Landlock restricts TCP ports only)",
                   "supervisor")
    local, peer = rule.conds.get("port"), rule.peer.get("port")
    if not tcp:
        if local or peer:
            v.part(APPROX, "ports of non-TCP sockets are not restricted (Landlock has TCP "
                   "only up to ABI 7)")
        return v
    may_bind = not access or "bind" in access
    may_connect = not access or bool(access & {"connect", "send"})
    if not local and not peer:
        net.bind_all |= may_bind
        net.connect_all |= may_connect
        return v
    v.enforced_by = "Landlock"
    if ctx.abi < 4:
        v.part(NOT_ENFORCED, "TCP port rules need Landlock", by_abi(4))
    for values, grant, ports in ((local, may_bind, net.bind_ports),
                                 (peer, may_connect, net.connect_ports)):
        if not values or not grant:
            continue
        found = _ports(values)
        if found is None:
            v.part(APPROX, f"port {'/'.join(values)} not understood or a range over "
                   f"{MAX_PORTS} ports: not granted (narrower)")
        else:
            ports.update(found)
    return v


def _deny_network(rule: NetworkRule, net: _Net, fam: int | None, typ: int | None,
                  v: Verdict) -> Verdict:
    if rule.conds or rule.peer:
        v.part(NOT_ENFORCED, "a deny with addresses or ports: Landlock can only grant ports",
               "supervisor")
        return v
    if fam is not None and typ is None:
        net.denied_families.add(fam)
    elif typ is not None:
        net.denied_types.add((fam, typ))
    else:
        net.all_families = False
        net.denied_families.update(f for f in range(46) if f != defaults.AF_UNIX)
        v.part(APPROX, "deny network: every family but unix refused (unix rules govern it)")
    v.part(EXACT, "refused by seccomp")
    return v


def _socket_rules(net: _Net) -> list[SeccompRule]:
    src = "profile network rules"
    fams = {defaults.AF_UNIX, *net.families} - net.denied_families
    rules: list[SeccompRule] = []
    # a type allowed in every family: the family filter must let every family pass
    if net.all_families or net.any_family_types:
        act = errno_action(errno.EAFNOSUPPORT)
        rules += [SeccompRule("socket", act, (ArgCmp(0, Cmp.MASKED_EQ, 0xFFFFFFFF, f),),
                              "socket family denied by the profile", src)
                  for f in sorted(net.denied_families)]
    else:
        rules += defaults.socket_family_rules(fams, src)
    eacces = errno_action(errno.EACCES)
    for fam, types in sorted(net.families.items()):
        if net.all_families or types is None or fam in net.denied_families:
            continue
        allowed = types | net.any_family_types
        for t in sorted(set(SOCK_TYPES.values()) - allowed):  # others fail with EINVAL
            if t not in allowed:
                rules.append(SeccompRule(
                    "socket", eacces, (ArgCmp(0, Cmp.MASKED_EQ, 0xFFFFFFFF, fam),
                                       ArgCmp(1, Cmp.MASKED_EQ, 0xF, t)),
                    f"socket type {t} of family {fam} not allowed by the profile", src))
    for fam, t in sorted(net.denied_types, key=lambda x: (x[0] or -1, x[1])):
        conds: tuple[ArgCmp, ...] = (ArgCmp(1, Cmp.MASKED_EQ, 0xF, t),)
        if fam is not None:
            conds = (ArgCmp(0, Cmp.MASKED_EQ, 0xFFFFFFFF, fam), *conds)
        rules.append(SeccompRule("socket", eacces, conds, "socket type denied by the profile",
                                 src))
    return rules


def compile_network(ctx: Context) -> None:
    """Network rules -> socket filters and TCP port grants."""
    net = _Net(all_families=ctx.allow_all, bind_all=ctx.allow_all, connect_all=ctx.allow_all)
    for rule in ctx.profile.network:
        ctx.record(rule, _network_rule(rule, net, ctx))
    plan = ctx.plan
    plan.seccomp_rules += _socket_rules(net)
    handled = AccessNet(0)
    if not net.bind_all:
        handled |= AccessNet.BIND_TCP
    if not net.connect_all:
        handled |= AccessNet.CONNECT_TCP
    plan.handled_net = handled
    if handled:  # a type rule of the profile may already refuse seqpacket: keep that one
        taken = {(r.syscall, r.conditions) for r in plan.seccomp_rules}
        plan.seccomp_rules += [r for r in defaults.tcp_protocol_rules("profile network rules")
                               if (r.syscall, r.conditions) not in taken]
    src = "profile network rules"
    if not net.bind_all:
        plan.net_rules += [NetRule(p, AccessNet.BIND_TCP, src) for p in sorted(net.bind_ports)]
    if not net.connect_all:
        plan.net_rules += [NetRule(p, AccessNet.CONNECT_TCP, src)
                           for p in sorted(net.connect_ports)]


def _is_self(ctx: Context, peer: str | None) -> bool:
    names = {ctx.profile.name, ctx.profile.local_name}
    return peer is not None and peer.strip("\"'") in names


def _signals_everything(rule: SignalRule) -> bool:
    """Whether a send rule allows every signal to every process (no `set=`, no `peer=`).

    Only such a rule may lift the Landlock signal scope in a plain run: nothing else (no
    supervisor decides kill(2)) would enforce a narrower set or peer."""
    return not rule.signals and rule.peer is None


def compile_signals(ctx: Context) -> None:
    """Signal rules -> the Landlock signal scope (kept unless a rule sends anything anywhere).

    A rule narrower than "every signal to every process" (`set=("exists")` of
    <abstractions/base>, `peer=`) keeps the scope: narrower than the profile, reported, fail
    closed."""
    keep_scope = True
    pending: list[tuple[SignalRule, Verdict, str]] = []  # (rule, verdict, narrowing lost)
    for rule in ctx.profile.signal:
        v = Verdict(enforced_by="Landlock")
        access = set(rule.access) or {"send", "receive"}
        narrow = ""
        if rule.qualifiers.deny:
            pending.append((rule, v, narrow))
            continue
        if "send" in access:
            if _is_self(ctx, rule.peer):
                v.part(EXACT, "signals within the sandbox (Landlock signal scope)")
            elif _signals_everything(rule):
                keep_scope = False
                v.part(EXACT, "any process the user may signal (the Landlock signal scope is "
                       "lifted)")
                v.part(APPROX, "narrower: seccomp refuses signals to the launcher, kill(0), "
                       "kill(-1) and tkill (enforce/launcher_guard.py)")
            else:
                narrow = " ".join(([f"set=({' '.join(rule.signals)})"] if rule.signals else [])
                                  + ([f"peer={rule.peer}"] if rule.peer else []))
        if "receive" in access:
            v.part(EXACT, "receiving is not restricted by Landlock (DAC decides who may "
                   "signal the program)")
        pending.append((rule, v, narrow))
    if keep_scope and ctx.abi < 6:
        ctx.notes.append("signals are not scoped to the sandbox: " + by_abi(6) + " needed")
    if not keep_scope:
        ctx.plan.scopes &= ~Scope.SIGNAL
    for rule, v, narrow in pending:
        if narrow and not keep_scope:
            v.part(EXACT, f"{narrow}: within what a rule allowing every signal grants")
        elif narrow:
            lost = ("existence checks (signal 0) of processes outside the sandbox get EPERM"
                    if set(rule.signals) == {"exists"} else
                    "signals to processes outside the sandbox get EPERM")
            v.part(APPROX, f"narrower: {narrow} is not checked by Landlock, so the signal scope "
                   f"is kept: {lost}", "supervisor")
        if rule.qualifiers.deny:
            if keep_scope and ctx.abi >= 6:
                v.part(EXACT, "signals outside the sandbox are refused by the Landlock scope")
            else:
                v.part(NOT_ENFORCED, "another signal rule lifted the Landlock signal scope"
                       if not keep_scope else "signal scoping needs Landlock", by_abi(6))
        ctx.record(rule, v)


def compile_ptrace(ctx: Context) -> set[str]:
    """ptrace rules -> the system calls to unlock (the baseline refuses them)."""
    unlock: set[str] = set()
    for rule in ctx.profile.ptrace:
        rule_: PtraceRule = rule
        v = Verdict(enforced_by="seccomp-bpf + Landlock")
        access = set(rule_.access) or {"trace", "read", "tracedby", "readby"}
        if rule_.qualifiers.deny:
            v.part(EXACT if not unlock else APPROX,
                   "refused by seccomp" if not unlock else "refused by Landlock outside the "
                   "sandbox only")
            ctx.record(rule_, v)
            continue
        if access & {"trace", "read"}:
            if "trace" in access:
                unlock.update(PTRACE_SYSCALLS)
            if _is_self(ctx, rule_.peer):
                v.part(EXACT, "Landlock limits tracing to processes of this sandbox")
            else:
                v.part(APPROX, f"narrower: Landlock allows ptrace only of processes in the "
                       f"same sandbox (peer={rule_.peer or 'any'})", "supervisor")
        if access & {"tracedby", "readby"}:
            v.part(EXACT, "being traced is not restricted by Landlock (DAC and Yama decide)")
        ctx.record(rule_, v)
    return unlock


def compile_unix(ctx: Context) -> None:
    """unix rules -> the abstract unix socket scope; pathname sockets are not mediated."""
    keep_scope = True
    verdicts: list[tuple[UnixRule, Verdict]] = []
    for rule in ctx.profile.unix:
        v = Verdict(enforced_by="Landlock")
        addrs = rule.conds.get("addr", ()) + rule.peer.get("addr", ())
        if rule.qualifiers.deny:
            verdicts.append((rule, v))
            continue
        abstract = [a for a in addrs if a.strip("\"").startswith("@")]
        if abstract or not addrs:
            keep_scope = False
            v.part(APPROX, "abstract unix sockets: the Landlock scope is lifted (wider: every "
                   "abstract address; addr/label/peer not checked)", "supervisor")
        if not abstract:
            v.part(APPROX, "pathname unix sockets: connect is decided by the supervisor on the "
                   "file rules' `w` on the socket path (Landlock up to ABI 7 has no connect "
                   "right; creating the file is make_sock); addr/label/peer not checked; "
                   "sendto/sendmsg to a datagram path are not mediated", "supervisor")
        verdicts.append((rule, v))
    if not keep_scope:
        ctx.plan.scopes &= ~Scope.ABSTRACT_UNIX_SOCKET
    for rule, v in verdicts:
        if rule.qualifiers.deny:
            if keep_scope and ctx.abi >= 6:
                v.part(EXACT, "abstract sockets outside the sandbox are refused by the "
                       "Landlock scope; pathname sockets follow the file rules (supervisor)")
            else:
                v.part(NOT_ENFORCED, "unix deny rules need the Landlock scope", by_abi(6))
        ctx.record(rule, v)
