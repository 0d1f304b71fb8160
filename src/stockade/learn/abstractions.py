"""Which abstractions cover what a program did, as aa-genprof includes them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from stockade.errors import StockadeError
from stockade.learn.proposals import Access
from stockade.policy import CompiledProfile, Perm, compile_profiles

# Tried in this order; `base` is always included, as aa-genprof does.
CANDIDATES = ("base", "nameservice", "consoles", "python", "bash", "openssl")
_BITS = {"r": Perm.READ, "w": Perm.WRITE, "a": Perm.APPEND, "m": Perm.MMAP, "k": Perm.LOCK,
         "l": Perm.LINK}


@lru_cache(maxsize=32)
def _abstraction(name: str, include_dirs: tuple[str, ...]) -> CompiledProfile | None:
    text = f"include <tunables/global>\nprofile t {{\n  include <abstractions/{name}>\n}}\n"
    try:
        return compile_profiles(text, list(include_dirs))[0]
    except StockadeError:
        return None  # this abstraction is not available here


def covers(profile: CompiledProfile, access: Access) -> bool:
    """True when `profile` grants everything `access` needs."""
    if access.kind == "exec":
        return profile.file_perms(access.path).allows(Perm.EXEC)
    if access.kind != "file" or "*" in access.path:
        return False
    need = Perm(0)
    for letter in access.letters:
        need |= _BITS[letter]
    return profile.file_perms(access.path, is_dir=access.is_dir).allows(need)


def choose(accesses: Sequence[Access], include_dirs: Iterable[str] = (), *,
           min_cover: int = 2) -> tuple[list[str], list[Access]]:
    """The abstractions to include and the accesses none of them covers.

    `base` is always included; another abstraction only when it covers at least `min_cover`
    accesses that the ones chosen before it do not.
    """
    dirs = tuple(include_dirs)
    chosen: list[str] = []
    remaining = list(accesses)
    for name in CANDIDATES:
        profile = _abstraction(name, dirs)
        if profile is None:
            continue
        covered = [a for a in remaining if covers(profile, a)]
        if name == "base" or len(covered) >= min_cover:
            chosen.append(name)
            remaining = [a for a in remaining if a not in covered]
    return chosen, remaining
