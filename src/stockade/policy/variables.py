"""Preamble variables (`@{VAR} = a b`, `+=`), boolean variables and their expansion.

A variable with several values expands to an alternation `{a,b}`; values may use other
variables (expanded to every combination, at most MAX_VALUES). Redefining with `=` and
appending to an undefined variable are errors, as in apparmor_parser; `?=` assigns only
when undefined and `:=` replaces (parser_yacc.y varassign). A reference to a variable that
is never declared is an error; names start with a letter (parser_lex.l VARIABLE_NAME).
"""

from __future__ import annotations

import re

from stockade.policy import ast
from stockade.policy.limits import MAX_EXPANSION_CHARS, MAX_VARIABLE_DEPTH

_REF = re.compile(r"@\{([^}]*)\}")
MAX_VALUES = 4096  # values one variable may expand to (nested variables multiply)


class VariableError(ValueError):
    """An undefined or malformed variable reference; `offset` indexes the expanded text."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


def _check_size(chars: int, name: str | None) -> None:
    """Refuse an expansion of `chars` characters past MAX_EXPANSION_CHARS, before it is built
    (variables that double through each other reach gigabytes in a few lines)."""
    if chars > MAX_EXPANSION_CHARS:
        where = f"@{{{name}}}" if name else "a rule"
        raise VariableError(f"{where} expands to more than {MAX_EXPANSION_CHARS} characters")


class Variables:
    """The set and boolean variables visible to a profile."""

    def __init__(self) -> None:
        self.sets: dict[str, list[str]] = {}
        self.bools: dict[str, bool] = {}
        self._cache: dict[str, list[str]] = {}

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
        elif node.op == "?=":
            self.sets.setdefault(node.name, list(node.values))
        elif node.op == ":=":
            self.sets[node.name] = list(node.values)
        else:
            if node.name in self.sets or node.name in self.bools:
                raise ValueError(f"variable @{{{node.name}}} was previously declared")
            self.sets[node.name] = list(node.values)
        self._cache.clear()

    def set_builtin(self, name: str, value: str | None) -> None:
        """Define or replace a built-in variable such as @{profile_name}; None removes it."""
        if value is None:
            self.sets.pop(name, None)
        else:
            self.sets[name] = [value]
        self._cache.clear()

    def set_profile_builtins(self, name: str, attachment: str | None) -> None:
        """@{profile_name}, and @{attach_path} and @{exec_path} (the attachment, only when
        the profile has one; parser_variable.c process_profile_variables)."""
        self.set_builtin("profile_name", name)
        self.set_builtin("attach_path", attachment)
        self.set_builtin("exec_path", attachment)

    def assign_bool(self, node: ast.BoolAssign) -> None:
        """Apply `${X} = true|false` (or `= CONDITION`); KeyError names an unknown boolean."""
        value = self.evaluate(node.expr) if node.expr is not None else node.value
        if node.op == "?=":
            self.bools.setdefault(node.name, value)
            return
        if node.op == "=" and (node.name in self.bools or node.name in self.sets):
            raise ValueError(f"boolean variable ${{{node.name}}} was previously declared")
        self.bools[node.name] = value

    def _values(self, name: str, stack: tuple[str, ...]) -> list[str]:
        """Every value of @{name}, variables in them expanded (upstream's expand_variable)."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        if name in stack:
            raise VariableError(f"variable @{{{name}}} is defined in terms of itself")
        if len(stack) >= MAX_VARIABLE_DEPTH:
            raise VariableError(f"variables defined through more than {MAX_VARIABLE_DEPTH} "
                                f"other variables (at @{{{name}}})")
        out: list[str] = []
        chars = 0
        for value in self.sets[name]:
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            more = self._combinations(value, (*stack, name))
            chars += sum(map(len, more))
            _check_size(chars, name)
            out.extend(more)
            if len(out) > MAX_VALUES:
                raise VariableError(f"@{{{name}}} expands to more than {MAX_VALUES} values")
        out = list(dict.fromkeys(out))
        self._cache[name] = out
        return out

    def _combinations(self, text: str, stack: tuple[str, ...]) -> list[str]:
        """Every string `text` (a value of stack[-1]) stands for, each reference replaced by
        each of its values; counted (MAX_VALUES) and sized before each step is built."""
        out = [""]
        last = 0
        for m in _REF.finditer(text):
            values = self._values(self._checked(m), stack)
            lit = text[last:m.start()]
            if len(out) * len(values) > MAX_VALUES:
                raise VariableError(f"a variable expands to more than {MAX_VALUES} values",
                                    m.start())
            _check_size(len(values) * sum(map(len, out)) + len(out) * (
                len(values) * len(lit) + sum(map(len, values))), stack[-1])
            out = [o + lit + v for o in out for v in values]
            last = m.end()
        tail = text[last:]
        _check_size(sum(map(len, out)) + len(out) * len(tail), stack[-1])
        return [o + tail for o in out]

    def _checked(self, m: re.Match[str], base: int = 0) -> str:
        name = m.group(1)
        if not name or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):  # parser_lex.l
            raise VariableError(f"invalid variable name @{{{name}}}", base + m.start())
        if name not in self.sets:
            raise VariableError(
                f"Found reference to variable {name}, but is never declared", base + m.start())
        return name

    def _expand(self, text: str, stack: tuple[str, ...]) -> str:
        """Each reference becomes its value or `{a,b}`; as apparmor_parser 3.0.8 does
        (expand_by_alternation), the values lose their leading slashes after a `/` and
        their trailing slashes before one, so `@{etc_ro}/x` never holds `//`."""
        if "@{" not in text:
            return text
        done = ""
        rest = text
        base = 0
        while True:
            m = _REF.search(rest)
            if m is None:
                return done + rest
            values = self._values(self._checked(m, base), stack)
            prefix, suffix = done + rest[:m.start()], rest[m.end():]
            if prefix.endswith("/"):
                values = [v.lstrip("/") for v in values]
            if suffix.startswith("/"):
                values = [v.rstrip("/") for v in values]
            values = list(dict.fromkeys(values))
            _check_size(len(prefix) + sum(map(len, values)) + len(values) + 1, None)
            done = prefix + (values[0] if len(values) == 1 else "{" + ",".join(values) + "}")
            base += m.end()
            rest = suffix

    def expand(self, text: str) -> str:
        """`text` with every @{VAR} replaced; VariableError names the offset of a bad one."""
        return self._expand(text, ())

    def _operand(self, text: str) -> list[str]:
        """A comparison side as a set (cond_expr.cc get_set): a variable's expanded values,
        or the word itself."""
        m = re.fullmatch(r"@(?:\{([A-Za-z][A-Za-z0-9_]*)\}|([A-Za-z][A-Za-z0-9_]*))", text)
        if not m:
            return [text]
        name = m.group(1) or m.group(2)
        if name not in self.sets:
            raise VariableError(f"Error retrieving variable {text}")
        return sorted({self._expand(v, (name,)) for v in self.sets[name]})

    @staticmethod
    def _compare(op: str, lhs: list[str], rhs: list[str]) -> bool:
        """cond_expr.cc: `in` is a subset test, == and != compare sets; the orderings compare
        two numbers (one value each, strtol base 0) or two sets, never one with the other."""
        if op == "in":
            return set(lhs) <= set(rhs)
        if op in ("==", "!="):
            return (set(lhs) == set(rhs)) == (op == "==")

        def number(vals: list[str]) -> int | None:
            if len(vals) != 1:
                return None
            try:
                return int(vals[0], 0)
            except ValueError:
                return None

        a, b = number(lhs), number(rhs)
        left: object
        right: object
        if a is not None and b is not None:
            left, right = a, b
        elif a is None and b is None:
            left, right = lhs, rhs
        else:
            raise VariableError("Can only compare numbers with numbers")
        return {">": left > right, ">=": left >= right, "<": left < right,  # type: ignore[operator]
                "<=": left <= right}[op]  # type: ignore[operator]

    def defined(self, name: str) -> bool:
        """`defined @{X}` / `defined ${X}` of conditionals."""
        if name.startswith("@{"):
            return name[2:-1] in self.sets
        return name[2:-1] in self.bools

    def evaluate(self, cond: ast.Cond) -> bool:
        """Value of an `if` condition; KeyError names an unknown boolean, VariableError a
        bad comparison."""
        if cond.op == "bool":
            return self.bools[cond.name]
        if cond.op == "value":
            return cond.name == "true"
        if cond.op == "cmp":
            return self._compare(cond.name, self._operand(cond.lhs), self._operand(cond.rhs))
        if cond.op == "defined":
            return self.defined(cond.name)
        if cond.op == "not":
            return not self.evaluate(cond.args[0])
        if cond.op == "and":
            return self.evaluate(cond.args[0]) and self.evaluate(cond.args[1])
        return self.evaluate(cond.args[0]) or self.evaluate(cond.args[1])
