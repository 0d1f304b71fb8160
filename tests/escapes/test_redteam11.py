"""Red team 11: ways for the program to forge or lose the launcher's own records (--audit,
--learn). Each test runs a real `stockade run` whose program tries it, as root and as nobody
where that is possible, and failed before its fix."""

from __future__ import annotations

import json
import os
from pathlib import Path

from confine_helpers import cli, uid_of

FORGED = '{"event": "exit", "status": 0, "forged": true}'


def _events(path: Path) -> list[str]:
    return [json.loads(line).get("event", "") for line in path.read_text().splitlines()]


def test_complain_without_a_profile_keeps_the_exposure_check(area, user):
    """`--mode complain` without -p keeps the ad-hoc flags' Landlock limits: an audit file
    inside the --rw grant is refused as in enforce mode (the exemption was decided by the
    mode's name, and the program renamed the directory and planted a forged file)."""
    logs = area.allowed / "logs"
    logs.mkdir()
    os.chown(logs, uid_of(user), uid_of(user))
    out = logs / "a.jsonl"
    marker = area.allowed / "ran"
    res = cli("run", "-q", "--mode", "complain", "--rx", "/", "--rw", str(area.allowed),
              "--audit", str(out), "--", "/bin/sh", "-c",
              f"echo > {marker}; mv {logs} {area.allowed}/old && mkdir {logs} && "
              f"echo '{FORGED}' > {out}", user=user)
    assert res.returncode == 125, (res.returncode, res.stderr)
    assert f"lies inside the writable grant {area.allowed}" in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1, res.stderr
    assert not marker.exists() and not out.exists()


def test_complain_without_a_profile_runs_with_an_audit_file_outside_the_grants(area, user):
    """The control: the same run with the audit file out of the grant's reach records."""
    out = area.forbidden / "a.jsonl"
    out.write_text("")
    os.chown(out, uid_of(user), uid_of(user))
    res = cli("run", "-q", "--mode", "complain", "--rx", "/", "--rw", str(area.allowed),
              "--audit", str(out), "--", "/bin/sh", "-c", "exit 3", user=user)
    assert res.returncode == 3, res.stderr
    assert _events(out)[-1] == "exit"
