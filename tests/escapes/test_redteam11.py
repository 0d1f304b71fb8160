"""Red team 11: ways for the program to forge or lose the launcher's own records (--audit,
--learn). Each test runs a real `stockade run` whose program tries it, as root and as nobody
where that is possible, and failed before its fix."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
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


@pytest.fixture
def small_fs(area) -> Iterator[Path]:
    """A 256 KiB tmpfs (a shared /tmp or /var that the program can fill), mounted by root."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where = area.root / "small"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=755", "tmpfs", str(where)],
                   check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_supervisor_records_lost_on_a_full_disk_are_reported(small_fs, user):
    """The program fills the audit file's file system, makes chmods the supervisor refuses,
    frees the space: every refusal record is in the file or counted on stderr (the
    supervisor's sink counted its losses where nothing read them)."""
    box, victim, out = small_fs / "box", small_fs / "victim", small_fs / "audit.jsonl"
    box.mkdir()
    victim.touch()
    out.touch()
    for p in (box, victim, out):
        os.chown(p, uid_of(user), uid_of(user))
    script = (f"dd if=/dev/zero of={box}/fill bs=4k 2>/dev/null; for i in $(seq 1 50); do "
              f"chmod 777 {victim} 2>/dev/null; done; rm {box}/fill; "
              f"chmod 777 {victim} 2>/dev/null; exit 4")
    res = cli("run", "-q", "--rx", "/", "--rw", "/dev/null", "--rw", str(box), "--audit",
              str(out), "--", "/bin/sh", "-c", script, user=user)
    assert res.returncode == 4, res.stderr
    kept = out.read_text().count('"operation":"inode_setattr"')
    lost = re.findall(rf"^stockade run: (\d+) audit records could not be written to {out}: "
                      r"No space left on device$", res.stderr, re.M)
    assert kept < 51 and len(lost) == 1, res.stderr  # the disk was full: some were lost
    assert kept + int(lost[0]) >= 51, (kept, res.stderr)
    assert _events(out)[-1] == "exit"


def test_learn_observations_lost_on_a_full_disk_are_reported(small_fs, user):
    """The --learn observer's losses get the same one line as the audit file's."""
    out = small_fs / "obs.jsonl"
    out.touch()
    os.chown(out, uid_of(user), uid_of(user))
    os.chown(small_fs, uid_of(user), uid_of(user))
    script = (f"dd if=/dev/zero of={small_fs}/fill bs=4k 2>/dev/null; for i in $(seq 1 20); do "
              f"cat /etc/hostname >/dev/null; done; rm {small_fs}/fill; exit 5")
    res = cli("run", "-q", "--mode", "learn", "--learn", str(out), "--", "/bin/sh", "-c", script,
              user=user)
    assert res.returncode == 5, res.stderr
    lost = re.findall(rf"^stockade run: (\d+) observations could not be written to {out}: "
                      r"No space left on device$", res.stderr, re.M)
    assert len(lost) == 1 and int(lost[0]) > 0, res.stderr
    for line in out.read_text().splitlines():  # no line cut short
        json.loads(line)


def test_audit_path_with_dotdot_past_a_planted_link_is_refused(area, user):
    """An earlier sandbox planted W/lnk -> SAFE/sub; `--audit W/lnk/../a.jsonl` names SAFE/a
    for the kernel (and the exposure check) but was opened as W/a.jsonl, inside the
    writable grant: the program truncated and forged it. The walk meets the link now."""
    planted = cli("run", "--rx", "/", "--rw", str(area.allowed), "--", "/bin/ln", "-s",
                  str(area.forbidden / "sub"), str(area.allowed / "lnk"), user=user)
    assert planted.returncode == 0, planted.stderr
    marker = area.forbidden / "ran"
    res = cli("run", "-q", "--rx", "/", "--rw", str(area.allowed), "--audit",
              str(area.allowed / "lnk" / ".." / "a.jsonl"), "--", "/bin/sh", "-c",
              f"echo > {marker}; echo '{FORGED}' > {area.allowed}/a.jsonl", user=user)
    assert res.returncode == 125, (res.returncode, res.stderr)
    assert f"{area.allowed}/lnk is a symbolic link" in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1, res.stderr
    assert not marker.exists()
    assert not (area.allowed / "a.jsonl").exists() and not (area.forbidden / "a.jsonl").exists()


@pytest.fixture
def bound(area) -> Iterator[Path]:
    """area.root/B: a bind mount of area.allowed/sub (root makes it; the runs are the user's)."""
    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    where = area.root / "B"
    where.mkdir()
    os.chown(where, os.stat(area.root).st_uid, os.stat(area.root).st_gid)
    subprocess.run(["mount", "--bind", str(area.allowed / "sub"), str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_audit_file_in_a_bind_mount_of_a_granted_subdirectory_is_refused(area, user, bound):
    """B is a bind mount of A/sub and the run grants --rw A: B/a.jsonl is A/sub/a.jsonl for
    Landlock, though no path the user typed passes A (red team 11)."""
    marker = area.forbidden / "ran"
    out = bound / "a.jsonl"
    res = cli("run", "-q", "--rx", "/", "--rw", str(area.allowed), "--audit", str(out), "--",
              "/bin/sh", "-c", f"echo > {marker}; echo '{FORGED}' > {area.allowed}/sub/a.jsonl",
              user=user)
    assert res.returncode == 125, (res.returncode, res.stderr)
    assert f"lies inside the writable grant {area.allowed}" in res.stderr, res.stderr
    assert not marker.exists() and not out.exists()
    # the control: a grant beside the bind's source leaves the file alone
    res = cli("run", "-q", "--rx", "/", "--rw", str(area.forbidden), "--audit", str(out), "--",
              "/bin/sh", "-c", f"echo x > {area.allowed}/sub/a.jsonl; exit 6", user=user)
    assert res.returncode == 6, res.stderr
    assert _events(out)[-1] == "exit"


def test_status_record_directory_under_a_grant_through_a_bind_mount_is_refused(area, user,
                                                                                xdg):
    """The same check guards the status record directory: a bind mount of it below a
    writable grant lets the program forge every run's record; the run is refused."""
    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    records = Path("/run/stockade") if user == "root" else xdg / "stockade"
    if not records.exists():
        records.mkdir(mode=0o700)
        os.chown(records, uid_of(user), uid_of(user))
    where = area.allowed / "view"
    where.mkdir()
    subprocess.run(["mount", "--bind", str(records), str(where)], check=True)
    try:
        marker = area.forbidden / "ran"
        res = cli("run", "-q", "--rx", "/", "--rw", str(area.allowed), "--", "/bin/sh", "-c",
                  f"echo > {marker}", user=user)
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
    assert res.returncode == 125, (res.returncode, res.stderr)
    assert f"the status record directory {records} lies inside the writable grant " \
        f"{area.allowed}" in res.stderr, res.stderr
    assert not marker.exists()
