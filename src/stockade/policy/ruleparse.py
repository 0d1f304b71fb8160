"""Non-file rules (capability, network, signal, ...) from the terms between keyword and comma.

The statement parser splits a rule into `Term`s (words, `( lists )`, `key=value`
conditionals, `->`, `<=`); each function here turns the terms of one rule kind into its
typed dataclass, or raises a `PolicyError` at the offending term.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from stockade.policy import ast
from stockade.policy import constants as c
from stockade.policy.netrules import network, unix
from stockade.policy.ruleterms import (
    RuleContext,
    Term,
    ctx_dummy,
    ctx_tok,
    no_more,
    one,
    take_access,
    take_conds,
)

__all__ = ["PARSERS", "RuleContext", "Term"]


def capability(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`capability [NAME ...],`."""
    names: list[str] = []
    for t in terms:
        if t.kind != "word" or t.quoted or t.value not in c.CAPABILITIES:
            raise ctx.fail(f"Invalid capability {t.value or t.tok.value}.", t.tok)
        names.append(t.value)
    return ast.CapabilityRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                              names=tuple(names))


def signal(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`signal [access] [set=(...)] [peer=LABEL],`."""
    access, terms = take_access(terms, c.SIGNAL_ACCESS, ctx, "signal")
    conds, _peer, rest = take_conds(terms, frozenset({"set", "peer"}), ctx, "signal",
                                multi=frozenset({"set"}))
    for name in conds.get("set", ()):
        if not c.is_signal(name):
            raise ctx.fail(f"unknown signal '{name}'", next(
                t.tok for t in terms if t.kind == "cond" and t.value == "set"))
    no_more(rest, ctx, "signal")
    return ast.SignalRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                          access=access,
                          signals=tuple(c.canonical_signal(n) for n in conds.get("set", ())),
                          peer=one(conds, "peer"))


def ptrace(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`ptrace [access] [peer=LABEL],`."""
    access, terms = take_access(terms, c.PTRACE_ACCESS, ctx, "ptrace")
    conds, _peer, rest = take_conds(terms, frozenset({"peer"}), ctx, "ptrace")
    no_more(rest, ctx, "ptrace")
    return ast.PtraceRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                          access=access, peer=one(conds, "peer"))


_DBUS_KEYS = frozenset({"bus", "path", "interface", "member", "name"})


def dbus(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`dbus [access] [bus= path= interface= member= name=] [peer=(name= label=)],`
    (dbus.cc: local and peer conditionals share one set of fields; a rule is a message
    rule or a service rule, and its accesses must suit it)."""
    all_terms = terms
    access, terms = take_access(terms, c.DBUS_ACCESS, ctx, "dbus")
    conds, peer, rest = take_conds(terms, _DBUS_KEYS, ctx, "dbus", _DBUS_KEYS | {"label"},
                               single=True)
    no_more(rest, ctx, "dbus")
    tok = all_terms[0].tok if all_terms else ctx_dummy(ctx)
    for key in conds.keys() & peer.keys():
        raise ctx.fail(f'dbus conditional "{key}" can only be specified once', tok)
    fields = {**conds, **peer}
    message = bool(fields.keys() & {"path", "interface", "member", "label"} or "name" in peer)
    service = "name" in conds
    if message and service:
        raise ctx.fail("dbus rule contains message conditionals and service conditionals",
                       tok)
    granted = set().union(*(c.DBUS_ACCESS_MAP[a] for a in access)) if access else set()
    if message and "bind" in granted:
        raise ctx.fail('dbus "bind" access cannot be used with message rule conditionals', tok)
    if service and granted & {"send", "receive"}:
        raise ctx.fail('dbus "send" and/or "receive" accesses cannot be used with service '
                       "rule conditionals", tok)
    if "eavesdrop" in granted and fields.keys() - {"bus"}:
        raise ctx.fail('dbus "eavesdrop" access can only contain a bus conditional', tok)
    return ast.DbusRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                        access=access, conds=conds, peer=peer)


def mount(operation: str) -> Callable[[list[Term], RuleContext], ast.Rule]:
    """A parser for `mount`, `remount` or `umount` rules."""

    def parse(terms: list[Term], ctx: RuleContext) -> ast.Rule:
        seen_other = False
        for t in terms:
            if t.kind != "cond":
                seen_other = True
            elif seen_other:
                # parser_yacc.y mnt_rule: conditionals come first; after '->' they are
                # "mount point conditions not currently supported"
                raise ctx.fail(f"{operation} conditionals must come before the paths", t.tok)
            elif t.value in ("options", "option"):
                _mount_options(t, ctx)
        terms = [Term(t.kind, t.tok, value="options", values=t.values, nested=t.nested,
                      op=t.op) if t.kind == "cond" and t.value == "option" else t
                 for t in terms]
        conds, _peer, rest = take_conds(
            terms, frozenset({"options", "fstype", "vfstype"}), ctx, operation,
            multi=frozenset({"options", "fstype", "vfstype"}),
            in_ok=frozenset({"options", "fstype", "vfstype"}))
        words: list[str] = []
        target: str | None = None
        i = 0
        while i < len(rest):
            t = rest[i]
            if t.kind == "arrow":
                if operation != "mount" or i + 1 >= len(rest) or rest[i + 1].kind != "word":
                    raise ctx.fail(f"unexpected '->' in {operation} rule", t.tok)
                target = rest[i + 1].value
                i += 2
                continue
            if t.kind != "word":
                raise ctx.fail(f"unexpected term in {operation} rule", t.tok)
            words.append(t.value)
            i += 1
        if len(words) > 1:
            raise ctx.fail(f"too many paths in {operation} rule", rest[-1].tok)
        fstype = conds.get("fstype", ()) + conds.get("vfstype", ())
        flags = {c.MOUNT_OPTIONS[o][0] for o in conds.get("options", ())}
        if (flags & c.MOUNT_PROPAGATION and operation == "mount" and not flags - c.MOUNT_CMDS
                and ((words and target) or fstype)):
            # mount.cc gen_flag_rules: a propagation change names one mount point; with a
            # source and a mount point (or an fstype) nothing is encoded and the rule fails
            raise ctx.fail("source and mount point cannot be used at the same time for "
                           "propagation type flags", terms[0].tok)
        if operation == "mount":
            source, mountpoint = (words[0] if words else None), target
        else:
            source, mountpoint = None, (words[0] if words else None)
        return ast.MountRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                             operation=operation, options=conds.get("options", ()),
                             fstype=fstype, source=source, mountpoint=mountpoint)

    return parse


def _mount_options(t: Term, ctx: RuleContext) -> None:
    """mount.cc: every option is a known flag; `options=(...)` may not set and clear one."""
    for v in t.values:
        if v not in c.MOUNT_OPTIONS:
            raise ctx.fail(f"unsupported mount option '{v}'", t.tok)
    if t.op == "=":
        sets = {c.MOUNT_OPTIONS[v][0] for v in t.values} - {""}
        clears = {c.MOUNT_OPTIONS[v][1] for v in t.values} - {""}
        if sets & clears:
            raise ctx.fail(f"conflicting mount options ({', '.join(t.values)})", t.tok)


def _arrow_split(terms: list[Term], ctx: RuleContext, what: str) -> tuple[list[Term], str | None]:
    for i, t in enumerate(terms):
        if t.kind == "arrow":
            if i + 1 != len(terms) - 1 or terms[i + 1].kind != "word":
                raise ctx.fail(f"expected one profile name after '->' in {what} rule", t.tok)
            return terms[:i], terms[i + 1].value
    return terms, None


def pivot_root(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`pivot_root [oldroot=PATH] [NEWROOT] [-> PROFILE],`."""
    conds, _peer, rest = take_conds(terms, frozenset({"oldroot"}), ctx, "pivot_root",
                                multi=frozenset({"oldroot"}), in_ok=frozenset({"oldroot"}))
    rest, target = _arrow_split(rest, ctx, "pivot_root")
    if len(rest) > 1 or any(t.kind != "word" for t in rest):
        raise ctx.fail("unexpected term in pivot_root rule", rest[-1].tok)
    return ast.PivotRootRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                             oldroot=one(conds, "oldroot"),
                             newroot=rest[0].value if rest else None, target=target)


def change_profile(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`change_profile [safe|unsafe] [EXEC_PATH] [-> PROFILE],`."""
    rest, target = _arrow_split(terms, ctx, "change_profile")
    mode = None
    if rest and rest[0].kind == "word" and rest[0].value in ("safe", "unsafe"):
        mode = rest[0].value
        rest = rest[1:]
    if len(rest) > 1 or any(t.kind != "word" for t in rest):
        raise ctx.fail("unexpected term in change_profile rule", rest[-1].tok)
    if mode and not rest:
        raise ctx.fail(f"'{mode}' needs an exec path in change_profile rule", ctx_tok(terms))
    if rest and not rest[0].value.startswith(("/", "@{")):
        raise ctx.fail("Exec condition must begin with '/'.", rest[0].tok)
    if target is not None:
        why = c.label_error(target)
        if why:
            raise ctx.fail(why, terms[-1].tok)
    return ast.ChangeProfileRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                                 exec_mode=mode, exec_path=rest[0].value if rest else None,
                                 target=target)


_RLIMIT_NUMBER = re.compile(r"(-?[0-9]+)([A-Za-z_]*)")


def _rlimit_value(name: str, number: int, unit: str | None) -> str | None:
    """Why `set rlimit NAME <= NUMBER [UNIT]` is invalid, or None (parser_yacc.y's rlimit
    rule: time units for cpu/rttime, K/M/G[B] for sizes, none for counts)."""
    if name in ("cpu", "rttime"):
        if number < 0:
            return "invalid value"
        if unit is None:
            return None
        if unit not in c.TIME_UNITS_US:
            return "invalid value"
        if name == "cpu" and number * c.TIME_UNITS_US[unit] < 1_000_000:
            return "< minimum value of 1s"
        return None
    if name == "nice":
        if unit is not None:
            return "invalid value"
        return None if -20 <= number <= 19 else "out of range (-20 .. 19)"
    if name in c.RLIMIT_COUNTS:
        return "invalid value" if unit is not None or number < 0 else None
    if number < 0:
        return "invalid value"
    if unit is None or any(u.startswith(unit) for u in ("KB", "MB", "GB")):
        return None
    return "invalid value"


def rlimit(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`set rlimit RESOURCE <= VALUE [UNIT],`."""
    if len(terms) not in (3, 4) or terms[0].kind != "word" or terms[1].kind != "le" \
            or any(t.kind != "word" for t in terms[2:]):
        raise ctx.fail("expected 'set rlimit RESOURCE <= VALUE,'",
                       terms[0].tok if terms else ctx_dummy(ctx))
    name = terms[0].value
    value = " ".join(t.value for t in terms[2:])
    if name not in c.RLIMITS:
        raise ctx.fail(f"invalid rlimit '{name}'", terms[0].tok)
    if value != "infinity":
        m = _RLIMIT_NUMBER.fullmatch(terms[2].value)
        unit = (m.group(2) or None) if m else None
        if len(terms) == 4:
            if unit is not None or not terms[3].value.isalpha():
                m = None
            unit = terms[3].value
        why = _rlimit_value(name, int(m.group(1)), unit) if m else "invalid value"
        if why:
            raise ctx.fail(f"RLIMIT '{name}' {why} {value}", terms[2].tok)
    return ast.RlimitRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                          resource=name, value=value)


def userns(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`userns [create],` (parser_lex.l USERNS_MODE knows only `create`: no list, no
    conditionals)."""
    if terms and terms[0].kind == "word" and terms[0].value == "create" and not terms[0].quoted:
        access, rest = ("create",), terms[1:]
    else:
        access, rest = (), terms
    no_more(rest, ctx, "userns")
    return ast.UsernsRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers, access=access)


def io_uring(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`io_uring [sqpoll] [override_creds] [label=LABEL],`."""
    access: list[str] = []
    while terms and terms[0].kind in ("word", "list") and not terms[0].quoted:
        if terms[0].kind == "list":
            # parser_yacc.y io_uring_perm: an unknown word in ( ) adds no permission
            access.extend(v for v in terms[0].values if v in c.IO_URING_ACCESS)
            terms = terms[1:]
            continue
        got, terms = take_access(terms, c.IO_URING_ACCESS, ctx, "io_uring")
        if not got:
            break
        access.extend(got)
    conds, _peer, rest = take_conds(terms, frozenset({"label"}), ctx, "io_uring")
    no_more(rest, ctx, "io_uring")
    return ast.IoUringRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                           access=tuple(access), label=one(conds, "label"))


def mqueue(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`mqueue [access] [type=posix|sysv] [label=LABEL] [NAME],`."""
    access, terms = take_access(terms, c.MQUEUE_ACCESS, ctx, "mqueue")
    conds, _peer, rest = take_conds(terms, frozenset({"type", "label"}), ctx, "mqueue")
    mtype = one(conds, "type")
    if mtype not in (None, "posix", "sysv"):
        raise ctx.fail(f"mqueue invalid type='{mtype}'", terms[0].tok)
    if len(rest) > 1 or any(t.kind != "word" for t in rest):
        raise ctx.fail("unexpected term in mqueue rule", rest[-1].tok)
    if rest:
        # mqueue.cc validate_qname: a posix name starts with '/', a sysv key is a number
        name = rest[0].value
        implied = "posix" if name.startswith("/") else "sysv" if name.isdigit() else None
        if implied is None:
            raise ctx.fail(f"mqueue invalid name '{name}', message queue names must begin "
                           "with a / or be a positive integer.", rest[0].tok)
        if mtype not in (None, implied):
            raise ctx.fail(f"mqueue type={mtype} invalid name '{name}'", rest[0].tok)
    return ast.MqueueRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                          access=access, mqueue_type=mtype, label=one(conds, "label"),
                          name=rest[0].value if rest else None)


def all_rule(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`all,`."""
    no_more(terms, ctx, "all")
    return ast.AllRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers)


def link(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`link [subset] PATH -> TARGET,`."""
    subset = False
    if terms and terms[0].kind == "word" and terms[0].value == "subset" and not terms[0].quoted:
        subset = True
        terms = terms[1:]
    if len(terms) != 3 or terms[0].kind != "word" or terms[1].kind != "arrow" \
            or terms[2].kind != "word":
        raise ctx.fail("expected 'link [subset] PATH -> TARGET,'",
                       terms[0].tok if terms else ctx_dummy(ctx))
    return ast.LinkRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                        path=terms[0].value, target=terms[2].value, subset=subset)


def _number(text: str) -> int:
    value = int(text, 0)
    if not 0 <= value < 1 << 64:
        raise ValueError(text)
    return value


def _syscall_arg(t: Term, ctx: RuleContext) -> tuple[int, str, int, int]:
    """`argN=OP:VALUE[:VALUE2]` (masked_eq: VALUE is the mask, VALUE2 the expected bits)."""
    index = int(t.value[3:])
    parts = t.values[0].split(":") if len(t.values) == 1 else []
    try:
        op = parts[0]
        if op not in c.SYSCALL_ARG_OPS or len(parts) != (3 if op == "masked_eq" else 2):
            raise ValueError(op)
        return index, op, _number(parts[1]), _number(parts[2]) if op == "masked_eq" else 0
    except (ValueError, IndexError):
        raise ctx.fail(f"expected '{t.value}=OP:VALUE' (OP: "
                       + ", ".join(sorted(c.SYSCALL_ARG_OPS)) + "; masked_eq:MASK:VALUE)",
                       t.tok) from None


def syscall(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`syscall [default] [action=A] [errno=E] [argN=OP:V[:V2]]... [NAME | (NAMES)],`."""
    default = False
    names: list[str] = []
    action = "errno" if ctx.qualifiers.deny else "allow"
    err: str | None = None
    args: list[tuple[int, str, int, int]] = []
    for t in terms:
        if t.kind == "cond" and t.value == "action" and len(t.values) == 1:
            action = t.values[0]
            if action not in c.SYSCALL_ACTIONS:
                raise ctx.fail(f"invalid syscall action '{action}'", t.tok)
        elif t.kind == "cond" and t.value == "errno" and len(t.values) == 1:
            err = t.values[0]
        elif t.kind == "cond" and re.fullmatch(r"arg[0-5]", t.value) and not t.nested:
            args.append(_syscall_arg(t, ctx))
        elif t.kind == "word" and t.value == "default" and not t.quoted and not names:
            default = True
        elif t.kind == "word" and re.fullmatch(r"[a-z_][a-z0-9_]*", t.value):
            names.append(t.value)
        elif t.kind == "list" and all(re.fullmatch(r"[a-z_][a-z0-9_]*", v) for v in t.values):
            names.extend(t.values)
        else:
            raise ctx.fail(f"unexpected '{t.value or t.tok.value}' in syscall rule", t.tok)
    if default == bool(names):
        raise ctx.fail("a syscall rule names system calls or says 'default'",
                       terms[0].tok if terms else ctx_dummy(ctx))
    if len({a[0] for a in args}) != len(args):
        raise ctx.fail("each argument may be compared once per syscall rule",
                       terms[0].tok)
    if default and args:
        raise ctx.fail("the default action takes no argument comparisons", terms[0].tok)
    if err is not None and action == "allow":
        action = "errno"
    return ast.SyscallRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                           names=tuple(names), default=default, action=action, errno=err,
                           args=tuple(args))


#: Keyword -> parser of the terms after it.
PARSERS: dict[str, Callable[[list[Term], RuleContext], ast.Rule]] = {
    "capability": capability,
    "network": network,
    "signal": signal,
    "ptrace": ptrace,
    "unix": unix,
    "dbus": dbus,
    "mount": mount("mount"),
    "remount": mount("remount"),
    "umount": mount("umount"),
    "unmount": mount("umount"),
    "pivot_root": pivot_root,
    "change_profile": change_profile,
    "rlimit": rlimit,
    "userns": userns,
    "io_uring": io_uring,
    "mqueue": mqueue,
    "all": all_rule,
    "link": link,
    "syscall": syscall,
}
