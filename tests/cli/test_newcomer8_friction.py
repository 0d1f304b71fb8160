"""Friction left from the last newcomer session, and met again by a newcomer who knows
AppArmor, firejail and bwrap: each fixed, each test failing before its fix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import STOCKADE, hand_to, scratch_for, stockade_as


@pytest.fixture
def scratch(user: str) -> Iterator[Path]:
    d = scratch_for(user, "stockade-nc8-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def nobody_scratch() -> Iterator[Path]:
    d = scratch_for("nobody", "stockade-nc8-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_logprof_apply_in_a_sticky_directory_says_why_it_cannot(nobody_scratch: Path) -> None:
    """`logprof --apply` as nobody on root's world-writable profile in a sticky directory
    (/tmp) ended in `internal error: PermissionError`: the sticky bit lets only the owner
    rename over the file. Now one line says so and what to do, and nothing is left behind."""
    scratch = nobody_scratch
    sticky = scratch / "sticky"
    sticky.mkdir()
    seen = scratch / "seen.txt"
    seen.write_text("seen\n")
    hand_to("nobody", scratch)
    os.chmod(sticky, 0o1777)
    os.chown(sticky, 0, 0)
    prof = sticky / "cat.profile"
    text = ("include <tunables/global>\nprofile cat /usr/bin/cat {\n"
            "  include <abstractions/base>\n  /usr/bin/cat ix,\n}\n")
    prof.write_text(text)
    os.chmod(prof, 0o666)
    log = scratch / "complain.jsonl"
    ran = stockade_as("nobody", "run", "-q", "--complain", "-p", str(prof), "--audit",
                      str(log), "--", "/usr/bin/cat", str(seen), cwd=scratch)
    assert ran.returncode == 0 and ran.stdout == "seen\n", ran.stderr
    applied = stockade_as("nobody", "logprof", "-p", str(prof), "--log", str(log), "--apply",
                          cwd=scratch)
    assert applied.returncode == 2, applied.stderr
    assert "internal error" not in applied.stderr and "Traceback" not in applied.stderr
    lines = applied.stderr.strip().splitlines()
    assert len(lines) == 1, applied.stderr
    assert "sticky directory" in lines[0] and "root's" in lines[0], lines[0]
    assert prof.read_text() == text
    assert sorted(p.name for p in sticky.iterdir()) == ["cat.profile"]
    # the way out it names works: a copy of one's own takes the change
    own = scratch / "cat.profile"
    shutil.copy(prof, own)
    os.chown(own, 65534, 65534)
    again = stockade_as("nobody", "logprof", "-p", str(own), "--log", str(log), "--apply",
                        cwd=scratch)
    assert again.returncode == 0, again.stderr
    assert f"{seen} r," in own.read_text()


UNDUMPABLE_SERVER = """
import ctypes, os, socket, sys
ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0, as daemons do
inet = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
for call in (lambda: inet.bind(("127.0.0.1", 0)), inet.listen,
             lambda: unix.bind("\\0stockade-nc8-%d" % os.getpid()), unix.listen):
    try:
        call()
        print("OK")
    except OSError as err:
        print(err.errno)
"""


def test_an_undumpable_servers_calls_are_learned_or_refused_with_a_reason(
        user: str, scratch: Path) -> None:
    """A program that made itself undumpable had its bind and listen (their handlers take
    the socket with pidfd_getfd) fail with a bare EPERM under the supervisor, and `learn`
    missed them, as root too (the supervisor thread holds the target's capabilities). Now
    root's supervisor takes the descriptor with its own CAP_SYS_PTRACE (as it reads memory)
    and learns them; nobody's refuses each with EACCES, one record naming why, and one line
    on stderr saying what to do."""
    hand_to(user, scratch)
    prof = scratch / "server.profile"
    learned = stockade_as(user, "learn", "-o", str(prof), "--", "/usr/bin/python3", "-c",
                          UNDUMPABLE_SERVER, cwd=scratch)
    assert learned.returncode == 0, learned.stderr
    if user == "root":
        assert learned.stdout.split() == ["OK"] * 4, learned.stdout + learned.stderr
        text = prof.read_text()
        assert "network inet stream," in text and "unix (bind" in text, text
        assert "undumpable" not in learned.stderr, learned.stderr
        return
    assert learned.stdout.split() == ["13"] * 4, learned.stdout + learned.stderr
    lines = [ln for ln in learned.stderr.splitlines() if "undumpable" in ln]
    assert len(lines) == 1 and "4 calls of python3" in lines[0], learned.stderr
    assert "run stockade as root, or keep the program dumpable" in lines[0], lines[0]
    audit = scratch / "audit.jsonl"
    ran = stockade_as(user, "run", "--mode", "learn", "--learn", str(scratch / "obs.jsonl"),
                      "--audit", str(audit), "--", "/usr/bin/python3", "-c", UNDUMPABLE_SERVER,
                      cwd=scratch)
    assert ran.stdout.split() == ["13"] * 4, ran.stdout + ran.stderr
    records = [json.loads(ln) for ln in audit.read_text().splitlines()
               if '"DENIED"' in ln]
    assert len(records) == 4, records
    assert all(r["module"] == "supervisor" and "not dumpable" in r["reason"]
               and "CAP_SYS_PTRACE" in r["reason"] for r in records), records


def test_a_learned_reader_runs_quietly_and_a_widened_rule_stays_visible(
        user: str, scratch: Path) -> None:
    """Every `run -p` of a learned profile printed `note: P runs with N of its rules enforced
    differently than written`, though AppArmor runs a confined program quietly. Now the line
    is printed only when a rule of the profile's own is weakened: a learned reader (whose
    rules differ only in what may be read or listed, and in base's approximations) runs
    quietly, -v and `compile` still list every difference; a learned writer's file rule is
    granted through its directory, wider than written, and the line names it."""
    data = scratch / "in.txt"
    data.write_text("data\n")
    out = scratch / "out" / "copy.txt"
    out.parent.mkdir()
    hand_to(user, scratch)
    policies = Path(tempfile.mkdtemp(prefix="stockade-nc8-policy-", dir="/var/tmp"))
    try:
        os.chmod(policies, 0o777)
        reader, writer = policies / "cat.profile", policies / "cp.profile"
        for prof, argv in ((reader, ["/usr/bin/cat", str(data)]),
                           (writer, ["/usr/bin/cp", str(data), str(out)])):
            learned = stockade_as(user, "learn", "-o", str(prof), "--", *argv, cwd=scratch)
            assert learned.returncode == 0, learned.stderr
        ran = stockade_as(user, "run", "-p", str(reader), "--", "/usr/bin/cat", str(data),
                          cwd=scratch)
        assert ran.returncode == 0 and ran.stdout == "data\n", ran.stderr
        assert ran.stderr == "", ran.stderr
        verbose = stockade_as(user, "run", "-v", "-p", str(reader), "--", "/usr/bin/cat",
                              str(data), cwd=scratch)
        assert "approximated: /usr/bin/cat ix," in verbose.stderr, verbose.stderr
        compiled = stockade_as(user, "compile", str(reader), cwd=scratch)
        assert compiled.returncode == 0 and "approximated" in compiled.stdout, compiled.stdout
        copied = stockade_as(user, "run", "-p", str(writer), "--", "/usr/bin/cp", str(data),
                             str(out), cwd=scratch)
        assert copied.returncode == 0, copied.stderr
        line, = copied.stderr.splitlines()
        assert line.startswith(f"stockade run: note: {writer} runs with "), line
        assert f"wider than written: {out} w, ({writer}:" in line, line
    finally:
        shutil.rmtree(policies, ignore_errors=True)


PARSER = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"


@pytest.mark.skipif(not os.path.exists(PARSER) or os.geteuid() != 0
                    or not os.path.exists("/etc/apparmor.d/abstractions/base"),
                    reason="apparmor_parser, root and /etc/apparmor.d are needed")
def test_check_of_a_learned_profile_does_not_repeat_base_abstractions_lint(
        tmp_path: Path) -> None:
    """`check` of a plain learned profile printed two write-exec warnings about
    abstractions/base's ecryptfs rules (`owner @{HOME}/.Private/** mrixwlk,`): true of the
    rule, but the distribution's, the same in every profile that includes base, not the
    author's to change, and apparmor_parser -Q -K accepts the profile without a word. Now
    they are counted in the summary and shown with --lint-abstractions (--json keeps every
    warning, each naming its file)."""
    data = tmp_path / "in.txt"
    data.write_text("data\n")
    prof = tmp_path / "cat.profile"
    learned = subprocess.run([*STOCKADE, "learn", "-q", "-o", str(prof), "--", "/usr/bin/cat",
                              str(data)], capture_output=True, text=True, timeout=120)
    assert learned.returncode == 0 and "abstractions/base" in prof.read_text(), learned.stderr
    oracle = subprocess.run([PARSER, "-Q", "-K", str(prof)], capture_output=True, text=True,
                            timeout=120)
    assert oracle.returncode == 0, oracle.stderr
    assert "warn" not in (oracle.stdout + oracle.stderr).lower(), oracle.stderr
    checked = subprocess.run([*STOCKADE, "check", str(prof)], capture_output=True, text=True,
                             timeout=120)
    assert checked.returncode == 0, checked.stderr
    assert "warning:" not in checked.stdout, checked.stdout
    assert checked.stdout.splitlines()[-1] == (
        "1 file(s), 1 profile(s), 0 error(s), 0 warning(s) and 2 about shared abstractions, "
        "not shown (--lint-abstractions)"), checked.stdout
    full = subprocess.run([*STOCKADE, "check", "--lint-abstractions", str(prof)],
                          capture_output=True, text=True, timeout=120)
    base = [ln for ln in full.stdout.splitlines() if ln.startswith(
        "/etc/apparmor.d/abstractions/base:") and "[write-exec]" in ln]
    assert len(base) == 2, full.stdout
    doc = json.loads(subprocess.run([*STOCKADE, "check", "--json", str(prof)],
                                    capture_output=True, text=True, timeout=120).stdout)
    assert sorted(w["code"] for w in doc["warnings"]) == ["write-exec"] * 2, doc


def test_every_command_finds_a_learned_profile_by_its_file_name(user: str,
                                                                scratch: Path) -> None:
    """`learn -- cat F` wrote ~/.config/stockade/profiles/usr.bin.cat (aa-genprof's name), but
    `run -p usr.bin.cat`, `check`, `explain --profile`, `logprof -p`, `compile` and `export`
    all said `usr.bin.cat: no such file`: only the full path worked. Each now finds it there
    (a file of that name in the current directory comes first), as root and as nobody with a
    home of its own; a name found nowhere says where it was looked for."""
    home = scratch / "home"
    home.mkdir()
    data = scratch / "in.txt"
    data.write_text("data\n")
    hand_to(user, scratch)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home)}
    work = scratch / "work"
    work.mkdir()
    if user == "nobody":
        os.chown(work, 65534, 65534)

    def stockade(*args: str) -> subprocess.CompletedProcess[str]:
        return stockade_as(user, *args, cwd=work, env=env)

    learned = stockade("learn", "--", "/usr/bin/cat", str(data))
    assert learned.returncode == 0, learned.stderr
    written = home / ".config/stockade/profiles/usr.bin.cat"
    assert f"written to {written}" in learned.stderr, learned.stderr
    ran = stockade("run", "-p", "usr.bin.cat", "--", "/usr/bin/cat", str(data))
    assert ran.returncode == 0 and ran.stdout == "data\n", ran.stderr
    checked = stockade("check", "usr.bin.cat")
    assert checked.returncode == 0 and str(written) in checked.stdout, checked.stderr
    explained = stockade("explain", "--profile", "usr.bin.cat", "read", str(data))
    assert explained.returncode == 0, explained.stdout + explained.stderr
    compiled = stockade("compile", "usr.bin.cat")
    assert compiled.returncode == 0 and "profile cat" in compiled.stdout, compiled.stderr
    exported = stockade("export", "--format", "oci-seccomp", "usr.bin.cat")
    assert exported.returncode == 0 and json.loads(exported.stdout)["defaultAction"], \
        exported.stderr
    log = work / "complain.jsonl"
    other = scratch / "other.txt"
    other.write_text("other\n")
    complained = stockade("run", "-q", "--complain", "-p", "usr.bin.cat", "--audit", str(log),
                          "--", "/usr/bin/cat", str(other))
    assert complained.returncode == 0, complained.stderr
    proposed = stockade("logprof", "-p", "usr.bin.cat", "--log", str(log))
    assert f"{other} r," in proposed.stdout, proposed.stdout + proposed.stderr
    missing = stockade("run", "-p", "usr.bin.nothing", "--", "/usr/bin/true")
    assert missing.returncode == 125, missing.stderr
    assert missing.stderr.strip() == (
        "stockade run: usr.bin.nothing: no such file (nor a learned profile of that name in "
        f"{home}/.config/stockade/profiles)"), missing.stderr


def test_a_file_created_under_a_glob_directory_is_granted_through_it(
        user: str, scratch: Path) -> None:
    """Learned as a user with a home under /home, `xz -k ~/w/a.txt` wrote `@{HOME}/w/a.txt.xz
    w,` (@{HOME} is `/home/*/` and `/root/`), and `run -p` of it failed with EACCES: a name
    missing at launch behind a glob (`/home/*/w/`) was neither a target nor missing, so no
    rule let the program create it (only root's literal `/root/` alternative was). A name
    spelled literally from a matched directory is now missing as a plain path is, and the
    rule is granted through that directory; a name beneath a directory that is not there
    still gets nothing."""
    homes = scratch / "homes"
    (homes / "u" / "w").mkdir(parents=True)
    (homes / "u" / "w" / "a.txt").write_text("hello\n")
    hand_to(user, scratch)
    policies = Path(tempfile.mkdtemp(prefix="stockade-nc8-policy-", dir="/var/tmp"))
    try:
        os.chmod(policies, 0o755)
        prof = policies / "xz.profile"
        prof.write_text("include <tunables/global>\nprofile xz /usr/bin/xz {\n"
                        "  include <abstractions/base>\n  /usr/bin/xz ix,\n"
                        f"  {homes}/*/w/a.txt r,\n  {homes}/*/w/a.txt.xz w,\n"
                        f"  {homes}/*/nowhere/b.xz w,\n}}\n")
        os.chmod(prof, 0o644)
        made = stockade_as(user, "run", "-q", "-p", str(prof), "--", "/usr/bin/xz", "-k",
                           str(homes / "u" / "w" / "a.txt"), cwd=scratch)
        assert made.returncode == 0, made.stderr
        assert (homes / "u" / "w" / "a.txt.xz").stat().st_size > 0
        compiled = stockade_as(user, "compile", "--json", str(prof), cwd=scratch)
        grants = {r["path"] for r in json.loads(compiled.stdout)["plan"]["landlock"]["fs_rules"]}
        assert str(homes / "u" / "w") in grants, grants
        assert not any(g.startswith(str(homes / "u" / "nowhere")) for g in grants), grants
        assert str(homes / "u") not in grants and str(homes) not in grants, grants
    finally:
        shutil.rmtree(policies, ignore_errors=True)


def test_learn_says_when_run_will_refuse_the_profile_it_wrote(user: str,
                                                             scratch: Path) -> None:
    """`learn -- ssh-keygen -f ~/k1` (a file made directly in the home) wrote the profile to
    ~/.config/stockade/profiles and said `confine it with: stockade run -p ...`, which then
    refused it: Landlock grants making ~/k1 with everything beneath the home, the profile
    included. learn now asks run's own check and says so, and what to do, instead."""
    home = scratch / "home"
    home.mkdir()
    (scratch / "out").mkdir()
    hand_to(user, scratch)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home)}
    made = home / "made.txt"
    learned = stockade_as(user, "learn", "--", "/usr/bin/touch", str(made), cwd=home, env=env)
    assert learned.returncode == 0 and made.exists(), learned.stderr
    prof = home / ".config/stockade/profiles/usr.bin.touch"
    notes = [ln for ln in learned.stderr.splitlines() if "refuses this profile" in ln]
    assert len(notes) == 1, learned.stderr
    assert f"its input {prof} lies inside the writable grant {home}" in notes[0], notes[0]
    assert "confine it with" not in learned.stderr, learned.stderr
    ran = stockade_as(user, "run", "-p", str(prof), "--", "/usr/bin/touch", str(made),
                      cwd=home, env=env)
    assert ran.returncode == 125 and f"{prof} lies inside the writable grant {home}" in \
        ran.stderr, ran.stderr
    # elsewhere, the line says how to confine it
    moved = scratch / "elsewhere.profile"
    again = stockade_as(user, "learn", "-o", str(moved), "--", "/usr/bin/touch",
                        str(scratch / "out" / "work.txt"), cwd=home, env=env)
    assert again.returncode == 0 and "refuses this profile" not in again.stderr, again.stderr
    assert "confine it with" not in again.stderr  # -o given: the user knows where it is


PAREN_PATHS = ("/tmp/a(dev).tmpl w,", "/tmp/x/(dev) r,", "/tmp/script\\ (dev).tmpl w,",
               "/tmp/{a,(b)} r,", "ptrace (read) peer=/usr/bin/x,",
               "unix (send) peer=(label=/usr/bin/foo),")


@pytest.mark.skipif(not os.path.exists(PARSER), reason="apparmor_parser is needed")
@pytest.mark.parametrize("body", PAREN_PATHS)
def test_parentheses_in_a_path_parse_as_apparmor_parser_parses_them(tmp_path: Path,
                                                                     body: str) -> None:
    """`learn -- python3 -m venv ~/w/venv1` wrote `.../setuptools/script\\ (dev).tmpl w,`
    (setuptools ships that file), and every command refused its own profile: `missing ','
    at end of rule` at the `(`. apparmor_parser -Q -K accepts parentheses in an unquoted
    path (its path characters include them); stockade now does too, and a `)` the path did
    not open still ends it."""
    prof = tmp_path / "p.profile"
    prof.write_text(f"profile t {{\n  {body}\n}}\n")
    theirs = subprocess.run([PARSER, "-Q", "-K", str(prof)], capture_output=True, text=True,
                            timeout=60)
    ours = subprocess.run([*STOCKADE, "check", "--no-lint", str(prof)], capture_output=True,
                          text=True, timeout=60)
    assert (ours.returncode == 0) == (theirs.returncode == 0), (ours.stdout + ours.stderr,
                                                                theirs.stderr)
    assert ours.returncode == 0, ours.stdout + ours.stderr


def test_a_learned_name_with_a_space_and_parentheses_is_enforced(user: str,
                                                                 scratch: Path) -> None:
    """The rule learn writes for a file named `script (dev).tmpl` parses and grants that
    file, and only it, under `run -p` (the kernel decides)."""
    named = scratch / "script (dev).tmpl"
    named.write_text("tmpl\n")
    (scratch / "script.tmpl").write_text("other\n")
    hand_to(user, scratch)
    policies = Path(tempfile.mkdtemp(prefix="stockade-nc8-policy-", dir="/var/tmp"))
    try:
        os.chmod(policies, 0o777)
        prof = policies / "cat.profile"
        learned = stockade_as(user, "learn", "-q", "-o", str(prof), "--", "/usr/bin/cat",
                              str(named), cwd=scratch)
        assert learned.returncode == 0, learned.stderr
        assert f"{scratch}/script\\ (dev).tmpl r," in prof.read_text(), prof.read_text()
        ran = stockade_as(user, "run", "-q", "-p", str(prof), "--", "/usr/bin/cat", str(named),
                          cwd=scratch)
        assert ran.returncode == 0 and ran.stdout == "tmpl\n", ran.stderr
        other = stockade_as(user, "run", "-q", "-p", str(prof), "--", "/usr/bin/cat",
                            str(scratch / "script.tmpl"), cwd=scratch)
        assert other.returncode == 1 and "Permission denied" in other.stderr, other.stderr
    finally:
        shutil.rmtree(policies, ignore_errors=True)


MKDTEMP_LIKE = """
import os, sys
os.mkdir(sys.argv[1])
os.rmdir(sys.argv[1])
print(open(sys.argv[2]).read(), end="")
"""


def test_a_temporary_directory_with_a_prefix_of_several_words_is_learned_as_a_glob(
        user: str, scratch: Path) -> None:
    """`learn -- python3 -m venv V` wrote pip's `/tmp/pip-unpack-3wq76euo/ w,` and
    `/tmp/pip-build-tracker-proxho4p/* w,` as names (mkdtemp's prefix of several words was
    not taken as one), so `run -p` of the same command failed: pip's next names differ. A
    name the program made directly in /tmp with such a prefix and a random part is a glob
    now, the prefix kept; a directory made by someone else (the user's mkdtemp work
    directory) stays a name."""
    import secrets

    first, second = (f"/tmp/pip-unpack-a1{secrets.token_hex(3)}" for _ in range(2))
    data = scratch / "in.txt"
    data.write_text("x\n")
    hand_to(user, scratch)
    policies = Path(tempfile.mkdtemp(prefix="stockade-nc8-policy-", dir="/var/tmp"))
    try:
        os.chmod(policies, 0o777)
        prof = policies / "py.profile"
        learned = stockade_as(user, "learn", "-q", "-o", str(prof), "--", "/usr/bin/python3",
                              "-c", MKDTEMP_LIKE, first, str(data), cwd=scratch)
        assert learned.returncode == 0 and learned.stdout == "x\n", learned.stderr
        rules = "\n".join(ln for ln in prof.read_text().splitlines()
                          if not ln.startswith("#"))
        assert "  /tmp/pip-unpack-*/ w," in rules and first not in rules, rules
        # (files made inside such a directory are beyond Landlock: a new directory is a new
        # inode, granted only through /tmp: `/tmp/* rw,` as learned for pip's own files)
        assert f"  {data} r," in rules, rules  # the user's mkdtemp directory stays a name
        ran = stockade_as(user, "run", "-q", "-p", str(prof), "--", "/usr/bin/python3", "-c",
                          MKDTEMP_LIKE, second, str(data), cwd=scratch)
        assert ran.returncode == 0 and ran.stdout == "x\n", ran.stderr
    finally:
        shutil.rmtree(policies, ignore_errors=True)
        for d in (first, second):
            shutil.rmtree(d, ignore_errors=True)
