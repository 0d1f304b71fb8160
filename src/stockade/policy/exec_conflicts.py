"""Overlapping allow rules whose exec modes differ, as apparmor_parser rejects them.

Two exact paths conflict when they are the same path; two globs conflict when some path
matches both; an exact path and a glob never conflict (the exact one wins). `owner` and
`other` rules only meet rules that apply to the same side.

The answer is the first conflicting pair in source order (the earliest rule `a`, then the
earliest `b` after it), as a scan of every pair would find it; but exact paths meet only the
exact paths that share one of their names (a dict), so 100,000 `ix` rules on exact paths no
longer take 5 * 10^9 comparisons. Globs are still compared pairwise with each other.
"""

from __future__ import annotations

from collections.abc import Sequence

from stockade.policy.intersect import intersects
from stockade.policy.matcher import FileEntry, literal_paths


def conflict(a: FileEntry, b: FileEntry) -> bool:
    """Whether allow rules `a` and `b` (both with an exec mode) conflict."""
    if (a.exec_mode, a.exec_target) == (b.exec_mode, b.exec_target):
        return False
    if a.exact != b.exact or a.priority != b.priority:
        return False
    if (a.owner and b.other) or (a.other and b.owner):
        return False
    return intersects(a.pattern, b.pattern)


def _first_in(indices: Sequence[int], xs: Sequence[FileEntry]) -> tuple[int, int] | None:
    """The first conflicting pair (i, j), i < j, among `indices` (ascending)."""
    for n, i in enumerate(indices):
        for j in indices[n + 1 :]:
            if conflict(xs[i], xs[j]):
                return i, j
    return None


def first_exec_conflict(entries: Sequence[FileEntry]) -> tuple[FileEntry, FileEntry] | None:
    """The first pair (a, b) of conflicting rules in source order, or None."""
    xs = [e for e in entries if e.exec_mode and not e.deny]
    by_path: dict[bytes, list[int]] = {}
    unnamed: list[int] = []  # exact, but past the bound on alternatives: compared with all
    globs: list[int] = []
    for k, e in enumerate(xs):
        if not e.exact:
            globs.append(k)
            continue
        names = literal_paths(e.pattern)
        if names is None:
            unnamed.append(k)
            continue
        for name in names:
            by_path.setdefault(name, []).append(k)
    found: list[tuple[int, int]] = []
    for group in by_path.values():
        if len(group) > 1:
            pair = _first_in(group, xs)
            if pair is not None:
                found.append(pair)
    if unnamed:
        exact = sorted({k for group in by_path.values() for k in group} | set(unnamed))
        for u in unnamed:
            for k in exact:
                if k != u and conflict(xs[min(u, k)], xs[max(u, k)]):
                    found.append((min(u, k), max(u, k)))
    pair = _first_in(globs, xs)
    if pair is not None:
        found.append(pair)
    if not found:
        return None
    i, j = min(found)
    return xs[i], xs[j]
