"""TOMOYO wildcards: the module's matcher against two oracles on generated patterns and
names: tomoyo-patternize (the tools' own copy of the kernel's matcher: a `rewrite
path_pattern P @G` rule rewrites exactly the names P matches) and a character-level
transcription of the kernel's tomoyo_path_matches_pattern (tomoyo_oracle.py)."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tomoyo_oracle import path_matches_pattern as kernel_matches

from stockade.modules.tomoyo.match import path_matches_pattern
from stockade.modules.tomoyo.words import correct_word

PATTERNIZE = shutil.which("tomoyo-patternize") or "/usr/sbin/tomoyo-patternize"
LITERALS = ["a", "b", "f", "1", "9", ".", "-", "_", "\\040", "\\\\", "\\177", "x", "A", "0"]
WILD = ["\\*", "\\@", "\\?", "\\$", "\\+", "\\X", "\\x", "\\A", "\\a"]


def _component(rng: random.Random, wild: float) -> str:
    out = []
    for _ in range(rng.randint(0, 4)):
        out.append(rng.choice(WILD) if rng.random() < wild else rng.choice(LITERALS))
    comp = "".join(out)
    if comp and rng.random() < 0.1:
        comp += "\\-" + "".join(rng.choice(LITERALS + WILD) for _ in range(rng.randint(1, 3)))
    return comp


def gen_pattern(rng: random.Random) -> str:
    comps = []
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.12:
            comps.append("\\{" + (_component(rng, 0.4) or "\\*") + "\\}")
        else:
            comps.append(_component(rng, 0.35))
    pattern = "/" + "/".join(comps)
    if rng.random() < 0.2 or pattern.endswith("\\}"):
        pattern += "/"
    return pattern


def instantiate(rng: random.Random, pattern: str) -> str:
    """A name made from `pattern` by choosing text for its wildcards (it may still not match:
    subtractions and repetitions are filled at random)."""
    fill = {"*": ["", "ab", "a.b", "\\040x", "11"], "@": ["", "ab", "x1"],
            "?": ["a", ".", "\\040", "\\\\"], "$": ["1", "42"], "+": ["7"], "X": ["ff", "0A"],
            "x": ["e"], "A": ["ab", "Z"], "a": ["q"]}
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] != "\\":
            out.append(pattern[i])
            i += 1
            continue
        nxt = pattern[i + 1]
        if nxt in fill:
            out.append(rng.choice(fill[nxt]))
            i += 2
        elif nxt in "{}":
            i += 2
        elif nxt == "-":  # drop the subtracted alternatives
            j = pattern.find("/", i)
            i = len(pattern) if j < 0 else j
        elif nxt == "\\":
            out.append("\\\\")
            i += 2
        else:
            out.append(pattern[i:i + 4])
            i += 4
    return "".join(out)


def random_name(rng: random.Random) -> str:
    comps = ["".join(rng.choice(LITERALS) for _ in range(rng.randint(0, 4)))
             for _ in range(rng.randint(1, 4))]
    return "/" + "/".join(comps) + ("/" if rng.random() < 0.2 else "")


def cases(seed: int, patterns: int, names: int) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    out = []
    while len(out) < patterns:
        pattern = gen_pattern(rng)
        if not correct_word(pattern):
            continue
        batch = [instantiate(rng, pattern) for _ in range(names // 2)]
        batch += [random_name(rng) for _ in range(names - len(batch))]
        out.append((pattern, [n for n in batch if n and " " not in n]))
    return out


def tally(verdicts: Iterator[tuple[str, str, bool]]) -> tuple[int, int, int, list[tuple]]:
    """(total, agreeing, matched by the oracle, first ten disagreements) of (pattern, name,
    oracle's verdict) triples, each checked against the module's matcher."""
    total = agree = matched = 0
    wrong: list[tuple] = []
    for pattern, name, theirs in verdicts:
        ours = path_matches_pattern(name, pattern)
        total += 1
        matched += theirs
        if ours == theirs:
            agree += 1
        elif len(wrong) < 10:
            wrong.append((pattern, name, ours, theirs))
    return total, agree, matched, wrong


def test_agrees_with_the_kernel_transcription() -> None:
    total, agree, matched, wrong = tally(
        (pattern, name, kernel_matches(name, pattern))
        for pattern, names in cases(2026, 3000, 10) for name in names)
    assert total >= 25_000 and matched >= total // 20  # both verdicts occur in quantity
    assert agree / total >= 0.999, wrong


@pytest.mark.skipif(not Path(PATTERNIZE).exists(), reason="tomoyo-tools is not installed")
def test_agrees_with_tomoyo_patternize(tmp_path: Path) -> None:
    conf = tmp_path / "patternize.conf"

    def patternized() -> Iterator[tuple[str, str, bool]]:
        for pattern, names in cases(15, 250, 24):
            conf.write_text(f"rewrite path_pattern {pattern} @HIT\n")
            text = "<kernel> /x\n" + "".join(f"file read {n}\n" for n in names)
            out = subprocess.run([PATTERNIZE, str(conf)], input=text, capture_output=True,
                                 text=True, check=True).stdout.splitlines()[1:]
            assert len(out) == len(names)
            for name, line in zip(names, out, strict=True):
                yield pattern, name, line == "file read @HIT"

    total, agree, matched, wrong = tally(patternized())
    assert total >= 5000 and matched >= total // 20
    assert agree / total >= 0.999, wrong


@pytest.mark.parametrize(("name", "pattern", "expected"), [
    ("/etc/passwd", "/etc/passwd", True),
    ("/etc/", "/etc/\\*", False),  # a directory never matches a non-directory pattern
    ("/usr/lib/libc.so.6", "/usr/lib/lib\\*.so\\*", True),
    ("/var/log/a.log", "/var/log/\\@.log", True),
    ("/var/log/a.b.log", "/var/log/\\@.log", False),
    ("/home/a/b/c/x", "/home/\\{\\*\\}/x", True),
    ("/home/x", "/home/\\{\\*\\}/x", False),  # one or more directories
    ("/tmp/a\\040b", "/tmp/a\\?b", True),  # an escape is one character
    ("/tmp/file.tmp", "/tmp/\\*\\-\\*.tmp", False),
    ("/tmp/file.txt", "/tmp/\\*\\-\\*.tmp", True),
])
def test_examples(name: str, pattern: str, expected: bool) -> None:
    assert path_matches_pattern(name, pattern) is expected
    assert kernel_matches(name, pattern) is expected


def test_find_acl_index_keeps_policy_order_and_growth() -> None:
    """find_acl tries only the ACLs whose first name's directory prefix is one of the
    request's: still the first granting ACL in policy order, and an ACL appended later
    (learning) is seen."""
    from stockade.modules.tomoyo.acl import Access, find_acl
    from stockade.modules.tomoyo.policy import Policy, parse_domain_policy

    policy = Policy()
    parse_domain_policy("<kernel> /d\nuse_profile 3\nfile read /srv/a/\\*\n"
                        "file read /\\{\\*\\}/x\nfile read /srv/a/x\nfile read \\*\n", policy)
    domain = policy.domains["<kernel> /d"]

    def first(name: str) -> str | None:
        match = find_acl(policy, domain, Access("open", "file", "read", (name,)))
        return match.acl.text if match else None

    assert first("/srv/a/x") == "file read /srv/a/\\*"
    assert first("/srv/b/x") == "file read /\\{\\*\\}/x"
    assert first("rel") == "file read \\*"
    assert first("/srv/c/y") is None
    parse_domain_policy("<kernel> /d\nfile read /srv/c/y\n", policy)
    assert first("/srv/c/y") == "file read /srv/c/y"
