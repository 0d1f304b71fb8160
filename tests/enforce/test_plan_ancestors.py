"""The plan remembers `existing_ancestor`'s answer per parent directory for one build
(replace.py): on generated profiles over a real tree, the plan and its coverage are the ones
computed without the memo."""

from __future__ import annotations

import random

from stockade.enforce.plan import replace
from stockade.enforce.plan.profile import compile_plan
from stockade.policy import compile_profiles


def _tree(root) -> list[str]:
    made = []
    for d in ("a", "a/b", "a/b/c", "d", "e/f"):
        (root / d).mkdir(parents=True, exist_ok=True)
        made.append(str(root / d))
    for f in ("a/x", "a/b/y", "d/z", "e/f/w"):
        (root / f).write_text("x")
    return made


def _profile(rng: random.Random, root: str) -> str:
    names = ["a", "a/b", "a/b/c", "a/new", "a/new/deeper", "d", "e", "e/f", "gone", "gone/x"]
    leaves = ["x", "y", "z", "w", "n", "*", "*.o", "**", ""]
    rules = []
    for _ in range(rng.randint(1, 25)):
        path = f"{root}/{rng.choice(names)}/{rng.choice(leaves)}"
        mode = rng.choice(["r", "w", "rw", "a", "mr", "rwk", "ix", "rix"])
        deny = rng.random() < 0.1 and "i" not in mode
        rules.append(f"  {'deny ' if deny else ''}{path} {mode},")
    return "profile t {\n" + "\n".join(rules) + "\n}\n"


def _plan(text: str):
    pp = compile_plan(compile_profiles(text)[0], abi=7)
    return pp.plan.fs_rules, [(e.rule, e.status, e.detail) for e in pp.coverage.entries]


def test_memoized_ancestors_give_the_same_plan(tmp_path, monkeypatch):
    root = str(tmp_path)
    _tree(tmp_path)
    rng = random.Random(60)
    texts = [_profile(rng, root) for _ in range(150)]
    memoized = [_plan(t) for t in texts]
    monkeypatch.setattr(replace, "MEMO_LIMIT", 0)  # nothing kept: every answer computed
    assert [_plan(t) for t in texts] == memoized
    assert any(r.path in (f"{root}/a", f"{root}/a/b") for rules, _ in memoized for r in rules)
