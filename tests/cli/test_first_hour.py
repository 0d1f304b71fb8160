"""A newcomer's first hour with stockade (learn, run, explain, logprof, check, audit): the
friction found doing everyday tasks beside aa-genprof, firejail and bwrap, each fixed here."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import STOCKADE, USER_ENV, hand_to, policy_dir, scratch_for, stockade_as


def stockade(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, stdin=subprocess.DEVNULL)


def _two_profiles_sharing(tmp_path: Path) -> Path:
    """Two profiles that include one abstraction with a lint warning in it."""
    (tmp_path / "abstractions").mkdir()
    (tmp_path / "abstractions" / "shared").write_text("  /srv/drop/** rwix,\n")
    text = "".join(f"profile p{i} /usr/bin/p{i} {{\n  include <abstractions/shared>\n}}\n"
                   for i in range(2))
    prof = tmp_path / "two"
    prof.write_text(text)
    return prof


def test_check_prints_a_shared_abstractions_warning_once(tmp_path: Path) -> None:
    """`stockade check /etc/apparmor.d` printed abstractions/base's two warnings once per
    profile including it (27 times each, 54 of its 101 lines): now once, saying in how many
    profiles; --json keeps one entry per profile, which it names."""
    prof = _two_profiles_sharing(tmp_path)
    # newcomer8: warnings about shared abstractions are counted, shown with --lint-abstractions
    hidden = stockade("check", "-I", str(tmp_path), str(prof))
    assert hidden.returncode == 0 and "abstractions/shared:1:" not in hidden.stdout
    assert hidden.stdout.splitlines()[-1].endswith(
        "0 warning(s) and 1 about shared abstractions, not shown (--lint-abstractions)")
    out = stockade("check", "--lint-abstractions", "-I", str(tmp_path), str(prof))
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if "abstractions/shared:1:" in ln]
    assert len(lines) == 1, out.stdout
    assert lines[0].endswith("(in 2 profiles)")
    assert out.stdout.splitlines()[-1].endswith("1 warning(s)")
    as_json = stockade("check", "--json", "-I", str(tmp_path), str(prof))

    warned = {w["profile"] for w in json.loads(as_json.stdout)["warnings"]}
    assert warned == {"p0", "p1"}


def _explain(profile: Path, op: str, target: str) -> subprocess.CompletedProcess[str]:
    return stockade("explain", "--profile", str(profile), op, target)


def _allow_with(out: subprocess.CompletedProcess[str]) -> list[str]:
    prefix = "allow with: "
    return [ln[len(prefix):].split("   (add it to")[0] for ln in out.stdout.splitlines()
            if ln.startswith(prefix)]


def test_explain_says_which_rule_would_allow_a_denial(tmp_path: Path) -> None:
    """A denied `explain --profile` ended at the audit line: now it names the rule that would
    allow it (the one `notify` prints), and that rule, added, makes the operation allowed."""
    (tmp_path / "seen").write_text("a\n")
    (tmp_path / "other").write_text("b\n")
    prof = policy_dir(tmp_path) / "p.profile"
    prof.write_text(f"profile p /usr/bin/cat {{\n  {tmp_path}/seen r,\n}}\n")
    denied = _explain(prof, "read", str(tmp_path / "other"))
    assert denied.returncode == 1, denied.stdout + denied.stderr
    rules = _allow_with(denied)
    assert rules == [f"{tmp_path}/other r,"], denied.stdout
    prof.write_text(prof.read_text().replace("}\n", f"  {rules[0]}\n}}\n"))
    allowed = _explain(prof, "read", str(tmp_path / "other"))
    assert allowed.returncode == 0 and not _allow_with(allowed), allowed.stdout


def _nobodys_file(path: Path, text: str) -> Path:
    """A file nobody owns, mode 0644, for root to be refused writing without capabilities."""
    if os.geteuid() != 0:
        pytest.skip("root's DAC override is the subject")
    path.write_text(text)
    os.chown(path, 65534, 65534)
    path.chmod(0o644)
    return path


def test_explain_names_the_capability_a_root_profile_lacks(tmp_path: Path) -> None:
    """Root runs a program under a profile that keeps no capability: writing a file another
    user owns fails with EACCES from DAC and no record anywhere. explain names the
    capability, not a path rule the plan already grants."""
    target = _nobodys_file(tmp_path / "theirs", "x\n")
    prof = policy_dir(tmp_path) / "p.profile"
    prof.write_text(f"profile p /usr/bin/tee {{\n  {target} rw,\n}}\n")
    def tee() -> subprocess.CompletedProcess[str]:
        return stockade("run", "-q", "--no-cache", "--rx", "/usr", "-p", str(prof), "--",
                        "/usr/bin/tee", str(target))

    denied = _explain(prof, "write", str(target))
    assert denied.returncode == 1, denied.stdout
    assert _allow_with(denied) == ["capability dac_override,"], denied.stdout
    assert tee().returncode != 0  # the kernel agrees: DAC refuses the open
    prof.write_text(prof.read_text().replace("}\n", "  capability dac_override,\n}\n"))
    assert _explain(prof, "write", str(target)).returncode == 0
    assert tee().returncode == 0, tee().stderr


@pytest.fixture
def scratch(user: str) -> Iterator[Path]:
    d = scratch_for(user, "stockade-nc-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_logprof_after_a_clean_complain_run_says_so(user: str, scratch: Path) -> None:
    """The documented round (`run --complain -p P --audit F`, then `logprof -p P --log F`) on a
    program the profile already allows: logprof said the logs hold no denial records and told
    the user to do the round they had just done. It now says the profile allows what the run
    did."""
    data = scratch / "data.txt"
    data.write_text("x\n")
    prof = policy_dir(scratch) / "cat.profile"
    prof.write_text(f"include <tunables/global>\nprofile cat /usr/bin/cat {{\n"
                    f"  include <abstractions/base>\n  /usr/bin/cat ix,\n  {data} r,\n}}\n")
    hand_to(user, scratch)
    log = scratch / "complain.jsonl"
    ran = stockade_as(user, "run", "-q", "--complain", "-p", str(prof), "--audit", str(log),
                      "--", "/usr/bin/cat", str(data), cwd=scratch)
    assert ran.returncode == 0 and ran.stdout == "x\n", ran.stderr
    out = stockade_as(user, "logprof", "-p", str(prof), "--log", str(log), cwd=scratch)
    assert out.returncode == 0, out.stderr
    assert "no changes proposed" in out.stdout
    assert f"{prof} already allows what the program did" in out.stderr, out.stderr
    assert "the logs hold no denial records" not in out.stderr


def test_logprof_with_nothing_to_read_says_so(request: pytest.FixtureRequest) -> None:
    """Without --log, no readable audit.log and no audit store, logprof read nothing and said
    "the logs hold no denial records": now it says nothing was read and how to name a log."""
    scratch = scratch_for("nobody", "stockade-nc-")
    request.addfinalizer(lambda: shutil.rmtree(scratch, ignore_errors=True))
    prof = policy_dir(scratch) / "p.profile"
    prof.write_text("profile p /usr/bin/true {\n}\n")
    hand_to("nobody", scratch)
    env = {**USER_ENV, "XDG_STATE_HOME": str(scratch / "state")}
    out = stockade_as("nobody", "logprof", "-p", str(prof), cwd=scratch, env=env)
    assert out.returncode == 0, out.stderr
    assert "nothing was read: no --log given" in out.stderr, out.stderr


@contextlib.contextmanager
def confined_sleeper(user: str, scratch: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """`stockade run -p` of a sleep (profile nap-now) as `user`: (its pid, once `status`
    lists it, and the environment with the user's runtime directory); stopped afterwards."""
    runtime = scratch / "runtime"
    runtime.mkdir(mode=0o700)
    prof = policy_dir(scratch) / "nap.profile"
    prof.write_text("profile nap-now /usr/bin/sleep {\n  /usr/** rix,\n  /etc/** r,\n}\n")
    hand_to(user, scratch)
    runtime.chmod(0o700)
    env = {**USER_ENV, "XDG_RUNTIME_DIR": str(runtime)}
    extra: dict[str, object] = {}
    if user == "nobody":
        extra = {"user": 65534, "group": 65534, "extra_groups": []}
    argv = [*STOCKADE, "run", "-q", "-p", str(prof), "--", "/usr/bin/sleep", "60"]
    launcher = subprocess.Popen(argv, env=env, cwd=scratch, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, **extra)  # type: ignore[call-overload]
    try:
        deadline = time.monotonic() + 30
        while not (found := naps(user, scratch, env)) and time.monotonic() < deadline:
            assert launcher.poll() is None, launcher.stderr.read() if launcher.stderr else ""
            time.sleep(0.2)
        assert len(found) == 1 and found[0]["mode"] == "enforce", found
        yield int(str(found[0]["pid"])), env
    finally:
        launcher.send_signal(signal.SIGTERM)  # forwarded to sleep
        launcher.wait(timeout=30)


def naps(user: str, scratch: Path, env: dict[str, str]) -> list[dict[str, object]]:
    """The nap-now runs `status --json` lists."""
    out = stockade_as(user, "status", "--json", cwd=scratch, env=env)
    assert out.returncode == 0, out.stderr
    return [c for c in json.loads(out.stdout)["confined"] if c["profile"] == "nap-now"]


def test_status_lists_the_programs_stockade_confines_now(user: str, scratch: Path) -> None:
    """aa-status counts the processes in each mode; `stockade status` described one process
    only, though `run` leaves a record per confined program. It now lists them (as the user
    who can read the records), and drops a program once it has exited."""
    with confined_sleeper(user, scratch) as (sleeper, env):
        assert Path(f"/proc/{sleeper}/cmdline").read_bytes().startswith(b"/usr/bin/sleep\0")
        text = stockade_as(user, "status", cwd=scratch, env=env).stdout
        assert f"{sleeper} nap-now [enforce]" in text, text
    assert naps(user, scratch, env) == []


def test_notify_names_the_profile_of_a_kernel_landlock_record(user: str, scratch: Path) -> None:
    """The kernel's Landlock records name a domain, not a profile: notify printed
    `landlock domain=1a6fdc66f: ...` for a program `stockade run -p` confines. The domain's
    creator is that program, whose status record names the profile: notify now says it."""
    with confined_sleeper(user, scratch) as (sleeper, env):
        log = scratch / "kernel.log"
        log.write_text(
            "type=LANDLOCK_ACCESS msg=audit(1729738800.268:30): domain=1a6fdc66f "
            'blockers=fs.read_file path="/home/secret" dev="vda" ino=612\n'
            "type=LANDLOCK_DOMAIN msg=audit(1729738800.268:30): domain=1a6fdc66f "
            f'status=allocated mode=enforcing pid={sleeper} uid=0 exe="/usr/bin/sleep" '
            'comm="sleep"\n'
            "type=LANDLOCK_ACCESS msg=audit(1729738800.300:31): domain=1a6fdc66f "
            'blockers=fs.read_file path="/home/other" dev="vda" ino=613\n')
        hand_to(user, scratch)
        args = ("notify", "--once", "--no-desktop", "--no-netlink", "--audit-log", "",
                "--log", str(log))
        out = stockade_as(user, *args, cwd=scratch, env=env)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert len(lines) == 2 and all("landlock nap-now: fs.read_file" in ln for ln in lines), lines
        summary = stockade_as(user, *args, "--summary", cwd=scratch, env=env).stdout
        assert "landlock  nap-now" in summary, summary


def test_audit_import_without_an_audit_log_points_at_kmsg(tmp_path: Path) -> None:
    """Without auditd there is no audit.log: the kernel's Landlock and seccomp records are in
    its log buffer, which `audit import --kmsg` reads; the error did not say so."""
    from stockade.audit.readers.sources import AUDIT_LOG

    if os.geteuid() != 0 or AUDIT_LOG.exists():
        pytest.skip("needs root on a host without an audit log")
    store = tmp_path / "a.sqlite"
    out = stockade("audit", "import", "--store", str(store))
    assert out.returncode != 0 and out.stderr.count("\n") == 1, out.stderr
    assert "--kmsg" in out.stderr
    assert stockade("audit", "import", "--kmsg", "--store", str(store)).returncode == 0


def test_learn_warns_that_a_childs_own_proc_cannot_be_granted(user: str,
                                                              scratch: Path) -> None:
    """`learn -- sh -c 'ps aux'` wrote a profile that `run -p` then refused ps's own
    /proc/PID/stat (ps: "Error, do this: mount -t proc proc /proc"), with no word from learn.
    Learn now notes it and names the rule that reaches it; the kernel agrees with both."""
    prof = policy_dir(scratch) / "child.profile"
    hand_to(user, scratch)
    cmd = ["/usr/bin/dash", "-c", "/usr/bin/cat /proc/self/stat > /dev/null"]
    learned = stockade_as(user, "learn", "-o", str(prof), "--", *cmd, cwd=scratch)
    assert learned.returncode == 0, learned.stderr
    assert "processes started after launch" in learned.stderr, learned.stderr
    assert "`@{PROC}/** r,` does" in learned.stderr
    assert stockade_as(user, "run", "-q", "-p", str(prof), "--", *cmd,
                       cwd=scratch).returncode != 0
    prof.write_text(prof.read_text().replace("\n}\n", "\n  @{PROC}/** r,\n}\n"))
    ran = stockade_as(user, "run", "-q", "-p", str(prof), "--", *cmd, cwd=scratch)
    assert ran.returncode == 0, ran.stderr
    # the program's own /proc is granted at launch: no note
    own = stockade_as(user, "learn", "--overwrite", "-o", str(policy_dir(scratch) / "own.profile"), "--",
                      "/usr/bin/cat", "/proc/self/stat", cwd=scratch)
    assert own.returncode == 0 and "processes started after launch" not in own.stderr


def test_root_learns_a_program_that_needs_dac_override(tmp_path: Path) -> None:
    """Root's program writes a file another user owns. learn (like run -p) keeps no
    capability, so the write fails; learn said only "learn again once it succeeds", which it
    never would: learning again ran without capabilities whatever the profile said. Now the
    note says why, explain names `capability dac_override,`, and learning again with that
    rule in the profile keeps it, so the round completes and `run -p` writes the file."""
    target = _nobodys_file(tmp_path / "theirs.txt", "old\n")
    prof = policy_dir(tmp_path) / "writer.profile"
    cmd = ["/usr/bin/dash", "-c", f"echo new > {target}"]
    first = stockade("learn", "-o", str(prof), "--", *cmd)
    assert first.returncode != 0 and target.read_text() == "old\n", first.stderr
    assert "keeps only the capabilities the profile grants" in first.stderr, first.stderr
    rules = _allow_with(_explain(prof, "write", str(target)))
    assert rules == ["capability dac_override,"], rules
    prof.write_text(prof.read_text().replace("\n}\n", f"\n  {rules[0]}\n}}\n"))
    again = stockade("learn", "-o", str(prof), "--", *cmd)
    assert again.returncode == 0 and target.read_text() == "new\n", again.stderr
    target.write_text("old\n")
    ran = stockade("run", "-q", "-p", str(prof), "--", *cmd)
    assert ran.returncode == 0 and target.read_text() == "new\n", ran.stderr


def test_the_quick_sandbox_example_of_run_help_works(user: str, scratch: Path) -> None:
    """bwrap's `--ro-bind / / --bind DIR DIR --dev /dev` as stockade: `run --rx / --rw DIR`
    refused `> /dev/null` (a device is a file to Landlock) and nothing said so. --help now
    says it and shows the example; it runs, and writes nowhere else."""
    help_text = stockade("run", "--help").stdout
    example = next(ln for ln in help_text.splitlines() if "--rw /dev/null -- make" in ln)
    assert example.startswith('example: stockade run --rx / --rw "$PWD" --rw /dev/null')
    (scratch / "Makefile").write_text(
        "all:\n\techo built > out.txt\n\techo noise > /dev/null\n\t-echo x > /tmp/../etc/nc5-x\n")
    hand_to(user, scratch)
    flags = ["--rx", "/", "--rw", str(scratch)]
    bare = stockade_as(user, "run", "-q", *flags, "--", "make", "-s", cwd=scratch)
    assert bare.returncode != 0 and "/dev/null" in bare.stderr, bare.stderr
    ran = stockade_as(user, "run", "-q", *flags, "--rw", "/dev/null", "--", "make", "-s",
                      cwd=scratch)
    assert ran.returncode == 0, ran.stderr
    assert (scratch / "out.txt").read_text() == "built\n"
    assert not Path("/etc/nc5-x").exists()


def test_a_directory_where_a_profile_file_is_wanted(tmp_path: Path) -> None:
    """`run -p /etc/apparmor.d` (an AppArmor habit: the directory of profiles) said "no such
    file"; a directory is now named as one, with the command that takes directories. learn's
    -I was not checked at all (a typo silently fell back to the system's abstractions)."""
    (tmp_path / "p").write_text("profile p {\n}\n")
    for args, status in ((["run", "-p", str(tmp_path), "--", "/bin/true"], 125),
                         (["compile", str(tmp_path)], 2),
                         (["export", "--format", "oci", str(tmp_path)], 2)):
        out = stockade(*args)
        assert out.returncode == status, (args, out.stderr)
        assert out.stderr.count("\n") == 1 and "a directory, not a profile file" in out.stderr
        assert f"stockade check {tmp_path}" in out.stderr
    out = stockade("learn", "-o", str(policy_dir(tmp_path) / "x.profile"), "-I", str(tmp_path / "nope"),
                   "--", "/bin/true")
    assert out.returncode == 2 and "-I" in out.stderr and "not a directory" in out.stderr
    assert not (policy_dir(tmp_path) / "x.profile").exists()


POOL = """import multiprocessing
def square(x):
    return x * x
if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(sum(pool.map(square, range(10))))
"""


def test_a_learned_multiprocessing_pool_runs(user: str, scratch: Path) -> None:
    """`learn -- python3 pool.py` then `run -p`: the Pool's semaphores (sem_open: a file made
    and unlinked in /dev/shm) were learned one random name per line, and `run -p` refused
    them all: /dev was a pseudo filesystem to the plan, so the names were not granted
    through their directory as created files elsewhere are. The names are now one glob and
    /dev/shm is granted like /tmp."""
    from stockade.learn.globs import collapse

    assert collapse("/dev/shm/sem.Eofgt6") == "/dev/shm/sem.*"
    assert collapse("/dev/shm/sem.mp-1kgc3zdh") == "/dev/shm/sem.mp-*"
    assert collapse("/dev/shm/sem.mp-sznfhdum") == "/dev/shm/sem.mp-*"  # all letters
    assert collapse("/tmp/report.pdf") == "/tmp/report.pdf"
    (scratch / "pool.py").write_text(POOL)
    prof = policy_dir(scratch) / "pool.profile"
    hand_to(user, scratch)
    cmd = ["/usr/bin/python3", "pool.py"]
    learned = stockade_as(user, "learn", "-q", "-o", str(prof), "--", *cmd, cwd=scratch)
    assert learned.returncode == 0 and learned.stdout == "285\n", learned.stderr
    shm = [ln.strip() for ln in prof.read_text().splitlines() if "/dev/shm/" in ln]
    assert shm and all("*" in ln for ln in shm), shm
    ran = stockade_as(user, "run", "-q", "-p", str(prof), "--", *cmd, cwd=scratch)
    assert ran.returncode == 0 and ran.stdout == "285\n", ran.stderr


def test_explain_allow_with_for_an_exec_and_a_mkdir_works_in_the_kernel(user: str,
                                                                         scratch: Path) -> None:
    """Two denials explain left without a rule: an exec the plan refuses before the profile
    is asked (the apparmor row has no opinion on the open), and a mkdir, whose rule notify
    and explain worded without the directory's trailing slash (`D/new w,`, which AppArmor
    does not match for mkdir). Both rules, added as explain words them, make the run work,
    and `run -p` of a program the profile was not written for points at that explain (its
    Landlock hint was about --rx flags)."""
    prof = policy_dir(scratch) / "mk.profile"
    # written for another program: run -p lets only the attached one start unasked
    prof.write_text("include <tunables/global>\nprofile mk /usr/bin/rmdir {\n"
                    "  include <abstractions/base>\n}\n")
    new = scratch / "made"
    hand_to(user, scratch)

    def rules(op: str, target: str) -> list[str]:
        out = stockade_as(user, "explain", "--profile", str(prof), op, target, cwd=scratch)
        assert out.returncode == 1, out.stdout + out.stderr
        return [r.split("   (or ")[0] for r in _allow_with(out)]

    def mkdir() -> subprocess.CompletedProcess[str]:
        return stockade_as(user, "run", "-q", "-p", str(prof), "--", "/usr/bin/mkdir",
                           str(new), cwd=scratch)

    refused = mkdir()
    assert refused.returncode == 126 and not new.exists()
    # run -p points at the explain that names the rule (its Landlock hint is about flags)
    assert f"`stockade explain --profile {prof} exec /usr/bin/mkdir`" in refused.stderr
    run_it = rules("exec", "/usr/bin/mkdir")
    make_it = rules("mkdir", str(new))
    assert run_it == ["/usr/bin/mkdir rix,"]
    assert [r.removeprefix("owner ") for r in make_it] == [f"{new}/ w,"]  # owner: nobody's
    prof.write_text(prof.read_text().replace("\n}\n", f"\n  {run_it[0]}\n}}\n"))
    execs = mkdir()  # mkdir runs now, and is refused the directory
    assert execs.returncode == 1 and "Permission denied" in execs.stderr and not new.exists()
    prof.write_text(prof.read_text().replace("\n}\n", f"\n  {make_it[0]}\n}}\n"))
    made = mkdir()
    assert made.returncode == 0 and new.is_dir(), made.stderr


def test_explain_and_run_agree_on_the_attached_program_running_itself(user: str,
                                                                      scratch: Path) -> None:
    """`run -p` lets the program a profile attaches to start in its sandbox (AppArmor asks the
    caller's profile about that exec), so it may run itself again; explain --profile, asked
    about that exec, said the plan refuses it. It now builds the plan as `run -p` of the
    attached program does."""
    prof = policy_dir(scratch) / "sh.profile"
    prof.write_text("include <tunables/global>\nprofile sh /usr/bin/dash {\n"
                    "  include <abstractions/base>\n}\n")
    hand_to(user, scratch)
    asked = stockade_as(user, "explain", "--profile", str(prof), "exec", "/usr/bin/dash",
                        cwd=scratch)
    ran = stockade_as(user, "run", "-q", "-p", str(prof), "--", "/usr/bin/dash", "-c",
                      "/usr/bin/dash -c 'echo inner'", cwd=scratch)
    assert ran.returncode == 0 and ran.stdout == "inner\n", ran.stderr
    assert asked.returncode == 0, asked.stdout
    assert "decision: allow (as `run -p` enforces it)" in asked.stdout
