"""Non-file rules (capability, network, signal, ...) from the terms between keyword and comma.

The statement parser splits a rule into `Term`s (words, `( lists )`, `key=value`
conditionals, `->`, `<=`); each function here turns the terms of one rule kind into its
typed dataclass, or raises a `PolicyError` at the offending term.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from stockade.policy import ast
from stockade.policy import constants as c
from stockade.policy.ast import Conds, Qualifiers, SourcePos
from stockade.policy.lexer import Token


@dataclass
class Term:
    """One term of a rule: kind is 'word', 'list', 'cond', 'arrow' or 'le'."""

    kind: str
    tok: Token
    value: str = ""
    values: tuple[str, ...] = ()
    nested: Conds = field(default_factory=dict)
    quoted: bool = False


Fail = Callable[[str, Token], Exception]


@dataclass
class RuleContext:
    """What every rule constructor needs besides its terms."""

    pos: SourcePos
    text: str
    qualifiers: Qualifiers
    fail: Fail


def _access(terms: list[Term], valid: frozenset[str], ctx: RuleContext, what: str) -> tuple[
    tuple[str, ...], list[Term]
]:
    """Leading access words (`send`, `(read, write)`), validated against `valid`."""
    if terms and terms[0].kind == "list":
        for v in terms[0].values:
            if v not in valid:
                raise ctx.fail(f"invalid {what} access '{v}'", terms[0].tok)
        return terms[0].values, terms[1:]
    if terms and terms[0].kind == "word" and not terms[0].quoted and terms[0].value in valid:
        return (terms[0].value,), terms[1:]
    return (), terms


def _conds(
    terms: list[Term], allowed: frozenset[str], ctx: RuleContext, what: str,
    peer_keys: frozenset[str] = frozenset(),
) -> tuple[Conds, Conds, list[Term]]:
    """Split `key=value` terms (validated) from the rest; `peer=(...)` goes to the peer dict."""
    conds: Conds = {}
    peer: Conds = {}
    rest: list[Term] = []
    for t in terms:
        if t.kind != "cond":
            rest.append(t)
            continue
        if t.value == "peer" and peer_keys:
            if t.nested:
                for k in t.nested:
                    if k not in peer_keys:
                        raise ctx.fail(f"invalid {what} peer conditional '{k}'", t.tok)
                peer.update(t.nested)
            else:
                peer["label"] = t.values
            continue
        if t.value not in allowed:
            raise ctx.fail(f"invalid {what} conditional '{t.value}'", t.tok)
        if t.nested:
            raise ctx.fail(f"'{t.value}' does not take nested conditionals", t.tok)
        conds[t.value] = t.values
    return conds, peer, rest


def _no_more(terms: list[Term], ctx: RuleContext, what: str) -> None:
    if terms:
        t = terms[0]
        shown = t.value or t.tok.value
        raise ctx.fail(f"unexpected '{shown}' in {what} rule", t.tok)


def _one(conds: Conds, key: str) -> str | None:
    vals = conds.get(key)
    return vals[0] if vals else None


def capability(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`capability [NAME ...],`."""
    names: list[str] = []
    for t in terms:
        if t.kind != "word" or t.value not in c.CAPABILITIES:
            raise ctx.fail(f"Invalid capability {t.value or t.tok.value}.", t.tok)
        names.append(t.value)
    return ast.CapabilityRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                              names=tuple(names))


def network(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`network [access] [family] [type] [protocol] [ip=.. port=.. peer=(...)],`."""
    access: tuple[str, ...] = ()
    if terms and (terms[0].kind == "list" or (
        terms[0].kind == "word" and terms[0].value in c.NETWORK_ACCESS
        and terms[0].value not in c.NETWORK_FAMILIES | c.NETWORK_TYPES
    )):
        access, terms = _access(terms, c.NETWORK_ACCESS, ctx, "network")
    conds, peer, rest = _conds(terms, frozenset({"ip", "port"}), ctx, "network",
                               frozenset({"ip", "port"}))
    family = sock_type = protocol = None
    for t in rest:
        v = t.value
        if t.kind == "word" and v in c.NETWORK_FAMILIES and family is None and not sock_type:
            family = v
        elif t.kind == "word" and v in c.NETWORK_TYPES and sock_type is None and not protocol:
            sock_type = v
        elif t.kind == "word" and v in c.NETWORK_PROTOCOLS and protocol is None:
            protocol = v
        else:
            raise ctx.fail(f"Invalid network entry '{v or t.tok.value}'", t.tok)
    return ast.NetworkRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                           access=access, family=family, sock_type=sock_type,
                           protocol=protocol, conds=conds, peer=peer)


def signal(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`signal [access] [set=(...)] [peer=LABEL],`."""
    access, terms = _access(terms, c.SIGNAL_ACCESS, ctx, "signal")
    conds, _peer, rest = _conds(terms, frozenset({"set", "peer"}), ctx, "signal")
    for name in conds.get("set", ()):
        if name not in c.SIGNALS:
            raise ctx.fail(f"unknown signal '{name}'", next(
                t.tok for t in terms if t.kind == "cond" and t.value == "set"))
    _no_more(rest, ctx, "signal")
    return ast.SignalRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                          access=access, signals=conds.get("set", ()),
                          peer=_one(conds, "peer"))


def ptrace(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`ptrace [access] [peer=LABEL],`."""
    access, terms = _access(terms, c.PTRACE_ACCESS, ctx, "ptrace")
    conds, _peer, rest = _conds(terms, frozenset({"peer"}), ctx, "ptrace")
    _no_more(rest, ctx, "ptrace")
    return ast.PtraceRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                          access=access, peer=_one(conds, "peer"))


def unix(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`unix [access] [conds] [peer=(label= addr=)],`."""
    access, terms = _access(terms, c.UNIX_ACCESS, ctx, "unix")
    conds, peer, rest = _conds(
        terms, frozenset({"type", "protocol", "addr", "label", "attr", "opt"}), ctx, "unix",
        frozenset({"label", "addr"}))
    _no_more(rest, ctx, "unix")
    return ast.UnixRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                        access=access, conds=conds, peer=peer)


def dbus(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`dbus [access] [bus= path= interface= member= name=] [peer=(name= label=)],`."""
    access, terms = _access(terms, c.DBUS_ACCESS, ctx, "dbus")
    conds, peer, rest = _conds(
        terms, frozenset({"bus", "path", "interface", "member", "name"}), ctx, "dbus",
        frozenset({"name", "label"}))
    _no_more(rest, ctx, "dbus")
    return ast.DbusRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                        access=access, conds=conds, peer=peer)


def mount(operation: str) -> Callable[[list[Term], RuleContext], ast.Rule]:
    """A parser for `mount`, `remount` or `umount` rules."""

    def parse(terms: list[Term], ctx: RuleContext) -> ast.Rule:
        conds, _peer, rest = _conds(
            terms, frozenset({"options", "fstype", "vfstype"}), ctx, operation)
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
        if operation == "mount":
            source, mountpoint = (words[0] if words else None), target
        else:
            source, mountpoint = None, (words[0] if words else None)
        return ast.MountRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                             operation=operation, options=conds.get("options", ()),
                             fstype=fstype, source=source, mountpoint=mountpoint)

    return parse


def _arrow_split(terms: list[Term], ctx: RuleContext, what: str) -> tuple[list[Term], str | None]:
    for i, t in enumerate(terms):
        if t.kind == "arrow":
            if i + 1 != len(terms) - 1 or terms[i + 1].kind != "word":
                raise ctx.fail(f"expected one profile name after '->' in {what} rule", t.tok)
            return terms[:i], terms[i + 1].value
    return terms, None


def pivot_root(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`pivot_root [oldroot=PATH] [NEWROOT] [-> PROFILE],`."""
    conds, _peer, rest = _conds(terms, frozenset({"oldroot"}), ctx, "pivot_root")
    rest, target = _arrow_split(rest, ctx, "pivot_root")
    if len(rest) > 1 or any(t.kind != "word" for t in rest):
        raise ctx.fail("unexpected term in pivot_root rule", rest[-1].tok)
    return ast.PivotRootRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                             oldroot=_one(conds, "oldroot"),
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
    return ast.ChangeProfileRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                                 exec_mode=mode, exec_path=rest[0].value if rest else None,
                                 target=target)


def ctx_tok(terms: list[Term]) -> Token:
    """The first token of a term list (for error positions)."""
    return terms[0].tok


_RLIMIT_VALUE = re.compile(
    r"^(infinity|-?\d+(?:[KMG]B?|[kmg]|b|us|ms|s|sec|seconds?|min(?:utes?)?|h(?:ours?)?"
    r"|d(?:ays?)?|weeks?)?)$"
)


def rlimit(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`rlimit RESOURCE <= VALUE,` (after `set`)."""
    if len(terms) != 3 or terms[0].kind != "word" or terms[1].kind != "le" \
            or terms[2].kind != "word":
        raise ctx.fail("expected 'set rlimit RESOURCE <= VALUE,'",
                       terms[0].tok if terms else ctx_dummy(ctx))
    name, value = terms[0].value, terms[2].value
    if name not in c.RLIMITS:
        raise ctx.fail(f"invalid rlimit '{name}'", terms[0].tok)
    if not _RLIMIT_VALUE.match(value):
        raise ctx.fail(f"invalid rlimit value '{value}'", terms[2].tok)
    return ast.RlimitRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                          resource=name, value=value)


def ctx_dummy(ctx: RuleContext) -> Token:
    """A token at the rule start, for errors with no better place."""
    from stockade.policy.lexer import T

    return Token(T.WORD, "", ctx.pos.line, ctx.pos.col, 0, 0)


def userns(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`userns [create],`."""
    access, rest = _access(terms, c.USERNS_ACCESS, ctx, "userns")
    _no_more(rest, ctx, "userns")
    return ast.UsernsRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers, access=access)


def io_uring(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`io_uring [sqpoll] [override_creds] [label=LABEL],`."""
    access: list[str] = []
    while terms and terms[0].kind in ("word", "list") and not terms[0].quoted:
        got, terms = _access(terms, c.IO_URING_ACCESS, ctx, "io_uring")
        if not got:
            break
        access.extend(got)
    conds, _peer, rest = _conds(terms, frozenset({"label"}), ctx, "io_uring")
    _no_more(rest, ctx, "io_uring")
    return ast.IoUringRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                           access=tuple(access), label=_one(conds, "label"))


def mqueue(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`mqueue [access] [type=posix|sysv] [label=LABEL] [NAME],`."""
    access, terms = _access(terms, c.MQUEUE_ACCESS, ctx, "mqueue")
    conds, _peer, rest = _conds(terms, frozenset({"type", "label"}), ctx, "mqueue")
    mtype = _one(conds, "type")
    if mtype not in (None, "posix", "sysv"):
        raise ctx.fail(f"invalid mqueue type '{mtype}'", terms[0].tok)
    if len(rest) > 1 or any(t.kind != "word" for t in rest):
        raise ctx.fail("unexpected term in mqueue rule", rest[-1].tok)
    return ast.MqueueRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                          access=access, mqueue_type=mtype, label=_one(conds, "label"),
                          name=rest[0].value if rest else None)


def all_rule(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`all,`."""
    _no_more(terms, ctx, "all")
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
