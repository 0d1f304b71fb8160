"""Preamble variables (`@{VAR} = a b`, `+=`), boolean variables and their expansion.

A variable with several values expands to an alternation `{a,b}`; values may use other
variables. Redefining with `=` and appending to an undefined variable are errors, as in
apparmor_parser; so is a reference to a variable that is never declared.
"""

from __future__ import annotations

import re

from stockade.policy import ast
from stockade.policy.limits import MAX_EXPANSION_CHARS, MAX_VARIABLE_DEPTH

_REF = re.compile(r"@\{([^}]*)\}")


class VariableError(ValueError):
    """An undefined or malformed variable reference; `offset` indexes the expanded text."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


def _bounded(text: str, name: str | None) -> str:
    """`text`, unless an expansion grew past MAX_EXPANSION_CHARS (variables that double
    through each other reach gigabytes in a few lines)."""
    if len(text) > MAX_EXPANSION_CHARS:
        where = f"@{{{name}}}" if name else "a rule"
        raise VariableError(f"{where} expands to more than {MAX_EXPANSION_CHARS} characters")
    return text


class Variables:
    """The set and boolean variables visible to a profile."""

    def __init__(self) -> None:
        self.sets: dict[str, list[str]] = {}
        self.bools: dict[str, bool] = {}
        self._cache: dict[str, str] = {}

    def copy(self) -> Variables:
        """A copy (for per-profile built-ins such as @{profile_name})."""
        out = Variables()
        out.sets = {k: list(v) for k, v in self.sets.items()}
        out.bools = dict(self.bools)
        return out

    def assign(self, node: ast.VarAssign) -> None:
        """Apply `@{X} = ...` or `@{X} += ...`; ValueError carries apparmor's message."""
        if node.append:
            if node.name not in self.sets:
                raise ValueError(f"variable @{{{node.name}}} was not previously declared, "
                                 "but is being assigned additional values")
            self.sets[node.name].extend(node.values)
        else:
            if node.name in self.sets:
                raise ValueError(f"variable @{{{node.name}}} was previously declared")
            self.sets[node.name] = list(node.values)
        self._cache.clear()

    def set_builtin(self, name: str, value: str) -> None:
        """Define or replace a built-in variable such as @{profile_name}."""
        self.sets[name] = [value]
        self._cache.clear()

    def assign_bool(self, node: ast.BoolAssign) -> None:
        """Apply `${X} = true|false`."""
        if node.name in self.bools:
            raise ValueError(f"boolean variable ${{{node.name}}} was previously declared")
        self.bools[node.name] = node.value

    def _value(self, name: str, stack: tuple[str, ...]) -> str:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        if name in stack:
            raise VariableError(f"variable @{{{name}}} is defined in terms of itself")
        if len(stack) >= MAX_VARIABLE_DEPTH:
            raise VariableError(f"variables defined through more than {MAX_VARIABLE_DEPTH} "
                                f"other variables (at @{{{name}}})")
        values = [self._expand(v, (*stack, name)) for v in self.sets[name]]
        values = [v[1:-1] if len(v) >= 2 and v[0] == v[-1] == '"' else v for v in values]
        out = values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
        _bounded(out, name)
        self._cache[name] = out
        return out

    def _expand(self, text: str, stack: tuple[str, ...]) -> str:
        if "@{" not in text:
            return text
        parts: list[str] = []
        last = 0
        for m in _REF.finditer(text):
            name = m.group(1)
            if not name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise VariableError(f"invalid variable name @{{{name}}}", m.start())
            if name not in self.sets:
                raise VariableError(
                    f"Found reference to variable {name}, but is never declared", m.start())
            parts.append(text[last : m.start()])
            parts.append(self._value(name, stack))
            last = m.end()
        parts.append(text[last:])
        return _bounded("".join(parts), None)

    def expand(self, text: str) -> str:
        """`text` with every @{VAR} replaced; VariableError names the offset of a bad one."""
        return self._expand(text, ())

    def defined(self, name: str) -> bool:
        """`defined @{X}` / `defined ${X}` of conditionals."""
        if name.startswith("@{"):
            return name[2:-1] in self.sets
        return name[2:-1] in self.bools

    def evaluate(self, cond: ast.Cond) -> bool:
        """Value of an `if` condition; KeyError names an unknown boolean."""
        if cond.op == "bool":
            return self.bools[cond.name]
        if cond.op == "defined":
            return self.defined(cond.name)
        if cond.op == "not":
            return not self.evaluate(cond.args[0])
        if cond.op == "and":
            return self.evaluate(cond.args[0]) and self.evaluate(cond.args[1])
        return self.evaluate(cond.args[0]) or self.evaluate(cond.args[1])
