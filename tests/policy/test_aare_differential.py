"""Differential test: stockade matches paths against patterns as apparmor_parser compiles them.

Generated patterns in every corner class (aare_oracle.CORNERS) become one-rule profiles;
apparmor_parser -D rule-exprs gives each rule's compiled expression (the oracle, read as
aare_oracle explains), and stockade's matcher (one FileMatcher per batch of rules, as a
profile uses it) must agree on every generated path, and reject exactly the patterns the
parser rejects. The oracle's answers are cached in pytest's cache directory, keyed by the
hash of the generated input.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from confine_helpers import oracle_cache_dir

from stockade.policy import compile_profiles
from stockade.policy.aare import AareError, Pattern, parse
from stockade.policy.ast import FileRule, SourcePos
from stockade.policy.matcher import FileEntry, FileMatcher
from stockade.policy.modes import Perm

from .aare_oracle import (
    CORNERS,
    PARSER,
    Case,
    make_cases,
    make_paths,
    oracle_expressions,
    oracle_regex,
    quoted_profile,
)

PER_KIND = {"ordinary": 500, **{k: 320 for k in CORNERS if k != "ordinary"}}
PATHS_EACH = 12
GOAL = 0.999

needs_parser = pytest.mark.skipif(PARSER is None, reason="apparmor_parser is needed")


def _tree(pattern: str) -> tuple | None:
    try:
        return parse(pattern).seq
    except AareError:
        return None


def _entry(i: int, pattern: Pattern) -> FileEntry:
    rule = FileRule(pos=SourcePos("<gen>", i + 1, 1), text=f"{pattern.text} r,",
                    path=pattern.text, perms=Perm.READ)
    return FileEntry(rule=rule, pattern=pattern, perms=Perm.READ, deny=False, audit=False,
                     quiet=False, owner=False, other=False, priority=0, exec_mode=None,
                     exec_target=None)


def _as_str(path: str) -> str:
    """A latin-1 view of path bytes -> the str stockade is given for those bytes."""
    return path.encode("latin-1").decode("utf-8", "surrogateescape")


def measure(cases: list[Case], exprs: list[str | None]) -> dict[str, Counter[str]]:
    """Per corner class: pairs, agreeing pairs, patterns, agreeing accept/reject verdicts."""
    stats: dict[str, Counter[str]] = {}
    ours: list[Pattern | None] = []
    for case, expr in zip(cases, exprs, strict=True):
        st = stats.setdefault(case.kind, Counter())
        st["patterns"] += 1
        try:
            pat: Pattern | None = parse(case.pattern)
        except AareError:
            pat = None
        ours.append(pat)
        st["verdict_ok"] += (pat is None) == (expr is None)
    for k in range(0, len(cases), 100):
        chunk = [(i, ours[i]) for i in range(k, min(k + 100, len(cases)))
                 if ours[i] is not None and exprs[i] is not None]
        if not chunk:
            continue
        matcher = FileMatcher([_entry(i, p) for i, p in chunk])  # type: ignore[arg-type]
        for i, _ in chunk:
            case, rx = cases[i], oracle_regex(exprs[i])  # type: ignore[arg-type]
            st = stats[case.kind]
            for path in case.paths:
                is_dir = path.endswith("/") and path != "/"
                theirs = rx.fullmatch(path) is not None
                hits = {e.rule.pos.line - 1 for e in matcher.matching(_as_str(path),
                                                                     is_dir=is_dir)}
                st["pairs"] += 1
                st["matches"] += theirs
                if (i in hits) == theirs:
                    st["pairs_ok"] += 1
                elif st["shown"] < 3:
                    st["shown"] += 1
                    print(f"DISAGREE {case.kind}: {case.pattern!r} {path!r} "
                          f"oracle={theirs} expr={exprs[i]!r}")
    return stats


@pytest.fixture(scope="module")
def corpus(request: pytest.FixtureRequest) -> tuple[list[Case], list[str | None]]:
    cases = make_cases(20261204, PER_KIND, PATHS_EACH, _tree)
    cache_dir = oracle_cache_dir(request, "stockade-aare-oracle")
    exprs = oracle_expressions([c.pattern for c in cases], cache_dir)
    return cases, exprs


@needs_parser
def test_matcher_agrees_with_apparmor_parser(
        corpus: tuple[list[Case], list[str | None]]) -> None:
    cases, exprs = corpus
    stats = measure(cases, exprs)
    total = sum(s["pairs"] for s in stats.values())
    ok = sum(s["pairs_ok"] for s in stats.values())
    for kind, s in stats.items():
        print(f"{kind:18} patterns {s['patterns']:4} verdicts {s['verdict_ok']:4} "
              f"pairs {s['pairs']:5} agree {s['pairs_ok']:5} matching {s['matches']:5}")
    assert total >= 30_000
    assert ok / total >= GOAL, f"{ok}/{total} pairs agree"
    for kind, s in stats.items():
        assert s["verdict_ok"] == s["patterns"], f"{kind}: accept/reject differs"
        if kind != "invalid":
            # every corner class is exercised on both sides of the match
            assert s["pairs"] >= 1000 and 0.05 < s["matches"] / s["pairs"] < 0.95, kind


@needs_parser
def test_every_corner_class_is_generated(corpus: tuple[list[Case], list[str | None]]) -> None:
    cases, exprs = corpus
    rejected = Counter(c.kind for c, e in zip(cases, exprs, strict=True) if e is None)
    assert rejected["invalid"] >= 0.9 * PER_KIND["invalid"]
    kinds = Counter(c.kind for c in cases)
    assert set(kinds) == set(CORNERS)


@pytest.mark.parametrize(("expr", "path", "expected"), [
    ("/[[^/\\x00]*[^/\\x00]]", "/[[x]", True),   # from "/[*?]": the set then a glob
    ("/[[^/\\x00]*[^/\\x00]]", "/*", False),
    ("/[^^a]", "/^", False),
    ("/[\\,]", "/\\", True),
    ("/(|c|[^/\\x00]*)/", "/", False),
    ("/[c-a]", "/b", True),
])
def test_oracle_reader(expr: str, path: str, expected: bool) -> None:
    """The reader of the parser's dialect, on expressions apparmor_parser 3.0.8 printed."""
    assert (oracle_regex(expr).fullmatch(path) is not None) is expected


# ---- end to end: variables, the profile lexer and the compiler in front of the matcher -------
VARS = ("@{E}=/etc/ /usr/etc/\n@{S}=//one//\n@{N}=@{E}x/ /q\n@{G}=*.conf [a-c]?\n"
        "@{H}=/home/*/ /root/\n")
VAR_FORMS = ["@{E}/f{,.d}", "/x/@{E}", "/@{E}", "/y/@{S}/z", "/n/@{N}/k", "@{E}/ld.so.cache",
             "/a@{E}/b", "@{E}x", "/s/@{G}", "/s/@{G}/", "@{H}.cache/**", "@{H}", "/v/@{N}",
             "@{S}", "/w/{@{E},q}/x", "/u@{G}/@{E}/"]


@needs_parser
def test_profiles_with_variables_match_like_apparmor_parser(
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    import random
    rng = random.Random(7)
    patterns = [rng.choice(VAR_FORMS) + rng.choice(["", "/", "x", "/*", "{,/y}"])
                for _ in range(240)]
    cache_dir = oracle_cache_dir(request, "stockade-aare-oracle")
    exprs = oracle_expressions(patterns, cache_dir, preamble=VARS, name="aare-vars")
    keep = [i for i, e in enumerate(exprs) if e is not None]
    assert len(keep) == len(patterns)
    prof = tmp_path / "vars.prof"
    prof.write_text(VARS + "".join(quoted_profile(i, patterns[i]) for i in keep))
    compiled = {p.name: p for p in compile_profiles(str(prof))}
    pairs = agree = 0
    for i in keep:
        rx = oracle_regex(exprs[i])  # type: ignore[arg-type]
        tree = parse(compiled[f"p{i}"].matcher.entries[0].pattern.text).seq
        for path in make_paths(patterns[i], tree, rng, 12):
            is_dir = path.endswith("/") and path != "/"
            theirs = rx.fullmatch(path) is not None
            ours = compiled[f"p{i}"].file_perms(_as_str(path), is_dir=is_dir).allows(Perm.READ)
            pairs += 1
            agree += ours == theirs
            assert ours == theirs, (patterns[i], path, exprs[i])
    assert pairs >= 2000 and agree == pairs
