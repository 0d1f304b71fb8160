"""Quiet by default: `run -p` says one line about weakened rules (-v lists them, -q nothing),
`compile` counts by default (--full lists), and `--strict` judges the profile's own rules
(abstractions only with --strict=all), the same for `run` and `compile`. Real confined
children, as root and as nobody."""

from __future__ import annotations

import os

from confine_helpers import PY, cli

#: own rules enforced exactly (tests/enforce/test_run_profile.py's STRICT_BASE)
EXACT_BODY = """
  /usr/ r,
  /usr/** rix,
  /etc/ r,
  /etc/** r,
"""


def _profile(area, body: str, *, base: bool) -> str:
    path = area.root / "quiet.aa"
    head = "include <tunables/global>\n" if base else ""
    inc = "  include <abstractions/base>\n" if base else ""
    path.write_text(f"{head}profile quiet {{\n{inc}{body}}}\n")
    os.chmod(path, 0o644)
    return str(path)


def _ran(res) -> None:
    assert res.returncode == 0 and res.stdout.split() == ["ran"], res.stderr


def test_run_says_one_summary_line_v_lists_q_nothing(area, user):
    prof = _profile(area, EXACT_BODY + "  dbus,\n  /tmp/ r,\n", base=True)
    argv = ["--", PY, "-c", "print('ran')"]
    res = cli("run", "-p", prof, *argv, user=user)
    _ran(res)
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"stockade run: note: {prof} runs with 2 of its rules enforced "
                               "differently than written"), lines[0]
    assert "1 not-enforced" in lines[0] and "from shared abstractions" in lines[0]
    assert f"-v lists them, `stockade compile {prof}` shows how each is enforced" in lines[0]
    quiet = cli("run", "-q", "-p", prof, *argv, user=user)
    _ran(quiet)
    assert quiet.stderr == ""
    verbose = cli("run", "-v", "-p", prof, *argv, user=user)
    _ran(verbose)
    listed = verbose.stderr.splitlines()
    assert f"stockade run: not-enforced: dbus, ({prof}:9)" in "\n".join(listed)
    assert any("abstractions/base" in line for line in listed)
    assert len(listed) > 10


def test_run_of_an_exact_profile_says_nothing(area, user):
    res = cli("run", "-p", _profile(area, EXACT_BODY, base=False), "--", PY, "-c",
              "print('ran')", user=user)
    _ran(res)
    assert res.stderr == ""


def test_strict_judges_own_rules_and_all_judges_abstractions(area, user):
    prof = _profile(area, EXACT_BODY, base=True)
    argv = ["--", PY, "-c", "print('ran')"]
    _ran(cli("run", "--strict", "-q", "-p", prof, *argv, user=user))
    _ran(cli("run", "--strict=own", "-q", "-p", prof, *argv, user=user))
    every = cli("run", "--strict=all", "-p", prof, *argv, user=user)
    assert every.returncode == 3 and every.stdout == "", every.stderr
    assert "abstractions/" in every.stderr
    # compile judges the same rules: same verdicts
    assert cli("compile", "--strict", prof, user=user).returncode == 0
    assert cli("compile", "--strict=all", prof, user=user).returncode == 3
    own = _profile(area, EXACT_BODY + "  dbus,\n", base=True)
    refused = cli("run", "--strict", "-p", own, *argv, user=user)
    assert refused.returncode == 3 and "dbus" in refused.stderr, refused.stderr
    assert cli("compile", "--strict", own, user=user).returncode == 3
    bad = cli("run", "--strict=some", "-p", own, *argv, user=user)
    assert bad.returncode == 125 and "--strict=some: one of own, all" in bad.stderr


def test_compile_counts_by_default_and_full_lists(area, user):
    prof = _profile(area, EXACT_BODY + "  dbus,\n", base=True)
    short = cli("compile", prof, user=user)
    assert short.returncode == 0, short.stderr
    full = cli("compile", "--full", prof, user=user)
    assert full.returncode == 0, full.stderr
    assert "path rules (" in short.stdout and "(--full lists them)" in short.stdout
    assert "not-enforced: dbus," in short.stdout
    assert "from shared abstractions" in short.stdout
    # --full: every path of the expanded globs, every coverage entry
    assert len(full.stdout.splitlines()) > 10 * len(short.stdout.splitlines())
    assert len(short.stdout.splitlines()) < 40, short.stdout
    assert "\n    /usr  " in full.stdout and "\n    /usr  " not in short.stdout


def test_own_rules_are_those_outside_shared_abstractions_and_tunables(tmp_path):
    """The one place that says which rules are a profile's own (run, compile, --strict)."""
    from stockade.enforce.coverage_scope import is_shared, judged
    from stockade.enforce.plan.types import CoverageEntry, CoverageStatus
    from stockade.policy.includes import BUNDLED_DIR, SYSTEM_DIR

    def entry(source: str) -> CoverageEntry:
        return CoverageEntry("r", source, CoverageStatus.APPROXIMATED)

    mine = tmp_path / "abstractions"
    shared = [f"{SYSTEM_DIR}/abstractions/base:3", f"{BUNDLED_DIR}/tunables/global:1",
              f"{mine}/x:2"]
    own = [f"{SYSTEM_DIR}/local/usr.bin.man:1", f"{tmp_path}/p.aa:4", "", "--ro /tmp",
           f"{SYSTEM_DIR}/usr.bin.man:9"]
    assert all(is_shared(entry(s), [str(tmp_path)]) for s in shared)
    assert not any(is_shared(entry(s), [str(tmp_path)]) for s in own)
    assert not is_shared(entry(f"{mine}/x:2"))  # not an include directory without -I
    entries = [entry(s) for s in shared + own]
    assert [e.source for e in judged(entries, "own", [str(tmp_path)])] == own
    assert judged(entries, "all", [str(tmp_path)]) == entries
    # one answer per source file within a call: the same as each entry's own, with files
    # repeated and a link into an abstractions directory
    mine.mkdir()
    (mine / "x").write_text("")
    (tmp_path / "link.aa").symlink_to(mine / "x")
    many = [entry(s) for s in [*shared, *own, f"{tmp_path}/link.aa:7"] * 3]
    want = [e for e in many if not is_shared(e, [str(tmp_path)])]
    assert judged(many, "own", [str(tmp_path)]) == want
    assert f"{tmp_path}/link.aa:7" not in {e.source for e in want}


def test_the_summary_counts_rules_not_the_paths_gone_before_launch(tmp_path):
    """A glob's paths that are gone between planning and launch (`@{pid}` over processes that
    exited meanwhile) leave the count of weakened rules as it was: the same profile and
    program give the same summary line (real plan, real Landlock ruleset)."""
    from stockade.enforce import coverage_scope
    from stockade.enforce.plan.profile import compile_plan
    from stockade.enforce.prepare import prepare
    from stockade.policy import compile_profiles

    tree = tmp_path / "d"
    tree.mkdir()
    for name in "abc":
        (tree / name).write_text(name)
    prof = tmp_path / "p.aa"
    prof.write_text(f"profile p {{\n  {tree}/* r,\n}}\n")

    def line(gone: str) -> str | None:
        for name in "abc":
            (tree / name).write_text(name)
        pp = compile_plan(compile_profiles(str(prof))[0])
        for name in gone:
            (tree / name).unlink()
        with prepare(pp.plan, coverage=pp.coverage) as prep:
            weak = coverage_scope.weakened(prep.coverage.entries, supervised=False)
            assert sum("gone before launch" in e.detail for e in weak) == len(gone), weak
            return coverage_scope.summary(weak, "p", "-v lists them")

    one = line("b")
    assert one is not None and f"{tree}/*" not in one
    assert line("bc") == one  # more paths gone, the same rule: the same line
