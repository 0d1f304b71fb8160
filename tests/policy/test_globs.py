"""AARE glob semantics: a table of cases from apparmor.d(5), plus property tests of the
compiled RE2 matcher against the slow reference in reference.py."""

from __future__ import annotations

import pytest
import re2
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from stockade.policy.aare import AareError, parse, query_bytes
from stockade.policy.ast import FileRule, SourcePos
from stockade.policy.matcher import FileEntry, FileMatcher
from stockade.policy.modes import Perm

from .reference import TooManyAlternatives, ref_match


def compiled_match(pattern: str, path: str, is_dir: bool = False) -> bool:
    opts = re2.Options()
    opts.encoding = re2.Options.Encoding.LATIN1
    rx = re2.compile(parse(pattern).regex.encode("latin-1"), opts)
    return rx.fullmatch(query_bytes(path, is_dir)) is not None


# (pattern, path, is_dir, expected) — the examples of apparmor.d(5) "Globbing (AARE)"
CASES = [
    ("/dir/file", "/dir/file", False, True),
    ("/dir/file", "/dir/file2", False, False),
    ("/dir/*", "/dir/a", False, True),
    ("/dir/*", "/dir/.hidden", False, True),
    ("/dir/*", "/dir/", True, False),           # a whole-component * needs one character
    ("/dir/*", "/dir/a/b", False, False),        # * stays within one component
    ("/dir/*", "/dir/sub", True, False),         # a directory is queried as /dir/sub/
    ("/dir/*/", "/dir/sub", True, True),
    ("/dir/*/", "/dir/sub", False, False),       # trailing / matches directories only
    ("/dir/", "/dir", True, True),
    ("/dir/", "/dir", False, False),
    ("/dir/a*", "/dir/a", False, True),          # not a whole component: may be empty
    ("/dir/a*", "/dir/abc", False, True),
    ("/dir/a*", "/dir/ba", False, False),
    ("/dir/*.png", "/dir/x.png", False, True),
    ("/dir/*.png", "/dir/sub/x.png", False, False),
    ("/dir/**", "/dir/a/b/c", False, True),
    ("/dir/**", "/dir/sub", True, True),
    ("/dir/**", "/dir", True, False),            # /dir/** does not match /dir/ itself
    ("/dir/**/", "/dir/a/b", True, True),
    ("/dir/**/", "/dir/a/b", False, False),
    ("/dir/**.png", "/dir/a/b/c.png", False, True),
    ("/dir/**.png", "/dir/.png", False, True),
    ("/dir/?", "/dir/a", False, True),
    ("/dir/?", "/dir/ab", False, False),
    ("/dir/?", "/dir//", False, False),
    ("/dir/[abc]", "/dir/b", False, True),
    ("/dir/[abc]", "/dir/d", False, False),
    ("/dir/[a-c]x", "/dir/bx", False, True),
    ("/dir/[^a-c]x", "/dir/dx", False, True),
    ("/dir/[^a-c]x", "/dir/ax", False, False),
    ("/dir/{a,b}", "/dir/a", False, True),
    ("/dir/{a,b}", "/dir/c", False, False),
    ("/dir/{a,{b,c}}x", "/dir/cx", False, True),
    ("/dir/{,sub/}f", "/dir/f", False, True),
    ("/dir/{,sub/}f", "/dir/sub/f", False, True),
    ("/{usr/,}bin/foo", "/bin/foo", False, True),
    ("/{usr/,}bin/foo", "/usr/bin/foo", False, True),
    ("/a//b", "/a/b", False, True),              # // folds to /
    ("/a/b", "/a//b", False, True),              # ... in paths too
    ("/x{/a/,/b/}/c", "/x/a/c", False, False),   # ... but not across alternation boundaries
    ("/x/{,/y}", "/x/y", False, False),
    ("/{,c,*}/", "/", True, False),
    ("//a/b", "/a/b", False, False),             # a leading // is kept (never matches)
    ("/a\\*b", "/a*b", False, True),             # escaped glob is literal
    ("/a\\*b", "/axb", False, False),
    ("/a\\{b\\}", "/a{b}", False, True),
    ("/**", "/etc/passwd", False, True),
    ("/{**,}", "/", True, True),
]


# corners beyond the reference's subset (tests/policy/test_aare_differential.py checks them
# against apparmor_parser at scale)
CORNER_CASES = [
    ("/x\\x41y", "/xAy", False, True),           # numeric escapes are decoded
    ("/x\\101y", "/xAy", False, True),
    ("/x\\d065y", "/xAy", False, True),
    ("/x\\x2a", "/x*", False, True),             # ... a decoded glob character is literal
    ("/x\\x2a", "/xy", False, False),
    ("/[!a]", "/!", False, True),                # ! does not negate, ^ does
    ("/[!a]", "/b", False, False),
    ("/[c-a]", "/b", False, True),               # a reversed range is swapped
    ("/[*]", "/*", False, False),                # * inside [...] injects its own class
]


@pytest.mark.parametrize(("pattern", "path", "is_dir", "expected"), CORNER_CASES)
def test_corner_table(pattern: str, path: str, is_dir: bool, expected: bool) -> None:
    assert compiled_match(pattern, path, is_dir) is expected


@pytest.mark.parametrize(("pattern", "path", "is_dir", "expected"), CASES)
def test_glob_table(pattern: str, path: str, is_dir: bool, expected: bool) -> None:
    assert compiled_match(pattern, path, is_dir) is expected
    assert ref_match(pattern, path, is_dir) is expected


@pytest.mark.parametrize("bad", ["/a/{b,c", "/a/b}", "/a/[bc", "/a/b]", "/a\\", "/{a}", "/[]a]",
                                 "/[a-]", "/[^]", "/" + "{" * 60 + "a"])
def test_malformed_patterns(bad: str) -> None:
    with pytest.raises(AareError):
        parse(bad)


def test_exactness() -> None:
    assert parse("/usr/bin/foo").exact
    assert parse("/{,usr/}bin/foo").exact        # alternation of plain text stays exact
    assert not parse("/usr/bin/*").exact
    assert not parse("/usr/bin/fo?").exact
    assert not parse("/usr/bin/[f]oo").exact


# ---- property tests -----------------------------------------------------------------------

_atoms = st.sampled_from(["a", "b", "/", ".", "ab", "*", "**", "?", "[ab]", "[^a]", "[a-b]"])


def _pattern(depth: int = 2) -> st.SearchStrategy[str]:
    if depth == 0:
        return st.lists(_atoms, min_size=1, max_size=5).map("".join)
    inner = _pattern(depth - 1)
    alt = st.lists(st.one_of(inner, st.just("")), min_size=2, max_size=3).map(
        lambda xs: "{" + ",".join(xs) + "}")
    return st.lists(st.one_of(_atoms, alt), min_size=1, max_size=5).map("".join)


patterns = st.builds(lambda p: "/" + p, _pattern())
paths = st.lists(st.sampled_from(["a", "b", "/", ".", "c"]), max_size=8).map(
    lambda xs: "/" + "".join(xs))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=patterns, path=paths, is_dir=st.booleans())
def test_compiled_matches_reference(pattern: str, path: str, is_dir: bool) -> None:
    assert compiled_match(pattern, path, is_dir) == _ref_match(pattern, path, is_dir)


def _ref_match(pattern: str, path: str, is_dir: bool = False) -> bool:
    """The reference's answer; an example whose pattern it cannot expand is skipped."""
    try:
        return ref_match(pattern, path, is_dir)
    except TooManyAlternatives:
        reject()


def _entry(i: int, pattern: str) -> FileEntry:
    rule = FileRule(pos=SourcePos("<t>", i + 1, 1), text=f"{pattern} r,", path=pattern,
                    perms=Perm.READ)
    return FileEntry(rule=rule, pattern=parse(pattern), perms=Perm.READ, deny=False,
                     audit=False, quiet=False, owner=False, other=False, priority=0,
                     exec_mode=None, exec_target=None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pats=st.lists(patterns, min_size=1, max_size=12), probe=st.lists(paths, max_size=10))
def test_one_pass_set_returns_every_matching_rule(pats: list[str], probe: list[str]) -> None:
    matcher = FileMatcher([_entry(i, p) for i, p in enumerate(pats)])
    for path in probe:
        got = {e.rule.pos.line - 1 for e in matcher.matching(path)}
        want = {i for i, p in enumerate(pats) if _ref_match(p, path)}
        assert got == want
