"""The terms of a non-file rule and the helpers every rule class parses them with.

The statement parser splits a rule into `Term`s (words, `( lists )`, `key=value`
conditionals, `->`, `<=`); the rule classes take their accesses and conditionals from them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from stockade.policy.ast import Conds, Qualifiers, SourcePos
from stockade.policy.lexer import T, Token


@dataclass
class Term:
    """One term of a rule: kind is 'word', 'list', 'cond', 'arrow' or 'le'."""

    kind: str
    tok: Token
    value: str = ""
    values: tuple[str, ...] = ()
    nested: Conds = field(default_factory=dict)
    quoted: bool = False
    op: str = "="
    paren: bool = False


Fail = Callable[[str, Token], Exception]


@dataclass
class RuleContext:
    """What every rule constructor needs besides its terms."""

    pos: SourcePos
    text: str
    qualifiers: Qualifiers
    fail: Fail


def take_access(terms: list[Term], valid: frozenset[str], ctx: RuleContext, what: str) -> tuple[
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


def take_conds(
    terms: list[Term], allowed: frozenset[str], ctx: RuleContext, what: str,
    peer_keys: frozenset[str] = frozenset(), multi: frozenset[str] = frozenset(),
    in_ok: frozenset[str] = frozenset(), single: bool = False,
) -> tuple[Conds, Conds, list[Term]]:
    """Split `key=value` terms (validated) from the rest; `peer=(...)` goes to the peer dict.

    `key in (...)` is only taken for the keys in `in_ok` (the rule classes say "keyword
    'in' is not allowed"); with `single`, a conditional takes one value (dbus.cc)."""
    conds: Conds = {}
    peer: Conds = {}
    rest: list[Term] = []
    for t in terms:
        if t.kind == "cond" and t.op == "in" and t.value not in in_ok:
            raise ctx.fail(f"keyword \"in\" is not allowed in {what} rules", t.tok)
        if t.kind == "cond" and t.value == "peer" and t.paren and not peer_keys:
            # parser_lex.l lexes `peer=(` as a conditional group, which only network,
            # unix and dbus rules take
            raise ctx.fail(f"{what} rules take no peer=(...) group (use peer=LABEL)", t.tok)
        if t.kind == "cond" and single and len(t.values) > 1:
            raise ctx.fail(f"{what} conditional \"{t.value}\" only supports a single value",
                           t.tok)
        if t.kind != "cond":
            rest.append(t)
            continue
        if t.paren and not t.values and not t.nested:
            raise ctx.fail(f"'{t.value}=()' needs a value", t.tok)
        if t.value == "peer" and peer_keys:
            if not t.paren:
                raise ctx.fail(f'invalid {what} conditional "peer" (use peer=(...))', t.tok)
            if peer:
                raise ctx.fail(f"{what} conditional \"peer\" can only be specified once", t.tok)
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
        if t.value in conds and t.value not in multi:
            # parser_misc.c move_conditional_value
            raise ctx.fail(f"{what} conditional \"{t.value}\" can only be specified once",
                           t.tok)
        conds[t.value] = conds.get(t.value, ()) + t.values
    return conds, peer, rest


def no_more(terms: list[Term], ctx: RuleContext, what: str) -> None:
    if terms:
        t = terms[0]
        shown = t.value or t.tok.value
        raise ctx.fail(f"unexpected '{shown}' in {what} rule", t.tok)


def one(conds: Conds, key: str) -> str | None:
    vals = conds.get(key)
    return vals[0] if vals else None


def ctx_dummy(ctx: RuleContext) -> Token:
    """A token at the rule start, for errors with no better place."""
    return Token(T.WORD, "", ctx.pos.line, ctx.pos.col, 0, 0)


def ctx_tok(terms: list[Term]) -> Token:
    """The first token of a term list (for error positions)."""
    return terms[0].tok
