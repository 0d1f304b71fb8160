"""The string versions of the patterns a plan cache hit's path used to compile (stockade.lazy_re,
plan.glob, plan.proc, policy.aare, mount_position) give the regexes' answers."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from stockade.enforce import mount_position
from stockade.enforce.plan import glob, proc
from stockade.lazy_re import LazyPattern, escape
from stockade.policy import aare

PATHS = st.text(alphabet="/.a\x1f\x7f é-0", max_size=12)


@given(st.text())
def test_escape_is_re_escape(text: str) -> None:
    assert escape(text) == re.escape(text)
    assert re.fullmatch(escape(text), text, re.S)


@given(st.text(alphabet="ab/.", max_size=8))
def test_a_lazy_pattern_answers_as_the_compiled_one(text: str) -> None:
    lazy, compiled = LazyPattern(r"(?:/[ab.]+)+"), re.compile(r"(?:/[ab.]+)+")
    assert bool(lazy.fullmatch(text)) == bool(compiled.fullmatch(text))
    assert lazy.sub("x", text) == compiled.sub("x", text)
    assert lazy.pattern == compiled.pattern
    assert bool(lazy.match(text)) == bool(compiled.match(text))  # bound after the first use


def test_a_lazy_pattern_compiles_at_first_use_only() -> None:
    lazy = LazyPattern("(")  # malformed: compiling it raises, so it was not compiled yet
    try:
        lazy.match("x")
    except re.error:
        pass
    else:
        raise AssertionError("compiled nothing")


@given(PATHS)
@example("/usr/lib/x.so")
@example("/usr/.hidden")
@example("/")
@example("/a/")
@example("//a")
def test_plain_path_is_the_regex(text: str) -> None:
    regex = re.compile(r"(?:/(?!\.)[\x20-\x2e\x30-\x7e]+)+")
    assert glob._plain_path(text) == bool(regex.fullmatch(text))
    cut = text.rfind("/")
    if cut >= 0:
        assert glob._plain_path(text[cut:]) == bool(regex.fullmatch(text, cut))


@given(st.text(alphabet="\\01789a ", max_size=16))
@example("a\\040b\\134\\011")
@example("\\\\134")
@example("\\12")
def test_mountinfo_unescape_is_the_substitution(field: str) -> None:
    expected = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)
    assert mount_position._unescape(field) == expected


@given(st.text(alphabet="/a.", max_size=12))
@example("//a//b///")
def test_fold_slashes_is_the_substitution(text: str) -> None:
    assert aare.fold_slashes(text) == re.sub("/{2,}", "/", text)


NET_PATHS = st.builds(lambda a, b, c: a + b + c,
                      st.sampled_from(["/proc/", "/proc//", "/prox/", "", "/proc/12/task/"]),
                      st.text(alphabet="0129\u0661/", max_size=4),
                      st.text(alphabet="/netx\n", max_size=8))


@given(NET_PATHS)
@example("/proc/12/net/tcp")
@example("/proc/012/net/tcp")
@example("/proc/1/net/")
@example("/proc/1/net/a/b")
@example("/proc/\u0661/net/tcp")
@example("/proc/12/net/tcp\n")
def test_proc_net_dir_is_the_regex(path: str) -> None:
    m = re.fullmatch(r"(/proc/[1-9][0-9]*/net)/[^/]+", path)
    assert proc.proc_net_dir(path) == (m.group(1) if m else None)


@given(NET_PATHS)
@example("/proc/12\n")
def test_is_pid_entry_is_the_regex(path: str) -> None:
    assert proc.is_pid_entry(path) == bool(re.match(r"/proc/[1-9][0-9]*(?:/|$)", path))
