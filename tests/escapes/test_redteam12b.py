"""Red team 12 (the launcher's caches, records and output files): each test failed before its
fix; they run the real `stockade` command line, as root and as nobody where that is possible."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import cli


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

