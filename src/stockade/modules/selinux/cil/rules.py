"""CIL expressions, contexts and rule statements, compiled into a `Policy`.

Attribute expressions (`and`/`or`/`xor`/`not`/`all`), class-permission sets and class maps,
category sets, levels and ranges, boolean and constraint expressions, and each rule kind.
"""

from __future__ import annotations

from collections.abc import Callable

from stockade.modules.selinux.cil.expand import Stmt, args, atom, join
from stockade.modules.selinux.cil.expand import resolve as resolve_name
from stockade.modules.selinux.cil.parser import Atom, CilError, Node, SList
from stockade.modules.selinux.mls import Level, MlsError, Range
from stockade.modules.selinux.policy import (
    SELF,
    AvRule,
    CondExpr,
    Constraint,
    ConstraintExpr,
    Context,
    Policy,
    PolicyError,
    TypeRule,
    eval_cond,
)

SET_OPS = ("and", "or", "xor", "not", "all")
COND_OPS = ("and", "or", "xor", "not", "eq", "neq")
OPERANDS = ("u1", "u2", "u3", "r1", "r2", "r3", "t1", "t2", "t3", "l1", "l2", "h1", "h2")
LEVEL_PAIRS = {("l1", "l2"), ("l1", "h2"), ("h1", "l2"), ("h1", "h2"), ("l1", "h1"), ("l2", "h2")}
ClassPerms = list[tuple[str, int]]


class RuleCompiler:
    """Symbol tables and the compilers of expressions and rules."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.alias_names: set[str] = set()
        self.role_attrs: dict[str, list[tuple[Node, Stmt]]] = {}
        self.role_attr_types: dict[str, set[int]] = {}
        self.tunables: dict[str, bool] = {}
        self.mls_names: dict[str, set[str]] = {}
        self.class_perms: dict[str, list[str]] = {}
        self.commons: dict[str, list[str]] = {}
        self.classmap_perms: dict[str, list[str]] = {}
        self.classmaps: dict[str, dict[str, ClassPerms]] = {}
        self.classpermissions: dict[str, ClassPerms] = {}
        self.named: dict[str, dict[str, tuple[Node, Stmt]]] = {
            "level": {}, "levelrange": {}, "categoryset": {}, "context": {}}
        self.attr_sets: dict[int, list[tuple[Node, Stmt]]] = {}
        self.disabled_optionals: list[str] = []
        self._resolving: set[int] = set()
        self.RULE_HANDLERS: dict[str, Callable[[Stmt], None]] = {
            "allow": self.s_avrule, "auditallow": self.s_avrule, "dontaudit": self.s_avrule,
            "neverallow": self.s_avrule, "typetransition": self.s_typetransition,
            "rangetransition": self.s_rangetransition, "roletransition": self.s_roletransition,
            "constrain": self.s_constrain, "mlsconstrain": self.s_constrain,
            "booleanif": self.s_booleanif, "tunableif": self.s_tunableif, "portcon": self.s_portcon,
            "sidcontext": self.s_sidcontext, "fsuse": self.s_fsuse, "genfscon": self.s_genfscon,
        }

    def rule(self, stmt: Stmt, cond: CondExpr | None = None, branch: bool = True) -> None:
        """Compile one rule statement; policy errors get the statement's position."""
        try:
            if stmt.kw in ("allow", "auditallow", "dontaudit", "neverallow"):
                self.s_avrule(stmt, cond, branch)
            elif stmt.kw == "typetransition":
                self.s_typetransition(stmt, cond, branch)
            else:
                self.RULE_HANDLERS[stmt.kw](stmt)
        except (PolicyError, MlsError) as err:
            raise CilError(str(stmt.node.pos), str(err)) from None

    # -- names -----------------------------------------------------------------------------

    resolve = staticmethod(resolve_name)  # `.name` global, else innermost scope first
    resolve_set = resolve

    def type_id(self, node: Node, stmt: Stmt) -> int:
        """A type, alias or attribute named by an atom."""
        name = atom(node, "a type name")
        p = self.policy
        candidates = [name[1:]] if name.startswith(".") else [join(s, name) for s in stmt.scopes()]
        for full in candidates:
            if full in p.aliases:
                return p.type_ids[p.aliases[full]]
            if full in p.type_ids:
                return p.type_ids[full]
            if full in self.alias_names:
                raise CilError(str(node.pos), f"typealias {full} has no typealiasactual")
        raise CilError(str(node.pos), f"unknown type or attribute {name!r}")

    # -- types and attributes --------------------------------------------------------------

    def s_typealiasactual(self, stmt: Stmt) -> None:
        """(typealiasactual ALIAS TYPE)"""
        alias, actual = args(stmt.node, 2, "ALIAS TYPE")
        alias_name = self.resolve(self.alias_names, atom(alias, "an alias"), stmt, "typealias")
        tid = self.type_id(actual, stmt)
        if tid in self.policy.attributes:
            raise CilError(str(actual.pos), "an alias must name a type, not an attribute")
        self.policy.aliases[alias_name] = self.policy.type_names[tid]

    def s_typeattributeset(self, stmt: Stmt) -> None:
        """(typeattributeset ATTR EXPR): collected, evaluated once every set is known."""
        attr, expr = args(stmt.node, 2, "ATTRIBUTE EXPRESSION")
        aid = self.type_id(attr, stmt)
        if aid not in self.policy.attributes:
            raise CilError(str(attr.pos), f"{atom(attr, 'a name')} is a type, not an attribute")
        self.attr_sets.setdefault(aid, []).append((expr, stmt))

    def resolve_attributes(self) -> None:
        """Evaluate every attribute's expressions into its member types."""
        for aid in list(self.policy.attributes):
            self._attribute(aid)

    def _attribute(self, aid: int) -> frozenset[int]:
        p = self.policy
        if aid in self._resolving:
            raise CilError("", f"attribute {p.type_names[aid]} is defined in terms of itself")
        pending = self.attr_sets.pop(aid, None)
        if pending is None:
            return p.members[aid]
        self._resolving.add(aid)
        members = set(p.members[aid])
        for expr, stmt in pending:
            members |= self.type_set(expr, stmt)
        self._resolving.discard(aid)
        p.members[aid] = frozenset(members)
        return p.members[aid]

    def type_set(self, node: Node, stmt: Stmt) -> set[int]:
        """The concrete types of a name or an attribute expression."""
        p = self.policy
        if isinstance(node, Atom):
            tid = self.type_id(node, stmt)
            return set(self._attribute(tid)) if tid in p.attributes else {tid}
        op = node.head
        if op == "all":
            return set(p.concrete_types())
        if op in ("and", "or", "xor", "not"):
            operands = [self.type_set(x, stmt) for x in node.items[1:]]
            if op == "not":
                if len(operands) != 1:
                    raise CilError(str(node.pos), "(not X) takes one operand")
                return set(p.concrete_types()) - operands[0]
            if len(operands) != 2:
                raise CilError(str(node.pos), f"({op} X Y) takes two operands")
            a, b = operands
            return a & b if op == "and" else a | b if op == "or" else a ^ b
        result: set[int] = set()
        for item in node.items:
            result |= self.type_set(item, stmt)
        return result

    def s_typepermissive(self, stmt: Stmt) -> None:
        """(typepermissive TYPE)"""
        (node,) = args(stmt.node, 1, "TYPE")
        tid = self.type_id(node, stmt)
        if tid in self.policy.attributes:
            raise CilError(str(node.pos), "typepermissive needs a type, not an attribute")
        self.policy.permissive.add(tid)

    # -- RBAC ------------------------------------------------------------------------------

    def s_roleattributeset(self, stmt: Stmt) -> None:
        """(roleattributeset ATTR (ROLE...))"""
        attr, expr = args(stmt.node, 2, "ROLEATTRIBUTE (ROLE...)")
        name = self.resolve(self.role_attrs, atom(attr, "a role attribute"), stmt, "roleattribute")
        self.role_attrs[name].append((expr, stmt))

    def roles_of(self, node: Node, stmt: Stmt, seen: frozenset[str] = frozenset()) -> set[str]:
        """Roles named by a role, a role attribute or a list of them."""
        if isinstance(node, SList):
            out: set[str] = set()
            for item in node.items:
                if not (isinstance(item, Atom) and item.value in ("and", "or", "not", "all")):
                    out |= self.roles_of(item, stmt, seen)
            return out
        name = node.value
        table = {**dict.fromkeys(self.policy.roles), **dict.fromkeys(self.role_attrs)}
        full = self.resolve(table, name, stmt, "role")
        if full in self.policy.roles:
            return {full}
        if full in seen:
            return set()
        out = set()
        for expr, where in self.role_attrs[full]:
            out |= self.roles_of(expr, where, seen | {full})
        return out

    def s_roletype(self, stmt: Stmt) -> None:
        """(roletype ROLE TYPE): the role may hold the types."""
        role, typ = args(stmt.node, 2, "ROLE TYPE")
        types = self.type_set(typ, stmt)
        for r in self.roles_of(role, stmt):
            self.policy.roles[r] |= types

    def s_userrole(self, stmt: Stmt) -> None:
        """(userrole USER ROLE)"""
        user, role = args(stmt.node, 2, "USER ROLE")
        name = self.resolve(self.policy.users, atom(user, "a user"), stmt, "user")
        self.policy.users[name].roles |= self.roles_of(role, stmt)

    def s_userlevel(self, stmt: Stmt) -> None:
        """(userlevel USER LEVEL)"""
        user, level = args(stmt.node, 2, "USER LEVEL")
        name = self.resolve(self.policy.users, atom(user, "a user"), stmt, "user")
        self.policy.users[name].level = self.level(level, stmt)

    def s_userrange(self, stmt: Stmt) -> None:
        """(userrange USER RANGE)"""
        user, rng = args(stmt.node, 2, "USER RANGE")
        name = self.resolve(self.policy.users, atom(user, "a user"), stmt, "user")
        self.policy.users[name].range = self.levelrange(rng, stmt)

    def s_roleallow(self, stmt: Stmt) -> None:
        """(roleallow FROM TO)"""
        a, b = args(stmt.node, 2, "FROM TO")
        for r1 in self.roles_of(a, stmt):
            for r2 in self.roles_of(b, stmt):
                self.policy.role_allow.add((r1, r2))

    def s_roletransition(self, stmt: Stmt) -> None:
        """(roletransition ROLE TYPE CLASS NEWROLE)"""
        role, typ, cls, new = args(stmt.node, 4, "ROLE TYPE CLASS NEWROLE")
        tclass = self.resolve(self.policy.classes, atom(cls, "a class"), stmt, "class")
        (new_role,) = self.roles_of(new, stmt) or {""}
        for r in self.roles_of(role, stmt):
            for t in self.type_set(typ, stmt):
                self.policy.role_trans[(r, t, tclass)] = new_role

    # -- classes and permissions -----------------------------------------------------------

    def s_classpermissionset(self, stmt: Stmt) -> None:
        """(classpermissionset NAME (CLASS (PERM...)))"""
        name, cp = args(stmt.node, 2, "NAME (CLASS (PERM...))")
        full = self.resolve(self.classpermissions, atom(name, "a classpermission"), stmt,
                            "classpermission")
        self.classpermissions[full] += self.classperms(cp, stmt)

    def s_classmapping(self, stmt: Stmt) -> None:
        """(classmapping CLASSMAP MAPPERM CLASSPERMS)"""
        cmap, perm, cp = args(stmt.node, 3, "CLASSMAP PERM (CLASS (PERM...))")
        full = self.resolve(self.classmap_perms, atom(cmap, "a classmap"), stmt, "classmap")
        mapped = atom(perm, "a mapped permission")
        if mapped not in self.classmap_perms[full]:
            raise CilError(str(perm.pos), f"classmap {full} has no permission {mapped!r}")
        self.classmaps.setdefault(full, {}).setdefault(mapped, []).extend(self.classperms(cp, stmt))

    def classperms(self, node: Node, stmt: Stmt) -> ClassPerms:
        """`(CLASS PERMS)`, a classpermission name, or a classmap with mapped permissions."""
        if isinstance(node, Atom):
            full = self.resolve(self.classpermissions, node.value, stmt, "classpermission")
            return list(self.classpermissions[full])
        if len(node.items) != 2:
            raise CilError(str(node.pos), "expected (CLASS (PERM...))")
        cls_node, perms = node.items
        name = atom(cls_node, "a class")
        try:
            full = self.resolve(self.policy.classes, name, stmt, "class")
        except CilError:
            full = self.resolve(self.classmap_perms, name, stmt, "class or classmap")
            out: ClassPerms = []
            mapping = self.classmaps.get(full, {})
            for perm in perms.items if isinstance(perms, SList) else (perms,):
                out += mapping.get(atom(perm, "a permission"), [])
            return out
        cdef = self.policy.classes[full]
        return [(full, self.perm_mask(cdef.name, perms, cdef.all, cdef.perms))]

    def perm_mask(self, cls: str, node: Node, every: int, perms: dict[str, int]) -> int:
        """A permission expression: names, `(all)`, `(not X)`, `(and X Y)`..."""
        if isinstance(node, Atom):
            if node.value == "all":
                return every
            if node.value not in perms:
                raise CilError(str(node.pos), f"class {cls} has no permission {node.value!r}")
            return perms[node.value]
        op = node.head
        if op in ("and", "or", "xor", "not"):
            vals = [self.perm_mask(cls, x, every, perms) for x in node.items[1:]]
            if op == "not":
                return every & ~vals[0]
            a, b = vals[0], vals[1] if len(vals) > 1 else 0
            return a & b if op == "and" else a | b if op == "or" else a ^ b
        mask = 0
        for item in node.items:
            mask |= self.perm_mask(cls, item, every, perms)
        return mask

    # -- MLS -------------------------------------------------------------------------------

    def catset(self, node: Node, stmt: Stmt) -> int:
        """A category set: names, `(range cA cB)`, `(all)`, or a named categoryset."""
        spec = self.policy.mls
        if isinstance(node, Atom):
            if node.value == "all":
                return (1 << len(spec.categories)) - 1
            named = self.named["categoryset"]
            scoped = [join(s, node.value) for s in stmt.scopes()]
            for full in scoped:
                if full in named:
                    value, where = named[full]
                    return self.catset(value, where)
            return 1 << spec.cat(node.value)
        if node.head == "range":
            low, high = args(node, 2, "LOW HIGH")
            return spec.cat_range(atom(low, "a category"), atom(high, "a category"))
        if node.head in ("and", "or", "xor", "not"):
            vals = [self.catset(x, stmt) for x in node.items[1:]]
            every = (1 << len(spec.categories)) - 1
            if node.head == "not":
                return every & ~vals[0]
            a, b = vals
            return a & b if node.head == "and" else a | b if node.head == "or" else a ^ b
        mask = 0
        for item in node.items:
            mask |= self.catset(item, stmt)
        return mask

    def level(self, node: Node, stmt: Stmt) -> Level:
        """`(s0)`, `(s0 (c0 c1))` or a named level."""
        spec = self.policy.mls
        if isinstance(node, Atom):
            full = self.resolve(self.named["level"], node.value, stmt, "level")
            value, where = self.named["level"][full]
            return self.level(value, where)
        if not node.items or len(node.items) > 2:
            raise CilError(str(node.pos), "a level is (SENSITIVITY [CATEGORIES])")
        sens = spec.sens(atom(node.items[0], "a sensitivity"))
        cats = self.catset(node.items[1], stmt) if len(node.items) == 2 else 0
        level = Level(sens, cats)
        spec.check_level(level)
        return level

    def levelrange(self, node: Node, stmt: Stmt) -> Range:
        """`(LOW HIGH)` or a named levelrange."""
        if isinstance(node, Atom):
            full = self.resolve(self.named["levelrange"], node.value, stmt, "levelrange")
            value, where = self.named["levelrange"][full]
            return self.levelrange(value, where)
        if len(node.items) != 2:
            raise CilError(str(node.pos), "a level range is (LOW HIGH)")
        low, high = self.level(node.items[0], stmt), self.level(node.items[1], stmt)
        if not high.dominates(low):
            raise CilError(str(node.pos), "the high level does not dominate the low level")
        return Range(low, high)

    def context(self, node: Node, stmt: Stmt) -> Context:
        """`(USER ROLE TYPE RANGE)` or a named context; validated against the policy."""
        p = self.policy
        if isinstance(node, Atom):
            full = self.resolve(self.named["context"], node.value, stmt, "context")
            value, where = self.named["context"][full]
            return self.context(value, where)
        if len(node.items) not in (3, 4):
            raise CilError(str(node.pos), "a context is (USER ROLE TYPE LEVELRANGE)")
        user = self.resolve(p.users, atom(node.items[0], "a user"), stmt, "user")
        role = self.resolve(p.roles, atom(node.items[1], "a role"), stmt, "role")
        tid = self.type_id(node.items[2], stmt)
        rng = self.levelrange(node.items[3], stmt) if len(node.items) == 4 and p.mls.enabled else None
        ctx = p.make_context(user, role, p.type_names[tid], rng)
        problem = p.context_problem(ctx)
        if problem:
            raise CilError(str(node.pos), f"invalid context {ctx}: {problem}")
        return ctx

    # -- rules -----------------------------------------------------------------------------

    def s_avrule(self, stmt: Stmt, cond: CondExpr | None = None, branch: bool = True) -> None:
        """(allow|auditallow|dontaudit|neverallow SOURCE TARGET CLASSPERMS)"""
        src, tgt, cp = args(stmt.node, 3, "SOURCE TARGET (CLASS (PERM...))")
        sid = self.type_id(src, stmt)
        tid = SELF if isinstance(tgt, Atom) and tgt.value == "self" else self.type_id(tgt, stmt)
        for tclass, mask in self.classperms(cp, stmt):
            if mask:
                self.policy.add_rule(AvRule(stmt.kw, sid, tid, tclass, mask, str(stmt.node.pos),
                                            cond, branch))

    def s_typetransition(self, stmt: Stmt, cond: CondExpr | None = None, branch: bool = True) -> None:
        """(typetransition SOURCE TARGET CLASS [NAME] RESULT)"""
        items = args(stmt.node, (4, 5), "SOURCE TARGET CLASS [\"NAME\"] RESULT")
        p = self.policy
        tclass = self.resolve(p.classes, atom(items[2], "a class"), stmt, "class")
        result = self.type_id(items[-1], stmt)
        if result in p.attributes:
            raise CilError(str(items[-1].pos), "the result of a typetransition must be a type")
        name = atom(items[3], "an object name") if len(items) == 5 else ""
        pairs = [(s, t) for s in self.type_set(items[0], stmt) for t in self.type_set(items[1], stmt)]
        p.type_rules.extend(TypeRule("type_transition", s, t, tclass, result, name, cond, branch)
                            for s, t in pairs)
        if cond is not None and eval_cond(cond, p.bool_defaults) != branch:
            return  # conditional type rules take effect at the booleans' defaults only
        table: dict = p.name_trans if name else p.type_trans
        for s, t in pairs:
            key = (s, t, tclass, name) if name else (s, t, tclass)
            if table.get(key, result) != result:
                raise CilError(str(stmt.node.pos), f"conflicting typetransition for "
                               f"{p.type_names[s]} {p.type_names[t]} {tclass} {name}".rstrip())
            table[key] = result

    def s_rangetransition(self, stmt: Stmt) -> None:
        """(rangetransition SOURCE TARGET CLASS RANGE)"""
        src, tgt, cls, rng = args(stmt.node, 4, "SOURCE TARGET CLASS RANGE")
        tclass = self.resolve(self.policy.classes, atom(cls, "a class"), stmt, "class")
        value = self.levelrange(rng, stmt)
        for s in self.type_set(src, stmt):
            for t in self.type_set(tgt, stmt):
                self.policy.range_trans[(s, t, tclass)] = value

    def cond_expr(self, node: Node, stmt: Stmt, table: dict[str, bool]) -> CondExpr:
        """A boolean expression: a name, `(name)`, `(not X)`, `(and X Y)`, ..."""
        if isinstance(node, Atom):
            return ("bool", self.resolve(table, node.value, stmt, "boolean"))
        if not node.items:
            raise CilError(str(node.pos), "expected a boolean expression")
        op = node.head
        if op in COND_OPS:
            operands = [self.cond_expr(x, stmt, table) for x in node.items[1:]]
            if len(operands) != (1 if op == "not" else 2):
                raise CilError(str(node.pos), f"wrong number of operands for {op}")
            return (op, *operands)
        if len(node.items) == 1:
            return self.cond_expr(node.items[0], stmt, table)
        raise CilError(str(node.pos), "expected a boolean expression")

    def _branches(self, stmt: Stmt) -> list[tuple[bool, Stmt]]:
        out = []
        for branch in stmt.node.items[2:]:
            if not isinstance(branch, SList) or branch.head not in ("true", "false"):
                raise CilError(str(branch.pos), "expected (true ...) or (false ...)")
            for inner in branch.items[1:]:
                if not isinstance(inner, SList):
                    raise CilError(str(inner.pos), "expected a statement")
                out.append((branch.head == "true", Stmt(inner, stmt.ns, stmt.fallback, stmt.opts)))
        return out

    def s_booleanif(self, stmt: Stmt) -> None:
        """(booleanif EXPR (true RULES...) (false RULES...))"""
        if len(stmt.node.items) < 3:
            raise CilError(str(stmt.node.pos), "expected (booleanif EXPR (true ...) [(false ...)])")
        cond = self.cond_expr(stmt.node.items[1], stmt, self.policy.booleans)
        for branch, inner in self._branches(stmt):
            if inner.kw in ("typechange", "typemember", "allowx", "auditallowx", "dontauditx"):
                continue
            if inner.kw not in ("allow", "auditallow", "dontaudit", "typetransition"):
                raise CilError(str(inner.node.pos), f"{inner.kw} is not allowed inside booleanif")
            self.rule(inner, cond, branch)

    def s_tunableif(self, stmt: Stmt) -> None:
        """(tunableif EXPR (true ...) (false ...)): decided when the policy is built."""
        if len(stmt.node.items) < 3:
            raise CilError(str(stmt.node.pos), "expected (tunableif EXPR (true ...) [(false ...)])")
        value = eval_cond(self.cond_expr(stmt.node.items[1], stmt, self.tunables), self.tunables)
        for branch, inner in self._branches(stmt):
            if branch == value:
                self.rule(inner)

    def constraint_expr(self, node: Node, stmt: Stmt, mls: bool) -> ConstraintExpr:
        """`(and X Y)`, `(or X Y)`, `(not X)`, `(OP LEFT RIGHT)`."""
        if not isinstance(node, SList) or not node.head:
            raise CilError(str(node.pos), "expected a constraint expression")
        op = node.head
        if op in ("and", "or"):
            a, b = args(node, 2, "X Y")
            return (op, self.constraint_expr(a, stmt, mls), self.constraint_expr(b, stmt, mls))
        if op == "not":
            (a,) = args(node, 1, "X")
            return ("not", self.constraint_expr(a, stmt, mls))
        op = {"ne": "neq"}.get(op, op)
        if op not in ("eq", "neq", "dom", "domby", "incomp"):
            raise CilError(str(node.pos), f"unknown constraint operator {op!r}")
        left_node, right = args(node, 2, "LEFT RIGHT")
        left = atom(left_node, "an operand")
        if left not in OPERANDS:
            raise CilError(str(left_node.pos), f"expected one of {' '.join(OPERANDS)}, not {left!r}")
        if left[0] in "lh":
            r = atom(right, "a level operand")
            if not mls:
                raise CilError(str(node.pos), "level operands need mlsconstrain")
            if (left, r) not in LEVEL_PAIRS:
                raise CilError(str(node.pos), f"cannot compare {left} with {r}")
            return ("op", op, left, r)
        if op not in ("eq", "neq") and left[0] == "t":
            raise CilError(str(node.pos), "types can only be compared with eq or neq")
        if isinstance(right, Atom) and right.value == left[0] + "2" and left[1] == "1":
            return ("op", op, left, right.value)
        if op not in ("eq", "neq"):
            raise CilError(str(node.pos), f"{op} needs two operands of the same kind")
        names: frozenset
        if left[0] == "t":
            names = frozenset(self.type_set(right, stmt))
        elif left[0] == "r":
            names = frozenset(self.roles_of(right, stmt))
        else:
            items = right.items if isinstance(right, SList) else (right,)
            names = frozenset(self.resolve(self.policy.users, atom(x, "a user"), stmt, "user")
                              for x in items)
        return ("op", op, left, names)

    def s_constrain(self, stmt: Stmt) -> None:
        """(constrain|mlsconstrain CLASSPERMS EXPR)"""
        cp, expr = args(stmt.node, 2, "(CLASS (PERM...)) EXPRESSION")
        mls = stmt.kw == "mlsconstrain"
        tree = self.constraint_expr(expr, stmt, mls)
        for tclass, mask in self.classperms(cp, stmt):
            self.policy.constraints.setdefault(tclass, []).append(
                Constraint(tclass, mask, tree, mls, str(stmt.node.pos)))

    def s_portcon(self, stmt: Stmt) -> None:
        """(portcon PROTOCOL PORT|(LOW HIGH) CONTEXT)"""
        proto, port, ctx = args(stmt.node, 3, "PROTOCOL PORT CONTEXT")
        ports = port.items if isinstance(port, SList) else (port, port)
        try:
            low, high = (int(atom(x, "a port number")) for x in ports)
        except ValueError:
            raise CilError(str(port.pos), "ports are numbers") from None
        self.policy.portcons.append((atom(proto, "a protocol"), low, high, self.context(ctx, stmt)))

    def s_sidcontext(self, stmt: Stmt) -> None:
        """(sidcontext SID CONTEXT)"""
        sid, ctx = args(stmt.node, 2, "SID CONTEXT")
        name = self.resolve(self.mls_names.get("sid", set()), atom(sid, "a sid"), stmt, "sid")
        self.policy.sid_contexts[name] = self.context(ctx, stmt)

    def s_fsuse(self, stmt: Stmt) -> None:
        """(fsuse xattr|task|trans FSTYPE CONTEXT)"""
        _, fs, ctx = args(stmt.node, 3, "KIND FSTYPE CONTEXT")
        self.policy.fs_contexts[atom(fs, "a filesystem type")] = self.context(ctx, stmt)

    def s_genfscon(self, stmt: Stmt) -> None:
        """(genfscon FSTYPE PATH [FILETYPE] CONTEXT): the root's context labels the filesystem."""
        items = args(stmt.node, (3, 4), "FSTYPE PATH CONTEXT")
        if atom(items[1], "a path") == "/":
            self.policy.fs_contexts.setdefault(atom(items[0], "a filesystem type"),
                                               self.context(items[-1], stmt))
