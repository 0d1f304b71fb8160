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


ROOTS = ["/srv/", "/srv/a/", "/var//lib/", "/var/lib/x", "/srv/[ab]/", "/opt/o",
         "/o", "/*/b/", "@{D}/", "/**/"]


def _rooted_profile(seed: int) -> tuple[str, list[str]]:
    """Rules beneath a few literal directories (and, in some, rules that start with a glob
    or an alternation: then no directory bounds them)."""
    rng = random.Random(seed)
    roots = ROOTS[:6] if seed % 3 else ROOTS
    rules = []
    for _ in range(80):
        qualifier, mode = rng.choice(QUALIFIERS), rng.choice(MODES)
        if "deny" in qualifier:
            mode = mode.replace("ix", "x")
        name = "/".join(rng.choice(WORDS) for _ in range(rng.randint(0, 2)))
        rules.append(f"  {qualifier}{rng.choice(roots)}{name}{rng.choice(['', '/', '/**', '*'])}"
                     f" {mode},")
    paths = ["/", "/srv", "/srv/", "/var/lib/", "/var/lib/x", "//srv//a/b", "/o", "/ox/"]
    for _ in range(300):
        top = rng.choice(["/srv/", "/opt/", "/var/lib/", "/var/", "/", "/m/", "//srv/"])
        name = "/".join(rng.choice(["a", "b", "x", "xa", "lib", "o"])
                        for _ in range(rng.randint(0, 3)))
        paths.append(top + name + rng.choice(["", "/", "/\x01probe/"]))
    return "@{D}=/srv /opt\nprofile t {\n" + "\n".join(rules) + "\n}\n", paths


def test_allowed_within_is_allowed_bits_masked_without_aliases():
    """The shortcut of allowed_within (no lookup beneath no granting rule's directory) gives
    what the lookup gives, and it does skip lookups."""
    checked = skipped = 0
    for seed in range(12):
        text, paths = _rooted_profile(seed)
        (prof,) = compile_profiles(text, loader=Loader(system=False))
        matcher = prof.matcher
        assert not matcher.aliases
        for mask in (int(Perm.WRITE), int(Perm.WRITE | Perm.APPEND), int(Perm.READ),
                     int(Perm.EXEC), int(Perm.LINK | Perm.LOCK)):
            for path in paths:
                for is_dir in (False, True):
                    for owner in (True, False):
                        want = matcher.allowed_bits(path, is_dir=is_dir, owner=owner) & mask
                        got = matcher.allowed_within(path, mask, is_dir=is_dir, owner=owner)
                        assert got == want, (seed, mask, path, is_dir, owner)
                        checked += 1
            dirs = matcher._granting.get(mask)
            if dirs is not None:
                skipped += sum(not any(p.replace("//", "/").startswith(d.decode())
                                       for d in dirs) for p in paths)
    assert checked > 70_000 and skipped > 3_000


def test_allowed_within_bounds_rules_by_their_literal_directory():
    text = ("profile t {\n  /var/lib/app*/** w,\n  /usr/** r,\n  deny /usr/lib/x w,\n"
            "  /opt//data/ a,\n}\n")
    (prof,) = compile_profiles(text, loader=Loader(system=False))
    m, w = prof.matcher, int(Perm.WRITE)
    assert m.allowed_within("/var/lib/app1/f", w) == w
    assert m.allowed_within("/usr/lib/x", w) == 0 and m.allowed_within("/usr/bin/y", w) == 0
    assert m._granting[w] == frozenset({b"/var/lib/"})
    assert m.allowed_within("/opt/data", int(Perm.APPEND), is_dir=True) == int(Perm.APPEND)
    assert m.allowed_within("//opt/data/", int(Perm.APPEND)) == int(Perm.APPEND)
    assert prof.allows("/var/lib/app/x", Perm.WRITE) and not prof.allows("/usr/x", Perm.WRITE)
