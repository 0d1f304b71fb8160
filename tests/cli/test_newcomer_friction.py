"""Friction a newcomer met in the first hour (learn, run -p, explain, logprof, notify, status),
beside aa-genprof/aa-logprof, firejail and bwrap: each fixed, each test failing before its fix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import hand_to, policy_dir, scratch_for, stockade_as


@pytest.fixture
def scratch(user: str) -> Iterator[Path]:
    d = scratch_for(user, "stockade-nc6-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _reader_profile(scratch: Path) -> tuple[Path, Path, Path]:
    """A profile for cat that grants `seen` and not `other`: (profile, seen, other)."""
    seen, other = scratch / "seen.txt", scratch / "other.txt"
    seen.write_text("seen\n")
    other.write_text("other\n")
    prof = policy_dir(scratch) / "cat.profile"
    prof.write_text(f"include <tunables/global>\nprofile cat /usr/bin/cat {{\n"
                    f"  include <abstractions/base>\n  /usr/bin/cat ix,\n  {seen} r,\n}}\n")
    return prof, seen, other


def _end_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "exited with status" in ln
            or "the sandbox refused" in ln]


def test_a_failed_run_says_how_to_see_what_the_sandbox_refused(user: str,
                                                               scratch: Path) -> None:
    """With the kernel's audit off (or as nobody), `run -p` of a program Landlock refuses left
    only the program's own EACCES: nothing said stockade refused it. A run whose program
    exits non-zero now ends with one line saying how to see the refusals; that round
    (complain run, logprof) names the missing rule. A run that succeeds, or -q, says
    nothing."""
    prof, seen, other = _reader_profile(scratch)
    hand_to(user, scratch)
    cmd = ["/usr/bin/cat", str(other)]
    failed = stockade_as(user, "run", "-p", str(prof), "--", *cmd, cwd=scratch)
    assert failed.returncode == 1 and "Permission denied" in failed.stderr
    lines = _end_lines(failed.stderr)
    assert len(lines) == 1, failed.stderr
    assert lines[0].startswith("stockade run: /usr/bin/cat exited with status 1; any refusal by "
                               "the sandbox (EACCES, EPERM) left no record"), lines[0]
    log = scratch / "complain.jsonl"
    shown = f"`stockade run --complain -p {prof} --audit FILE -- /usr/bin/cat {other}`"
    assert shown in lines[0], lines[0]
    # the round it names works: the complain run records the refusal, logprof words the rule
    ran = stockade_as(user, "run", "-q", "--complain", "-p", str(prof), "--audit", str(log),
                      "--", *cmd, cwd=scratch)
    assert ran.returncode == 0 and ran.stdout == "other\n", ran.stderr
    proposed = stockade_as(user, "logprof", "-p", str(prof), "--log", str(log), cwd=scratch)
    assert f"{other} r," in proposed.stdout, proposed.stdout + proposed.stderr
    ok = stockade_as(user, "run", "-p", str(prof), "--", "/usr/bin/cat", str(seen),
                     cwd=scratch)
    assert ok.returncode == 0 and _end_lines(ok.stderr) == [], ok.stderr
    quiet = stockade_as(user, "run", "-q", "-p", str(prof), "--", *cmd, cwd=scratch)
    assert quiet.returncode == 1 and _end_lines(quiet.stderr) == [], quiet.stderr


def test_a_refusal_the_supervisor_saw_is_named_at_the_end(user: str, scratch: Path) -> None:
    """chmod is decided by the supervisor (Landlock does not mediate it): the run saw the
    refusal, and now names it when the program fails, and where it is recorded."""
    target = scratch / "ro.txt"
    target.write_text("x\n")
    hand_to(user, scratch)
    cmd = ["--ro", str(scratch), "--rx", "/usr", "--", "/usr/bin/chmod", "600", str(target)]
    out = stockade_as(user, "run", *cmd, cwd=scratch)
    assert out.returncode == 1 and target.stat().st_mode & 0o777 == 0o644, out.stderr
    assert _end_lines(out.stderr) == [
        f"stockade run: the sandbox refused 1 operation of the program (first: inode_setattr "
        f"{target} (supervisor)); --audit FILE records each"], out.stderr


def test_collapse_globs_content_addressed_names() -> None:
    """A digest of 32 hex digits or more is a `*`, and the 2-digit fan-out directory it sits
    in a glob (aa-logprof's "Glob"), so that the next run's objects match."""
    from stockade.learn.globs import collapse, fan_out_dirs, into_fan_out

    obj = collapse("/srv/r/.git/objects/03/e89cf3d6c73a017696e368e23087b7df9fb2b5")
    assert obj == "/srv/r/.git/objects/[0-9a-f][0-9a-f]/*"
    assert (collapse("/srv/r/.git/objects/pack/pack-" + "ab12" * 10 + ".idx")
            == "/srv/r/.git/objects/pack/pack-*.idx")
    assert (collapse("/usr/lib/debug/.build-id/ab/" + "0f" * 19 + ".debug")
            == "/usr/lib/debug/.build-id/[0-9a-f][0-9a-f]/*.debug")
    assert collapse("/srv/r/cafe/babe.txt") == "/srv/r/cafe/babe.txt"  # short hex: a name
    dirs = fan_out_dirs([obj])
    assert dirs == {"/srv/r/.git/objects/"}
    assert into_fan_out("/srv/r/.git/objects/0d/", dirs) == "/srv/r/.git/objects/[0-9a-f][0-9a-f]/"
    assert (into_fan_out("/srv/r/.git/objects/0d/tmp_obj_AbC123", dirs)
            == "/srv/r/.git/objects/[0-9a-f][0-9a-f]/*")
    assert into_fan_out("/srv/r/.git/objects/pack/", dirs) == "/srv/r/.git/objects/pack/"


def test_a_learned_git_commit_commits_again(user: str, scratch: Path) -> None:
    """`learn -- git commit` wrote each object it made as a rule
    (`.git/objects/03/e89cf3d6... rl,` and its directory `objects/03/ w,`), so `run -p` of the
    next commit, whose objects have other names in other directories, was refused. The
    learned rules are now globs over the fan-out, apparmor_parser accepts them, and the next
    commit runs under the profile."""
    repo = scratch / "repo"
    repo.mkdir()
    git = ["/usr/bin/git", "-c", "user.name=nc6", "-c", "user.email=nc6@example.org"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    (repo / "a.txt").write_text("first\n")
    hand_to(user, scratch)

    def add(name: str) -> subprocess.CompletedProcess[str]:  # as the user, in a sandbox
        return stockade_as(user, "run", "-q", "--rx", "/", "--rw", str(repo), "--rw",
                           "/dev/null", "--", *git, "add", name, cwd=repo)

    assert add("a.txt").returncode == 0
    prof = policy_dir(scratch) / "git.profile"
    learned = stockade_as(user, "learn", "-q", "-o", str(prof), "--", *git, "commit", "-qm",
                          "first", cwd=repo)
    assert learned.returncode == 0, learned.stderr
    text = prof.read_text()
    assert not re.search(r"[0-9a-f]{32}", text), text
    assert f"{repo}/.git/objects/[0-9a-f][0-9a-f]/* " in text, text
    if shutil.which("apparmor_parser"):
        parsed = subprocess.run(["apparmor_parser", "-Q", "-K", str(prof)], capture_output=True,
                                text=True)
        assert parsed.returncode == 0, parsed.stderr
    (repo / "b.txt").write_text("second, other objects\n")
    hand_to(user, scratch)
    assert add("b.txt").returncode == 0
    again = stockade_as(user, "run", "-q", "-p", str(prof), "--", *git, "commit", "-qm",
                        "second", cwd=repo)
    assert again.returncode == 0, again.stderr
    log = subprocess.run([*git, "-C", str(repo), "-c", f"safe.directory={repo}", "log",
                          "--format=%s"], capture_output=True, text=True, check=True)
    assert log.stdout.split() == ["second", "first"]
    # as AppArmor means the profile (not only as Landlock approximates it): every object
    # of both commits is allowed, the fan-out directories included
    from stockade.policy import Perm, compile_profiles

    profile = compile_profiles(str(prof))[0]
    objects = list((repo / ".git" / "objects").glob("??/*"))
    assert len(objects) >= 6
    for obj in objects:
        assert profile.file_perms(str(obj)).allows(Perm.WRITE | Perm.READ), obj
        assert profile.file_perms(f"{obj.parent}/", is_dir=True).allows(Perm.WRITE), obj


def _chmod_loop(user: str, scratch: Path, name: str, times: int) -> Path:
    """`run -p` of a profile NAME whose program is refused chmod `times` times (the run's
    supervisor refuses it: Landlock does not mediate chmod); the --audit file."""
    target = scratch / f"{name}.txt"
    target.write_text("x\n")
    prof = policy_dir(scratch) / f"{name}.profile"
    prof.write_text(f"include <tunables/global>\nprofile {name} /usr/bin/dash {{\n"
                    f"  include <abstractions/base>\n  /usr/bin/** rix,\n  {target} r,\n}}\n")
    log = scratch / f"{name}.jsonl"
    hand_to(user, scratch)
    loop = f"for i in $(seq {times}); do chmod 600 {target} 2>/dev/null; done; true"
    ran = stockade_as(user, "run", "-q", "-p", str(prof), "--audit", str(log), "--",
                      "/usr/bin/dash", "-c", loop, cwd=scratch)
    assert ran.returncode == 0, ran.stderr
    return log


def test_notify_filters_by_profile_and_bounds_its_rate(user: str, scratch: Path) -> None:
    """As root, notify follows the whole host: it had no profile filter and printed every
    denial of a storm. `--profile NAME` keeps one profile's denials (the run's own supervisor
    records now name the profile, they named only uid=N), and `--rate N` prints at most N a
    second of the records' time, then one '... N more denials suppressed' line."""
    noisy = _chmod_loop(user, scratch, "noisy", 12)
    quiet = _chmod_loop(user, scratch, "calm", 2)
    base = ["notify", "--once", "--no-desktop", "--no-netlink", "--audit-log", "",
            "--log", str(noisy), "--log", str(quiet)]
    every = stockade_as(user, *base, "--rate", "0", cwd=scratch)
    assert every.returncode == 0, every.stderr
    assert len(every.stdout.splitlines()) == 14, every.stdout
    calm = stockade_as(user, *base, "--profile", "calm", cwd=scratch).stdout.splitlines()
    assert len(calm) == 2 and all("supervisor calm: inode_setattr" in ln for ln in calm), calm
    limited = stockade_as(user, *base, "--profile", "noisy", "--rate", "3", cwd=scratch)
    lines = limited.stdout.splitlines()
    shown = [ln for ln in lines if " DENIED " in ln]
    said = [int(ln.split()[1]) for ln in lines if ln.startswith("... ")]
    assert said and len(shown) + sum(said) == 12, lines
    run = 0  # no more than 3 denial lines between two suppressed lines
    for ln in lines:
        run = 0 if ln.startswith("... ") else run + 1
        assert run <= 3, lines
    assert all("more denial" in ln and "--rate 0 shows all" in ln for ln in lines
               if ln.startswith("... "))
    summary = stockade_as(user, *base, "--summary", "--profile", "noisy", cwd=scratch).stdout
    assert "Denials: 12 " in summary, summary


BAD = "profile bad {\n  /a r,\n"  # unterminated


@pytest.mark.parametrize(("args", "status"), [
    (["check", "{d}/nope.profile"], 2),
    (["compile", "{d}/bad.profile"], 2),
    (["compile", "{d}/nope.profile"], 2),
    (["explain", "--profile", "{d}/bad.profile", "read", "/etc/hostname"], 2),
    (["export", "--format", "oci", "{d}/bad.profile"], 2),
    (["logprof", "-p", "{d}/bad.profile", "--log", "{d}/empty.log"], 2),
    (["logprof", "-p", "{d}/nope.profile"], 2),
    (["learn", "-o", "{d}/out.profile", "-I", "{d}/nope", "--", "/bin/true"], 2),
    (["audit", "import", "{d}/nope.log", "--store", "{d}/s.sqlite"], 2),
    (["notify", "--once", "--no-netlink", "--audit-log", "", "--log", "{d}/nope.log"], 2),
    (["label", "get", "{d}/nope"], 2),
    (["import", "--from", "oci-seccomp", "{d}/bad.profile", "-o", "{d}/x"], 2),
    (["analyze", "who-can", "read", "nope_t"], 2),
    (["status", "--bogus"], 2),
    (["run", "-p", "{d}/bad.profile", "--", "/bin/true"], 125),
    (["run", "-p", "{d}/nope.profile", "--", "/bin/true"], 125),
], ids=lambda v: " ".join(v[:2]) if isinstance(v, list) else str(v))
def test_bad_input_exits_by_one_rule(tmp_path: Path, args: list[str], status: int) -> None:
    """Bad input exited 1 (logprof, audit, notify, label, import, analyze, compile of a
    profile that does not parse) or 2 (check, compile of a missing file, explain, export)
    or 125 (run). One rule now: 2 for every command, 1 kept for an answer that is no
    (explain: denied; check: errors found), 125 for run's own failures (as env, timeout)."""
    (tmp_path / "bad.profile").write_text(BAD)
    (tmp_path / "empty.log").write_text("")
    argv = [a.replace("{d}", str(tmp_path)) for a in args]
    out = subprocess.run([sys.executable, "-m", "stockade", *argv], capture_output=True,
                         text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == status, (argv, out.stderr)
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr


def test_the_exit_status_rule_is_documented() -> None:
    """`stockade --help` and every man page say the rule (one text: errors.EXIT_STATUS)."""
    from stockade.errors import EXIT_STATUS

    text = subprocess.run([sys.executable, "-m", "stockade", "--help"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "COLUMNS": "1000"}).stdout
    assert EXIT_STATUS in text
    pytest.importorskip("argparse_manpage")
    from stockade.cli._manpages import write_pages

    with tempfile.TemporaryDirectory() as d:
        for page in write_pages(d):
            assert '.SH "EXIT STATUS"\n0 done; 1 the answer asked for is no' in Path(
                page).read_text(), page


def test_the_weakened_rules_line_reads_as_information(user: str, scratch: Path) -> None:
    """"2 rules of P not enforced exactly as written (...)" read like an error on every run of
    a working program. It is now a note saying how P runs and where each rule's enforcement
    is shown; that place (`compile P`) names the rules."""
    prof = policy_dir(scratch) / "echo.profile"
    prof.write_text("include <tunables/global>\nprofile echo /usr/bin/echo {\n"
                    "  include <abstractions/base>\n  /usr/bin/echo ix,\n  dbus,\n}\n")
    hand_to(user, scratch)
    ran = stockade_as(user, "run", "-p", str(prof), "--", "/usr/bin/echo", "hi", cwd=scratch)
    assert ran.returncode == 0 and ran.stdout == "hi\n", ran.stderr
    line, = ran.stderr.splitlines()
    assert line.startswith(f"stockade run: note: {prof} runs with "), line
    assert "not enforced exactly" not in line and "error" not in line
    assert line.endswith(f"`stockade compile {prof}` shows how each is enforced"), line
    shown = stockade_as(user, "compile", str(prof), cwd=scratch)
    assert shown.returncode == 0 and "dbus," in shown.stdout, shown.stdout


def test_status_says_where_the_plan_cache_is_or_why_there_is_none(user: str,
                                                                   scratch: Path) -> None:
    """As nobody (home /nonexistent) `status` showed the plan cache at
    /nonexistent/.cache/stockade/plans, a place no run could make (and root's run made it,
    home and all). It now says the cache is off and why, as `run -v` finds it, and no run
    makes a missing home; with a cache and runtime directory it names the real path and
    counts what `run -p` stored there."""
    prof, seen, _ = _reader_profile(scratch)
    hand_to(user, scratch)
    gone = scratch / "no-such-home"  # nobody's /nonexistent, which the host may have made
    homeless = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(gone)}

    def status(env: dict[str, str]) -> tuple[str, dict[str, object]]:
        text = stockade_as(user, "status", cwd=scratch, env=env)
        doc = stockade_as(user, "status", "--json", cwd=scratch, env=env)
        assert text.returncode == 0 and doc.returncode == 0, text.stderr + doc.stderr
        row = next(ln for ln in text.stdout.splitlines() if "plan cache (run -p)" in ln)
        return row, json.loads(doc.stdout)["plan_cache"]

    def run_v(env: dict[str, str]) -> str:
        ran = stockade_as(user, "run", "-v", "-p", str(prof), "--", "/usr/bin/cat", str(seen),
                          cwd=scratch, env=env)
        assert ran.returncode == 0, ran.stderr
        return next(ln for ln in ran.stderr.splitlines() if "plan cache:" in ln)

    row, cache = status(homeless)
    assert ".cache" not in row and f"off: this user's home {gone} does not exist" in row, row
    assert cache["directory"] is None and str(gone) in str(cache["off"])
    assert "plan cache: off" in run_v(homeless)
    assert not gone.exists()
    runtime = scratch / "runtime"
    runtime.mkdir(mode=0o700)
    hand_to(user, scratch)
    runtime.chmod(0o700)
    cached = {**homeless, "XDG_CACHE_HOME": str(scratch / "cache"),
              "XDG_RUNTIME_DIR": str(runtime)}
    where = f"{scratch}/cache/stockade/plans"
    row, cache = status(cached)
    assert row.endswith(f"{where} (0 entries)") and cache["off"] is None, row
    stored = run_v(cached)
    if "may use the keyring" in stored:  # root's marks are in /run/stockade, shared
        pytest.skip(f"another run holds the plan cache key exposed: {stored}")
    assert stored.endswith(f"stored ({where})"), stored
    row, _ = status(cached)
    assert row.endswith(f"{where} (1 entries)"), row


def test_names_a_program_makes_beneath_tmp_stay_names(user: str, scratch: Path) -> None:
    """`learn -- python3 -m venv` in a directory under /tmp wrote `venv/bin/* w,`,
    `bin/*.11 w,`, `bin/*.ps1 w,` and `lib/*.11/ w,`: every name anywhere below /tmp that
    mixed letters and digits or cases (python3, python3.11, Activate.ps1) was taken for
    mkstemp's random XXXXXX. Only the name made directly in a temporary directory may be
    random now; the venv's names stay names, and the profile makes another venv."""
    from stockade.learn.globs import collapse

    assert collapse("/tmp/w/venv/bin/python3.11", []) == "/tmp/w/venv/bin/python3.11"
    assert collapse("/tmp/w/Makefile", []) == "/tmp/w/Makefile"
    assert collapse("/tmp/tmpa1b2c3d4/data.db", []) == "/tmp/tmp*/data.db"
    assert collapse("/run/user/1000/Xab12cd9", []) == "/run/user/1000/*"
    prof = policy_dir(scratch) / "venv.profile"
    hand_to(user, scratch)
    cmd = ["/usr/bin/python3", "-m", "venv", "--without-pip"]
    learned = stockade_as(user, "learn", "-q", "-o", str(prof), "--", *cmd, "first",
                          cwd=scratch)
    assert learned.returncode == 0, learned.stderr
    text = prof.read_text()
    assert f"{scratch}/first/bin/python3 w," in text, text
    assert f"{scratch}/first/bin/Activate.ps1 w," in text, text
    assert "*.11" not in text and "/bin/* " not in text, text
    again = stockade_as(user, "run", "-q", "-p", str(prof), "--", *cmd, "second", cwd=scratch)
    assert again.returncode == 0, again.stderr
    assert (scratch / "second" / "bin" / "python3").is_symlink()


def test_logprof_turns_a_supervisor_refusal_into_the_rule_that_allows_it(
        user: str, scratch: Path) -> None:
    """`run -p P --audit F` of a program refused chmod (the supervisor decides it: Landlock
    does not mediate chmod), then `logprof -p P --log F`: "no changes proposed (1 relevant
    of 1 records)", and notify offered no rule, though explain says `PATH w,`. The record now
    carries the mask the plan lacked: notify and logprof propose explain's rule, and with it
    applied the chmod runs."""
    log = _chmod_loop(user, scratch, "mode", 1)
    target = scratch / "mode.txt"
    prof = policy_dir(scratch) / "mode.profile"
    notified = stockade_as(user, "notify", "--once", "--no-desktop", "--no-netlink",
                           "--audit-log", "", "--log", str(log), cwd=scratch)
    assert notified.stdout.count("\n") == 1 and f"allow with: {target} w," in notified.stdout
    explained = stockade_as(user, "explain", "--profile", str(prof), "chmod", str(target),
                            "--new-mode", "600", cwd=scratch)
    # explain words it `owner PATH w,` for nobody's own file: the same grant to the plan
    assert re.search(f"allow with: (owner )?{target} w,", explained.stdout), explained.stdout
    applied = stockade_as(user, "logprof", "-p", str(prof), "--log", str(log), "--apply",
                          cwd=scratch)
    assert applied.returncode == 0 and f"{target} w," in prof.read_text(), applied.stderr
    ran = stockade_as(user, "run", "-q", "-p", str(prof), "--", "/usr/bin/dash", "-c",
                      f"chmod 600 {target}", cwd=scratch)
    assert ran.returncode == 0 and target.stat().st_mode & 0o777 == 0o600, ran.stderr


def test_a_learned_find_walks_its_tree_with_one_rule(user: str, scratch: Path) -> None:
    """`learn -- find /usr/share/doc -name copyright` wrote 915 rules, one `DIR/ r,` per
    directory it listed. A tree the program walked is now `D/ r,` and `D/**/ r,` (what
    aa-logprof's Glob makes of them): directories only, its files stay closed; a small
    listing stays exact."""
    from stockade.policy import Perm, compile_profiles

    tree = scratch / "tree"
    for i in range(12):
        (tree / f"d{i}" / "sub").mkdir(parents=True)
        (tree / f"d{i}" / "sub" / "notes.txt").write_text("x\n")
    few = scratch / "few"
    for i in range(3):
        (few / f"e{i}").mkdir(parents=True)
    prof, small = policy_dir(scratch) / "find.profile", policy_dir(scratch) / "small.profile"
    hand_to(user, scratch)
    cmd = ["/usr/bin/find", str(tree), "-name", "notes.txt"]
    learned = stockade_as(user, "learn", "-q", "-o", str(prof), "--", *cmd, cwd=scratch)
    assert learned.returncode == 0 and learned.stdout.count("\n") == 12, learned.stderr
    rules = [ln.strip() for ln in prof.read_text().splitlines()
             if str(tree) in ln and not ln.startswith("#")]
    assert rules == [f"{tree}/ r,", f"{tree}/**/ r,"], rules
    if shutil.which("apparmor_parser"):
        assert subprocess.run(["apparmor_parser", "-Q", "-K", str(prof)],
                              capture_output=True).returncode == 0
    profile = compile_profiles(str(prof))[0]
    assert profile.file_perms(f"{tree}/d3/sub/", is_dir=True).allows(Perm.READ)
    assert not profile.file_perms(f"{tree}/d3/sub/notes.txt").allows(Perm.READ)
    ran = stockade_as(user, "run", "-q", "-p", str(prof), "--", *cmd, cwd=scratch)
    assert ran.returncode == 0 and sorted(ran.stdout.split()) == sorted(learned.stdout.split())
    stockade_as(user, "learn", "-q", "-o", str(small), "--", "/usr/bin/find", str(few),
                cwd=scratch)
    listed = [ln.strip() for ln in small.read_text().splitlines()
              if str(few) in ln and not ln.startswith("#")]
    assert f"{few}/e1/ r," in listed and "**" not in "".join(listed), listed


def test_check_does_not_warn_about_the_rule_learn_writes_for_the_program_itself(
        tmp_path: Path) -> None:
    """`stockade check` of every profile `learn` wrote warned "'/usr/bin/find' ix covers
    'find', which can run a shell or read any file with this profile's rights": the rule
    for the attached program itself, which runs under the profile anyway. An ix of it from
    another program's profile still warns."""
    prof = tmp_path / "find.profile"
    learned = subprocess.run([sys.executable, "-m", "stockade", "learn", "-q", "-o", str(prof),
                              "--", "/usr/bin/find", str(tmp_path), "-maxdepth", "0"],
                             capture_output=True, text=True, timeout=120)
    assert learned.returncode == 0 and "/usr/bin/find ix," in prof.read_text(), learned.stderr
    checked = subprocess.run([sys.executable, "-m", "stockade", "check", "--json", str(prof)],
                             capture_output=True, text=True, timeout=120)
    codes = [(w["code"], w["rule"]) for w in json.loads(checked.stdout)["warnings"]]
    assert ("inherit-escape", "/usr/bin/find ix,") not in codes, codes
    other = tmp_path / "other.profile"
    other.write_text("profile other /usr/bin/xargs {\n  /usr/bin/find ix,\n}\n")
    checked = subprocess.run([sys.executable, "-m", "stockade", "check", "--json", str(other)],
                             capture_output=True, text=True, timeout=120)
    assert [w["code"] for w in json.loads(checked.stdout)["warnings"]] == ["inherit-escape"]


def test_pythons_atomic_pyc_writes_are_learned_as_a_glob(user: str, scratch: Path) -> None:
    """Python writes `__pycache__/mod.cpython-311.pyc` through a temporary
    `mod.cpython-311.pyc.140584330346928` (the path's id): learn wrote that number, which the
    next run does not use. A created name ending in a number of 4 digits or more is now
    `.[0-9]*`, which AppArmor matches for any number; the profile runs the program again."""
    from stockade.learn.globs import created_glob
    from stockade.policy import Perm, compile_profiles

    assert created_glob("/a/libx.so.6") == "/a/libx.so.6"
    assert created_glob("/a/out.tmp.31337") == "/a/out.tmp.[0-9]*"
    (scratch / "mod.py").write_text("def f():\n    return 42\n")
    (scratch / "main.py").write_text("import mod\nprint(mod.f())\n")
    prof = policy_dir(scratch) / "py.profile"
    hand_to(user, scratch)
    cmd = ["/usr/bin/python3", "main.py"]
    learned = stockade_as(user, "learn", "-q", "-o", str(prof), "--", *cmd, cwd=scratch)
    assert learned.returncode == 0 and learned.stdout == "42\n", learned.stderr
    text = prof.read_text()
    assert not re.search(r"\.pyc\.[0-9]{5,}", text), text
    # the venv is made from /usr/bin/python3 (common.md): the same cache tag
    pyc = f"{scratch}/__pycache__/mod.cpython-{sys.version_info[0]}{sys.version_info[1]}.pyc"
    assert f"{pyc}.[0-9]* rw," in text, text
    profile = compile_profiles(str(prof))[0]
    assert profile.file_perms(f"{pyc}.987654321").allows(Perm.WRITE)
    shutil.rmtree(scratch / "__pycache__")
    again = stockade_as(user, "run", "-q", "-p", str(prof), "--", *cmd, cwd=scratch)
    assert again.returncode == 0 and again.stdout == "42\n", again.stderr
    assert (scratch / "__pycache__").is_dir()


def test_a_failed_run_names_the_kernels_first_refusal_it_recorded(tmp_path: Path) -> None:
    """As root with --audit and the kernel's audit on, the run reads Landlock's records of
    the program: the end line names the first refusal, the file, and the logprof round."""
    if os.geteuid() != 0:
        pytest.skip("the kernel's records need root")
    prof, _, other = _reader_profile(tmp_path)
    log = Path(tempfile.mkdtemp(prefix="stockade-nc6-log-")) / "denials.jsonl"
    try:
        out = subprocess.run([sys.executable, "-m", "stockade", "run", "-p", str(prof),
                              "--audit", str(log), "--", "/usr/bin/cat", str(other)],
                             capture_output=True, text=True, timeout=120)
        if "audit is disabled" in out.stderr or "not recorded" in out.stderr:
            pytest.skip("the kernel's audit is off (another test may turn it on)")
        assert out.returncode == 1, out.stderr
        line, = _end_lines(out.stderr)
        assert f"(first: fs.read_file {other} (landlock)); recorded in {log}" in line, line
        assert f"`stockade logprof -p {prof} --log {log}` proposes rules" in line, line
    finally:
        shutil.rmtree(log.parent, ignore_errors=True)


def test_a_stock_profile_without_attachment_confines_the_command_named(user: str,
                                                                       scratch: Path) -> None:
    """Debian's /etc/apparmor.d/lsb_release attaches to no program (it is entered by
    `Px -> lsb_release`). `run -p` of it refused to start lsb_release (126: no execute
    right), though `aa-exec -p lsb_release lsb_release` runs it: AppArmor checks that exec
    against the caller. The command named is now started in the profile's sandbox, as for a
    profile attaching to it, and what the profile does not grant stays closed."""
    stock = Path("/etc/apparmor.d/lsb_release")
    if not stock.is_file() or not shutil.which("lsb_release"):
        pytest.skip("needs apparmor-profiles' lsb_release and lsb-release")
    hand_to(user, scratch)
    ran = stockade_as(user, "run", "-q", "-p", str(stock), "--", "lsb_release", "-i",
                      cwd=scratch)
    assert ran.returncode == 0 and ran.stdout.startswith("Distributor ID:"), ran.stderr
    refused = stockade_as(user, "run", "-q", "-p", str(stock), "--", "/usr/bin/python3", "-c",
                          "open('/etc/hostname').read()", cwd=scratch)
    assert refused.returncode == 1 and "PermissionError" in refused.stderr, refused.stderr


def test_a_tree_read_whole_is_one_rule_and_a_tree_read_in_part_is_not(user: str,
                                                                      scratch: Path) -> None:
    """`learn -- tar czf out.tgz src` wrote one rule per file of src (and per directory). A
    tree the program walked and read whole, as the filesystem holds it, is `src/** r,`
    (aa-logprof's Glob): the next archive, with a new file in it, runs under the profile.
    Reading a few files of a walked tree keeps their own rules."""
    from stockade.learn.trees import read_whole

    src = scratch / "src"
    for i in range(10):
        (src / f"m{i}").mkdir(parents=True)
        for j in range(3):
            (src / f"m{i}" / f"f{j}.txt").write_text(f"{i}{j}\n")
    assert read_whole(str(src), {str(p) for p in src.rglob("*.txt")})
    assert not read_whole(str(src), {str(p) for p in src.rglob("f1.txt")})
    whole, part = policy_dir(scratch) / "tar.profile", policy_dir(scratch) / "part.profile"
    hand_to(user, scratch)
    tar = ["/usr/bin/tar", "czf", str(scratch / "out.tgz"), "src"]
    learned = stockade_as(user, "learn", "-q", "-o", str(whole), "--", *tar, cwd=scratch)
    assert learned.returncode == 0, learned.stderr
    rules = [ln.strip() for ln in whole.read_text().splitlines()
             if f"{src}/" in ln and not ln.startswith("#")]
    assert rules == [f"{src}/ r,", f"{src}/** r,"], rules
    (src / "m4" / "new.txt").write_text("new\n")
    hand_to(user, scratch)
    again = stockade_as(user, "run", "-q", "-p", str(whole), "--", *tar, cwd=scratch)
    assert again.returncode == 0, again.stderr
    listed = subprocess.run(["tar", "tzf", str(scratch / "out.tgz")], capture_output=True,
                            text=True, check=True).stdout.split()
    assert "src/m4/new.txt" in listed and len(listed) == 42, listed
    some = ["/usr/bin/dash", "-c", "find src -name f1.txt | /usr/bin/xargs cat"]
    assert stockade_as(user, "learn", "-q", "-o", str(part), "--", *some,
                       cwd=scratch).returncode == 0
    text = part.read_text()
    assert f"{src}/m3/f1.txt r," in text and f"{src}/** r," not in text, text


@pytest.mark.parametrize("action", [["query"], ["stats"], ["export", "--jsonl"]])
def test_reading_an_audit_store_that_is_not_there_makes_nothing(tmp_path: Path,
                                                                action: list[str]) -> None:
    """`audit query --store /nope/s.sqlite` (a mistyped path) made /nope/ and an empty store,
    and said "No matching records". Reading a store that is not there is now an error that
    makes nothing."""
    store = tmp_path / "typo" / "s.sqlite"
    out = subprocess.run([sys.executable, "-m", "stockade", "audit", *action, "--store",
                          str(store)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert f"no audit store at {store}" in out.stderr
    assert not (tmp_path / "typo").exists()


def test_a_learned_git_gc_names_no_random_temporary_file(user: str, scratch: Path) -> None:
    """`learn -- git gc` wrote git's mkstemp names and its pid (`tmp_pack_wO6SYK`,
    `packs_vkNK6F`, `.tmp-9422-pack-*.idx`), which the next gc names otherwise. A created
    name's 6 random characters after a separator and a number of 4 digits or more between
    separators are `*`; Python's cache tag `cpython-311` stays."""
    from stockade.learn.globs import created_glob
    from stockade.policy import Perm, compile_profiles

    # git's templates even when the 6 characters came out all lower case (1 draw in ~180:
    # a full suite once learned `tmp_pack_ytbhly`)
    assert created_glob("/r/.git/objects/pack/tmp_pack_ytbhly") == "/r/.git/objects/pack/tmp_pack_*"

    assert created_glob("/r/pack/tmp_pack_wO6SYK") == "/r/pack/tmp_pack_*"
    assert created_glob("/r/pack/.tmp-21405-pack-*.idx") == "/r/pack/.tmp-*-pack-*.idx"
    assert created_glob("/r/backup_report") == "/r/backup_report"  # a word, not random
    assert created_glob("/r/log-2024-12.txt") == "/r/log-*-12.txt"  # the next run's date
    assert created_glob("/r/venv/bin/python3.11") == "/r/venv/bin/python3.11"
    assert created_glob("/r/mod.cpython-311.pyc") == "/r/mod.cpython-311.pyc"
    repo = scratch / "repo"
    git = ["/usr/bin/git", "-c", "user.name=nc6", "-c", "user.email=nc6@example.org"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    (repo / "a.txt").write_text("a\n")
    subprocess.run([*git, "-C", str(repo), "add", "a.txt"], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "a"], check=True)
    prof = policy_dir(scratch) / "gc.profile"
    hand_to(user, scratch)
    learned = stockade_as(user, "learn", "-q", "-o", str(prof), "--", *git, "gc", "-q",
                          cwd=repo)
    assert learned.returncode == 0, learned.stderr
    text = prof.read_text()
    # (a pid under 1000 stays a name: shorter numbers are names)
    assert not re.search(r"tmp_(pack|idx)_[A-Za-z0-9]{6}\b|-[0-9]{4,}-pack", text), text
    assert f"{repo}/.git/objects/pack/tmp_pack_* rw," in text, text
    profile = compile_profiles(str(prof))[0]
    assert profile.file_perms(f"{repo}/.git/objects/pack/tmp_pack_Zz9Yy8").allows(Perm.WRITE)
    if shutil.which("apparmor_parser"):
        assert subprocess.run(["apparmor_parser", "-Q", "-K", str(prof)],
                              capture_output=True).returncode == 0
    (repo / "b.txt").write_text("b\n")
    hand_to(user, scratch)
    assert stockade_as(user, "run", "-q", "--rx", "/", "--rw", str(repo), "--rw", "/dev/null",
                       "--", *git, "add", "b.txt", cwd=repo).returncode == 0
    again = stockade_as(user, "run", "-q", "-p", str(prof), "--", *git, "gc", "-q", cwd=repo)
    assert again.returncode == 0, again.stderr


def test_gccs_temporary_files_keep_their_template_word(user: str, scratch: Path) -> None:
    """gcc's temporary files are mkstemp's `/tmp/ccXXXXXX.s`: learn wrote `/tmp/*.s rw,`
    (any .s file in /tmp), where aa-logprof's Glob keeps `cc`. The template's word stays
    when the 6 random characters show mkstemp's upper case (Python's tempfile names are all
    lower case, and keep no word); the learned profile compiles again."""
    from stockade.learn.globs import collapse

    assert collapse("/tmp/ccAbc123.s", []) == "/tmp/cc*.s"
    assert collapse("/tmp/sortAb12cd", []) == "/tmp/sort*"
    assert collapse("/tmp/abqz12cd", []) == "/tmp/*"  # no upper case: no word kept
    assert collapse("/tmp/tmpa1b2c3d4/data.db", []) == "/tmp/tmp*/data.db"
    (scratch / "hello.c").write_text("int main(void) { return 0; }\n")
    prof = policy_dir(scratch) / "gcc.profile"
    hand_to(user, scratch)
    cmd = ["/usr/bin/gcc", "-c", "hello.c", "-o", "hello.o"]
    learned = stockade_as(user, "learn", "-q", "-o", str(prof), "--", *cmd, cwd=scratch)
    assert learned.returncode == 0, learned.stderr
    temps = [ln.split()[0] for ln in prof.read_text().splitlines()
             if ln.strip().startswith("/tmp/") and ln.strip().endswith(("rw,", "w,"))
             and str(scratch) not in ln]
    assert temps and all(t in ("/tmp/cc*.s", "/tmp/*.s") for t in temps), temps
    (scratch / "hello.o").unlink()
    again = stockade_as(user, "run", "-q", "-p", str(prof), "--", *cmd, cwd=scratch)
    assert again.returncode == 0 and (scratch / "hello.o").is_file(), again.stderr
