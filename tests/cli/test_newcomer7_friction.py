"""Friction newcomer 7 met (session 7), each test failing before its fix."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import NOBODY, hand_to, scratch_for, stockade_as


@pytest.fixture
def scratch(user: str) -> Iterator[Path]:
    d = scratch_for(user, "stockade-nc7-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _reader(scratch: Path) -> tuple[Path, Path]:
    seen = scratch / "seen.txt"
    seen.write_text("seen\n")
    prof = scratch / "cat.profile"
    prof.write_text(f"include <tunables/global>\nprofile cat /usr/bin/cat {{\n"
                    f"  include <abstractions/base>\n"
                    f"  /usr/bin/cat ix,\n  {seen} r,\n}}\n")
    return prof, seen


def test_no_cache_directory_is_made_where_the_home_is_not_the_users(user: str,
                                                                     scratch: Path) -> None:
    """Some root process with HOME=/nonexistent made /nonexistent/.cache/stockade/plans on
    this VM: a missing HOME was refused already, but an XDG_CACHE_HOME beneath a missing
    directory was made whole (os.makedirs), a HOME of another user's (`sudo -E`) got a
    root-owned .cache/stockade in it, and the SELinux dump cache checked nothing. Now the
    cache is off, `status` says why, and nothing is made."""
    prof, seen = _reader(scratch)
    other = scratch / "others-home"  # a home that belongs to someone else
    other.mkdir()
    hand_to(user, scratch)
    os.chown(other, 4242, 4242)
    missing = scratch / "gone" / ".cache"
    base = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    cases = [({**base, "HOME": str(other)}, f"home {other} belongs to uid 4242"),
             ({**base, "HOME": str(scratch), "XDG_CACHE_HOME": str(missing)},
              f"parent {missing.parent} does not exist"),
             ({**base, "HOME": "/nonexistent"}, "no home directory for this user")]
    for env, why in cases:
        ran = stockade_as(user, "run", "-v", "-p", str(prof), "--", "/usr/bin/cat", str(seen),
                          cwd=scratch, env=env)
        assert ran.returncode == 0, ran.stderr
        assert "plan cache: off" in ran.stderr, ran.stderr
        doc = json.loads(stockade_as(user, "status", "--json", cwd=scratch, env=env).stdout)
        assert doc["plan_cache"]["directory"] is None and why in doc["plan_cache"]["off"], doc
    assert sorted(os.listdir(other)) == [] and not missing.parent.exists()


def test_the_selinux_dump_cache_asks_the_same_place(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    from stockade.enforce.plan.cache.store import cache_dir

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir("selinux-dumps") == str(tmp_path / ".cache" / "stockade" / "selinux-dumps")
    if os.geteuid() == 0:  # a home that is not root's
        os.chown(tmp_path, NOBODY, NOBODY)
        assert cache_dir("selinux-dumps") is None
    monkeypatch.setenv("HOME", "/nonexistent")
    assert cache_dir("selinux-dumps") is None


def _as_uid(uid: int) -> dict[str, object]:
    return {"user": uid, "group": uid, "extra_groups": []}


def _wait_for(predicate: object, what: str, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the launcher as a uid of its own")
def test_a_sigkilled_launchers_mark_is_cleared_only_once_its_programs_are_gone() -> None:
    """A launcher killed by SIGKILL left its keyring mark and the plan cache stayed off for
    the user until the mark was removed by hand (the message said so; no command did it).
    `status` now says whether a mark is stale (launcher gone, none of its programs alive) and
    `status --clear-stale` removes only such marks: not while a program the launcher started
    (here a `sleep` it left behind, re-parented when the launcher died) still lives.

    The launcher runs as a uid of its own (a user keyring no other test shares, a runtime
    directory of its own), not root's or nobody's."""
    uid = 3_000_000 + os.getpid() % 1_000_000  # no passwd entry needed: a keyring of its own
    tmp_path = scratch_for("root", "stockade-nc7-marks-")
    try:
        _sigkilled_launcher(uid, tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _sigkilled_launcher(uid: int, tmp_path: Path) -> None:
    import signal
    import subprocess

    from confine_helpers import STOCKADE

    runtime, cache = tmp_path / "runtime", tmp_path / "cache"
    for d in (runtime, cache):
        d.mkdir(mode=0o700)
        os.chown(d, uid, uid)
    prof, seen = _reader(tmp_path)
    os.chmod(prof, 0o644)
    os.chmod(seen, 0o644)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent",
           "XDG_RUNTIME_DIR": str(runtime), "XDG_CACHE_HOME": str(cache)}

    def stockade(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*STOCKADE, *args], capture_output=True, text=True, timeout=120,
                              cwd="/", env=env, **_as_uid(uid))  # type: ignore[call-overload]

    def marks() -> list[dict[str, object]]:
        out = stockade("status", "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)["plan_cache"]["marks"]

    launcher = subprocess.Popen(
        [*STOCKADE, "run", "--allow-keyring", "--rx", "/", "--", "/bin/sh", "-c",
         "/bin/sleep 300 & echo $!; wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd="/", env=env, **_as_uid(uid))  # type: ignore[call-overload]
    left = int(launcher.stdout.readline())  # type: ignore[union-attr]
    try:
        mark_dir = runtime / "stockade"
        [mark] = [p for p in mark_dir.iterdir() if p.name.endswith(".mark")]
        assert mark.name.startswith(f"keyring-{launcher.pid}-")
        assert marks()[0]["launcher_alive"] is True and marks()[0]["stale"] is False
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=30)
        assert mark.exists()  # nothing could clear it

        [facts] = marks()
        assert facts["launcher_alive"] is False and facts["socket_held"] is False
        assert left in facts["survivors"] and facts["stale"] is False, facts
        kept = stockade("status", "--clear-stale")
        assert kept.returncode == 1 and mark.exists(), kept.stdout + kept.stderr
        assert f"kept {mark}: launcher {launcher.pid} is gone; kept: processes" in kept.stdout
        ran = stockade("run", "-v", "-p", str(prof), "--", "/usr/bin/cat", str(seen))
        assert ran.returncode == 0 and "plan cache: off" in ran.stderr, ran.stderr
        assert "stockade status --clear-stale" in ran.stderr, ran.stderr
    finally:
        os.kill(left, signal.SIGKILL)
    _wait_for(lambda: not os.path.exists(f"/proc/{left}"), f"pid {left} to be reaped")

    [facts] = marks()
    assert facts["stale"] is True and facts["survivors"] == [], facts
    text = stockade("status")
    assert "`stockade status --clear-stale` removes the stale" in text.stdout, text.stdout
    cleared = stockade("status", "--clear-stale")
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    assert cleared.stdout.startswith(f"removed {mark} (launcher {launcher.pid} gone")
    assert not mark.exists() and marks() == []
    ran = stockade("run", "-v", "-p", str(prof), "--", "/usr/bin/cat", str(seen))
    assert ran.returncode == 0 and "stored" in ran.stderr, ran.stderr


def test_learned_profile_lands_where_its_program_cannot_rewrite_it(user: str,
                                                                   scratch: Path) -> None:
    """`learn -- tar cJf src.txz src` wrote ./usr.bin.tar, and the learned profile lets tar
    create files in that directory: through the directory grant (docs/enforce.md, names the
    program creates) the program could rewrite its profile and widen its next run. `run -p`
    now refuses such a profile, so learn's default place is ~/.config/stockade/profiles; the
    kernel really lets the program write the copy left in the working directory."""
    work = scratch / "work"
    work.mkdir()
    (work / "src").mkdir()
    (work / "src" / "a.txt").write_text("a\n")
    hand_to(user, scratch)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(scratch)}
    learned = stockade_as(user, "learn", "--", "tar", "cJf", "src.txz", "src", cwd=work,
                          env=env)
    assert learned.returncode == 0, learned.stderr
    profile = scratch / ".config" / "stockade" / "profiles" / "usr.bin.tar"
    assert f"stockade run -p {profile} -- tar cJf src.txz src" in learned.stderr, learned.stderr
    ran = stockade_as(user, "run", "-p", str(profile), "--", "tar", "cJf", "src.txz", "src",
                      cwd=work, env=env)
    assert ran.returncode == 0 and "refuse" not in ran.stderr, ran.stderr

    inside = work / "usr.bin.tar"  # where learn used to write it
    shutil.copy(profile, inside)
    hand_to(user, scratch)
    refused = stockade_as(user, "run", "-p", "usr.bin.tar", "--", "/bin/sh", "-c",
                          "echo '# rewritten' >> usr.bin.tar", cwd=work, env=env)
    assert refused.returncode == 125, refused.stderr
    assert "the program could rewrite the policy of every later run" in refused.stderr
    assert not inside.read_text().endswith("# rewritten\n")
    plain = stockade_as(user, "run", "--rx", "/", "--rw", str(work), "--", "/bin/sh", "-c",
                        "echo '# rewritten' >> usr.bin.tar", cwd=work, env=env)
    assert plain.returncode == 0 and inside.read_text().endswith("# rewritten\n"), plain.stderr


def test_a_failure_the_sandbox_may_not_have_caused_is_not_called_a_refusal(
        user: str, scratch: Path) -> None:
    """`run -p usr.bin.curl -- curl http://127.0.0.1:PORT/` with nothing listening (exit 7,
    ECONNREFUSED from the kernel's TCP, the profile allows every port) ended with `a refusal
    by the sandbox (EACCES, EPERM) left no record this run can read`, read as: the sandbox
    refused something. It now says `any refusal`: the run cannot tell whether there was one."""
    ran = stockade_as(user, "run", "--rx", "/usr", "--", "/bin/sh", "-c", "exit 3", cwd=scratch,
                      env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/"})
    assert ran.returncode == 3, ran.stderr
    if "left no record" not in ran.stderr:
        pytest.skip("this run read the kernel's records (root with audit on): no line")
    assert "/bin/sh exited with status 3; any refusal by the sandbox (EACCES, EPERM) left no " \
           "record" in ran.stderr, ran.stderr


NOT_DUMPABLE = """
import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0, as gpg-agent does
try:
    os.chmod(sys.argv[1], 0o600)
except OSError as err:
    print(err.errno)
    sys.exit(3)
"""


def test_a_call_of_a_task_that_made_itself_undumpable_is_a_named_refusal() -> None:
    """gpg-agent calls prctl(PR_SET_DUMPABLE, 0); as nobody its /proc files become root's and
    the supervisor cannot read its calls. A supervised chmod then failed with ESRCH (`No such
    process`, taken for a task that had gone) and no record, and the run's last line said a
    refusal may have left no record. Now: EACCES, one supervisor record, and the last line
    says why."""
    scratch = scratch_for("nobody", "stockade-nc7-dump-")
    try:
        _undumpable_chmod(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _undumpable_chmod(scratch: Path) -> None:
    target = scratch / "f"
    target.write_text("x\n")
    hand_to("nobody", scratch)
    ran = stockade_as("nobody", "run", "--rx", "/usr", "--rw", str(scratch), "--",
                      "/usr/bin/python3", "-c", NOT_DUMPABLE, str(target), cwd=scratch)
    assert ran.returncode == 3 and ran.stdout == "13\n", (ran.stdout, ran.stderr)  # EACCES
    # one line says why and what to do (newcomer8: it replaced the generic refusal line)
    assert ("1 call of python3 (pid " in ran.stderr and "refused (EACCES): it made itself "
            "undumpable" in ran.stderr), ran.stderr
    assert "the sandbox refused" not in ran.stderr, ran.stderr


def test_explain_offers_no_rule_for_a_path_that_does_not_exist(tmp_path: Path) -> None:
    """`explain --profile usr.bin.tar read ~/nothing` ended `allow with: /root/nothing r,`
    under `decision: deny (ENOENT) by dac`: the rule would change nothing (the kernel's
    lookup fails before any LSM is asked). And `write NEW` (a file tar would create) says
    that `create` is the question."""
    from confine_helpers import cli

    prof, _ = _reader(tmp_path)
    missing = tmp_path / "nothing"
    read = cli("explain", "--profile", str(prof), "read", str(missing))
    assert read.returncode == 1 and "deny (ENOENT) by dac" in read.stdout, read.stdout
    assert "allow with" not in read.stdout and "note:" not in read.stdout, read.stdout
    wrote = cli("explain", "--profile", str(prof), "write", str(missing))
    assert f"note: {missing} does not exist: `create` asks about making it" in wrote.stdout
    other = tmp_path / "other.txt"
    other.write_text("o\n")
    denied = cli("explain", "--profile", str(prof), "read", str(other))
    assert denied.returncode == 1 and f"allow with: {other} r," in denied.stdout, denied.stdout


def test_the_audit_store_is_not_made_in_a_home_that_is_not_the_users() -> None:
    """As nobody (HOME=/nonexistent) `audit import` said `cannot open the audit store
    /nonexistent/.local/state/stockade/audit.sqlite: [Errno 13] Permission denied:
    '/nonexistent/.local'`; with a HOME another user owns but lets others write (`sudo -E`
    into a shared directory), it made .local/state/stockade there. Now one line says why
    there is no store, as for the plan cache (stockade/cache_home.py)."""
    scratch = scratch_for("nobody", "stockade-nc7-store-")
    try:
        log = scratch / "empty.log"
        log.write_text("")
        os.chmod(log, 0o644)
        shared = scratch / "shared-home"
        shared.mkdir()
        os.chmod(shared, 0o1777)  # root's, writable by all
        cases = (("/nonexistent", "no home directory for this user (XDG_STATE_HOME or --store "
                  "can name one)"),
                 (str(shared), f"this user's home {shared} belongs to uid 0, not to uid "
                  f"{NOBODY} (XDG_STATE_HOME or --store can name another place)"))
        for home, why in cases:
            out = stockade_as("nobody", "audit", "import", str(log), cwd=scratch,
                              env={"PATH": "/usr/bin:/bin", "HOME": home})
            assert out.returncode == 2, out.stderr
            assert out.stderr == f"stockade audit: no audit store for this user: {why}\n"
        assert os.listdir(shared) == []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="unshare(1) of a PID namespace needs root")
def test_no_mark_is_judged_stale_from_a_process_that_cannot_see_every_process() -> None:
    """In a PID namespace of its own (a container) `status` sees only that namespace's
    processes: a program of a dead launcher outside it would be missed, so nothing is stale."""
    import subprocess

    from confine_helpers import STOCKADE

    probe = ("from stockade.enforce.plan.cache.stale_marks import blind_spot, "
             "no_new_privs_processes; print(blind_spot()); print(no_new_privs_processes(None))")
    inside = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", STOCKADE[0], "-c",
                             probe], capture_output=True, text=True, timeout=60)
    assert inside.stdout.splitlines() == [
        "this process is not in the initial PID namespace",
        "([], 'this process is not in the initial PID namespace')"], inside.stderr
    outside = subprocess.run([STOCKADE[0], "-c", probe], capture_output=True, text=True,
                             timeout=60)
    assert outside.stdout.splitlines()[0] == "None", outside.stdout + outside.stderr
