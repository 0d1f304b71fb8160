"""File access modes: the `r w a l k m` letters, exec modes (`ix`, `Px`, `CUx`...) and parsing."""

from __future__ import annotations

import re
from enum import IntFlag
from functools import lru_cache


class Perm(IntFlag):
    """File permissions of apparmor.d(5): read, write, append, link, lock, mmap-exec, exec."""

    NONE = 0
    READ = 1  # r
    WRITE = 2  # w
    APPEND = 4  # a
    LINK = 8  # l
    LOCK = 16  # k
    MMAP = 32  # m
    EXEC = 64  # x

    def letters(self) -> str:
        """The mode as apparmor letters in canonical order, e.g. 'rwk'."""
        return "".join(ch for ch, bit in _LETTERS.items() if self & bit)


_LETTERS: dict[str, Perm] = {
    "r": Perm.READ, "w": Perm.WRITE, "a": Perm.APPEND, "l": Perm.LINK,
    "k": Perm.LOCK, "m": Perm.MMAP, "x": Perm.EXEC,
}

ALL_FILE_PERMS = Perm.READ | Perm.WRITE | Perm.APPEND | Perm.LINK | Perm.LOCK | Perm.MMAP

#: Every exec mode of apparmor.d(5) (the letters before `x`, with `x`).
EXEC_MODES: frozenset[str] = frozenset({
    "ix", "px", "Px", "cx", "Cx", "ux", "Ux",
    "pix", "Pix", "cix", "Cix", "pux", "PUx", "cux", "CUx",
})
#: Modes that may run the program unconfined.
UNCONFINED_EXEC_MODES: frozenset[str] = frozenset({"ux", "Ux", "pux", "PUx", "cux", "CUx"})

_PLAIN = {
    "r": Perm.READ, "w": Perm.WRITE, "a": Perm.APPEND, "l": Perm.LINK,
    "k": Perm.LOCK, "m": Perm.MMAP,
}
# One mode unit, as parser_lex.l MODE_CHARS: a plain letter ([RrWwaLlMmkXx]: no upper-case
# A or K), or an exec unit [Pp]/[Cc] x, or ([Pp]|[Cc])?[IiUu] x.
_UNIT = r"[RrWwaLlMmk]|[PpCc][Xx]|[PpCc]?[IiUu][Xx]|[Xx]"
_UNIT_RE = re.compile(_UNIT)
_MODE_RE = re.compile(f"(?:{_UNIT})+")


def looks_like_mode(word: str) -> bool:
    """Whether a word lexes as a mode string (apparmor's TOK_MODE), as opposed to a name."""
    return bool(_MODE_RE.fullmatch(word))


def canonical_exec_mode(unit: str) -> str:
    """Canonical spelling of an exec unit: 'PIX' -> 'Pix', 'Pux' -> 'PUx', 'pUx' -> 'PUx'."""
    mods = unit[:-1]
    scrub = any(c.isupper() for c in mods)
    low = mods.lower()
    if low in ("i", ""):
        return low + "x"
    if low == "u":
        return "Ux" if scrub else "ux"
    if len(low) == 1:
        return (low.upper() if scrub else low) + "x"
    if low[1] == "i":
        return (low[0].upper() if scrub else low[0]) + "ix"
    return (low[0].upper() + "U" if scrub else low) + "x"


@lru_cache(maxsize=1024)  # a pure function of a few dozen distinct words per corpus
def parse_mode(word: str, *, deny: bool, named: bool = False) -> tuple[Perm, str | None]:
    """Parse a file mode into (perms, canonical exec mode); ValueError with apparmor's reason.

    `w` also grants append (writing covers appending); `w` and `a` together are an error,
    as are two different exec modes, a bare `x` in an allow rule (except with a named
    transition, `x -> profile`, which is `px`) and a modified `x` in a deny rule.
    """
    if not looks_like_mode(word):
        raise ValueError(f"Invalid mode '{word}'")
    perms = Perm.NONE
    exec_mode: str | None = None
    seen_exec = False
    for m in _UNIT_RE.finditer(word):
        unit = m.group(0)
        if len(unit) == 1 and unit.lower() != "x":
            perms |= _PLAIN[unit.lower()]
            continue
        if seen_exec:
            # parser_misc.c IS_DIFF_QUAL: repeating the same exec mode is fine (`pxpx`)
            if len(unit) > 1 and exec_mode == canonical_exec_mode(unit):
                continue
            raise ValueError(
                f"Exec qualifier '{unit[0]}' invalid, conflicting qualifier already specified"
            )
        seen_exec = True
        perms |= Perm.EXEC
        if deny:
            if len(unit) > 1:
                raise ValueError(
                    "Invalid mode, in deny rules 'x' must not be preceded by exec "
                    "qualifier 'i', 'p', or 'u'"
                )
        else:
            if len(unit) == 1 and named:
                exec_mode = "px"
                continue
            if len(unit) == 1:
                raise ValueError(
                    "Invalid mode, 'x' must be preceded by exec qualifier 'i', 'p', 'c', or 'u'"
                )
            exec_mode = canonical_exec_mode(unit)
    if perms & Perm.WRITE and perms & Perm.APPEND:
        raise ValueError("Conflict 'a' and 'w' perms are mutually exclusive.")
    if perms & Perm.WRITE:
        perms |= Perm.APPEND
    return perms, exec_mode


def perms_of(word: str) -> Perm:
    """The plain permission letters of a mode word, ignoring exec units (for checks that
    need no exec validation, such as `subset` taking link permission only)."""
    out = Perm.NONE
    for m in _UNIT_RE.finditer(word):
        unit = m.group(0)
        out |= _PLAIN.get(unit.lower(), Perm.EXEC) if len(unit) == 1 else Perm.EXEC
    return out
