"""A sandbox allowed the kernel keyring (`run --allow-keyring`) knows the plan cache's key, or
plants its own: no run trusts the key while it (or anything it left) may live. Real `stockade
run` as root and nobody: the attacker plants a key of its own and an entry, under the cache key
of a narrow profile, holding a wide profile's plan (red team finding rt/cache_forge_keyring)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from confine_helpers import REPO, STOCKADE, cli, uid_of

from stockade.enforce import landlock
from stockade.enforce.plan import cache as plan_cache
from stockade.enforce.plan.cache import keyring

pytestmark = pytest.mark.skipif(landlock.abi_version() < 1, reason="no Landlock")

#: run inside the attacker's sandbox: plant a key and an entry of NARROW holding WIDE's plan
FORGE = """
import os, sys, time
narrow, wide, program, marker, abi, later = sys.argv[1:7]
if later == "1":  # outlive the run: detach, then plant after its end
    if os.fork():
        while not os.path.exists(os.path.join(marker, "child.pid")):
            time.sleep(0.01)
        os._exit(0)
    os.setsid()
    with open(os.path.join(marker, ".pid"), "w") as f:
        f.write(str(os.getpid()))
    os.rename(os.path.join(marker, ".pid"), os.path.join(marker, "child.pid"))
    time.sleep(2)
from stockade.enforce.plan import profile as planmod
from stockade.enforce.plan.cache import cache_dir, cache_key, keyring
from stockade.enforce.plan.cache.codec import encode
from stockade.enforce.plan.cache.store import Store, entry_name
secret = keyring.key(create=True)
pp = planmod.compile_file(wide, [], None, program=program)
key = cache_key(narrow, [], None, int(abi), program)
store = Store.open(cache_dir(), secret)
store.write(entry_name(key), {"key": key, "observations": [], "dirs": "", "plan": encode(pp),
                              "unpinned": list(range(len(pp.plan.fs_rules)))})
store.close()
open(os.path.join(marker, "planted"), "w").close()
deadline = time.time() + 20
while not os.path.exists(os.path.join(marker, "go")) and time.time() < deadline:
    time.sleep(0.05)
"""


def _keyring_or_skip() -> None:
    if keyring.key(create=True) is None:
        pytest.skip("no kernel keyring here (the plan cache is off)")


@pytest.fixture
def setup(area, user, monkeypatch):
    """Cache and runtime directories of `user`, the two profiles, an `outside` directory only
    the wide profile may write, and the attacker's marker directory."""
    _keyring_or_skip()
    root = Path(area.root)
    uid = uid_of(user)
    for name in ("cache", "run", "outside", "m"):
        (root / name).mkdir(mode=0o700 if name == "run" else 0o777)
        os.chmod(root / name, 0o700 if name == "run" else 0o777)
        os.chown(root / name, uid, uid)
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(root / "run"))  # nobody's marks (root: /run)
    (root / "narrow.aa").write_text("profile narrow {\n  / r,\n  /** rix,\n}\n")
    (root / "wide.aa").write_text(f"profile wide {{\n  / r,\n  /** rix,\n"
                                  f"  {root}/outside/** rw,\n}}\n")
    for p in ("narrow.aa", "wide.aa"):
        os.chmod(root / p, 0o644)
    return {"root": root, "user": user, "narrow": str(root / "narrow.aa"),
            "wide": str(root / "wide.aa"), "outside": root / "outside", "m": root / "m"}


def _attacker(s, later: bool) -> subprocess.Popen[str]:
    args = ["run", "-v", "--allow-keyring", "--rx", "/", "--rw", str(s["root"] / "cache"),
            "--rw", str(s["m"]), "--", STOCKADE[0], "-c", FORGE, s["narrow"], s["wide"],
            "/bin/sh", str(s["m"]), str(landlock.abi_version()), "1" if later else "0"]
    extra = ({"user": 65534, "group": 65534, "extra_groups": []} if s["user"] == "nobody"
             else {})
    return subprocess.Popen([*STOCKADE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd="/", env={**os.environ, "PYTHONPATH": str(REPO / "src")},
                            **extra)  # type: ignore[call-overload]


def _victim(s, name: str) -> subprocess.CompletedProcess[str]:
    target = s["outside"] / name
    return cli("run", "-v", "-p", s["narrow"], "--", "/bin/sh", "-c", f"echo x > {target}",
               user=s["user"])


def _wait_for(path: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_run_while_a_keyring_sandbox_lives_does_not_trust_the_key(setup):
    s = setup
    attacker = _attacker(s, later=False)
    try:
        assert _wait_for(s["m"] / "planted", 20), attacker.stderr.read() if attacker.poll() else ""
        r = _victim(s, "f1")
        assert not (s["outside"] / "f1").exists(), r.stderr
        assert r.returncode != 0
        assert "plan cache: off" in r.stderr and "may use the keyring runs" in r.stderr
    finally:
        (s["m"] / "go").touch()
        attacker.wait(30)
    # the attacker's run is over: its key is dropped, so its entry is refused
    r = _victim(s, "f2")
    assert not (s["outside"] / "f2").exists() and r.returncode != 0
    assert "plan cache: refused entry" in r.stderr, r.stderr


def test_what_a_keyring_sandbox_leaves_behind_is_ended_with_its_run(setup):
    s = setup
    attacker = _attacker(s, later=True)
    _, err = attacker.communicate(timeout=60)
    ended = time.monotonic()
    assert attacker.returncode == 0, err
    child = int((s["m"] / "child.pid").read_text())
    (s["m"] / "go").touch()
    alive = True
    try:
        os.kill(child, 0)
    except ProcessLookupError:
        alive = False
    assert not alive, "a detached child of the sandbox outlived its run"
    assert "ended 1 process the program left running (it may use the keyring)" in err, err
    time.sleep(max(0.0, ended + 2.5 - time.monotonic()))  # when it would have planted
    r = _victim(s, "f3")
    assert not (s["outside"] / "f3").exists() and r.returncode != 0, r.stderr


def test_a_keyring_sandbox_that_could_remove_its_mark_is_refused(setup):
    s = setup
    where = "/run/stockade" if s["user"] == "root" else str(s["root"] / "run" / "stockade")
    # refused even without a status record (whose own check would refuse the grant too)
    r = cli("run", "--no-status-record", "--allow-keyring", "--rx", "/", "--rw",
            os.path.dirname(where), "--", "/bin/true", user=s["user"])
    assert r.returncode == 125 and "cannot mark the plan cache key" in r.stderr, r.stderr


@pytest.fixture
def private_marks(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """In-process as root: marks in a private directory and under a socket name of this test
    alone (sockets are per user and network namespace: other tests' keyring runs stay out),
    a private cache; (the mark directory, a profile)."""
    from stockade.enforce.plan.cache import marks

    _keyring_or_skip()
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setattr(marks, "directory", lambda: str(run))
    monkeypatch.setattr(marks, "SOCKET_PREFIX", f"stockade-keyring-test{os.getpid()}-")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    prof = tmp_path / "p.aa"
    prof.write_text("profile p {\n  /usr/** rix,\n}\n")
    return run, prof


def test_a_mark_left_by_a_launcher_that_died_keeps_the_cache_off(private_marks):
    """In-process as root, with the mark directory moved to a private one."""
    from stockade.enforce.plan.cache import marks

    run, prof = private_marks
    assert "stored" in plan_cache.compile_file(str(prof), [], None)[1]
    assert plan_cache.compile_file(str(prof), [], None)[1].startswith("hit")
    stale = run / f"{marks.PREFIX}999999999-1{marks.SUFFIX}"  # no such pid
    stale.touch()
    how = plan_cache.compile_file(str(prof), [], None)[1]
    assert how.startswith("off") and "ended without clearing it" in how
    stale.unlink()
    assert "refused entry" in plan_cache.compile_file(str(prof), [], None)[1]


#: run inside a keyring sandbox: wait for `go`, then say whether the user keyring holds a
#: plan cache key (the serial and bytes, or "none")
READ_KEY = """
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
box = sys.argv[1]
open(os.path.join(box, "waiting"), "w").close()
deadline = time.time() + 30
while not os.path.exists(os.path.join(box, "go")) and time.time() < deadline:
    time.sleep(0.05)
s = libc.syscall(250, 10, -4, b"user", b"stockade:plan-cache:v1", 0)   # KEYCTL_SEARCH @u
buf = ctypes.create_string_buffer(64)
n = libc.syscall(250, 11, s, buf, 64) if s > 0 else -1                  # KEYCTL_READ
open(os.path.join(box, "key"), "w").write(buf.raw[:n].hex() if n > 0 else "none")
"""


def test_a_removed_mark_file_leaves_the_key_untrusted_while_the_keyring_run_lives(setup):
    """Red team 6 (rt/mark_removed_by_no_status_record_run.sh): a run with
    --no-status-record and a writable grant on the mark directory removes a live keyring
    run's mark file; a cached run started after it must still leave the key alone (the
    launcher's mark socket), so the keyring sandbox never sees a key another run trusts."""
    s = setup
    where = Path("/run/stockade") if s["user"] == "root" else s["root"] / "run" / "stockade"
    extra = ({"user": 65534, "group": 65534, "extra_groups": []} if s["user"] == "nobody"
             else {})
    keyring_run = subprocess.Popen(
        [*STOCKADE, "run", "--allow-keyring", "--rx", "/", "--rw", str(s["m"]), "--",
         "/usr/bin/python3", "-c", READ_KEY, str(s["m"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
        env={**os.environ, "PYTHONPATH": str(REPO / "src")}, **extra)  # type: ignore[call-overload]
    try:
        assert _wait_for(s["m"] / "waiting", 30), keyring_run.communicate()[1]
        marks_now = sorted(where.glob(f"keyring-{keyring_run.pid}-*.mark"))
        assert marks_now, list(where.iterdir())
        r = cli("run", "--no-status-record", "--rx", "/", "--rw", str(where), "--", "/bin/rm",
                "-f", *map(str, marks_now), user=s["user"])
        assert r.returncode == 0 and not any(m.exists() for m in marks_now), r.stderr
        r = cli("run", "-v", "-p", s["narrow"], "--", "/bin/true", user=s["user"])
        assert r.returncode == 0, r.stderr
        # ("runs": this one; another test's mark may come first and say it ended)
        assert "plan cache: off (a run whose program may use the keyring " in r.stderr, r.stderr
    finally:
        (s["m"] / "go").touch()
        _, err = keyring_run.communicate(timeout=60)
    assert keyring_run.returncode == 0, err
    assert (s["m"] / "key").read_text() == "none"  # no run made a key while it lived


def test_a_mark_socket_alone_keeps_the_cache_off_and_a_taken_name_refuses_the_mark(
        private_marks):
    """In-process as root, marks in a private directory: a launcher's mark socket (its file
    gone) keeps the key untrusted until the socket is released; a launcher whose mark socket
    name is already bound (by anyone) cannot place its mark."""
    import socket

    from stockade.enforce.plan.cache import marks
    from stockade.enforce.status_record import start_time

    _, prof = private_marks
    mark = marks.Mark()
    mark.place()
    try:
        assert mark.record is not None
        os.unlink(mark.record.path)  # what a sandbox writing the directory could do
        how = plan_cache.compile_file(str(prof), [], None)[1]
        assert how.startswith("off") and "may use the keyring runs" in how, how
        assert f"launcher {os.getpid()}-" in how
        again = marks.Mark()
        with pytest.raises(OSError):  # our own name is taken: no second mark of that name
            again.place()
        assert again.socket is None and again.record is None
    finally:
        mark.clear()
    assert marks.present() is None
    assert "stored" in plan_cache.compile_file(str(prof), [], None)[1]
    squat = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:  # a name bound before the launcher's (any process of the namespace could)
        squat.bind(marks.socket_name(os.getpid(), start_time(os.getpid())))
        with pytest.raises(OSError):
            marks.Mark().place()
        assert marks.present() is not None  # and that keeps the cache off meanwhile
    finally:
        squat.close()
