"""CIL's structure before its meaning: blocks, `in`, `blockinherit`, macros, `optional`.

`expand()` turns parsed files into a flat list of `Stmt`s, each remembering the namespace it
belongs to (`a.b` inside `(block a (block b ...))`), the macro namespace to fall back on for
name resolution, and the `optional` blocks around it. Names resolve as in libsepol/cil:
a leading `.` is global, otherwise the innermost enclosing namespace that declares it wins.
"""

from __future__ import annotations

import itertools
from collections.abc import Container, Iterator
from dataclasses import dataclass

from stockade.modules.selinux.cil.parser import Atom, CilError, Node, SList

MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Stmt:
    """One statement with the scope it is resolved in."""

    node: SList
    ns: str = ""
    fallback: str | None = None
    opts: tuple[int, ...] = ()

    @property
    def kw(self) -> str:
        """The statement's keyword."""
        return self.node.head

    def scopes(self) -> Iterator[str]:
        """Namespaces to try, innermost first: this one, its parents, then the macro's."""
        for ns in (self.ns, self.fallback):
            if ns is None:
                continue
            parts = ns.split(".") if ns else []
            for i in range(len(parts), -1, -1):
                yield ".".join(parts[:i])

    def qualify(self, name: str) -> str:
        """The full name of something this statement declares."""
        return f"{self.ns}.{name}" if self.ns else name


def join(ns: str, name: str) -> str:
    """`ns.name`, or `name` at the top."""
    return f"{ns}.{name}" if ns else name


def resolve(table: Container[str], name: str, stmt: Stmt, what: str) -> str:
    """The full name of `name` in `table` as seen from `stmt` (see `Stmt.scopes`); `.name` is
    global."""
    if name.startswith("."):
        if name[1:] in table:
            return name[1:]
    else:
        for scope in stmt.scopes():
            if join(scope, name) in table:
                return join(scope, name)
    raise CilError(str(stmt.node.pos), f"unknown {what} {name!r}")


def atom(node: Node, what: str) -> str:
    """The text of an atom; a list where a name was expected is an error."""
    if not isinstance(node, Atom):
        raise CilError(str(node.pos), f"expected {what}, found a list")
    return node.value


def args(node: SList, count: int | tuple[int, ...], usage: str) -> tuple[Node, ...]:
    """The statement's arguments after the keyword, checked for number."""
    counts = (count,) if isinstance(count, int) else count
    if len(node.items) - 1 not in counts:
        raise CilError(str(node.pos), f"wrong number of arguments: expected ({node.head} {usage})")
    return node.items[1:]


def substitute(node: Node, params: dict[str, Node]) -> Node:
    """A copy of `node` with macro parameters replaced by the call's arguments."""
    if isinstance(node, Atom):
        return params.get(node.value, node) if not node.quoted else node
    return SList(tuple(substitute(item, params) for item in node.items), node.pos)


class Expander:
    """Collects blocks and macros, applies `in` and `blockinherit`, expands `call`s."""

    def __init__(self) -> None:
        self.blocks: dict[str, list[SList]] = {}
        self.abstract: set[str] = set()
        self.macros: dict[str, tuple[str, list[tuple[str, str]], tuple[Node, ...]]] = {}
        self.out: list[Stmt] = []
        self.optionals: dict[int, tuple[str, SList]] = {}
        self._ins: list[tuple[Stmt, str, tuple[Node, ...]]] = []
        self._inherits: list[Stmt] = []
        self._calls: list[Stmt] = []
        self._ids = itertools.count(1)

    def collect(self, nodes: tuple[Node, ...] | list[SList], ns: str, fallback: str | None,
                opts: tuple[int, ...], *, inherited: bool = False) -> None:
        """Sort statements into blocks, macros, deferred work and plain statements."""
        for node in nodes:
            if not isinstance(node, SList) or not node.head:
                raise CilError(str(node.pos), "expected a statement in parentheses")
            kw = node.head
            stmt = Stmt(node, ns, fallback, opts)
            if kw == "block":
                if len(node.items) < 2:
                    raise CilError(str(node.pos), "expected (block NAME statement...)")
                full = join(ns, atom(node.items[1], "a block name"))
                if full in self.blocks and not inherited:
                    raise CilError(str(node.pos), f"block {full} is declared twice")
                self.blocks[full] = list(node.items[2:])  # type: ignore[arg-type]
                self.collect(node.items[2:], full, fallback, opts, inherited=inherited)
            elif kw == "blockabstract":
                if not inherited:
                    self.abstract.add(ns)
            elif kw == "in":
                rest = node.items[1:]
                if rest and isinstance(rest[0], Atom) and rest[0].value in ("before", "after"):
                    rest = rest[1:]
                if not rest:
                    raise CilError(str(node.pos), "expected (in BLOCK statement...)")
                self._ins.append((stmt, atom(rest[0], "a block name"), rest[1:]))
            elif kw == "blockinherit":
                args(node, 1, "BLOCK")
                self._inherits.append(stmt)
            elif kw == "macro":
                self._macro(node, ns)
            elif kw == "call":
                self._calls.append(stmt)
            elif kw == "optional":
                if len(node.items) < 2:
                    raise CilError(str(node.pos), "expected (optional NAME statement...)")
                oid = next(self._ids)
                self.optionals[oid] = (atom(node.items[1], "an optional name"), node)
                self.collect(node.items[2:], ns, fallback, (*opts, oid), inherited=inherited)
            else:
                self.out.append(stmt)

    def _macro(self, node: SList, ns: str) -> None:
        if len(node.items) < 3 or not isinstance(node.items[2], SList):
            raise CilError(str(node.pos), "expected (macro NAME ((TYPE PARAM)...) statement...)")
        params: list[tuple[str, str]] = []
        for p in node.items[2].items:
            if not isinstance(p, SList) or len(p.items) != 2:
                raise CilError(str(p.pos), "a macro parameter is (TYPE NAME)")
            params.append((atom(p.items[0], "a parameter type"), atom(p.items[1], "a parameter name")))
        self.macros[join(ns, atom(node.items[1], "a macro name"))] = (ns, params, node.items[3:])

    def finish(self) -> list[Stmt]:
        """Apply `in`, `blockinherit` and `call`; drop abstract blocks' own statements."""
        for stmt, name, body in self._ins:
            target = resolve(self.blocks, name, stmt, "block")
            self.blocks[target].extend(body)  # type: ignore[arg-type]
            self.collect(body, target, stmt.fallback, stmt.opts)
        rounds = 0
        while self._inherits or self._calls:
            rounds += 1
            if rounds > MAX_DEPTH:
                raise CilError("", "blockinherit or call nested too deeply (a cycle?)")
            inherits, self._inherits = self._inherits, []
            for stmt in inherits:
                name = atom(stmt.node.items[1], "a block name")
                target = resolve(self.blocks, name, stmt, "block")
                if stmt.ns == target or stmt.ns.startswith(target + "."):
                    raise CilError(str(stmt.node.pos), f"block {target} cannot inherit itself")
                self.collect(self.blocks[target], stmt.ns, stmt.fallback, stmt.opts, inherited=True)
            calls, self._calls = self._calls, []
            for stmt in calls:
                self._call(stmt)
        return [s for s in self.out if not self._in_abstract(s.ns)]

    def _in_abstract(self, ns: str) -> bool:
        return any(ns == a or ns.startswith(a + ".") for a in self.abstract)

    def _call(self, stmt: Stmt) -> None:
        node = stmt.node
        if len(node.items) not in (2, 3):
            raise CilError(str(node.pos), "expected (call MACRO (ARG...))")
        name = resolve(self.macros, atom(node.items[1], "a macro name"), stmt, "macro")
        macro_ns, params, body = self.macros[name]
        given: tuple[Node, ...] = ()
        if len(node.items) == 3:
            arg_list = node.items[2]
            if not isinstance(arg_list, SList):
                raise CilError(str(arg_list.pos), "macro arguments are a list: (call M (A B))")
            given = arg_list.items
        if len(given) != len(params):
            raise CilError(str(node.pos), f"macro {name} takes {len(params)} arguments, "
                                          f"{len(given)} given")
        mapping = {pname: arg for (_, pname), arg in zip(params, given, strict=True)}
        expanded = tuple(substitute(n, mapping) for n in body)
        self.collect(expanded, stmt.ns, macro_ns, stmt.opts)


def expand(files: list[list[SList]]) -> tuple[list[Stmt], dict[int, tuple[str, SList]]]:
    """Flatten parsed CIL files into statements with scopes; also return the optionals."""
    expander = Expander()
    for statements in files:
        expander.collect(statements, "", None, ())
    return expander.finish(), expander.optionals
