"""Patterns parsed once per shape: `/usr/lib/x86_64-linux-gnu/*.so` and `/etc/app3/*.so`
have the same node tree except for their literal runs, so the tree of the shape
(`/a/a/a-a-a/*a`) is built once by the full pipeline (policy/aare) and each pattern of that
shape gets it with its own runs put back.

Only patterns made of letters, digits, `_`, `.`, `-`, `/`, `*`, `?` and bracket expressions
of letters, digits, `_`, `.` and `-` (`[0-9]`, `[a-z]`) take this path: outside the brackets
every run of letters, digits, `_` and `.` is plain text at every step of the pipeline (no
escape, alternation or operator), and the steps that look at neighbours (slash folding, `*`
as a whole component) see the same `/` in the shape. A bracket expression is kept as it is
in the shape, so the full pipeline makes its class (ranges, errors) from the real text; only
literal nodes get runs put back. Anything else is parsed in full.
tests/policy/test_aare_shapes.py compares both on generated patterns.
"""

from __future__ import annotations

import re

from stockade.policy.aare.pattern import Pattern, compile_seq
from stockade.policy.aare.pattern import parse as parse_in_full
from stockade.policy.aare.tokens import AareError
from stockade.policy.aare.tree import Seq

MAX_SHAPES = 4096
_SHAPED = re.compile(r"[A-Za-z0-9_./*?-]*[*?][A-Za-z0-9_./*?-]*")
_SHAPED_CLASS = re.compile(r"(?:[A-Za-z0-9_./*?-]|\[[A-Za-z0-9_.-]+\])*")
_RUN_SPLIT = re.compile(r"([A-Za-z0-9_.]+)")
_PIECE = re.compile(r"\[[A-Za-z0-9_.-]+\]|[A-Za-z0-9_.]+")  # a bracket expression or a run
_KINDS = frozenset({"lit", "star", "dstar", "any", "class"})


def _shape_of(text: str) -> tuple[str, list[str]] | None:
    """The pattern's shape and its runs, or None when it has no shape (parsed in full)."""
    if "[" not in text:
        if not _SHAPED.fullmatch(text):
            return None
        pieces = _RUN_SPLIT.split(text)  # the text between runs, then each run, in turn
        return "a".join(pieces[0::2]), pieces[1::2]
    if not _SHAPED_CLASS.fullmatch(text):
        return None
    pieces = _PIECE.findall(text)
    shape = _PIECE.sub(lambda m: m[0] if m[0][0] == "[" else "a", text)
    return shape, [p for p in pieces if p[0] != "["]


#: per node of a shape's tree: [its literal text as a %-format with a `%s` for each `a`, how
#: many], or the node itself; None for a shape the full parse refuses or cannot shape
Template = tuple[list | tuple, ...]
_shapes: dict[str, Template | None] = {}


def _template(shape_seq: Seq) -> Template | None:
    out: list[list | tuple] = []
    for node in shape_seq:
        if node[0] not in _KINDS:
            return None
        if node[0] == "lit":
            parts = node[1].replace("%", "%%").split("a")
            out.append(["%s".join(parts), len(parts) - 1])
        else:
            out.append(node)
    return tuple(out)


def _fill(template: Template, runs: list[str]) -> Seq | None:
    """The shape's tree with each `a` of its literals replaced by the next run (the regex is
    made from the tree when asked, aare.regex_of_tree); None when the runs do not fit."""
    seq: list[tuple] = []
    at = 0
    for piece in template:
        if type(piece) is tuple:
            seq.append(piece)
            continue
        fmt, k = piece
        mine = runs[at : at + k]
        if len(mine) != k:
            return None
        at += k
        seq.append(("lit", fmt % tuple(mine)))
    if at != len(runs):
        return None
    return tuple(seq)


def parse(text: str) -> Pattern:
    """aare.parse(text), from the tree of the pattern's shape where it has one."""
    found = _shape_of(text)
    if found is None:
        return parse_in_full(text)
    shape, runs = found
    if shape in _shapes:
        template = _shapes[shape]
    else:
        try:
            template = _template(compile_seq(shape))
        except AareError:
            template = None  # the pattern itself is parsed in full, for its own error
        if len(_shapes) < MAX_SHAPES:
            _shapes[shape] = template
    filled = _fill(template, runs) if template is not None else None
    if filled is None:
        return parse_in_full(text)
    return Pattern(text, filled, False)
