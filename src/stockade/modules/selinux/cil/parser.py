"""CIL's surface syntax: s-expressions with positions.

CIL (the SELinux Common Intermediate Language, libsepol/cil) is parenthesised lists of atoms.
Atoms are bare words or double-quoted strings; `;` starts a comment to the end of the line.
Every node keeps `file:line:col` so that errors in later passes can point at the source.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from stockade.errors import StockadeError


class CilError(StockadeError):
    """A policy error at a source position: `file:line:col: message`."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.detail = message


class Pos(NamedTuple):
    """A source position."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Atom:
    """A word or a quoted string."""

    __slots__ = ("pos", "quoted", "value")

    def __init__(self, value: str, pos: Pos, quoted: bool = False) -> None:
        self.value = value
        self.pos = pos
        self.quoted = quoted

    def __repr__(self) -> str:
        return f"Atom({self.value!r})"

    def __str__(self) -> str:
        return f'"{self.value}"' if self.quoted else self.value


class SList:
    """A parenthesised list."""

    __slots__ = ("items", "pos")

    def __init__(self, items: tuple[Node, ...], pos: Pos) -> None:
        self.items = items
        self.pos = pos

    @property
    def head(self) -> str:
        """The keyword of a statement: the first item when it is an atom."""
        if self.items and isinstance(self.items[0], Atom):
            return self.items[0].value
        return ""

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"SList{self.items!r}"

    def __str__(self) -> str:
        return "(" + " ".join(str(i) for i in self.items) + ")"


Node = Atom | SList

_TOKEN = re.compile(r'\n|[ \t\r\f\v]+|;[^\n]*|\(|\)|"[^"\n]*"|"|[^\s();"]+')


def parse(text: str, filename: str = "<cil>") -> list[SList]:
    """The top-level statements of a CIL text."""
    stack: list[tuple[Pos, list[Node]]] = [(Pos(filename, 1, 1), [])]
    items = stack[0][1]
    line, line_start = 1, 0
    for m in _TOKEN.finditer(text):
        tok = m.group()
        c = tok[0]
        if c == "\n":
            line += 1
            line_start = m.end()
        elif c in " \t\r\f\v;":
            continue
        elif c == "(":
            items = []
            stack.append((Pos(filename, line, m.start() - line_start + 1), items))
        elif c == ")":
            if len(stack) == 1:
                raise CilError(str(Pos(filename, line, m.start() - line_start + 1)), "unbalanced ')'")
            open_pos, done = stack.pop()
            items = stack[-1][1]
            items.append(SList(tuple(done), open_pos))
        elif c == '"':
            pos = Pos(filename, line, m.start() - line_start + 1)
            if len(tok) == 1:
                raise CilError(str(pos), "unterminated quoted string")
            items.append(Atom(tok[1:-1], pos, True))
        else:
            items.append(Atom(tok, Pos(filename, line, m.start() - line_start + 1)))
    if len(stack) > 1:
        raise CilError(str(stack[-1][0]), "unclosed '(': expected ')' before end of file")
    top: list[SList] = []
    for node in stack[0][1]:
        if not isinstance(node, SList):
            raise CilError(str(node.pos), f"expected a statement in parentheses, not {node.value!r}")
        top.append(node)
    return top


def parse_file(path: str) -> list[SList]:
    """Parse a CIL file; a missing or unreadable file is a StockadeError."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise StockadeError(f"cannot read policy {path}: {err}") from None
    return parse(text, path)
