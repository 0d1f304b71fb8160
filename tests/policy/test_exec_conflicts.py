"""The exec-conflict check finds the same first pair as comparing every pair of rules."""

from __future__ import annotations

import random
from collections.abc import Sequence

from stockade.policy import compile_profiles
from stockade.policy.exec_conflicts import conflict, first_exec_conflict
from stockade.policy.matcher import FileEntry


def _pairwise(entries: Sequence[FileEntry]) -> tuple[FileEntry, FileEntry] | None:
    """The reference: every pair, in source order."""
    xs = [e for e in entries if e.exec_mode and not e.deny]
    for i, a in enumerate(xs):
        for b in xs[i + 1 :]:
            if conflict(a, b):
                return a, b
    return None


def _entries(rules: list[str]) -> list[FileEntry]:
    # the compiler itself refuses a conflicting profile: its check is off while the
    # entries are built, so that both answers can be compared on them
    text = "profile t {\n" + "\n".join(f"  {r}" for r in rules) + "\n}\n"
    from stockade.policy import compiler

    saved = compiler.check_exec_conflicts
    compiler.check_exec_conflicts = lambda entries, comp: None  # type: ignore[assignment]
    try:
        return compile_profiles(text)[0].file_entries
    finally:
        compiler.check_exec_conflicts = saved


def test_same_first_pair_as_every_pair():
    rng = random.Random(14)
    paths = ["/a/b", "/a/c", "/a/{b,c}", "/a/{c,d}", "/a/*", "/a/b*", "/a/[bc]", "/x/**",
             "/x/y", "/a/{b,b}", "/a/b/"]
    modes = ["ix", "px", "Px", "ux", "cx -> c", "mix", "r", "pix"]
    prefixes = ["", "", "", "owner ", "other ", "priority=1 ", "deny "]
    conflicts = 0
    for _ in range(400):
        rules = []
        for _ in range(rng.randint(2, 9)):
            mode = rng.choice(modes)
            prefix = rng.choice(prefixes)
            if prefix == "deny ":
                mode = "x" if "x" in mode else mode
            rules.append(f"{prefix}{rng.choice(paths)} {mode},")
        entries = _entries(rules)
        want = _pairwise(entries)
        got = first_exec_conflict(entries)
        assert (None if got is None else (id(got[0]), id(got[1]))) == \
            (None if want is None else (id(want[0]), id(want[1]))), rules
        conflicts += want is not None
    assert 50 < conflicts < 350  # both answers were exercised


def test_many_exact_exec_rules_are_not_compared_pairwise():
    rules = [f"/usr/bin/tool{i} {'ix' if i % 2 else 'px'}," for i in range(20_000)]
    entries = _entries(rules)
    assert first_exec_conflict(entries) is None
    entries = _entries([*rules, "/usr/bin/tool7 px,"])
    pair = first_exec_conflict(entries)
    assert pair is not None and pair[0].rule.path == pair[1].rule.path == "/usr/bin/tool7"
