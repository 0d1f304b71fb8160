"""The compiled policy: types and attributes, classes, the access vector table, RBAC, MLS.

Built by `cil.build` from CIL text or by `importer` from a kernel binary policy, queried like
the kernel's security server (security/selinux/ss/services.c): `compute_av` is
`context_struct_compute_av` (TE rules through the type-attribute map, then constraints, then
the role-allow check on process transitions); `compute_create` is `security_compute_sid`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from stockade.errors import StockadeError
from stockade.modules.selinux.mls import Level, MlsError, MlsSpec, Range

SELF = -1  # the target of `allow X self ...`
OBJECT_R = "object_r"
ALLOW, AUDITALLOW, DONTAUDIT, NEVERALLOW = "allow", "auditallow", "dontaudit", "neverallow"

# A boolean expression: ("bool", name) | ("not", e) | (op, a, b) with op in and/or/xor/eq/neq.
CondExpr = tuple
# A constraint expression: ("and"|"or", a, b) | ("not", a) | ("op", op, left, right), where
# right is an operand name (u2, t2, l2, h1, ...) or a frozenset of names (type ids for t).
ConstraintExpr = tuple


class PolicyError(StockadeError):
    """A policy that cannot be built or a context that is not valid in it."""


def is_socket_class(tclass: str) -> bool:
    """Whether the kernel treats the class as a socket (security_is_socket_class)."""
    return tclass == "socket" or tclass.endswith("_socket")


@dataclass
class ClassDef:
    """An object class and its permissions (common ones first), each a bit."""

    name: str
    perms: dict[str, int] = field(default_factory=dict)
    common: str = ""

    @property
    def all(self) -> int:
        """Every permission of the class."""
        return (1 << len(self.perms)) - 1

    def add(self, perm: str) -> None:
        """Declare one more permission."""
        if perm not in self.perms:
            self.perms[perm] = 1 << len(self.perms)

    def mask(self, names: Iterable[str]) -> int:
        """The bits of `names`; an unknown permission is a PolicyError."""
        bits = 0
        for name in names:
            try:
                bits |= self.perms[name]
            except KeyError:
                raise PolicyError(f"class {self.name} has no permission {name!r}") from None
        return bits

    def names(self, mask: int) -> list[str]:
        """The permission names in `mask`, in declaration order."""
        return [name for name, bit in self.perms.items() if mask & bit]


@dataclass(frozen=True, slots=True)
class AvRule:
    """One access vector rule as written (attributes not expanded)."""

    kind: str
    source: int
    target: int  # a type/attribute id or SELF
    tclass: str
    mask: int
    origin: str = ""
    cond: CondExpr | None = None
    branch: bool = True


@dataclass(frozen=True, slots=True)
class TypeRule:
    """A type_transition, type_change or type_member rule as written (conditional ones kept)."""

    kind: str
    source: int
    target: int
    tclass: str
    default: int
    name: str = ""
    cond: CondExpr | None = None
    branch: bool = True


@dataclass(frozen=True, slots=True)
class Constraint:
    """A `constrain` or `mlsconstrain` on some permissions of a class."""

    tclass: str
    mask: int
    expr: ConstraintExpr
    mls: bool
    origin: str = ""


@dataclass(frozen=True, slots=True)
class Context:
    """A security context `user:role:type[:range]`."""

    user: str
    role: str
    type: str
    range: Range | None = None
    mls_text: str = ""

    def __str__(self) -> str:
        base = f"{self.user}:{self.role}:{self.type}"
        return f"{base}:{self.mls_text}" if self.mls_text else base


@dataclass
class UserDef:
    """A SELinux user: its roles, default level and clearance range."""

    roles: set[str] = field(default_factory=set)
    level: Level | None = None
    range: Range | None = None


@dataclass(frozen=True, slots=True)
class AvDecision:
    """What security_compute_av returns: allowed, auditallow and auditdeny vectors."""

    allowed: int
    auditallow: int
    auditdeny: int
    permissive: bool = False


def eval_cond(expr: CondExpr, bools: dict[str, bool]) -> bool:
    """Evaluate a booleanif expression."""
    op = expr[0]
    if op == "bool":
        return bools[expr[1]]
    if op == "not":
        return not eval_cond(expr[1], bools)
    a, b = eval_cond(expr[1], bools), eval_cond(expr[2], bools)
    return {"and": a and b, "or": a or b, "xor": a != b, "eq": a == b, "neq": a != b}[op]


class Policy:
    """A compiled policy; build it with the `add_*` methods, then call `finish()`."""

    def __init__(self) -> None:
        self.type_ids: dict[str, int] = {}
        self.type_names: list[str] = []
        self.attributes: set[int] = set()
        self.aliases: dict[str, str] = {}
        self.members: dict[int, frozenset[int]] = {}  # attribute id -> type ids
        self.classes: dict[str, ClassDef] = {}
        self.rules: list[AvRule] = []
        self.booleans: dict[str, bool] = {}
        self.bool_defaults: dict[str, bool] = {}
        self.type_trans: dict[tuple[int, int, str], int] = {}
        self.name_trans: dict[tuple[int, int, str, str], int] = {}
        self.range_trans: dict[tuple[int, int, str], Range] = {}
        # type_change (relabel) and type_member rules whose condition holds, expanded
        self.type_change: dict[tuple[int, int, str], int] = {}
        self.type_member: dict[tuple[int, int, str], int] = {}
        self.type_rules: list[TypeRule] = []  # every type rule as written
        self.typebounds: dict[int, int] = {}  # bounded type -> its bounding (parent) type
        self.role_trans: dict[tuple[str, int, str], str] = {}
        self.role_allow: set[tuple[str, str]] = set()
        self.roles: dict[str, set[int]] = {OBJECT_R: set()}
        self.users: dict[str, UserDef] = {}
        self.constraints: dict[str, list[Constraint]] = {}
        self.permissive: set[int] = set()
        self.mls = MlsSpec()
        self.portcons: list[tuple[str, int, int, Context]] = []
        self.sid_contexts: dict[str, Context] = {}
        self.fs_contexts: dict[str, Context] = {}
        self.sources: list[str] = []
        self.handle_unknown = "deny"
        self._attr_map: list[frozenset[int]] = []
        self._av: dict[tuple[int, str], dict[int, list[int]]] = {}
        self._self_av: dict[tuple[int, str], list[int]] = {}

    # -- declarations ----------------------------------------------------------------------

    def add_type(self, name: str, *, attribute: bool = False) -> int:
        """Declare a type or an attribute; redeclaring the same kind is harmless."""
        if name in self.type_ids:
            return self.type_ids[name]
        tid = len(self.type_names)
        self.type_ids[name] = tid
        self.type_names.append(name)
        if attribute:
            self.attributes.add(tid)
            self.members[tid] = frozenset()
        return tid

    def type_id(self, name: str) -> int:
        """The id of a type, alias or attribute."""
        tid = self.type_ids.get(self.aliases.get(name, name))
        if tid is None:
            raise PolicyError(f"unknown type {name!r}")
        return tid

    def has_type(self, name: str) -> bool:
        """True for a declared type, alias or attribute."""
        return self.aliases.get(name, name) in self.type_ids

    def expand(self, tid: int) -> frozenset[int]:
        """The types an id stands for: itself, or an attribute's members."""
        return self.members[tid] if tid in self.attributes else frozenset((tid,))

    def concrete_types(self) -> list[int]:
        """Every type id that is not an attribute."""
        return [t for t in range(len(self.type_names)) if t not in self.attributes]

    def attrs_of(self, tid: int) -> frozenset[int]:
        """The type itself and every attribute it belongs to (the kernel's type_attr_map)."""
        return self._attr_map[tid]

    # -- build -----------------------------------------------------------------------------

    def add_rule(self, rule: AvRule) -> None:
        """Add an access vector rule (call `finish()` afterwards)."""
        self.rules.append(rule)

    def finish(self) -> None:
        """Compute the type-attribute map and the access vector table; check neverallows."""
        self.mls.finish()
        attr_of: dict[int, set[int]] = {t: {t} for t in range(len(self.type_names))}
        for attr, types in self.members.items():
            for t in types:
                attr_of[t].add(attr)
        self._attr_map = [frozenset(attr_of[t]) for t in range(len(self.type_names))]
        self.check_neverallow()
        self.rebuild_av()

    def rebuild_av(self) -> None:
        """The access vector table for the current boolean values."""
        av: dict[tuple[int, str], dict[int, list[int]]] = {}
        self_av: dict[tuple[int, str], list[int]] = {}
        slot = {ALLOW: 0, AUDITALLOW: 1, DONTAUDIT: 2}
        for rule in self.rules:
            index = slot.get(rule.kind)
            if index is None:
                continue
            if rule.cond is not None and eval_cond(rule.cond, self.booleans) != rule.branch:
                continue
            if rule.target == SELF:
                vec = self_av.setdefault((rule.source, rule.tclass), [0, 0, 0])
            else:
                row = av.setdefault((rule.source, rule.tclass), {})
                vec = row.get(rule.target)
                if vec is None:
                    vec = row[rule.target] = [0, 0, 0]
            vec[index] |= rule.mask
        self._av, self._self_av = av, self_av

    def check_neverallow(self) -> None:
        """A load error naming the neverallow and an allow rule that violates it."""
        nevers = [r for r in self.rules if r.kind == NEVERALLOW]
        if not nevers:
            return
        allows = [r for r in self.rules if r.kind == ALLOW]
        for never in nevers:
            n_src = self.expand(never.source)
            for rule in allows:
                if rule.tclass != never.tclass or not rule.mask & never.mask:
                    continue
                src = self.expand(rule.source) & n_src
                if not src:
                    continue
                if never.target == SELF:
                    tgt = src if rule.target == SELF else src & self.expand(rule.target)
                elif rule.target == SELF:
                    tgt = src & self.expand(never.target)
                else:
                    tgt = self.expand(rule.target) & self.expand(never.target)
                if tgt:
                    perms = " ".join(self.classes[rule.tclass].names(rule.mask & never.mask))
                    raise PolicyError(
                        f"{never.origin}: neverallow violated by the allow rule at {rule.origin} "
                        f"({self.type_names[min(src)]} -> {self.type_names[min(tgt)]} "
                        f"{rule.tclass} {{ {perms} }})")

    def set_boolean(self, name: str, value: bool) -> None:
        """Change a boolean and recompute the conditional rules."""
        if name not in self.booleans:
            raise PolicyError(f"unknown boolean {name!r}")
        if self.booleans[name] != value:
            self.booleans[name] = value
            self.rebuild_av()

    # -- decisions -------------------------------------------------------------------------

    def te_av(self, stype: int, ttype: int, tclass: str) -> tuple[int, int, int]:
        """(allowed, auditallow, dontaudit) from the TE rules, attributes expanded."""
        allowed = auditallow = dontaudit = 0
        t_attrs = self._attr_map[ttype]
        av = self._av
        for s in self._attr_map[stype]:
            row = av.get((s, tclass))
            if row is None:
                continue
            for t in row.keys() & t_attrs:
                vec = row[t]
                allowed |= vec[0]
                auditallow |= vec[1]
                dontaudit |= vec[2]
        if stype == ttype:
            for s in self._attr_map[stype]:
                vec = self._self_av.get((s, tclass))
                if vec is not None:
                    allowed |= vec[0]
                    auditallow |= vec[1]
                    dontaudit |= vec[2]
        return allowed, auditallow, dontaudit

    def compute_av(self, scon: Context, tcon: Context, tclass: str) -> AvDecision:
        """security_compute_av: TE, then constraints, then the role-allow check."""
        cls = self.classes.get(tclass)
        if cls is None:
            raise PolicyError(f"unknown class {tclass!r}")
        stype, ttype = self.type_id(scon.type), self.type_id(tcon.type)
        allowed, auditallow, dontaudit = self.te_av(stype, ttype, tclass)
        if allowed:
            for con in self.constraints.get(tclass, ()):
                if con.mask & allowed and not self.eval_constraint(con.expr, scon, tcon):
                    allowed &= ~con.mask
        if tclass == "process" and scon.role != tcon.role and allowed:
            trans = cls.perms.get("transition", 0) | cls.perms.get("dyntransition", 0)
            if allowed & trans and (scon.role, tcon.role) not in self.role_allow:
                allowed &= ~trans
        return AvDecision(allowed, auditallow, cls.all & ~dontaudit, stype in self.permissive)

    def failing_constraints(self, scon: Context, tcon: Context, tclass: str,
                            mask: int) -> list[Constraint]:
        """The constraints that remove some of `mask` (for explanations)."""
        return [c for c in self.constraints.get(tclass, ())
                if c.mask & mask and not self.eval_constraint(c.expr, scon, tcon)]

    def eval_constraint(self, expr: ConstraintExpr, scon: Context, tcon: Context) -> bool:
        """constraint_expr_eval()."""
        op = expr[0]
        if op == "and":
            return self.eval_constraint(expr[1], scon, tcon) and self.eval_constraint(expr[2], scon, tcon)
        if op == "or":
            return self.eval_constraint(expr[1], scon, tcon) or self.eval_constraint(expr[2], scon, tcon)
        if op == "not":
            return not self.eval_constraint(expr[1], scon, tcon)
        _, cmp, left, right = expr
        kind = left[0]
        if isinstance(right, frozenset):
            con = scon if left[1] == "1" else tcon
            if kind == "t":
                found = self.type_id(con.type) in right
            else:
                found = (con.user if kind == "u" else con.role) in right
            return found if cmp == "eq" else not found
        if kind in "ur":
            a, b = (scon.user, tcon.user) if kind == "u" else (scon.role, tcon.role)
            return (a == b) if cmp in ("eq", "dom", "domby") else (a != b) if cmp == "neq" else False
        if kind == "t":
            same = self.type_id(scon.type) == self.type_id(tcon.type)
            return same if cmp == "eq" else not same
        la, lb = self._level(left, scon, tcon), self._level(right, scon, tcon)
        if la is None or lb is None:
            return True
        return {"eq": la == lb, "neq": la != lb, "dom": la.dominates(lb),
                "domby": lb.dominates(la), "incomp": la.incomparable(lb)}[cmp]

    @staticmethod
    def _level(name: str, scon: Context, tcon: Context) -> Level | None:
        con = scon if name[1] == "1" else tcon
        if con.range is None:
            return None
        return con.range.low if name[0] == "l" else con.range.high

    # -- contexts --------------------------------------------------------------------------

    def parse_context(self, text: str) -> Context:
        """`user:role:type[:range]`, checked against the policy (PolicyError if invalid)."""
        parts = text.strip().split(":", 3)
        if len(parts) < 3 or not all(parts[:3]):
            raise PolicyError(f"malformed security context {text!r} (expected user:role:type:level)")
        rng = None
        mls_text = ""
        if len(parts) == 4:
            if not self.mls.enabled:
                raise PolicyError(f"context {text!r} has a level but the policy has no MLS")
            try:
                rng = self.mls.parse_range(parts[3])
            except MlsError as err:
                raise PolicyError(f"context {text!r}: {err}") from None
            mls_text = self.mls.range_text(rng)
        elif self.mls.enabled:
            raise PolicyError(f"context {text!r} lacks the MLS level this policy requires")
        ctx = Context(parts[0], parts[1], self.aliases.get(parts[2], parts[2]), rng, mls_text)
        problem = self.context_problem(ctx)
        if problem:
            raise PolicyError(f"invalid context {text}: {problem}")
        return ctx

    def context_problem(self, ctx: Context) -> str:
        """Why a context is not valid (policydb_context_isvalid), or ''."""
        if ctx.type not in self.type_ids or self.type_ids[ctx.type] in self.attributes:
            return f"{ctx.type} is not a type"
        if ctx.role not in self.roles:
            return f"unknown role {ctx.role}"
        user = self.users.get(ctx.user)
        if user is None:
            return f"unknown user {ctx.user}"
        if ctx.role != OBJECT_R:
            if self.type_ids[ctx.type] not in self.roles[ctx.role]:
                return f"role {ctx.role} is not authorised for type {ctx.type}"
            if ctx.role not in user.roles:
                return f"user {ctx.user} is not authorised for role {ctx.role}"
        if ctx.range is not None and user.range is not None and not user.range.contains(ctx.range):
            return f"range {ctx.mls_text} is outside user {ctx.user}'s range"
        return ""

    def make_context(self, user: str, role: str, type_name: str, rng: Range | None) -> Context:
        """A context from parts (not validated)."""
        text = self.mls.range_text(rng) if rng is not None else ""
        return Context(user, role, type_name, rng, text)

    def compute_create(self, scon: Context, tcon: Context, tclass: str, name: str = "") -> Context:
        """security_compute_sid for a transition: a new process's or a new object's context."""
        process = tclass == "process"
        stype, ttype = self.type_id(scon.type), self.type_id(tcon.type)
        new_type = self.name_trans.get((stype, ttype, tclass, name)) if name else None
        if new_type is None:
            new_type = self.type_trans.get((stype, ttype, tclass))
        if new_type is None:
            new_type = stype if process else ttype
        # security_compute_sid(): processes and sockets keep the creator's role and full
        # range (security_is_socket_class), other objects get object_r and the low level
        like_process = process or is_socket_class(tclass)
        role = scon.role if like_process else OBJECT_R
        role = self.role_trans.get((scon.role, ttype, tclass), role)
        rng = self.range_trans.get((stype, ttype, tclass))
        if rng is None and scon.range is not None:
            rng = scon.range if like_process else Range(scon.range.low, scon.range.low)
        return self.make_context(scon.user, role, self.type_names[new_type], rng)

    def port_context(self, protocol: str, port: int) -> Context | None:
        """The portcon context of a port, the narrowest range first."""
        best: tuple[int, Context] | None = None
        for proto, low, high, ctx in self.portcons:
            if proto == protocol and low <= port <= high and (best is None or high - low < best[0]):
                best = (high - low, ctx)
        return best[1] if best else None

    # -- queries for analysis --------------------------------------------------------------

    def expanded_rules(self, kind: str = ALLOW) -> Iterator[tuple[int, int, str, int, AvRule]]:
        """(source type, target type, class, mask, rule) for every active rule, expanded."""
        for rule in self.rules:
            if rule.kind != kind:
                continue
            if rule.cond is not None and eval_cond(rule.cond, self.booleans) != rule.branch:
                continue
            for s in self.expand(rule.source):
                targets = (s,) if rule.target == SELF else self.expand(rule.target)
                for t in targets:
                    yield s, t, rule.tclass, rule.mask, rule
