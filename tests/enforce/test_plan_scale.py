"""Plan builds that stay linear in size: one listing per directory per build, memoized rights
(same results as without), and `compile --timings` reporting every phase."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stockade.enforce.plan import glob as plan_glob
from stockade.enforce.plan.glob import BuildCache, expand
from stockade.enforce.plan.profile import compile_file, compile_plan
from stockade.enforce.timings import PHASES, PhaseTimer
from stockade.policy import compile_profiles

REPO = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> None:
    for name in ("lib1", "lib2", "libz.so", "xlib", "other", "l\u00e9a", "l\u00e9b"):
        (root / name).write_text("x")
    (root / "sub").mkdir()
    (root / "sub" / "lib3").write_text("x")


def _paths(exp: plan_glob.Expansion) -> set[str]:
    return {t.path for t in exp.targets}


def test_directory_listed_once_per_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _tree(tmp_path)
    calls: list[str] = []
    real = os.scandir

    def counting(path):  # type: ignore[no-untyped-def]
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(plan_glob.os, "scandir", counting)
    fs = BuildCache()
    first = expand(f"{tmp_path}/lib*", fs=fs)
    second = expand(f"{tmp_path}/*lib", fs=fs)
    third = expand(f"{tmp_path}/l[a-z]b?", fs=fs)
    assert calls.count(str(tmp_path)) == 1
    assert _paths(first) == {f"{tmp_path}/{n}" for n in ("lib1", "lib2", "libz.so")}
    assert _paths(second) == {f"{tmp_path}/xlib"}
    assert _paths(third) == {f"{tmp_path}/lib1", f"{tmp_path}/lib2"}
    # a fresh view per build: the same patterns list the directory again
    expand(f"{tmp_path}/lib*", fs=BuildCache())
    assert calls.count(str(tmp_path)) == 2


def test_prefix_filter_matches_what_a_full_scan_matches(tmp_path: Path):
    _tree(tmp_path)
    for pattern in ("lib*", "l\u00e9*", "*", "lib[12]", "{lib,xl}*", "**/lib3", "li*/"):
        shared = expand(f"{tmp_path}/{pattern}", fs=BuildCache())
        names = sorted(os.listdir(tmp_path))
        assert all(os.path.basename(p) in names or "/sub/" in p for p in _paths(shared))
        # the walk that prefilters must find exactly the entries a regex over all names finds
        if "/" not in pattern and "{" not in pattern:
            want = {f"{tmp_path}/{n}" for n in names
                    if fnmatch.fnmatchcase(n, pattern.rstrip("/"))
                    and os.path.isdir(tmp_path / n) == pattern.endswith("/")}
            assert _paths(shared) == want, pattern
    assert _paths(expand(f"{tmp_path}/l\u00e9*", fs=BuildCache())) == {
        f"{tmp_path}/l\u00e9a", f"{tmp_path}/l\u00e9b"}


def test_listing_bound_still_lists(tmp_path: Path):
    _tree(tmp_path)
    fs = BuildCache(max_listed=2)  # the directory has more entries: read, not kept
    assert _paths(expand(f"{tmp_path}/lib*", fs=fs)) == {
        f"{tmp_path}/{n}" for n in ("lib1", "lib2", "libz.so")}
    assert fs.listed == 0
    assert _paths(expand(f"{tmp_path}/lib?", fs=fs)) == {f"{tmp_path}/lib1", f"{tmp_path}/lib2"}


def test_stat_answers_asked_once_per_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Rules sharing parents ask each stat/lstat question of the filesystem once per build
    (the first answer is the one fsview records for the plan cache), and the answers are
    the ones the plain calls give, also past the bound (read, not kept)."""
    from stockade import fsview

    _tree(tmp_path)
    (tmp_path / "link").symlink_to(tmp_path / "sub")
    asked: list[tuple[str, str]] = []
    real_lstat, real_stat = os.lstat, os.stat

    def direct() -> bool:  # asked by fsview itself (not by os.path.realpath's walk)
        return sys._getframe(2).f_globals.get("__name__") == "stockade.fsview"

    def lstat(path, *a, **k):  # type: ignore[no-untyped-def]
        if direct():
            asked.append(("l", str(path)))
        return real_lstat(path, *a, **k)

    def stat_(path, *a, **k):  # type: ignore[no-untyped-def]
        if direct():
            asked.append(("s", str(path)))
        return real_stat(path, *a, **k)

    rules = "".join(f"  {tmp_path}/{leaf} rw,\n" for leaf in
                    ("lib1", "lib2", "sub/lib3", "sub/new", "new/a", "new/b", "link/lib3",
                     "lib*", "sub/*", "sub/", "new/**") * 3)
    path = tmp_path / "p.aa"
    path.write_text(f"profile t {{\n{rules}}}\n")
    profile = compile_profiles(str(path))[0]
    monkeypatch.setattr(fsview.os, "lstat", lstat)
    monkeypatch.setattr(fsview.os, "stat", stat_)
    plan = compile_plan(profile, abi=7)
    assert asked and len(asked) == len(set(asked))
    monkeypatch.undo()
    fresh = compile_plan(profile, abi=7)
    assert [(r.path, r.access) for r in plan.plan.fs_rules] == \
        [(r.path, r.access) for r in fresh.plan.fs_rules]
    for fs in (BuildCache(), BuildCache(max_answers=0)):
        for name in ("lib1", "sub", "link", "missing", "lib1/under-a-file"):
            p = str(tmp_path / name)
            try:
                want_l = os.lstat(p).st_mode
            except OSError as err:
                want_l = -err.errno
            assert fs.lstat_mode(p) == fs.lstat_mode(p) == want_l
            assert fs.isdir(p) == os.path.isdir(p) and fs.lexists(p) == os.path.lexists(p)
            assert fs.realpath(p) == os.path.realpath(p)


def test_memoized_rights_keep_every_rules_findings(tmp_path: Path):
    target = tmp_path / "f"
    target.write_text("x")
    path = tmp_path / "p.aa"
    path.write_text(f"profile t {{\n  {target} ix,\n  {target} ix,\n  {target} a,\n"
                    f"  {tmp_path}/** l,\n}}\n")
    pp = compile_plan(compile_profiles(str(path))[0], abi=7)
    entries = [e for e in pp.coverage.entries if e.source.startswith(str(path))]
    first, second = entries[0], entries[1]
    assert first.detail == second.detail and "x without r: wider" in first.detail
    assert any("refer granted on the tree" in e.detail for e in entries)
    assert any("a: wider" in e.detail for e in entries)


def test_compile_file_reports_phases(tmp_path: Path):
    (tmp_path / "inc").write_text("  /etc/hostname r,\n")
    path = tmp_path / "p.aa"
    path.write_text(f"profile t {{\n  include \"{tmp_path}/inc\"\n  /etc/passwd r,\n}}\n")
    timer = PhaseTimer()
    pp = compile_file(str(path), abi=4, timings=timer)  # a Landlock ABI: the plan has fs rules
    assert any(r.path == "/etc/hostname" for r in pp.plan.fs_rules)
    assert set(timer.seconds) == {"parse", "includes", "compile", "plan"}
    assert all(s >= 0 for s in timer.seconds.values())
    assert timer.seconds["includes"] > 0


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", *args], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})


def test_compile_timings_cli(tmp_path: Path):
    path = tmp_path / "p.aa"
    path.write_text("profile t {\n  /etc/passwd r,\n  /usr/lib/** mr,\n}\n")
    human = _cli("compile", "--timings", str(path))
    assert human.returncode == 0, human.stderr
    lines = [ln for ln in human.stderr.splitlines() if ln.startswith("timing: ")]
    assert [ln.split()[1] for ln in lines] == [*PHASES, "total"]
    assert "timing:" not in _cli("compile", str(path)).stderr
    doc = json.loads(_cli("compile", "--json", "--timings", str(path)).stdout)
    assert set(doc["timings"]) == set(PHASES)


def test_a_build_makes_no_cyclic_garbage(tmp_path: Path):
    """compile_file and check run without the cyclic collector (policy.collector): safe only
    while a build leaves no reference cycles behind, which this checks on rules of many kinds
    (and a failing build), and the collector is on again afterwards."""
    import gc

    from stockade.policy.checker import check

    _tree(tmp_path)
    (tmp_path / "inc").write_text(f"  {tmp_path}/sub/** r,\n  deny {tmp_path}/sub/lib3 w,\n")
    path = tmp_path / "p.aa"
    path.write_text(
        f"@{{D}}={tmp_path}\nprofile t {{\n  include \"{tmp_path}/inc\"\n"
        f"  @{{D}}/lib* rw,\n  @{{D}}/{{lib1,xlib}} r,\n  owner @{{D}}/new w,\n"
        f"  deny @{{D}}/lib2 r,\n  @{{D}}/** l,\n  link @{{D}}/l1 -> @{{D}}/lib1,\n"
        f"  /proc/[0-9]*/stat r,\n  @{{D}}/sub/ rw,\n  @{{D}}/x.[0-9] ix,\n"
        f"  network inet stream,\n  capability chown,\n  signal send,\n  ptrace read,\n}}\n")
    bad = tmp_path / "bad.aa"
    bad.write_text("profile b {\n  /x[ r,\n}\n")
    gc.collect()
    assert gc.isenabled()
    gc.disable()
    try:
        compile_file(str(path), abi=7)
        with pytest.raises(Exception, match="bad pattern"):
            compile_file(str(bad), abi=7)
        report = check([str(path), str(bad)])
        assert len(report.errors) == 1 and len(report.profiles) == 1
        assert gc.collect() == 0
    finally:
        gc.enable()
    compile_file(str(path), abi=7)
    check([str(path), str(bad)])
    assert gc.isenabled()


def _generated_patterns(n: int, seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    pieces = ["/", "//", "usr", "lib", "é", ".", "..", "./", "a.b", "*", "**", "?", "[0-9]",
              "[!x]", "{a,b}", "{,x/}", "x", "/./", "/../"]
    out = ["/", "//", "/*", "/**", "/usr/", "/usr", "/usr/lib*", "usr/lib", "@{x}"]
    for _ in range(n):
        start = rng.choice(["/", "/", "/", "//", ""])
        out.append(start + "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))))
    return out


def test_head_split_is_the_general_literal_head():
    """The common case's shortcut (a plain absolute ASCII literal first) gives the prefix and
    components the general split gives, on generated patterns; it declines anything else."""
    from stockade.policy import aare

    taken = 0
    for text in _generated_patterns(4000, 14):
        try:
            flats = aare.expand_alternations(aare.parse(text).seq, 256)
        except aare.AareError:
            continue
        for flat in flats or ():
            folded = aare.fold_flat(flat)
            fast = plan_glob.head_split(folded)
            if fast is None:
                continue
            taken += 1
            comps = plan_glob._components(folded)
            assert comps and comps[0] == [], text
            assert fast == plan_glob.literal_head(comps[1:]), text
    assert taken > 2000


def test_literal_region_is_normalised_like_normpath():
    """literal_region returns the head as it is only where normpath would not change it."""
    from stockade.policy import aare

    for text in _generated_patterns(4000, 15):
        try:
            seq = aare.parse(text).seq
        except aare.AareError:
            continue
        lit = ""
        for node in seq:
            if node[0] != "lit":
                break
            lit += node[1]
        head = aare.fold_slashes(lit).rpartition("/")[0]
        want = os.path.normpath(plan_glob._to_fs(head)) if head.startswith("/") else "/"
        assert plan_glob.literal_region(seq) == want, text


def test_paths_beneath_a_missing_directory_answer_as_the_filesystem(tmp_path: Path):
    """BuildCache answers a path beneath a directory it found missing without asking (or
    recording) it: the answers are the plain calls' (lstat errno, stat, isdir, lexists) on
    generated paths through files, dangling and good links, dot-names and long names, in
    any order and past the answer bound; every answer not recorded lies beneath a recorded
    ENOENT, so the plan cache's check sees a change there."""
    import random

    from stockade import fsview

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "good").symlink_to(tmp_path / "a")
    (tmp_path / ".h").mkdir()
    names = ["a", "f", "m", "n", "dangling", "good", ".h", "..", ".", "x" * 200, "caf\u00e9"]
    rng = random.Random(11)
    paths = [str(tmp_path) + "".join("/" + rng.choice(names) for _ in range(rng.randint(1, 5)))
             for _ in range(1500)]
    paths += [f"{tmp_path}/m" + f"/{'y' * 250}" * 17, f"{tmp_path}/m/{'z' * 256}"]  # too long

    def want_l(p: str) -> int:
        try:
            return os.lstat(p).st_mode
        except OSError as err:
            return -(err.errno or 1)

    for fs in (BuildCache(), BuildCache(max_answers=0), BuildCache()):
        rng.shuffle(paths)
        for p in paths:
            assert fs.lstat_mode(p) == want_l(p), p
            assert fs.isdir(p) == os.path.isdir(p) and fs.lexists(p) == os.path.lexists(p), p
            assert (fs.stat_mode(p) >= 0) == os.path.exists(p), p
    with fsview.recording() as log:
        fs = BuildCache()
        for p in paths:
            fs.lstat_mode(p)
            fs.isdir(p)
    recorded = {(q, p) for q, p, _ in log}
    missing = {p for q, p, answer in log if q == "l" and answer == "E2"}
    unrecorded = [p for p in paths if ("l", p) not in recorded]
    assert len(unrecorded) > 100  # the shortcut was taken
    for p in unrecorded:
        assert any(p.startswith(m + "/") for m in missing), p
    assert fsview.still_valid(log) is None
    (tmp_path / "m").mkdir()  # a directory that the answers beneath it assumed missing
    assert fsview.still_valid(log) is not None
