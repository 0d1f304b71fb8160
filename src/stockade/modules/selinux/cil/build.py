"""CIL statements → a compiled `Policy`, in the passes libsepol/cil uses.

Declarations first (so that order in the text never matters), then `optional` blocks whose
requirements are missing are disabled (as secilc does, to a fixpoint), then classes and MLS,
attributes, RBAC, and finally the rules. Expressions, contexts and rule statements are in
`cil.rules`. Every error names `file:line:col`.
"""

from __future__ import annotations

from collections.abc import Iterable

from stockade.modules.selinux.cil.expand import Stmt, args, atom, expand, join
from stockade.modules.selinux.cil.parser import Atom, CilError, Node, SList, parse, parse_file
from stockade.modules.selinux.cil.rules import RuleCompiler
from stockade.modules.selinux.policy import ClassDef, Policy, PolicyError, UserDef

# Statements accepted and not modelled (file labelling is another module's job; the rest has
# no effect on access decisions in this model).
IGNORED = frozenset({
    "classorder", "sidorder", "policycap", "handleunknown", "mls", "filecon", "userprefix",
    "selinuxuser", "selinuxuserdefault", "typebounds", "rolebounds", "userbounds", "defaultuser",
    "defaultrole", "defaulttype", "defaultrange", "nodecon", "netifcon", "ipaddr", "ibpkeycon",
    "ibendportcon", "pirqcon", "iomemcon", "ioportcon", "pcidevicecon", "devicetreecon",
    "validatetrans", "mlsvalidatetrans", "typechange", "typemember", "expandtypeattribute",
    "allowx", "auditallowx", "dontauditx", "neverallowx", "userattribute", "userattributeset",
    "src_info", "roleattributeset_noop", "deny",
})
DECLARATIONS = frozenset({
    "type", "typeattribute", "typealias", "role", "roleattribute", "user", "boolean", "tunable",
    "sensitivity", "sensitivityalias", "category", "categoryalias", "class", "common",
    "classmap", "classpermission", "sid", "level", "levelrange", "categoryset", "context",
    "classmapping",
})
RULES = frozenset({
    "allow", "auditallow", "dontaudit", "neverallow", "typetransition", "rangetransition",
    "roletransition", "roleallow", "constrain", "mlsconstrain", "booleanif", "tunableif",
    "portcon", "sidcontext", "fsuse", "genfscon", "typepermissive", "typeattributeset",
    "typealiasactual", "roletype", "roleattributeset", "userrole", "userlevel", "userrange",
    "classcommon", "classpermissionset", "sensitivityorder", "categoryorder",
    "sensitivityaliasactual", "categoryaliasactual", "sensitivitycategory",
})
KEYWORDS = frozenset({
    "self", "and", "or", "not", "xor", "eq", "neq", "ne", "dom", "domby", "incomp", "all",
    "range", "true", "false", "u1", "u2", "u3", "r1", "r2", "r3", "t1", "t2", "t3", "l1", "l2",
    "h1", "h2", "tcp", "udp", "dccp", "sctp", "any", "file", "dir", "char", "block", "socket",
    "pipe", "symlink", "xattr", "task", "trans", "low", "high", "low-high", "source", "target",
    "glblub",
})


class Builder(RuleCompiler):
    """Holds the symbol tables while a policy is built."""

    def __init__(self) -> None:
        super().__init__(Policy())
        self.decl_pos: dict[tuple[str, str], str] = {}
        self.decl_kind: dict[str, str] = {}

    # -- driver ----------------------------------------------------------------------------

    def build(self, files: list[list[SList]], sources: list[str]) -> Policy:
        """All passes; returns the finished policy."""
        statements, optionals = expand(files)
        for stmt in statements:
            kw = stmt.kw
            if kw not in DECLARATIONS and kw not in RULES and kw not in IGNORED:
                raise CilError(str(stmt.node.pos), f"unknown statement {kw!r}")
        disabled = self._prune(statements)
        live = [s for s in statements if not disabled.intersection(s.opts)]
        self.disabled_optionals = sorted(optionals[i][0] for i in disabled)
        self._declare(live)
        self._classes(live)
        self._mls(live)
        by_kw: dict[str, list[Stmt]] = {}
        for stmt in live:
            by_kw.setdefault(stmt.kw, []).append(stmt)
        for kw in ("typealiasactual", "typeattributeset"):
            for stmt in by_kw.get(kw, ()):
                getattr(self, "s_" + kw)(stmt)
        self.resolve_attributes()
        for kw in ("typepermissive", "roleattributeset", "roletype", "userrole", "userlevel",
                   "userrange", "roleallow", "classpermissionset", "classmapping"):
            for stmt in by_kw.get(kw, ()):
                getattr(self, "s_" + kw)(stmt)
        for stmt in live:
            if stmt.kw in self.RULE_HANDLERS:
                self.rule(stmt)
        self.policy.sources = sources
        for stmt in by_kw.get("handleunknown", ()):
            self.policy.handle_unknown = atom(args(stmt.node, 1, "allow|deny|reject")[0], "an action")
        try:
            self.policy.finish()
        except PolicyError as err:
            raise CilError("", str(err)) from None
        return self.policy

    # -- declarations ----------------------------------------------------------------------

    def _declare_name(self, kind: str, stmt: Stmt, node: Node) -> str:
        name = stmt.qualify(atom(node, f"a {kind} name"))
        key = (kind, name)
        if key in self.decl_pos and kind not in ("typeattribute", "roleattribute"):
            raise CilError(str(node.pos), f"{kind} {name} is already declared at {self.decl_pos[key]}")
        self.decl_pos.setdefault(key, str(node.pos))
        return name

    def _declare(self, statements: list[Stmt]) -> None:
        p = self.policy
        for stmt in statements:
            kw, node = stmt.kw, stmt.node
            if kw not in DECLARATIONS or kw == "classmapping":
                continue
            if kw in ("type", "typeattribute", "typealias"):
                node_name = args(node, 1, "NAME")[0]
                name = stmt.qualify(atom(node_name, "a type name"))
                previous = self.decl_pos.get(("type", name))
                if previous and not (kw == "typeattribute" and self.decl_kind.get(name) == kw):
                    raise CilError(str(node_name.pos), f"{name} is already declared at {previous}")
                self.decl_pos[("type", name)] = str(node_name.pos)
                self.decl_kind[name] = kw
                if kw == "typealias":
                    self.alias_names.add(name)
                else:
                    p.add_type(name, attribute=kw == "typeattribute")
            elif kw in ("role", "roleattribute"):
                name = self._declare_name(kw, stmt, args(node, 1, "NAME")[0])
                if kw == "role":
                    p.roles.setdefault(name, set())
                else:
                    self.role_attrs.setdefault(name, [])
            elif kw == "user":
                p.users[self._declare_name(kw, stmt, args(node, 1, "NAME")[0])] = UserDef()
            elif kw in ("boolean", "tunable"):
                name_node, value = args(node, 2, "NAME true|false")
                value_text = atom(value, "true or false")
                if value_text not in ("true", "false"):
                    raise CilError(str(value.pos), f"expected true or false, not {value_text!r}")
                name = self._declare_name(kw, stmt, name_node)
                table = p.booleans if kw == "boolean" else self.tunables
                table[name] = value_text == "true"
                if kw == "boolean":
                    p.bool_defaults[name] = value_text == "true"
            elif kw in ("sensitivity", "category", "sensitivityalias", "categoryalias", "sid"):
                self.mls_names.setdefault(kw, set()).add(
                    self._declare_name(kw, stmt, args(node, 1, "NAME")[0]))
            elif kw in ("class", "common", "classmap"):
                name_node, perms = args(node, 2, "NAME (PERM...)")
                name = self._declare_name(kw, stmt, name_node)
                if not isinstance(perms, SList):
                    raise CilError(str(perms.pos), "permissions are a list: (read write ...)")
                names = [atom(x, "a permission name") for x in perms.items]
                {"class": self.class_perms, "common": self.commons,
                 "classmap": self.classmap_perms}[kw][name] = names
            elif kw in ("classpermission",):
                self.classpermissions[self._declare_name(kw, stmt, args(node, 1, "NAME")[0])] = []
            elif kw in ("level", "levelrange", "categoryset", "context"):
                name_node, value = args(node, 2, "NAME VALUE")
                self.named[kw][self._declare_name(kw, stmt, name_node)] = (value, stmt)

    def _prune(self, statements: list[Stmt]) -> set[int]:
        """Optionals that refer to undeclared names, to a fixpoint (as secilc disables them)."""
        disabled: set[int] = set()
        while True:
            declared = self._declared_names([s for s in statements if not disabled.intersection(s.opts)])
            newly = set()
            for stmt in statements:
                if not stmt.opts or disabled.intersection(stmt.opts) or stmt.kw in IGNORED:
                    continue
                if any(not self._known(name, stmt, declared) for name in _atoms(stmt.node.items[1:])):
                    newly.add(stmt.opts[-1])
            if not newly:
                return disabled
            disabled |= newly

    @staticmethod
    def _known(name: str, stmt: Stmt, declared: set[str]) -> bool:
        if name in KEYWORDS or name.isdigit() or name in declared:
            return True
        if name.startswith("."):
            return name[1:] in declared
        return any(join(scope, name) in declared for scope in stmt.scopes())

    @staticmethod
    def _declared_names(statements: list[Stmt]) -> set[str]:
        names: set[str] = set()
        for stmt in statements:
            items = stmt.node.items
            if stmt.kw in DECLARATIONS and len(items) > 1 and isinstance(items[1], Atom):
                names.add(stmt.qualify(items[1].value))
                if stmt.kw in ("class", "common", "classmap") and len(items) > 2 \
                        and isinstance(items[2], SList):
                    names.update(a.value for a in items[2].items if isinstance(a, Atom))
            if stmt.kw == "classmapping" and len(items) > 2 and isinstance(items[2], Atom):
                names.add(items[2].value)
        return names

    # -- classes and MLS -------------------------------------------------------------------

    def _classes(self, statements: list[Stmt]) -> None:
        commons: dict[str, str] = {}
        for stmt in statements:
            if stmt.kw == "classcommon":
                cls_node, common_node = args(stmt.node, 2, "CLASS COMMON")
                cls = self.resolve(self.class_perms, atom(cls_node, "a class"), stmt, "class")
                commons[cls] = self.resolve(self.commons, atom(common_node, "a common"), stmt, "common")
        for name, own in self.class_perms.items():
            cdef = ClassDef(name, common=commons.get(name, ""))
            for perm in [*self.commons.get(cdef.common, []), *own]:
                cdef.add(perm)
            self.policy.classes[name] = cdef

    def _mls(self, statements: list[Stmt]) -> None:
        spec = self.policy.mls
        for stmt in statements:
            kw, node = stmt.kw, stmt.node
            if kw in ("sensitivityorder", "categoryorder"):
                (order,) = args(node, 1, "(NAME...)")
                if not isinstance(order, SList):
                    raise CilError(str(order.pos), "expected a list of names")
                kind = "sensitivity" if kw == "sensitivityorder" else "category"
                names = [self.resolve_set(self.mls_names.get(kind, set()), atom(x, "a name"), stmt, kind)
                         for x in order.items if not (isinstance(x, Atom) and x.value == "unordered")]
                target = spec.sensitivities if kind == "sensitivity" else spec.categories
                target.extend(n for n in names if n not in target)
            elif kw in ("sensitivityaliasactual", "categoryaliasactual"):
                alias, actual = (atom(x, "a name") for x in args(node, 2, "ALIAS ACTUAL"))
                table = spec.sens_aliases if kw.startswith("sens") else spec.cat_aliases
                table[stmt.qualify(alias)] = actual
        declared_s = self.mls_names.get("sensitivity", set())
        if declared_s - set(spec.sensitivities):
            missing = sorted(declared_s - set(spec.sensitivities))[0]
            raise CilError("", f"sensitivity {missing} is not in the sensitivityorder")
        spec.finish()
        for stmt in statements:
            if stmt.kw == "sensitivitycategory":
                sens_node, cats = args(stmt.node, 2, "SENSITIVITY CATEGORIES")
                sens = spec.sens(self.resolve_set(declared_s, atom(sens_node, "a sensitivity"), stmt,
                                                  "sensitivity"))
                spec.sens_cats[sens] = spec.sens_cats.get(sens, 0) | self.catset(cats, stmt)


def _atoms(nodes: Iterable[Node]) -> Iterable[str]:
    for node in nodes:
        if isinstance(node, Atom):
            if not node.quoted:
                yield node.value
        else:
            yield from _atoms(node.items)


def load_cil(paths: list[str] | None = None, texts: list[tuple[str, str]] | None = None) -> Policy:
    """Compile CIL files (and/or `(name, text)` pairs) into one policy."""
    files: list[list[SList]] = [parse_file(p) for p in paths or []]
    files += [parse(text, name) for name, text in texts or []]
    sources = [*(paths or []), *(name for name, _ in texts or [])]
    if not files:
        raise CilError("", "no policy given")
    return Builder().build(files, sources)
