"""Red team 12 (the launcher's caches, records and output files): each test failed before its
fix; they run the real `stockade` command line, as root and as nobody where that is possible."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import cli, gone, keep_one_running, uid_of


@pytest.fixture
def other_users_runtime_dir() -> Iterator[tuple[Path, int]]:
    """/run/user/UID/stockade of a uid no one uses, private to that uid (as the user's own
    runtime directory is); removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("making another user's runtime directory needs root")
    uid = next(u for u in range(4242, 4342) if not os.path.lexists(f"/run/user/{u}"))
    base = Path(f"/run/user/{uid}")
    (base / "stockade").mkdir(parents=True)
    for p in (base, base / "stockade"):
        os.chown(p, uid, uid)
        os.chmod(p, 0o700)
    try:
        yield base / "stockade", uid
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def _confined_pids() -> dict[int, str]:
    res = cli("status", "--json")
    assert res.returncode == 0, res.stderr
    return {c["pid"]: c["profile"] for c in json.loads(res.stdout).get("confined", [])}


def _start_time(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[19])


def _record(directory: Path, pid: int, owner: int, profile: str) -> Path:
    path = directory / f"{pid}.json"
    path.write_text(json.dumps({"pid": pid, "profile": profile, "mode": "enforce",
                                "start_time": _start_time(pid)}))
    os.chown(path, owner, owner)
    return path


def test_status_believes_a_users_record_only_about_that_users_process(other_users_runtime_dir):
    """A user's record about pid 1 (root's init) made root's `status` list init as confined;
    the same user's record about its own process is still believed."""
    directory, uid = other_users_runtime_dir
    _record(directory, 1, uid, "forged-init")
    own = subprocess.Popen(["sleep", "30"], user=uid, group=uid, extra_groups=[])
    try:
        _record(directory, own.pid, uid, "its-own")
        confined = _confined_pids()
        assert 1 not in confined or confined[1] != "forged-init", confined
        assert confined.get(own.pid) == "its-own", confined
    finally:
        own.kill()
        own.wait()


def test_status_believes_no_record_of_a_process_that_is_not_the_recorded_one(
        other_users_runtime_dir):
    """A record without a start time (or another one) describes no live process."""
    directory, uid = other_users_runtime_dir
    own = subprocess.Popen(["sleep", "30"], user=uid, group=uid, extra_groups=[])
    try:
        path = directory / f"{own.pid}.json"
        path.write_text(json.dumps({"pid": own.pid, "profile": "no-start", "mode": "enforce"}))
        os.chown(path, uid, uid)
        assert own.pid not in _confined_pids()
        res = cli("status", "--pid", str(own.pid), "--json")
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["process"]["stockade"]["confined"] is not True, res.stdout
    finally:
        own.kill()
        own.wait()


def test_status_ignores_a_users_link_to_a_record(other_users_runtime_dir, tmp_path):
    """A link in the user's directory to a root-owned file is not a record of root's."""
    directory, _ = other_users_runtime_dir
    target = tmp_path / "1.json"
    target.write_text(json.dumps({"pid": 1, "profile": "linked-init", "mode": "enforce",
                                  "start_time": _start_time(1)}))
    (directory / "1.json").symlink_to(target)
    assert _confined_pids().get(1) != "linked-init"



def _keyring_or_skip() -> None:
    from stockade.enforce.plan.cache import keyring

    if keyring.key(create=True) is None:
        pytest.skip("no kernel keyring here (the caches are off)")


def _user_dirs(area, user: str, monkeypatch) -> Path:
    """XDG_CACHE_HOME (returned) and XDG_RUNTIME_DIR of `user`'s under the area (without a
    runtime directory no run learns of keyring marks: the caches are off)."""
    cache, runtime = area.root / "cache", area.root / "run"
    for d in (cache, runtime):
        d.mkdir(mode=0o700)
        os.chown(d, uid_of(user), uid_of(user))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return cache


def test_plan_cache_never_follows_a_link_planted_above_it(area, user, monkeypatch):
    """A sandbox with a grant over the cache home replaces `stockade` there with a link to
    another directory: the next `run -p` made plans/ there and stored its entries in it (the
    parents were made and walked through links). Now the cache is off and says why."""
    _keyring_or_skip()
    cache = _user_dirs(area, user, monkeypatch)
    target = area.forbidden / "target"
    target.mkdir()
    os.chown(target, uid_of(user), uid_of(user))
    planted = cli("run", "--rx", "/", "--rw", str(cache), "--", "/bin/ln", "-s", str(target),
                  str(cache / "stockade"), user=user)
    assert planted.returncode == 0, planted.stderr
    prof = area.root / "p.aa"
    prof.write_text("profile p {\n  /usr/** rix,\n  /etc/** r,\n}\n")
    os.chmod(prof, 0o644)
    res = cli("run", "-v", "-p", str(prof), "--", "/bin/true", user=user)
    assert res.returncode == 0, res.stderr
    assert list(target.iterdir()) == [], "the launcher wrote through the planted link"
    if "plan cache: off (a run whose program may use the keyring" not in res.stderr:
        # (another run's keyring mark turns the cache off before its directory is opened)
        assert (f"plan cache: off ({cache}/stockade is a symbolic link to {target}"
                in res.stderr), res.stderr
    from stockade.enforce.plan.cache.store import Store

    if user == "root":  # (in this process: the cache base must be our own)
        with pytest.raises(OSError, match="is a symbolic link"):
            Store.open(str(cache / "stockade" / "plans"), b"k" * 32)
    assert list(target.iterdir()) == []
    status = cli("status", "--json", user=user)
    assert "is a symbolic link" in json.loads(status.stdout)["plan_cache"]["off"], status.stdout


SELINUX_POLICY = "/etc/selinux/default/policy/policy.33"
FORGE = """
import glob, gzip, json, os, sys
for p in glob.glob(sys.argv[1] + '/stockade/selinux*/*.json') + glob.glob(
        sys.argv[1] + '/stockade/selinux*/*.json.gz'):
    data = open(p, 'rb').read()
    if data.startswith(b'\\x1f\\x8b'):  # a gzip file (the cache before red team 12)
        head, dump = b'', json.loads(gzip.decompress(data))
    else:  # the plan cache's kind of entry: header and MAC, a line, then {"dump": ...}
        end = data.index(b'\\n') + 1
        head, dump = data[:end], json.loads(data[end:])['dump']
    for t in dump['types']:
        t[2] = True  # permissive
    os.unlink(p)
    with open(p, 'wb') as f:  # the entry's own header and MAC, a wider policy
        f.write(head + (json.dumps({'dump': dump}).encode() if head
                        else gzip.compress(json.dumps(dump).encode())))
    print('forged', p)
"""


def _dumps(cache: Path) -> list[Path]:
    """The cached dumps (in selinux/ as NAME.json.gz before red team 12)."""
    return [p for p in cache.glob("stockade/selinux*/*") if p.name.endswith((".json", ".gz"))]


def test_selinux_dump_cache_is_neither_forged_nor_written_through_a_link(area, user, monkeypatch):
    """A sandbox with a grant over ~/.cache rewrote the cached SETools dump (every type
    permissive: the next `run --lsm selinux` allowed what the policy refuses) or put a link
    where the launcher writes it (the unconfined launcher overwrote the link's target). The
    dumps are the plan cache's kind of entry now: authenticated, written O_EXCL|O_NOFOLLOW."""
    if not os.path.exists(SELINUX_POLICY):
        pytest.skip("Debian's selinux-policy-default is not installed")
    _keyring_or_skip()
    cache = _user_dirs(area, user, monkeypatch)
    victim = area.forbidden / "victim"
    victim.write_text("precious\n")
    os.chown(victim, uid_of(user), uid_of(user))
    selinux = ("run", "--mode", "enforce", "--lsm", "selinux", "--module-option",
               f'selinux.policy_paths=["{SELINUX_POLICY}"]', "--rx", "/", "--", "/usr/bin/true")

    def refused() -> None:  # the policy refuses executing true (unconfined_t is not ours)
        res = cli(*selinux, user=user, timeout=180)
        assert res.returncode == 126, res.stderr
        entries = _dumps(cache)
        if "a run whose program may use the keyring" not in cli(
                "status", "--json", user=user).stdout:  # (another run's mark: cache off)
            assert len(entries) == 1 and entries[0].stat().st_uid == uid_of(user), entries

    refused()
    entry = next(iter(_dumps(cache)), None)
    if entry is None:
        pytest.skip("the cache is off here (another run's keyring mark)")
    # links where the entry was and at its temporary name before red team 12: the launcher
    # replaces names, never writes through them
    sandbox = ("run", "--rx", "/", "--rw", str(cache), "--", "/bin/sh", "-c")
    tmp = f"{entry.parent}/{entry.name.split('.')[0]}.json.tmp"
    res = cli(*sandbox, f"rm {entry} && ln -s {victim} {entry} && ln -s {victim} {tmp}",
              user=user)
    assert res.returncode == 0, res.stderr
    refused()
    assert victim.read_bytes() == b"precious\n"
    assert not entry.is_symlink()
    # a forged dump under the entry's MAC: refused, made again
    res = cli(*sandbox[:-2], "/usr/bin/python3", "-c", FORGE, str(cache), user=user)
    assert res.returncode == 0 and "forged" in res.stdout, res.stderr
    refused()


def test_export_output_never_written_through_a_link_at_its_temporary_name(area, user):
    """`export -o OUT` wrote OUT.tmp.PID with a plain open(), which follows a link planted at
    that name (a sandbox that may write OUT's directory can plant one per pid): the target
    was overwritten. The shell plants the link for its own pid, then execs stockade (same pid)."""
    from confine_helpers import STOCKADE, nobody_can_run_stockade

    if user == "nobody" and not nobody_can_run_stockade():
        pytest.skip("nobody cannot reach this checkout's venv")
    out_dir, victim = area.allowed, area.forbidden / "victim"
    victim.write_text("precious\n")
    os.chown(victim, uid_of(user), uid_of(user))
    prof = area.root / "exp"
    prof.write_text("profile exp {\n  /usr/** r,\n}\n")
    os.chmod(prof, 0o644)
    out = out_dir / "out.json"
    argv = " ".join([*STOCKADE, "export", "--format", "oci-seccomp", "-o", str(out), str(prof)])
    res = subprocess.run(["/bin/sh", "-c", f'ln -s {victim} "{out}.tmp.$$" && exec {argv}'],
                         capture_output=True, text=True, timeout=60, cwd="/",
                         user=uid_of(user), group=uid_of(user), extra_groups=[])
    assert victim.read_text() == "precious\n", res.stderr
    assert res.returncode != 0 and not out.exists(), res.stderr
    last = res.stderr.splitlines()[-1]
    assert last.startswith("stockade export: -o ") and "exists (a symbolic link" in last, last


def test_processes_the_program_leaves_end_with_the_run(area, user):
    """A process left running by a plain run (`&`) outlived it with the sandbox's grants: its
    later denials reached no --audit file, nothing said it was left, and it could rewrite
    the --audit file of a later run that grants nothing there. It is ended with the run now,
    the run says so in one line, and the audit file has a `leftovers` record."""
    out, pid_file = area.forbidden / "a.jsonl", area.allowed / "pid"
    out.touch()
    os.chown(out, uid_of(user), uid_of(user))
    later = area.allowed / "later.jsonl"
    script = (f"sh -c 'echo $$ > {pid_file}; sleep 1; echo forged > {later}; sleep 30' & "
              f"while [ ! -s {pid_file} ]; do sleep 0.05; done; exit 0")
    res = cli("run", "--rx", "/", "--rw", str(area.allowed), "--audit", str(out), "--",
              "/bin/sh", "-c", script, user=user)
    assert res.returncode == 0, res.stderr
    left = int(pid_file.read_text())
    assert gone(left), "the left process still runs after `run` returned"
    assert re.fullmatch(r"stockade run: ended \d processes the program left running "
                        r"\(--keep-running keeps them\)", res.stderr.splitlines()[-1]), res.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r for r in records if r.get("event") == "leftovers" and r["ended"] >= 1], records
    # a later run's --audit file where the first sandbox could write: nothing rewrites it
    later.touch()
    os.chown(later, uid_of(user), uid_of(user))
    res = cli("run", "-q", "--rx", "/", "--audit", str(later), "--", "/bin/sh", "-c",
              "sleep 1.5", user=user)
    assert res.returncode == 0, res.stderr
    assert "forged" not in later.read_text()


def test_keep_running_leaves_them_and_says_so(area, user, xdg):
    """`--keep-running` keeps the old behaviour (systemd-run --scope's), and says in one line
    that processes were left and that their denials are not recorded."""
    res, left = keep_one_running(area.allowed, user, 30)
    try:
        assert res.returncode == 0, res.stderr
        assert not gone(left)
        assert res.stderr.splitlines()[-1] == (
            "stockade run: 1 process the program left still runs in its sandbox "
            f"(--keep-running; pid {left}; `stockade status` lists them): their later denials "
            "are not recorded"), res.stderr
    finally:
        os.kill(left, 9)


def test_keep_running_is_refused_where_the_program_may_use_the_keyring():
    """A keyring run's leftovers are always ended (they may know the plan cache's key)."""
    res = cli("run", "--allow-keyring", "--keep-running", "--rx", "/", "--", "/bin/true")
    assert res.returncode == 125 and res.stderr.count("\n") == 1, res.stderr
    assert "--keep-running: the program may use the kernel keyring" in res.stderr


def test_a_run_in_process_leaves_its_callers_children_alone():
    """`run` called in a process that goes on (tests): the caller's own children are not the
    program's leftovers, and the caller adopts no orphans afterwards."""
    import ctypes

    from stockade.cli import main as cli_main

    other = subprocess.Popen(["sleep", "30"])
    try:
        assert cli_main.main(["run", "-q", "--no-status-record", "--rx", "/", "--", "/bin/sh",
                              "-c", "sleep 30 & exit 0"]) == 0
        assert other.poll() is None, "the caller's child was ended"
        libc = ctypes.CDLL(None, use_errno=True)
        flag = ctypes.c_int(-1)
        assert libc.prctl(37, ctypes.byref(flag), 0, 0, 0) == 0  # PR_GET_CHILD_SUBREAPER
        assert flag.value == 0
    finally:
        other.kill()
        other.wait()
