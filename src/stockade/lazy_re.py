"""What modules on a plan cache hit's path need of `re` without importing it there: a pattern
compiled when first used, and `escape`. A hit expands the program's own /proc rules with
plan.glob and policy.aare and reads the mount table, whose patterns it never matches:
importing `re` and compiling them cost it about 1 ms."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

#: the characters re.escape escapes (CPython 3.7+); escaping any other one would be harmless
_SPECIAL = {c: "\\" + chr(c) for c in b"()[]{}?*+-|^$\\.&~# \t\n\r\v\f"}


def escape(text: str) -> str:
    """`re.escape(text)`."""
    return text.translate(_SPECIAL)


class LazyPattern:
    """`re.compile(pattern)`, compiled at the first use of any of its attributes; after that
    its methods are the compiled pattern's own (bound once, as fast as a compiled one's)."""

    def __init__(self, pattern: str) -> None:
        self._pattern = pattern

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and friends ask for these on a bare object
            raise AttributeError(name)
        import re

        compiled = re.compile(self._pattern)
        for method in ("match", "fullmatch", "search", "sub", "subn", "split", "findall",
                       "finditer"):
            setattr(self, method, getattr(compiled, method))
        self.pattern = compiled.pattern
        return getattr(compiled, name)
