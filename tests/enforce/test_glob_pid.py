"""plan.glob's pid mode (the program's own /proc rules at launch): the pid's directory name is
matched against the pattern's pid component node by node where each node is a literal or one
character (AppArmor's `@{pid}`), with the same answer as the regex the walk compiles else."""

from __future__ import annotations

import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.enforce.plan import glob

_CHARS = "09a/-."
_char = st.sampled_from(_CHARS)
_node = st.one_of(
    st.builds(lambda t: ("lit", t), st.text(_CHARS, min_size=1, max_size=3)),
    st.just(("any",)),
    st.builds(lambda neg, pairs: ("class", neg, tuple(sorted((min(a, b), max(a, b))
                                                          for a, b in pairs))),
              st.booleans(), st.lists(st.tuples(_char, _char), min_size=1, max_size=3)))


@settings(max_examples=400, deadline=None)
@given(st.lists(_node, min_size=1, max_size=6), st.text(_CHARS, max_size=6))
def test_pid_components_without_a_regex_match_as_the_regex_does(comp, name):
    want = re.fullmatch("".join(glob._node_re(n) for n in comp), name, re.S) is not None
    assert glob._spells(comp, name) == want


PID_GLOB = ("{[1-9],[1-9][0-9],[1-9][0-9][0-9],[1-9][0-9][0-9][0-9],[1-9][0-9][0-9][0-9][0-9],"
            "[1-9][0-9][0-9][0-9][0-9][0-9],[1-4][0-9][0-9][0-9][0-9][0-9][0-9]}")


def test_apparmor_pid_glob_names_the_pid_only_when_it_matches():
    own = glob.expand(f"/proc/{PID_GLOB}/status", pid=os.getpid()).targets
    assert [t.path for t in own] == [f"/proc/{os.getpid()}/status"]
    assert glob.expand(f"/proc/{PID_GLOB}/status", pid=1).targets[0].path == "/proc/1/status"
    # past the glob's range (7 digits from 5,000,000): nothing, whatever exists
    assert glob._pid_component([("class", False, (("1", "4"),))] + [
        ("class", False, (("0", "9"),))] * 6, 5_000_000) is False
    assert glob.expand(f"/proc/{PID_GLOB}/status", pid=5_000_000).targets == []
    # a star still goes through the regex
    assert glob._pid_component([("star", False)], 42) is True
