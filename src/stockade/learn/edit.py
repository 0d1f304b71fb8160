"""Adding rules to a profile file in place, keeping its comments and layout."""

from __future__ import annotations

import difflib

from stockade.errors import StockadeError
from stockade.policy.ast import Profile
from stockade.policy.lexer import Lexer, T
from stockade.policy.parser import parse_text


def _profile_close(text: str, filename: str, name: str | None) -> tuple[int, str]:
    """Offset of the `}` that closes profile `name` (or the first profile), and its indent."""
    profiles = [n for n in parse_text(text, filename) if isinstance(n, Profile)]
    chosen = next((p for p in profiles if name is None or name in (p.name, p.attachment)), None)
    if chosen is None:
        known = ", ".join(p.name for p in profiles) or "none"
        raise StockadeError(f"{filename}: no profile {name!r} (profiles: {known})")
    depth = None
    for tok in Lexer(text, filename).tokens():
        if depth is None:
            if (tok.line, tok.col) >= (chosen.pos.line, chosen.pos.col) and tok.kind is T.LBRACE:
                depth = 1
            continue
        if tok.kind is T.LBRACE:
            depth += 1
        elif tok.kind is T.RBRACE:
            depth -= 1
            if depth == 0:
                line_start = text.rfind("\n", 0, tok.start) + 1
                indent = text[line_start:tok.start]
                return tok.start, indent if not indent.strip() else ""
    raise StockadeError(f"{filename}: profile {chosen.name!r} is not closed")


def insert_rules(text: str, filename: str, rules: list[str], profile: str | None = None) -> str:
    """`text` with `rules` added at the end of `profile`'s body, indented like its close + 2."""
    if not rules:
        return text
    close, indent = _profile_close(text, filename, profile)
    body_indent = indent + "  "
    line_start = text.rfind("\n", 0, close) + 1
    before = text[:line_start]
    if not before.endswith("\n"):
        before += "\n"
    added = "".join(f"{body_indent}{rule}\n" for rule in rules)
    return before + added + text[line_start:]


def unified_diff(old: str, new: str, filename: str) -> str:
    """A unified diff of a profile before and after, as `diff -u` prints it."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=filename, tofile=filename + " (proposed)"))
