"""stockade's `syscall` rules (a profile-language extension) -> seccomp rules of the plan.

`[deny] syscall [default] [action=A] [errno=E] [argN=OP:V[:V2]]... NAMES,`: each name becomes
one `SeccompRule` with the rule's conditions (all must hold); `syscall default ...` sets the
filter's default action, which makes the plan an allow list. An unconditional rule for a
system call replaces the baseline's rules for that call (the profile says exactly what
happens to it), as capability rules unlock the calls they are for.
"""

from __future__ import annotations

import errno

from stockade.enforce import seccomp as sc
from stockade.enforce.plan.common import EXACT, Context, source_of
from stockade.enforce.plan.types import SeccompRule
from stockade.errors import StockadeError
from stockade.policy import SyscallRule

_ACTIONS = {"allow": sc.ActionKind.ALLOW, "errno": sc.ActionKind.ERRNO,
            "kill": sc.ActionKind.KILL_PROCESS, "kill_process": sc.ActionKind.KILL_PROCESS,
            "kill_thread": sc.ActionKind.KILL_THREAD, "trap": sc.ActionKind.TRAP,
            "log": sc.ActionKind.LOG}
_OPS = {"eq": sc.Cmp.EQ, "ne": sc.Cmp.NE, "lt": sc.Cmp.LT, "le": sc.Cmp.LE, "gt": sc.Cmp.GT,
        "ge": sc.Cmp.GE, "masked_eq": sc.Cmp.MASKED_EQ}
_ERRNO_BY_NAME = {name: number for number, name in errno.errorcode.items()}


def rule_action(rule: SyscallRule) -> sc.Action:
    """The seccomp action of a syscall rule (errno defaults to EPERM)."""
    kind = _ACTIONS[rule.action]
    if kind is not sc.ActionKind.ERRNO:
        return sc.Action(kind)
    text = rule.errno or "EPERM"
    value = _ERRNO_BY_NAME.get(text.upper())
    if value is None:
        try:
            value = int(text, 0)
        except ValueError:
            value = -1
    if not 1 <= value <= 4095:
        raise StockadeError(f"{source_of(rule)}: errno={text}: not an errno name or a "
                            "number from 1 to 4095")
    return sc.errno_action(value)


def compile_syscall_rules(ctx: Context) -> set[str]:
    """Add the profile's syscall rules to the plan; returns the calls whose baseline rules
    they replace."""
    replaced: set[str] = set()
    rules: list[SeccompRule] = []
    for rule in ctx.profile.rules_of("syscall"):
        action = rule_action(rule)
        src = source_of(rule)
        if rule.default:
            ctx.plan.seccomp_default = action
            ctx.record_part(rule, EXACT, f"every system call no rule names -> {action}",
                            "seccomp-bpf")
            continue
        conds = tuple(arg_cmp(a) for a in rule.args)
        for name in rule.names:
            rules.append(SeccompRule(name, action, conds, "profile syscall rule", src))
            if not conds:
                replaced.add(name)
        ctx.record_part(rule, EXACT, "replaces the baseline's rules for "
                        + ", ".join(rule.names) if not conds else "", "seccomp-bpf")
    if ctx.plan.seccomp_default.kind is not sc.ActionKind.ALLOW:
        rules = [r for rule in rules for r in _unshadow(rule, ctx)]
    ctx.plan.seccomp_rules += rules
    return replaced


def _unshadow(rule: SeccompRule, ctx: Context) -> list[SeccompRule]:
    """An unconditional allow next to other rules' argument refusals for the same call.

    libseccomp lets an unconditional rule win over every conditional rule of its call,
    whatever the order (measured), so `syscall socket,` in an allow list would void the
    socket-family refusals of the profile's network rules. Where those refusals test one
    small argument (socket's family), the allow becomes one rule per value they leave
    allowed; otherwise the allow is dropped (narrower) and a note says so.
    """
    if rule.conditions or rule.action.kind is not sc.ActionKind.ALLOW:
        return [rule]
    others = [r for r in ctx.plan.seccomp_rules if r.syscall == rule.syscall
              and r.conditions and r.action.kind is not sc.ActionKind.ALLOW]
    if not others:
        return [rule]
    if rule.syscall == "socket":
        spelled = _socket_allows(rule, others)
        if spelled is not None:
            return spelled
    ctx.notes.append(f"{rule.source}: syscall {rule.syscall} is not allowed: it would void "
                     "the argument refusals of other rules for it (libseccomp lets an "
                     "unconditional rule win)")
    return []


_SMALL_DOMAIN = 64  # socket families (AF_MAX is 46)
_TYPE_MASK = 0xF  # SOCK_TYPE_MASK: the flags above it (NONBLOCK, CLOEXEC) do not matter
_LOW32 = 0xFFFFFFFF


def _socket_allows(rule: SeccompRule, others: list[SeccompRule]) -> list[SeccompRule] | None:
    """`syscall socket` as allow rules that overlap none of `others`: one per family the
    family refusals leave, and for a family with type/protocol refusals (the MPTCP/SCTP rules
    of `defaults.tcp_protocol_rules`) one per type and protocol they leave. None when the
    refusals have another shape. Disjoint, so libseccomp's order of overlapping argument
    rules (measured: the rule added first wins) cannot matter."""
    family_only = [r for r in others if len(r.conditions) == 1 and r.conditions[0].arg == 0]
    split: dict[int, list[SeccompRule]] = {}
    for r in others:
        if r in family_only:
            continue
        fam = r.conditions[0]
        if fam.arg != 0 or fam.op is not sc.Cmp.MASKED_EQ or fam.datum_a != _LOW32 or \
                len(r.conditions) > 3 or r.conditions[1].arg != 1 or \
                r.conditions[1].op is not sc.Cmp.MASKED_EQ or \
                r.conditions[1].datum_a != _TYPE_MASK or \
                any(c.arg != 2 for c in r.conditions[2:]):
            return None
        split.setdefault(fam.datum_b, []).append(r)
    out: list[SeccompRule] = []

    def allow(*conds: sc.ArgCmp) -> None:
        out.append(SeccompRule(rule.syscall, rule.action, conds, rule.reason, rule.source))

    for family in range(_SMALL_DOMAIN):
        if any(r.conditions[0].holds(family) for r in family_only):
            continue
        refusals = split.get(family)
        if not refusals:
            allow(sc.ArgCmp(0, sc.Cmp.EQ, family))
            continue
        fam = sc.ArgCmp(0, sc.Cmp.EQ, family)  # 64 bits: high bits set fall to the refusals
        for kind in range(_TYPE_MASK + 1):
            typ = sc.ArgCmp(1, sc.Cmp.MASKED_EQ, _TYPE_MASK, kind)
            by_type = [r for r in refusals if r.conditions[1].holds(kind)]
            if not by_type:
                allow(fam, typ)
            elif all(len(r.conditions) == 3 for r in by_type):
                protos = [p for p in range(_SMALL_DOMAIN)
                          if not any(r.conditions[2].holds(p) for r in by_type)]
                if not any(r.conditions[2].holds(_SMALL_DOMAIN) and
                           r.conditions[2].op in (sc.Cmp.GE, sc.Cmp.GT) for r in by_type):
                    return None  # protocols above the small domain would be left out
                for proto in protos:
                    allow(fam, typ, sc.ArgCmp(2, sc.Cmp.EQ, proto))
    return out




def arg_cmp(arg: tuple[int, str, int, int]) -> sc.ArgCmp:
    """The seccomp comparison of one parsed `argN=OP:...` condition."""
    index, op, value, value2 = arg
    return sc.ArgCmp(index, _OPS[op], value, value2)
