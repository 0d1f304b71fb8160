"""Red team 5, finding 4: files the unconfined launcher owns (--audit, --learn, the status
record) must be out of the sandbox's write reach, whatever names the grant: the file itself, a
hard link of it, its directory, or (the status record directory) a file inside it. Each test
runs a real `stockade run` whose program tries to rewrite the file, as root and as nobody."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from confine_helpers import NOBODY, REPO, STOCKADE, cli, nobody_can_run_stockade, uid_of

FORGED = '{"event": "exit", "status": 0, "time": 1}'


def _owned_file(user: str, path: Path, text: str = "") -> Path:
    path.write_text(text)
    os.chown(path, uid_of(user), uid_of(user))
    return path


def _forge(target: Path, marker: Path) -> list[str]:
    """A program that truncates `target`, appends a forged record and leaves `marker`."""
    return ["/bin/sh", "-c", f"echo > {marker}; truncate -s 0 {target}; "
            f"echo '{FORGED}' >> {target}; exit 7"]


def _refused(res: subprocess.CompletedProcess[str], marker: Path, *words: str) -> None:
    assert res.returncode == 125, (res.returncode, res.stderr)
    assert res.stderr.count("\n") == 1 and all(w in res.stderr for w in words), res.stderr
    assert not marker.exists(), "the program ran"


@pytest.mark.parametrize("flag", ["--audit", "--learn"])
def test_a_grant_on_the_file_itself_is_refused(area, user, flag):
    """`--rw F` with `--audit F` (or `--learn F`): the program could truncate F and forge
    records (the check looked only at F's directory)."""
    out = _owned_file(user, area.root / "records.jsonl", "earlier\n")
    marker = area.allowed / "ran"
    mode = ["--mode", "enforce"] if flag == "--learn" else []
    res = cli("run", *mode, flag, str(out), "--rx", "/", "--rw", str(out),
              "--rw", str(area.allowed), "--", *_forge(out, marker), user=user)
    _refused(res, marker, flag, f"is writable through the grant {out}")
    assert out.read_text() == "earlier\n"


def test_a_grant_on_a_hard_link_of_the_file_is_refused(area, user):
    """Landlock grants the inode: `--rw LINK` where LINK is another name of the audit file."""
    out = _owned_file(user, area.forbidden / "audit.jsonl", "earlier\n")
    link = area.root / "other-name"
    os.link(out, link)
    marker = area.allowed / "ran"
    res = cli("run", "--audit", str(out), "--rx", "/", "--rw", str(link),
              "--rw", str(area.allowed), "--", *_forge(link, marker), user=user)
    _refused(res, marker, "--audit", f"is writable through the grant {link}")
    assert out.read_text() == "earlier\n"


def test_a_hard_link_inside_a_writable_grant_is_refused(area, user):
    """No grant names the audit file or its directory, but another link of it lies in a
    writable directory: the program writes through that name."""
    out = _owned_file(user, area.forbidden / "audit.jsonl", "earlier\n")
    link = area.allowed / "innocent"
    os.link(out, link)
    marker = area.allowed / "ran"
    res = cli("run", "--audit", str(out), "--rx", "/", "--rw", str(area.allowed), "--",
              *_forge(link, marker), user=user)
    _refused(res, marker, "--audit", "has 2 hard links")
    assert out.read_text() == "earlier\n"


def test_a_single_link_file_outside_the_grants_still_runs(area, user):
    """The control: an audit file no grant reaches is accepted and keeps its records."""
    out = _owned_file(user, area.forbidden / "audit.jsonl")
    res = cli("run", "--audit", str(out), "--rx", "/", "--rw", str(area.allowed), "--",
              "/bin/sh", "-c", f"echo x >> {out}; exit 7", user=user)
    assert res.returncode == 7, res.stderr
    events = [json.loads(line).get("event") for line in out.read_text().splitlines()]  # no "x"
    assert events[-1] == "exit" and "start" in events


def _record_of(launcher: int, directory: Path, timeout: float = 20) -> Path:
    """The status record that launcher `launcher` wrote in `directory`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for p in directory.glob("*.json"):
            try:
                if json.loads(p.read_text()).get("launcher_pid") == launcher:
                    return p
            except (OSError, ValueError):
                continue
        time.sleep(0.05)
    raise AssertionError(f"no status record of launcher {launcher} in {directory}")


def test_a_grant_on_another_runs_status_record_is_refused(area, user, xdg):
    """A grant on a file inside the record directory (another run's record) would let the
    program forge what `stockade status` says about that run."""
    extra: dict[str, object] = {}
    if user == "nobody":
        if not nobody_can_run_stockade():
            pytest.skip("user nobody cannot run this checkout's venv")
        extra = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    records = Path("/run/stockade") if user == "root" else xdg / "stockade"
    victim = subprocess.Popen([*STOCKADE, "run", "--rx", "/", "--", "/bin/sleep", "60"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
                              env={**os.environ, "PYTHONPATH": str(REPO / "src")},
                              **extra)  # type: ignore[arg-type]
    try:
        record = _record_of(victim.pid, records)
        before = record.read_text()
        marker = area.allowed / "ran"
        res = cli("run", "--rx", "/", "--rw", str(record), "--rw", str(area.allowed), "--",
                  "/bin/sh", "-c", f"echo > {marker}; echo '{{}}' > {record}", user=user)
        _refused(res, marker, "status record directory", f"holds the writable grant {record}")
        assert record.read_text() == before
    finally:
        victim.terminate()
        victim.wait(timeout=20)
