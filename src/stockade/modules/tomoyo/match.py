"""TOMOYO's pathname patterns, with the semantics of the kernel's
tomoyo_path_matches_pattern() (security/tomoyo/util.c).

Names are compared in TOMOYO's encoding (`\\ooo` for bytes <= 0x20 or >= 0x7F, `\\\\` for a
backslash), so an escape in a name is one character for the wildcards:

  \\*  zero or more characters other than `/`     \\@  the same, without `.`
  \\?  one character other than `/`               \\$  one or more decimal digits
  \\+  one decimal digit                          \\X  one or more hexadecimal digits
  \\x  one hexadecimal digit                      \\A  one or more letters
  \\a  one letter                                 \\-  "but not": `a\\-b\\-c` is a, not b, not c
  /\\{dir\\}/  one or more `dir/` components, each matching the pattern `dir`

A name without wildcards is compared as a string; a directory (a name ending in `/`) only
matches a pattern that ends in `/`, and the other way round. Each component of a pattern is
compiled once into a regular expression (bounded cache).
"""

from __future__ import annotations

import re
from functools import lru_cache

from stockade.modules.tomoyo.words import is_patterned

# one character of an encoded name: an escaped backslash, an \ooo byte, or a plain character
_UNIT = r"(?:\\\\|\\[0-3][0-7][0-7]|[^\\/])"
_UNIT_NO_DOT = r"(?:\\\\|\\[0-3][0-7][0-7]|[^\\/.])"
_WILD = {
    "*": f"{_UNIT}*", "@": f"{_UNIT_NO_DOT}*", "?": _UNIT, "$": "[0-9]+", "+": "[0-9]",
    "X": "[0-9a-fA-F]+", "x": "[0-9a-fA-F]", "A": "[A-Za-z]+", "a": "[A-Za-z]",
}


def _split_subtraction(component: str) -> list[str]:
    """`a\\-b\\-c` → [a, b, c]; `\\\\` and `\\ooo` are not split."""
    parts: list[str] = []
    start = i = 0
    while i < len(component) - 1:
        if component[i] == "\\":
            if component[i + 1] == "-":
                parts.append(component[start:i])
                start = i + 2
            i += 2
        else:
            i += 1
    parts.append(component[start:])
    return parts


def _regex(part: str) -> re.Pattern[str] | None:
    """A full-match regex for one `\\-`-free component pattern (None: a bad pattern)."""
    out: list[str] = []
    i = 0
    while i < len(part):
        c = part[i]
        if c != "\\":
            out.append(re.escape(c))
            i += 1
            continue
        nxt = part[i + 1] if i + 1 < len(part) else ""
        if nxt in _WILD:
            out.append(_WILD[nxt])
            i += 2
        elif nxt == "\\":
            out.append(r"\\\\")
            i += 2
        elif nxt in "0123" and re.fullmatch(r"[0-7]{2}", part[i + 2:i + 4]):
            out.append(re.escape(part[i:i + 4]))
            i += 4
        else:
            return None
    return re.compile("".join(out), re.DOTALL)


@lru_cache(maxsize=4096)
def _component(pattern: str) -> tuple[re.Pattern[str] | None, ...]:
    return tuple(_regex(part) for part in _split_subtraction(pattern))


def component_matches(name: str, pattern: str) -> bool:
    """One `/`-free component against one pattern component (with `\\-`)."""
    compiled = _component(pattern)
    first = compiled[0]
    if first is None or not first.fullmatch(name):
        return False
    return all(sub is not None and not sub.fullmatch(name) for sub in compiled[1:])


def const_len(pattern: str) -> int:
    """How many leading characters of `pattern` are literal (escapes \\\\ and \\ooo count)."""
    i = 0
    while i < len(pattern):
        if pattern[i] != "\\":
            i += 1
            continue
        if pattern[i + 1:i + 2] == "\\":
            i += 2
        elif re.fullmatch(r"[0-3][0-7]{2}", pattern[i + 1:i + 4]):
            i += 4
        else:
            break
    return i


def _head(text: str) -> tuple[str, str, bool]:
    """(first component, rest after its `/`, whether a `/` followed)."""
    comp, sep, rest = text.partition("/")
    return comp, rest, bool(sep)


def _walk(name: str, pattern: str) -> bool:
    """Component by component, `\\{...\\}` repetitions by backtracking."""
    while name and pattern:
        p_comp, p_rest, p_slash = _head(pattern)
        if p_comp.startswith("\\{"):
            return _repeat(name, p_comp, p_rest, p_slash)
        n_comp, n_rest, _ = _head(name)
        if not component_matches(n_comp, p_comp):
            return False
        name, pattern = n_rest, p_rest
    while pattern.startswith(("\\*", "\\@")):
        pattern = pattern[2:]
    return not name and not pattern


def _repeat(name: str, p_comp: str, p_rest: str, p_slash: bool) -> bool:
    """`\\{inner\\}/` then `p_rest`: one or more components matching `inner`, each followed
    by `/`, then the rest."""
    if not p_slash or len(p_comp) <= 3 or not p_comp.endswith("\\}"):
        return False  # a bad pattern
    inner = p_comp[2:-2]
    while True:
        n_comp, n_rest, n_slash = _head(name)
        if not component_matches(n_comp, inner) or not n_slash:
            return False
        if _walk(n_rest, p_rest):
            return True
        name = n_rest
        if "/" not in name:
            return False


@lru_cache(maxsize=8192)
def _pattern_info(pattern: str) -> tuple[bool, bool, str, str]:
    """(patterned, is a directory, literal prefix, the rest) of a pattern, computed once."""
    n = const_len(pattern)
    return is_patterned(pattern), pattern.endswith("/"), pattern[:n], pattern[n:]


def path_matches_pattern(name: str, pattern: str) -> bool:
    """Whether the encoded `name` matches the TOMOYO `pattern`."""
    patterned, is_dir, prefix, rest = _pattern_info(pattern)
    if not patterned:
        return name == pattern
    if name.endswith("/") != is_dir or not name.startswith(prefix):
        return False
    return _walk(name[len(prefix):], rest)
