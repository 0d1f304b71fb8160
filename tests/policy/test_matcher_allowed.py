"""FileMatcher.allowed (the plan's uncached question "which permissions are allowed here?")
answers what the full, cached lookup's `allow` answers, with deny, owner/other, priority
levels, audit/quiet and aliases in play."""

from __future__ import annotations

import random

from stockade.policy import Loader, compile_profiles
from stockade.policy.modes import Perm

QUALIFIERS = ["", "", "", "deny ", "owner ", "other ", "audit ", "quiet deny ", "priority=1 ",
              "priority=-2 deny ", "priority=3 owner "]
MODES = ["r", "w", "rw", "a", "mr", "ix", "rk", "l", "wl"]
WORDS = ["a", "b", "c", "*", "{a,b}", "[ab]", "**"]


def _profile(seed: int) -> tuple[str, list[str]]:
    rng = random.Random(seed)
    rules, paths = [], ["/", "/a", "/a/", "/m/a/b", "/m/a/b/", "/a/b/\x01probe/"]
    for _ in range(120):
        parts = [rng.choice(WORDS) for _ in range(rng.randint(1, 3))]
        tail = rng.choice(["", "/", "/**", "*"])
        qualifier, mode = rng.choice(QUALIFIERS), rng.choice(MODES)
        if "deny" in qualifier:  # a deny names no exec transition
            mode = mode.replace("ix", "x")
        rules.append(f"  {qualifier}/{'/'.join(parts)}{tail} {mode},")
    for _ in range(300):
        name = "/".join(rng.choice(["a", "b", "c", "ab", "x"]) for _ in range(rng.randint(1, 4)))
        paths.append(rng.choice(["/", "/m/"]) + name + rng.choice(["", "/", "/\x01probe/"]))
    text = "alias /a/ -> /m/a/,\nprofile t {\n" + "\n".join(rules) + "\n}\n"
    return text, paths


def test_allowed_is_the_lookups_allow_on_generated_profiles():
    checked = with_priority = 0
    for seed in range(12):
        text, paths = _profile(seed)
        (prof,) = compile_profiles(text, loader=Loader(system=False))
        matcher = prof.matcher
        assert matcher.aliases
        for path in paths:
            for is_dir in (False, True):
                for owner in (True, False):
                    full = matcher.lookup(path, is_dir=is_dir, owner=owner)
                    assert matcher.allowed(path, is_dir=is_dir, owner=owner) == full.allow, \
                        (seed, path, is_dir, owner)
                    for want in (Perm.WRITE, Perm.READ, Perm.WRITE | Perm.APPEND):
                        assert prof.allows(path, want, is_dir=is_dir, owner=owner) == \
                            full.allows(want)
                    checked += 1
                    with_priority += len({r.qualifiers.priority for r in full.rules}) > 1
    assert checked > 10_000 and with_priority > 100  # priority levels were decided
