"""CompiledProfile.rules_of answers from an index by kind: the same rules, in source order, as
filtering `rules`, after rules are appended to the list or the list is replaced."""

from __future__ import annotations

import random

from stockade.policy import compile_profiles


def _filtered(prof, kind):
    return [r for r in prof.rules if r.kind == kind]


def test_rules_of_is_the_filtered_rules():
    rng = random.Random(3)
    lines = ["/a r,", "capability chown,", "network inet stream,", "signal send,",
             "/b/** rw,", "deny /c w,", "ptrace read,", "link /d -> /e,", "unix,"]
    text = "profile p {\n" + "".join(f"  {rng.choice(lines)}\n" for _ in range(300)) + "}\n"
    prof = compile_profiles(text)[0]
    kinds = {r.kind for r in prof.rules} | {"dbus", "nothing"}
    for kind in kinds:
        assert prof.rules_of(kind) == _filtered(prof, kind)
    other = compile_profiles("profile q {\n  /x r,\n  capability kill,\n}\n")[0]
    prof.rules.append(other.rules[1])  # appended: seen
    assert prof.rules_of("capability") == _filtered(prof, "capability")
    prof.rules_of("file").clear()  # a copy: the index is not changed through it
    assert prof.rules_of("file") == _filtered(prof, "file")
    prof.rules = list(other.rules)  # replaced by a list of another identity
    for kind in kinds:
        assert prof.rules_of(kind) == _filtered(prof, kind)
