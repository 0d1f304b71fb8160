"""File-rule facts the export formats share: which paths a profile denies outright, which
plan grants write or execute, grouped the way mount-based targets can express them."""

from __future__ import annotations

import os
from collections.abc import Iterable

from stockade.enforce import landlock as ll
from stockade.enforce.plan.types import CoverageStatus, EnforcementPlan, FsRule
from stockade.export import Losses
from stockade.policy import CompiledProfile
from stockade.policy.modes import Perm

#: Landlock rights that change a file or a directory.
WRITE_RIGHTS = (ll.AccessFs.WRITE_FILE | ll.AccessFs.REMOVE_DIR | ll.AccessFs.REMOVE_FILE
                | ll.AccessFs.MAKE_CHAR | ll.AccessFs.MAKE_DIR | ll.AccessFs.MAKE_REG
                | ll.AccessFs.MAKE_SOCK | ll.AccessFs.MAKE_FIFO | ll.AccessFs.MAKE_BLOCK
                | ll.AccessFs.MAKE_SYM | ll.AccessFs.REFER | ll.AccessFs.TRUNCATE)
#: Above this many paths from one profile rule, a target gets their common directory.
COLLAPSE_AT = 16
_GLOB = set("*?[]{}@")


def under(path: str, tree: str) -> bool:
    """Whether `path` is `tree` or beneath it."""
    return path == tree or path.startswith(tree.rstrip("/") + "/")


def denied_literals(profile: CompiledProfile, losses: Losses) -> tuple[list[str], list[str]]:
    """(paths denied reading, paths denied only writing) from literal deny rules.

    The compiled profile decides what the path is denied (one meaning); pattern and
    owner-conditional deny rules cannot become a path list and are recorded as lost.
    """
    read: list[str] = []
    write: list[str] = []
    for rule in profile.file_rules:
        if not rule.qualifiers.deny:
            continue
        where = f"{rule.pos.file}:{rule.pos.line}"
        text = " ".join(rule.text.split())
        path = tree_of(rule.path)
        if _GLOB & set(path) or rule.qualifiers.owner or rule.qualifiers.other:
            losses.add(text, CoverageStatus.NOT_ENFORCED, "a pattern or owner-conditional "
                       "deny cannot become a path list", source=where,
                       enforced_by="stockade run (Landlock)")
            continue
        denied = profile.file_perms(path).deny
        if denied & Perm.READ:
            read.append(path)
        elif denied & (Perm.WRITE | Perm.APPEND):
            write.append(path)
            losses.add(text, CoverageStatus.APPROXIMATED, "a read-only path: writes fail "
                       "with EROFS, not EACCES", source=where)
    return sorted(set(read)), sorted(set(write))


def tree_of(pattern: str) -> str:
    """`/a/b` for `/a/b`, `/a/b/**` and `/a/b{,/**}` (a path and everything beneath it: a
    mount-based target hides or protects the whole tree); other patterns unchanged."""
    for suffix in ("{,/**}", "/**"):
        if pattern.endswith(suffix) and len(pattern) > len(suffix):
            return pattern[: -len(suffix)]
    return pattern


def granted(plan: EnforcementPlan, rights: ll.AccessFs, what: str, losses: Losses) -> list[str]:
    """Paths the plan grants any of `rights`, one list per profile rule: a rule that
    expanded to more than COLLAPSE_AT paths is given as their common directory (wider:
    recorded). Nested paths are dropped."""
    groups: dict[str, list[FsRule]] = {}
    for rule in plan.fs_rules:
        if rule.access & rights:
            groups.setdefault(rule.source, []).append(rule)
    paths: list[str] = []
    for source, rules in groups.items():
        names = [r.path for r in rules]
        common = os.path.commonpath(names) if len(names) > COLLAPSE_AT else ""
        if common and common != "/":
            losses.add(f"{what} {names[0]} (and {len(names) - 1} more paths)",
                       CoverageStatus.APPROXIMATED, f"wider: the whole of {common}",
                       source=source)
            paths.append(common)
        else:
            paths.extend(names)
    return outermost(paths)


def outermost(paths: Iterable[str]) -> list[str]:
    """`paths` without those beneath another one, sorted."""
    out: list[str] = []
    for path in sorted(set(paths), key=lambda p: (p.count("/"), p)):
        if not any(under(path, o) for o in out):
            out.append(path)
    return sorted(out)
