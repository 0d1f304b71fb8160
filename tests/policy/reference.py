"""A slow, independent reference matcher for AARE semantics (used by property tests).

It never builds a regex: runs of '/' are folded in the pattern text (a leading '//' kept),
the pattern is tokenized character by character, alternations are expanded into every
alternative string, and matching is a memoized recursion over (pattern index, path index).
Only the plain subset of AARE is covered (no escapes but `\\x`, no globs inside classes).
"""

from __future__ import annotations

from functools import cache

MAX_ALTERNATIVES = 4096  # nested alternations multiply: a generated pattern can stand for 10^14


class TooManyAlternatives(ValueError):
    """The pattern stands for more alternatives than the reference expands."""


def _tokens(text: str) -> list[tuple]:
    out: list[tuple] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            out.append(("c", text[i + 1]))
            i += 2
        elif ch == "*":
            j = i
            while j < len(text) and text[j] == "*":
                j += 1
            before_slash = i == 0 or text[i - 1] == "/"
            after_slash = j == len(text) or text[j] == "/"
            out.append(("**" if j - i > 1 else "*", before_slash and after_slash))
            i = j
        elif ch == "?":
            out.append(("?",))
            i += 1
        elif ch == "[":
            j = i + 1
            neg = j < len(text) and text[j] == "^"
            if neg:
                j += 1
            members: set[str] = set()
            first = True
            while text[j] != "]" or first:
                if j + 2 < len(text) and text[j + 1] == "-" and text[j + 2] != "]":
                    for k in range(ord(text[j]), ord(text[j + 2]) + 1):
                        members.add(chr(k))
                    j += 3
                else:
                    members.add(text[j])
                    j += 1
                first = False
            out.append(("[", neg, frozenset(members)))
            i = j + 1
        elif ch in "{},":
            out.append((ch,))
            i += 1
        else:
            out.append(("c", ch))
            i += 1
    return out


def _expand(toks: list[tuple]) -> list[list[tuple]]:
    """All alternatives of a token list with `{`, `,`, `}` markers."""
    def seq(i: int) -> tuple[list[list[tuple]], int]:
        results: list[list[tuple]] = [[]]
        while i < len(toks) and toks[i][0] not in (",", "}"):
            if toks[i][0] == "{":
                options: list[list[tuple]] = []
                i += 1
                while True:
                    alts, i = seq(i)
                    options.extend(alts)
                    if toks[i][0] == "}":
                        i += 1
                        break
                    i += 1
                if len(results) * len(options) > MAX_ALTERNATIVES:
                    raise TooManyAlternatives(f"more than {MAX_ALTERNATIVES} alternatives")
                results = [r + o for r in results for o in options]
            else:
                results = [[*r, toks[i]] for r in results]
                i += 1
        return results, i

    alts, _ = seq(0)
    return alts


def _fold_text(text: str) -> str:
    keep = "//" if text.startswith("//") and not text.startswith("///") else ""
    rest = text[len(keep):]
    while "//" in rest:
        rest = rest.replace("//", "/")
    return keep + rest


def _match_one(pat: tuple[tuple, ...], path: str) -> bool:
    @cache
    def m(pi: int, si: int) -> bool:
        if pi == len(pat):
            return si == len(path)
        t = pat[pi]
        kind = t[0]
        if kind == "c":
            return si < len(path) and path[si] == t[1] and m(pi + 1, si + 1)
        if kind == "?":
            return si < len(path) and path[si] != "/" and m(pi + 1, si + 1)
        if kind == "[":
            if si >= len(path):
                return False
            inside = path[si] in t[2]
            return (inside != t[1]) and m(pi + 1, si + 1)
        whole = t[1]
        # how many characters the star consumes
        for n in range(len(path) - si + 1):
            chunk = path[si : si + n]
            if kind == "*" and "/" in chunk:
                break
            if whole and (n == 0 or chunk[0] == "/"):
                continue
            if m(pi + 1, si + n):
                return True
        return False

    return m(0, 0)


def ref_match(pattern: str, path: str, is_dir: bool = False) -> bool:
    """Whether `pattern` (variables already expanded) matches `path`; TooManyAlternatives
    past MAX_ALTERNATIVES (memory bounded: the caller skips such a pattern)."""
    while "//" in path:
        path = path.replace("//", "/")
    if is_dir and not path.endswith("/"):
        path += "/"
    return any(_match_one(tuple(alt), path) for alt in _expand(_tokens(_fold_text(pattern))))
