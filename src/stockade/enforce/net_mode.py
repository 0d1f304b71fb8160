"""`stockade run --net none|tcp`: narrow a plan's network in the kernel.

* `none`: socket(2) fails with EAFNOSUPPORT for every family (AF_UNIX too); socketpair(2)
  works for AF_UNIX only; Landlock handles TCP bind and connect with no port granted, so a
  TCP socket inherited from outside cannot bind or connect either.
* `tcp`: socket(2) opens AF_UNIX and TCP only: inet/inet6 stream sockets of protocol 0 or
  TCP. UDP, raw, packet and seqpacket sockets fail with EACCES (SCTP/MPTCP with
  EPROTONOSUPPORT), every other family (netlink, packet, ...) with EAFNOSUPPORT. Landlock
  handles TCP bind and connect: only the ports the flags (--bind-tcp/--connect-tcp) or the
  profile's own port rules grant are open.

Both only narrow: a family or socket type the profile already refuses stays refused, and
the profile's AF_UNIX type rules stay. The seccomp socket rules are rebuilt from scratch
(libseccomp must not see two overlapping rules with different actions).
"""

from __future__ import annotations

import errno

from stockade.enforce import defaults
from stockade.enforce.landlock import ALL_NET
from stockade.enforce.plan.common import by_abi
from stockade.enforce.plan.types import CoverageReport, CoverageStatus, EnforcementPlan, SeccompRule
from stockade.enforce.seccomp import ActionKind, ArgCmp, Cmp, errno_action
from stockade.slotted import replace

NET_MODES = ("none", "tcp")
_INET = (defaults.AF_INET, defaults.AF_INET6)
#: socket types (low 4 bits of the type argument) the kernel knows, but stream
_OTHER_TYPES = (2, 3, 4, 6, 10)  # dgram, raw, rdm, dccp, packet; seqpacket: tcp_protocol_rules


def _refused(rules: list[SeccompRule], args: tuple[int, int, int]) -> bool:
    """Whether the plan's socket rules refuse socket(family, type, protocol)."""
    return any(r.syscall == "socket" and r.action.kind is not ActionKind.ALLOW
               and all(c.holds(args[c.arg]) for c in r.conditions if c.arg < 3)
               for r in rules)


def _pins_unix(rule: SeccompRule) -> bool:
    """A socket rule that only ever matches AF_UNIX (a profile's unix type rule)."""
    return any(c.arg == 0 and c.op in (Cmp.EQ, Cmp.MASKED_EQ)
               and (c.datum_b if c.op is Cmp.MASKED_EQ else c.datum_a) == defaults.AF_UNIX
               for c in rule.conditions)


def narrow(plan: EnforcementPlan, mode: str, coverage: CoverageReport, abi: int) -> None:
    """Apply `--net MODE` to `plan` (after the profile and the flags are merged) and add its
    one line to `coverage` (Landlock ABI `abi`: TCP ports need 4)."""
    source = f"--net {mode}"
    old = plan.seccomp_rules
    rules = [r for r in old if r.syscall not in ("socket", "socketpair")
             or (mode == "tcp" and r.syscall == "socket" and _pins_unix(r))]
    if mode == "none":
        rules.append(SeccompRule("socket", errno_action(errno.EAFNOSUPPORT), (),
                                 "--net none: no sockets", source))
        rules += [replace(r, syscall="socketpair", reason="--net none: socketpair of AF_UNIX "
                          "only") for r in defaults.socket_family_rules({defaults.AF_UNIX},
                                                                        source)]
        plan.net_rules = []
        detail = ("socket(2) refused for every family (EAFNOSUPPORT); socketpair(2) of AF_UNIX "
                  "only; TCP bind/connect of inherited sockets refused by Landlock")
    else:
        families = {defaults.AF_UNIX} | {f for f in _INET
                                          if not _refused(old, (f, defaults.SOCK_STREAM, 0))}
        rules += defaults.socket_family_rules(families, source)
        eacces = errno_action(errno.EACCES)
        for fam in sorted(families & set(_INET)):
            rules += [SeccompRule("socket", eacces, (ArgCmp(0, Cmp.MASKED_EQ, 0xFFFFFFFF, fam),
                                                     ArgCmp(1, Cmp.MASKED_EQ, 0xF, t)),
                                  "--net tcp: only TCP sockets", source) for t in _OTHER_TYPES]
        rules += defaults.tcp_protocol_rules(source)
        ports = ", ".join(str(r) for r in plan.net_rules) or "none"
        detail = ("socket(2): unix and TCP only (UDP, raw, packet EACCES; netlink and other "
                  f"families EAFNOSUPPORT); TCP ports granted: {ports}")
    plan.seccomp_rules = rules
    plan.handled_net = ALL_NET
    status = CoverageStatus.EXACT
    if mode == "tcp" and abi < 4:
        status = CoverageStatus.APPROXIMATED
        detail += f"; TCP ports are not restricted: this kernel has Landlock ABI {abi}"
    coverage.add(source, status, detail, enforced_by=f"seccomp-bpf + {by_abi(4)}")
