"""Import a kernel binary policy (e.g. Debian's policy.33) into a compiled `Policy`.

SETools reads the binary format; it belongs to the system Python, so `setools_dump.py` runs
there as an isolated subprocess (setools_helper.py) and returns JSON through a pipe, which is
cached (by `DUMP_CACHE`: the CLI's private, keyring-authenticated store) keyed by, and bound
to, the SHA-256 of the policy's bytes and the dump format.
Everything else is built here, into the same structures the CIL compiler produces.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from stockade.errors import StockadeError
from stockade.files import require_input
from stockade.modules.selinux import setools_dump
from stockade.modules.selinux.mls import MlsError
from stockade.modules.selinux.policy import (
    AvRule,
    ClassDef,
    CondExpr,
    Constraint,
    ConstraintExpr,
    Policy,
    PolicyError,
    TypeRule,
    UserDef,
    eval_cond,
)

MAX_POLICY_BYTES = 256 << 20  # held in memory once, and once more in the helper's memfd
_COND_OPS = {"!": "not", "&&": "and", "||": "or", "^": "xor", "==": "eq", "!=": "neq"}
_CONSTRAINT_OPS = {"==": "eq", "!=": "neq", "dom": "dom", "domby": "domby", "incomp": "incomp"}


def read_policy(path: str) -> bytes:
    """The bytes of the policy file, read once: they are hashed and dumped (a file rewritten
    between a hash and a second read would have its hash name another policy's dump)."""
    require_input(path, "policy")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_POLICY_BYTES + 1)
    except OSError as err:
        raise StockadeError(f"cannot read policy {path}: {err.strerror}") from None
    if len(data) > MAX_POLICY_BYTES:
        raise StockadeError(f"policy {path} is larger than {MAX_POLICY_BYTES >> 20} MiB "
                            "(Debian's policy.33 is 2 MiB)")
    return data


#: opens the cache of dumps (enforce/plan/cache/dumps.py: private, authenticated with the
#: kernel keyring's key), set by the CLI; None: no cache (a dump file a sandbox could rewrite
#: decides what later runs allow: red team 12)
DUMP_CACHE: Callable[[], Any] | None = None


def dump_policy(path: str, *, use_cache: bool = True) -> dict[str, Any]:
    """The SETools dump of a binary policy, from the cache when it is there. A cached dump
    is taken only as the dump of these bytes in this format (`identity`: red team 13)."""
    policy = read_policy(path)
    digest = hashlib.sha256(policy).hexdigest()
    name = f"{digest[:32]}-v{setools_dump.FORMAT}.json"
    identity = {"policy_sha256": digest, "format": setools_dump.FORMAT}
    cache = DUMP_CACHE() if use_cache and DUMP_CACHE is not None else None
    try:
        if cache is not None:
            found = cache.load(name, identity)
            if isinstance(found, dict):
                return found
        data = _dump(policy, path)
        if cache is not None:
            cache.save(name, data, identity)
        return data
    finally:
        if cache is not None:
            cache.close()


def _dump(policy: bytes, path: str) -> dict[str, Any]:
    """The helper's dump of `policy` (setools_helper.py: isolated, through a pipe)."""
    from stockade.modules.selinux.setools_helper import dump_bytes

    try:
        data = json.loads(dump_bytes(policy, path))
    except ValueError as err:
        raise StockadeError(f"the setools dump of {path} is not JSON: {err}") from None
    if not isinstance(data, dict) or data.get("format") != setools_dump.FORMAT:
        raise StockadeError(f"the setools dump of {path} is not of format {setools_dump.FORMAT}")
    return data


def _cond(tokens: list[str], booleans: dict[str, bool]) -> CondExpr:
    stack: list[CondExpr] = []
    for tok in tokens:
        if tok in _COND_OPS:
            if tok == "!":
                stack.append(("not", stack.pop()))
            else:
                b, a = stack.pop(), stack.pop()
                stack.append((_COND_OPS[tok], a, b))
        elif tok in booleans:
            stack.append(("bool", tok))
        else:
            raise PolicyError(f"unknown token {tok!r} in a conditional expression")
    if len(stack) != 1:
        raise PolicyError(f"malformed conditional expression {tokens}")
    return stack[0]


def _constraint(tokens: list[Any], policy: Policy) -> ConstraintExpr:
    stack: list[Any] = []
    for tok in tokens:
        if isinstance(tok, list):
            stack.append(tok)
        elif tok in ("and", "or"):
            b, a = stack.pop(), stack.pop()
            stack.append((tok, a, b))
        elif tok == "not":
            stack.append(("not", stack.pop()))
        elif tok in _CONSTRAINT_OPS:
            right, left = stack.pop(), stack.pop()
            if isinstance(right, list):
                if left[0] == "t":
                    ids: set[int] = set()
                    for name in right:
                        ids |= policy.expand(policy.type_id(name))
                    right = frozenset(ids)
                else:
                    right = frozenset(right)
            stack.append(("op", _CONSTRAINT_OPS[tok], left, right))
        else:
            stack.append(tok)
    if len(stack) != 1:
        raise PolicyError(f"malformed constraint expression {tokens}")
    return stack[0]


def build_policy(data: dict[str, Any], source: str = "") -> Policy:
    """A compiled policy from a SETools dump."""
    p = Policy()
    p.sources = [source] if source else []
    p.handle_unknown = data.get("handle_unknown", "deny")
    if data["mls"]:
        p.mls.sensitivities = list(data["sensitivities"])
        p.mls.categories = list(data["categories"])
        p.mls.finish()
        for sens, cats in data["sens_cats"].items():
            mask = 0
            for c in cats:
                mask |= 1 << p.mls.cat(c)
            p.mls.sens_cats[p.mls.sens(sens)] = mask
    for name, aliases, permissive in data["types"]:
        tid = p.add_type(name)
        for alias in aliases:
            p.aliases[alias] = name
        if permissive:
            p.permissive.add(tid)
    for name, members in data["attributes"].items():
        aid = p.add_type(name, attribute=True)
        p.members[aid] = frozenset(p.type_ids[m] for m in members)
    for name, (common, common_perms, perms) in data["classes"].items():
        cdef = ClassDef(name, common=common)
        for perm in [*common_perms, *perms]:
            cdef.add(perm)
        p.classes[name] = cdef
    p.booleans = dict(data["booleans"])
    p.bool_defaults = dict(data["booleans"])
    for role, types in data["roles"].items():
        p.roles[role] = {p.type_ids[t] for t in types}
    for user, (roles, level, rng) in data["users"].items():
        udef = UserDef(set(roles))
        if level:
            udef.level = p.mls.parse_level(level.replace(" ", ""))
            udef.range = p.mls.parse_range(rng.replace(" ", ""))
        p.users[user] = udef
    p.role_allow = {(a, b) for a, b in data["role_allow"]}
    for role, target, tclass, new in data["role_trans"]:
        for t in p.expand(p.type_id(target)):
            p.role_trans[(role, t, tclass)] = new
    conds = [_cond(tokens, p.booleans) for tokens in data["conditions"]]
    for i, (kind, src, tgt, tclass, payload, cond_index, branch, name) in enumerate(data["rules"]):
        origin = f"{source or 'policy'}#terule{i}"
        s, t = p.type_id(src), p.type_id(tgt)
        cond = conds[cond_index] if cond_index >= 0 else None
        if isinstance(payload, list):
            mask = p.classes[tclass].mask(payload)
            p.add_rule(AvRule(kind, s, t, tclass, mask, origin, cond, branch))
        elif kind in ("type_transition", "type_change", "type_member"):
            new = p.type_id(payload)
            p.type_rules.append(TypeRule(kind, s, t, tclass, new, name, cond, branch))
            if cond is not None and eval_cond(cond, p.booleans) != branch:
                continue
            table = {"type_change": p.type_change, "type_member": p.type_member}.get(kind)
            for ss in p.expand(s):
                for tt in p.expand(t):
                    if table is not None:
                        table[(ss, tt, tclass)] = new
                    elif name:
                        p.name_trans[(ss, tt, tclass, name)] = new
                    else:
                        p.type_trans[(ss, tt, tclass)] = new
    for parent, child in data.get("typebounds", []):
        p.typebounds[p.type_id(child)] = p.type_id(parent)
    for i, (kind, tclass, perms, expr) in enumerate(data["constraints"]):
        mask = p.classes[tclass].mask(perms)
        p.constraints.setdefault(tclass, []).append(
            Constraint(tclass, mask, _constraint(expr, p), kind == "mlsconstrain",
                       f"{source or 'policy'}#constraint{i}"))
    if data["mls"]:
        for src, tgt, tclass, rng in data["range_trans"]:
            value = p.mls.parse_range(rng.replace(" ", ""))
            for ss in p.expand(p.type_id(src)):
                for tt in p.expand(p.type_id(tgt)):
                    p.range_trans[(ss, tt, tclass)] = value
    for proto, low, high, ctx in data["portcons"]:
        p.portcons.append((proto, low, high, p.parse_context(ctx)))
    for sid, ctx in data["sids"].items():
        try:
            p.sid_contexts[sid] = p.parse_context(ctx)
        except PolicyError:
            continue  # unused initial SIDs carry placeholder contexts
    for fs, ctx in data["fs"].items():
        p.fs_contexts[fs] = p.parse_context(ctx)
    p.finish()
    return p


def import_policy(path: str, *, use_cache: bool = True) -> Policy:
    """Import a binary policy file (through SETools, cached)."""
    try:
        return build_policy(dump_policy(path, use_cache=use_cache), path)
    except (PolicyError, MlsError, KeyError) as err:
        raise StockadeError(f"cannot import {path}: {err}") from None
