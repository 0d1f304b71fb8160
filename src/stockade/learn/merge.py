"""`stockade learn -o PROFILE` onto an existing profile: add only what is missing (aa-logprof).

The existing file is read and compiled before the program runs (the program runs with every
write the user has, so it could rewrite the file meanwhile). What was observed is turned into
abstractions and rules as for a new profile; an abstraction already included and a rule the
profile already allows (by the compiled profile, or a line already in the file) are left out,
and the rest is added at the end of the profile's body. Every other byte of the file (rules,
comments, includes, layout) is kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stockade.errors import StockadeError
from stockade.learn.abstractions import choose
from stockade.learn.edit import insert_rules
from stockade.learn.proposals import Access, Proposal, new_proposals
from stockade.policy import CompiledProfile, compile_profiles
from stockade.policy.includes import read_policy_file

_CREATED_NOTE = ("# Created or replaced by the program: `stockade run` grants these through "
                 "their directory.")


@dataclass
class Existing:
    """The profile file learn merges into, as it was before the program ran."""

    path: str
    text: str
    profile: CompiledProfile


def read_existing(path: str, include_dirs: Sequence[str], names: Sequence[str]) -> Existing:
    """The profile of `path` whose name or attachment is one of `names` (else the first)."""
    try:
        text = read_policy_file(path)
        profiles = compile_profiles(Path(path), list(include_dirs))
    except (StockadeError, OSError, ValueError) as err:
        raise StockadeError(f"{path} exists and cannot be read as a profile ({err}); pass "
                            "--overwrite to replace it") from None
    if not profiles:
        raise StockadeError(f"{path} exists and holds no profile; pass --overwrite to replace it")
    chosen = next((p for p in profiles if {p.name, p.attachment} & set(names)), profiles[0])
    return Existing(path, text, chosen)


def _included(text: str, abstraction: str) -> bool:
    return re.search(r"include\s+(if\s+exists\s+)?<abstractions/" + re.escape(abstraction)
                     + r">", text) is not None


def additions(existing: Existing, accesses: Sequence[Access], include_dirs: Sequence[str],
              exec_mode: str = "ix") -> tuple[list[str], list[Proposal]]:
    """The abstractions (not yet included) and rules (not yet allowed) `accesses` need."""
    abstractions, rest = choose(accesses, list(include_dirs))
    proposals = new_proposals(rest, existing.profile, existing.text, exec_mode=exec_mode)
    return [a for a in abstractions if not _included(existing.text, a)], proposals


def merged_text(existing: Existing, abstractions: Sequence[str],
                proposals: Sequence[Proposal]) -> str:
    """The file's text with `abstractions` and `proposals` added at the end of the body."""
    lines = [f"include <abstractions/{a}>" for a in abstractions]
    lines += [p.render() for p in proposals if not (p.kind == "file" and p.created)]
    created = [p.render() for p in proposals if p.kind == "file" and p.created]
    if created:
        lines += [_CREATED_NOTE, *created]
    if not lines:
        return existing.text
    name = existing.profile.name if "//" not in existing.profile.name else None
    return insert_rules(existing.text, existing.path, lines, name)
