"""`run --keep-running`: the processes a program leaves in its sandbox stay known while they
live (docs/enforce.md, "Known limits"). Each test leaves a real confined process behind, then
asks `status` and later runs about it, as root and as nobody; each failed before the fix (the
record was removed when `run` returned, and no later run counted the sandbox's grants)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import cli, gone, keep_one_running, uid_of


def _gone(pid: int) -> bool:
    return gone(pid, wait=5.0)


@pytest.fixture
def survivor(area, user, xdg) -> Iterator[int]:
    """The pid of a `sleep` a `run --keep-running` left in a sandbox that may write
    area.allowed; killed afterwards."""
    res, left = keep_one_running(area.allowed, user, 60)
    assert res.returncode == 0, res.stderr
    try:
        yield left
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(left, 9)
        assert _gone(left)


def _confined(user: str) -> dict[int, dict[str, object]]:
    res = cli("status", "--json", user=user)
    assert res.returncode == 0, res.stderr
    return {c["pid"]: c for c in json.loads(res.stdout)["confined"]}


def test_status_lists_the_kept_processes_while_they_live(survivor, user):
    """The run's record stays, naming the survivor: `status` lists it (and its pid's view says
    confined); once it has died the record is stale and nothing lists it."""
    listed = _confined(user)
    assert listed.get(survivor, {}).get("profile") == "adhoc", listed
    assert listed[survivor].get("kept") is True
    res = cli("status", "--pid", str(survivor), "--json", user=user)
    assert res.returncode == 0, res.stderr
    st = json.loads(res.stdout)["process"]["stockade"]
    assert st["confined"] is True and st["kept"] is True and st["profile"] == "adhoc", st
    os.kill(survivor, 9)
    assert _gone(survivor)
    assert survivor not in _confined(user)


def test_a_later_run_refuses_an_audit_file_the_kept_sandbox_may_write(survivor, area, user):
    """A later run's --audit file inside the survivor's writable grant: refused (exit 125,
    naming the survivor) while it lives; accepted once it has died."""
    later = area.allowed / "later.jsonl"
    res = cli("run", "-q", "--rx", "/", "--audit", str(later), "--", "/bin/true", user=user)
    assert res.returncode == 125, res.stderr
    assert res.stderr.count("\n") == 1, res.stderr
    assert f"left in its sandbox (--keep-running, profile adhoc, pid {survivor})" in res.stderr
    assert not later.exists(), "the refused file was created"
    os.kill(survivor, 9)
    assert _gone(survivor)
    res = cli("run", "-q", "--rx", "/", "--audit", str(later), "--", "/bin/true", user=user)
    assert res.returncode == 0, res.stderr


def test_a_later_run_refuses_a_profile_the_kept_sandbox_may_write(survivor, area, user):
    """A later run reads its profile where the survivor may write (own_code.paths_exposure,
    as for the launcher's code): refused; the same profile elsewhere runs."""
    text = "profile t {\n  /** rix,\n}\n"
    for where in (area.allowed, area.forbidden):
        (where / "t.prof").write_text(text)
        os.chown(where / "t.prof", uid_of(user), uid_of(user))
    res = cli("run", "-q", "-p", str(area.allowed / "t.prof"), "--", "/bin/true", user=user)
    assert res.returncode == 125, res.stderr
    assert "the launcher's code or profile" in res.stderr and str(survivor) in res.stderr
    res = cli("run", "-q", "-p", str(area.forbidden / "t.prof"), "--", "/bin/true", user=user)
    assert res.returncode == 0, res.stderr


def test_a_record_of_another_users_survivor_is_not_believed(area, user, xdg):
    """A kept record is believed under the owner rule of every record: nobody's file naming
    root's process (pid 1) confines nothing, and its grants count for nothing (root reads
    it too: XDG_RUNTIME_DIR names it)."""
    start = Path("/proc/1/stat").read_text().rsplit(")", 1)[1].split()[19]
    forged = xdg / "stockade"
    forged.mkdir(mode=0o700)
    record = forged / "kept-1-1-1.json"
    record.write_text(json.dumps({"pid": 1, "profile": "forged", "mode": "enforce",
                                  "survivors": [[1, int(start)]],
                                  "grants": [[str(area.allowed), 1 << 1]]}))
    for p in (forged, record):
        os.chown(p, 65534, 65534)
    assert 1 not in _confined(user)
    res = cli("run", "-q", "--rx", "/", "--audit", str(area.allowed / "a.jsonl"), "--",
              "/bin/true", user=user)
    assert res.returncode == 0, res.stderr
    record.write_text(record.read_text().replace('"forged"', '"roots"'))
    os.chown(record, 0, 0)  # root's word about pid 1 is believed
    if user == "root":
        assert _confined(user).get(1, {}).get("profile") == "roots"


def test_keep_running_is_refused_without_a_status_record():
    """Nothing would know of the processes left: refused up front (fail closed)."""
    res = cli("run", "--keep-running", "--no-status-record", "--rx", "/", "--", "/bin/true")
    assert res.returncode == 125 and res.stderr.count("\n") == 1, res.stderr
    assert "--keep-running needs the status record" in res.stderr


def test_the_whole_tree_is_named_and_later_children_are_found_through_it(area, user, xdg):
    """A grandchild left behind is named too (it stays listed after its parent died); a child
    a survivor forks after `run` returned is confined through the parent walk."""
    ready, late = area.allowed / "ready", area.allowed / "late"
    go = area.allowed / "go"
    inner = (f"sleep 60 & echo $! > {ready}.g; while [ ! -e {go} ]; do sleep 0.05; done; "
             f"sleep 60 & echo $! > {late}; wait")
    script = (f"sh -c '{inner}' </dev/null >/dev/null 2>&1 & echo $! > {ready}; "
              f"while [ ! -s {ready}.g ]; do sleep 0.05; done; exit 0")
    res = cli("run", "--keep-running", "--rx", "/", "--rw", str(area.allowed), "--rw",
              "/dev/null", "--", "/bin/sh", "-c", script, user=user)
    assert res.returncode == 0, res.stderr
    parent, grandchild = int(ready.read_text()), int(Path(f"{ready}.g").read_text())
    try:
        go.touch()
        end = time.monotonic() + 10
        while not (late.exists() and late.read_text().strip()) and time.monotonic() < end:
            time.sleep(0.05)
        later = int(late.read_text())
        st = json.loads(cli("status", "--pid", str(later), "--json", user=user).stdout)
        assert st["process"]["stockade"]["confined"] is True, st["process"]["stockade"]
        assert st["process"]["stockade"]["confined_pid"] == parent
        listed = _confined(user)
        assert {parent, grandchild} <= set(listed) and later not in listed, listed
        os.kill(parent, 9)
        assert _gone(parent)
        assert grandchild in _confined(user)
    finally:
        for pid in (parent, grandchild, *([int(late.read_text())] if late.exists()
                                           and late.read_text().strip() else [])):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


def test_another_users_kept_sandbox_is_listed_to_root_but_refuses_none_of_its_runs(
        survivor, area, user):
    """Root's `status` lists nobody's survivor; its record's grants are nobody's word (and
    its sandbox writes only where nobody may), so they refuse no run of root's."""
    if user == "root":
        pytest.skip("about another user's survivor")
    assert _confined("root").get(survivor, {}).get("kept") is True
    res = cli("run", "-q", "--rx", "/", "--audit", str(area.allowed / "root.jsonl"), "--",
              "/bin/true")
    assert res.returncode == 0, res.stderr


def test_processes_no_record_can_name_are_ended(area, user, xdg):
    """Fail closed: a record directory that is not private (0755) gets no record, so what the
    program left cannot be named; it is ended, and the run says why."""
    if user == "root":
        pytest.skip("root's record directory is /run/stockade, shared with other runs")
    (xdg / "stockade").mkdir(mode=0o755)
    os.chmod(xdg / "stockade", 0o755)
    os.chown(xdg / "stockade", 65534, 65534)
    res, left = keep_one_running(area.allowed, user, 60)
    try:
        assert res.returncode == 0, res.stderr
        assert _gone(left), "a process no record names was left running"
        assert res.stderr.splitlines()[-1] == (
            "stockade run: ended 1 process the program left running (--keep-running could "
            "not name them: no status record was written)"), res.stderr
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(left, 9)
