"""Progress on long work: on a terminal (a pty) only, never in a pipe or with --json."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from stockade.cli import progress

MINI = Path(__file__).resolve().parents[1] / "selinux" / "data" / "mini.cil"
AUDIT_LINE = ('type=AVC msg=audit(1700000000.{n:03d}:{n}): apparmor="DENIED" operation="open" '
              'profile="p" name="/etc/shadow" pid={n} comm="cat" requested_mask="r" '
              'denied_mask="r" fsuid=0 ouid=0\n')


def on_pty(argv: list[str], *, env_delay: str = "0", stdin: str | None = None,
           ) -> tuple[int, str, str]:
    """Run `stockade ARGV` with stderr on a pty (stdout piped): status, stdout, pty text."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = dict(os.environ, STOCKADE_PROGRESS_DELAY=env_delay)
    proc = subprocess.Popen([sys.executable, "-m", "stockade", *argv], stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.PIPE if stdin is not None else
                            subprocess.DEVNULL, env=env)
    os.close(slave)
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out = proc.stdout.read().decode() if proc.stdout else ""
    return proc.wait(timeout=60), out, seen.decode(errors="replace")


def in_pipe(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STOCKADE_PROGRESS_DELAY="0")
    return subprocess.run([sys.executable, "-m", "stockade", *argv], capture_output=True,
                          text=True, input=stdin, env=env, timeout=60)


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    d = tmp_path / "profiles"
    d.mkdir()
    for i in range(5):
        (d / f"p{i}").write_text(f"profile p{i} {{\n  /etc/p{i} r,\n}}\n")
    return d


def test_check_shows_progress_on_a_terminal_only(profiles: Path) -> None:
    status, out, tty = on_pty(["check", str(profiles)])
    assert status == 0 and "5 file(s)" in out
    assert "checking profiles" in tty and "file" in tty
    piped = in_pipe(["check", str(profiles)])
    assert piped.returncode == 0 and piped.stderr == ""
    status, out, tty = on_pty(["check", "--json", str(profiles)])
    assert status == 0 and tty == ""


def test_audit_import_counts_records(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text("".join(AUDIT_LINE.format(n=n) for n in range(1, 200)))
    status, out, tty = on_pty(["audit", "import", "--store", str(tmp_path / "s.db"), str(log)])
    assert status == 0 and "imported 199 new records" in out
    assert "importing audit records" in tty and "rec" in tty
    piped = in_pipe(["audit", "import", "--store", str(tmp_path / "t.db"), str(log)])
    assert piped.returncode == 0 and piped.stderr == ""


def test_policy_import_activity(tmp_path: Path) -> None:
    argv = ["analyze", "--policy", str(MINI), "who-can", "read", "etc_t"]
    status, out, tty = on_pty(argv)
    assert status == 0 and "loading the SELinux policy" in tty
    assert in_pipe(argv).stderr == ""
    status, out, tty = on_pty([*argv, "--json"])
    assert status == 0 and tty == ""
    # explain: the same line while its stack loads the policy; nothing with --json
    ask = ["explain", "--lsm", "capability,selinux", "--module-option",
           f'selinux.policy_paths=["{MINI}"]', "read", "/"]
    status, out, tty = on_pty(ask)
    assert "loading the SELinux policy" in tty and "decision" in out
    assert "loading" not in on_pty([*ask, "--json"])[2]


def test_quick_work_stays_silent_with_the_default_delay(profiles: Path) -> None:
    status, _, tty = on_pty(["check", str(profiles)], env_delay="0.5")
    assert status == 0 and tty == ""


def test_learn_shows_observed_events(tmp_path: Path) -> None:
    status, _out, tty = on_pty(["learn", "-o", str(tmp_path / "p.profile"), "--", "/bin/sh",
                               "-c", "cat /etc/hostname >/dev/null; sleep 0.6"])
    assert status == 0
    assert "learning: events observed" in tty and "ev" in tty
    status, _out, tty = on_pty(["learn", "-q", "-o", str(tmp_path / "q.profile"), "--",
                                "/bin/sh", "-c", "sleep 0.3"])
    assert status == 0 and "learning" not in tty and "accesses seen" not in tty


def test_counter_in_process(monkeypatch) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    stream = os.fdopen(slave, "w", buffering=1)
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setenv("STOCKADE_PROGRESS_DELAY", "0")
    assert list(progress.iterate(range(3), "counting", unit="x")) == [0, 1, 2]
    time.sleep(0.05)
    text = os.read(master, 65536).decode()
    assert "counting" in text
    progress.quiet()
    try:
        items = [1, 2]
        assert progress.iterate(items, "silent") is items  # nothing wrapped, nothing shown
    finally:
        progress.quiet(False)
    stream.close()
    os.close(master)
