"""Socket rules: `network` (network.cc) and `unix` (af_rule.cc, af_unix.cc)."""

from __future__ import annotations

import ipaddress

from stockade.policy import ast
from stockade.policy import constants as c
from stockade.policy.ast import Conds
from stockade.policy.lexer import Token
from stockade.policy.ruleterms import (
    RuleContext,
    Term,
    ctx_dummy,
    no_more,
    take_access,
    take_conds,
)


def _ip_ok(value: str) -> bool:
    """`ip=` as network.cc parse_address: `none`, or an address inet_pton accepts."""
    if value == "none":
        return True
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return "%" not in value


def _port_ok(value: str) -> bool:
    """`port=` as network.cc parse_port: N or an ordered range N-M, each at most 65535."""
    parts = value.split("-", 1)
    if not all(p.isdigit() and p.isascii() and int(p) <= 65535 for p in parts):
        return False
    return len(parts) == 1 or int(parts[0]) <= int(parts[1])


def _check_ip_conds(conds: Conds, tok: Token, ctx: RuleContext, peer: bool) -> None:
    for key, vals in conds.items():
        if len(vals) != 1:
            raise ctx.fail(f"network conditional '{key}' takes one value", tok)
        if key == "ip" and not _ip_ok(vals[0]):
            raise ctx.fail(f"network invalid ip='{vals[0]}'", tok)
        if key == "port" and not _port_ok(vals[0]):
            raise ctx.fail(f"network invalid port='{vals[0]}'", tok)
        if key == "interface" and peer:
            raise ctx.fail("interface cannot be set for peer in network rules", tok)


def _peer_access_ok(access: tuple[str, ...], peer: Conds, tok: Token, ctx: RuleContext,
                    what: str) -> None:
    """network.cc/af_unix.cc: only accesses that have a peer may take peer conditionals."""
    if peer and access and any(a not in c.PEER_NET_ACCESS for a in access):
        raise ctx.fail(f"{what} 'create', 'shutdown', 'setattr', 'getattr', 'bind', 'listen', "
                       "'setopt', and/or 'getopt' accesses cannot be used with peer socket "
                       "conditionals", tok)


def _cond_tok(terms: list[Term], key: str, default: Token) -> Token:
    return next((t.tok for t in terms if t.kind == "cond" and t.value == key), default)


def network(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`network [access] [family [type|protocol] | type] [ip= port= interface= label=]
    [peer=(ip= port= label=)],` (parser_yacc.y network_rule, network.cc)."""
    access: tuple[str, ...] = ()
    all_terms = terms
    if terms and (terms[0].kind == "list" or (
        terms[0].kind == "word" and terms[0].value in c.NETWORK_ACCESS
        and terms[0].value not in c.NETWORK_FAMILIES | c.NETWORK_TYPES
    )):
        access, terms = take_access(terms, c.NETWORK_ACCESS, ctx, "network")
    words: list[Term] = []
    while terms and terms[0].kind == "word":
        words.append(terms.pop(0))
    conds, peer, rest = take_conds(terms, c.NETWORK_CONDS, ctx, "network", c.NETWORK_PEER_CONDS,
                               in_ok=frozenset({"label"}))
    if rest:
        raise ctx.fail(f"Invalid network entry '{rest[0].value or rest[0].tok.value}'",
                       rest[0].tok)
    if len(words) > 2:
        raise ctx.fail(f"Invalid network entry '{words[2].value}'", words[2].tok)
    family = sock_type = protocol = None
    names = [w.value for w in words]
    if len(names) == 2:
        fam, second = names
        if fam not in c.NETWORK_FAMILIES or not (
                second in c.NETWORK_TYPES or second in c.NETWORK_PROTO_TYPES.get(fam, ())):
            raise ctx.fail(f"Invalid network entry '{fam} {second}'", words[0].tok)
        family = fam
        if second in c.NETWORK_TYPES:
            sock_type = second
        else:
            protocol = second
    elif names:
        name = names[0]
        if name in c.NETWORK_FAMILIES:
            family = name
        elif name in c.NETWORK_TYPES:
            sock_type = name
        elif any(name in p for p in c.NETWORK_PROTO_TYPES.values()):
            protocol = name
        else:
            raise ctx.fail(f"Invalid network entry '{name}'", words[0].tok)
    tok = words[0].tok if words else (all_terms[0].tok if all_terms else ctx_dummy(ctx))
    if (conds or peer) and family not in (None, "inet", "inet6"):
        raise ctx.fail("network family does not support local or peer conditionals", tok)
    _check_ip_conds(conds, _cond_tok(all_terms, "ip", tok), ctx, peer=False)
    _check_ip_conds(peer, _cond_tok(all_terms, "peer", tok), ctx, peer=True)
    _peer_access_ok(access, peer, tok, ctx, "network")
    return ast.NetworkRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                           access=access, family=family, sock_type=sock_type,
                           protocol=protocol, conds=conds, peer=peer)


def unix(terms: list[Term], ctx: RuleContext) -> ast.Rule:
    """`unix [access] [type= addr=] [peer=(label= addr=)],` (af_rule.cc, af_unix.cc):
    `label` only in the peer, `type` one socket type, `protocol` not supported."""
    all_terms = terms
    access, terms = take_access(terms, c.UNIX_ACCESS, ctx, "unix")
    conds, peer, rest = take_conds(terms, frozenset({"type", "addr", "label", "protocol"}), ctx,
                               "unix", frozenset({"label", "addr", "type", "protocol"}))
    no_more(rest, ctx, "unix")
    tok = all_terms[0].tok if all_terms else ctx_dummy(ctx)
    for side, found in (("", conds), ("peer ", peer)):
        for key, vals in found.items():
            ktok = _cond_tok(all_terms, "peer" if side else key, tok)
            if key == "protocol":
                raise ctx.fail("unix rule: 'protocol' conditional is not currently supported",
                               ktok)
            if key == "label" and not side:
                raise ctx.fail("unix rule: 'label' conditional is only valid in the peer "
                               "expression", ktok)
            if key == "type" and side:
                raise ctx.fail("unix rule: 'type' conditional is not allowed in the peer "
                               "expression", ktok)
            if len(vals) != 1:
                raise ctx.fail(f"unix rule: conditional '{key}' only supports a single value",
                               ktok)
            if key == "type" and vals[0] not in c.SOCKET_TYPES:
                raise ctx.fail(f"socket rule: invalid socket type '{vals[0]}'", ktok)
            if key == "addr" and not (vals[0].startswith("@") or vals[0] in ("none", "auto")):
                # af_unix.cc: an abstract address (@name), none (anonymous) or auto
                raise ctx.fail(f"unix rule: invalid value for addr='{vals[0]}'", ktok)
    _peer_access_ok(access, peer, tok, ctx, "unix socket")
    return ast.UnixRule(pos=ctx.pos, text=ctx.text, qualifiers=ctx.qualifiers,
                        access=access, conds=conds, peer=peer)
