"""`stockade notify` and the follower under it."""

from __future__ import annotations

import os
from pathlib import Path

from stockade.audit.follow import Follower, LogFileSource
from tests.audit.conftest import SAMPLE, run_cli


def test_notify_once_prints_denials_with_rules(sample_log: Path) -> None:
    out = run_cli("notify", "--once", "--log", str(sample_log), "--audit-log", "", "--no-desktop")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3  # the ALLOWED and the user record are not denials
    assert "/usr/sbin/cupsd: open /etc/shadow [r]" in lines[0] and "allow with: /etc/shadow r," in lines[0]
    assert "--rw /tmp/out" in lines[1] and "--ro /etc/shadow" in lines[2]


def test_notify_hides_quiet_records(tmp_path: Path) -> None:
    from stockade.audit.record import AuditRecord

    log = tmp_path / "own.jsonl"
    loud = AuditRecord(time=1.0, serial=1, operation="file_open", module="apparmor",
                       result="DENIED", object="/loud", denied="read", profile="p")
    quiet = AuditRecord(time=1.0, serial=2, operation="file_open", module="apparmor",
                        result="DENIED", object="/quiet", denied="read", profile="p", quiet=True)
    log.write_text(loud.to_json() + "\n" + quiet.to_json() + "\n")
    out = run_cli("notify", "--once", "--log", str(log), "--audit-log", "")
    assert "/loud" in out.stdout and "/quiet" not in out.stdout


def test_notify_summary(sample_log: Path) -> None:
    out = run_cli("notify", "--summary", "--log", str(sample_log), "--audit-log", "")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Denials: 3 (since ")
    assert "1  apparmor  /usr/sbin/cupsd" in out.stdout
    assert "2  landlock  domain=1a6fdc679" in out.stdout


def test_notify_since_filters(sample_log: Path) -> None:
    out = run_cli("notify", "--once", "--since", "1700000003.5", "--log", str(sample_log),
                  "--audit-log", "")
    assert len(out.stdout.splitlines()) == 1 and "/etc/shadow" in out.stdout


def test_notify_without_sources_is_an_error(tmp_path: Path) -> None:
    out = run_cli("notify", "--once", "--audit-log", str(tmp_path / "absent.log"), "--no-netlink")
    assert out.returncode != 0 and "Traceback" not in out.stderr


def test_follower_tails_appends_and_rotation(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    lines = SAMPLE.splitlines(keepends=True)
    log.write_text("".join(lines[:2]))
    source = LogFileSource(log, from_start=True)
    follower = Follower([source], poll_interval=0.05)
    try:
        got = follower.poll(0.1)
        # the AVC's event may still be waiting for more records; age completes it
        source.correlator.max_age = 0.0
        got += follower.poll(0.1)
        assert [r.object for r in got] == ["/etc/shadow"]
        with log.open("a") as f:
            f.write(lines[3][:40])  # half a line: nothing yet
        assert follower.poll(0.1) == []
        with log.open("a") as f:
            f.write(lines[3][40:])
        assert [r.object for r in follower.poll(0.2)] == ["/tmp/out"]
        os.rename(log, tmp_path / "audit.log.1")  # auditd rotates
        log.write_text(lines[4])
        assert [r.object for r in follower.poll(0.2)] == ["/etc/shadow"]
    finally:
        follower.close()


def test_follower_shows_a_record_from_two_sources_once(tmp_path: Path) -> None:
    line = SAMPLE.splitlines(keepends=True)[4]
    (tmp_path / "a.log").write_text(line)
    (tmp_path / "b.log").write_text(line)  # as auditd's log and the netlink group both see it
    follower = Follower([LogFileSource(tmp_path / "a.log"), LogFileSource(tmp_path / "b.log")])
    try:
        got = follower.drain()
    finally:
        follower.close()
    assert [r.object for r in got] == ["/etc/shadow"] and follower.duplicates == 1


def test_notify_suggests_the_run_flag_that_grants_a_denied_exec(tmp_path: Path) -> None:
    """A Landlock `fs.execute` denial is granted by `--rx` (not `--ro`, which grants no
    execute): the suggested flag, given to `stockade run`, lets the exec through."""
    import shlex
    import shutil

    busybox = shutil.which("busybox")
    if busybox is None:
        import pytest

        pytest.skip("busybox-static is not installed")
    tmp_path.chmod(0o755)
    program = tmp_path / "busybox"
    shutil.copy(busybox, program)  # static: no loader needs its own execute right
    log = tmp_path / "audit.log"
    log.write_text(f'type=UNKNOWN[1423] msg=audit(1700000006.000:15): domain=1a6fdc679 '
                   f'blockers=fs.execute path="{program}" dev="vda2" ino=11\n')
    out = run_cli("notify", "--once", "--log", str(log), "--audit-log", "", "--no-desktop")
    assert out.returncode == 0, out.stderr
    assert f"(or --rx {program})" in out.stdout
    flags = shlex.split(out.stdout.split("(or ", 1)[1].split(")", 1)[0])
    denied = run_cli("run", "--ro", str(tmp_path), "--", str(program), "true")
    assert denied.returncode == 126, denied.stderr
    granted = run_cli("run", *flags, "--", str(program), "true")
    assert granted.returncode == 0, granted.stderr


def test_suggested_flags_for_execute_and_write_name_both() -> None:
    from stockade.audit.record import AuditRecord
    from stockade.audit.suggest import suggest_rule

    record = AuditRecord(time=1.0, serial=1, operation="fs.execute,fs.write_file",
                         module="landlock", result="DENIED", object="/srv/tool",
                         denied="fs.execute,fs.write_file")
    assert suggest_rule(record).endswith("(or --rw /srv/tool --rx /srv/tool)")
