"""Red team 14: one audit record per denial, also for what the supervisor does on the
program's behalf. An emulated open or TCP connect refused by Landlock in the supervisor
thread's domain (enforce/denials.py: that domain's records are the program's), and the
notification filter's own refusals (supervisor/refused_calls.py: now the supervisor's, with a
record each), each reach `--audit` once and count in the "refused" line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from confine_helpers import cli

BIBA = ("--mode", "enforce", "--lsm", "capability,biba", "--context", "biba=medium",
        "--module-option", "biba.default_level=high")
SYSCALLS = """import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
ctx = ctypes.c_ulong(0)
failed = 0
for name, nr, args in (("io_setup", 206, (1, ctypes.byref(ctx))), ("userfaultfd", 323, (0,)),
                       ("prctl", 157, (35, 1, 0, 0, 0))):
    r = libc.syscall(nr, *args)
    print(name, r, os.strerror(ctypes.get_errno()) if r < 0 else "")
    failed += r < 0 and ctypes.get_errno() == 1
sys.exit(1 if failed else 0)
"""


def _denials(path: Path) -> list[dict]:
    if not path.exists():
        return []
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]
    return [r for r in recs if r.get("result") == "DENIED"]


def test_the_notification_filters_refusals_are_recorded(area, user):
    """io_setup, userfaultfd and PR_SET_MM under a supervisor that decides exec: EPERM as
    before, now with one module=supervisor record each (root or not: no kernel audit)."""
    prog = area.root / "sc.py"
    prog.write_text(SYSCALLS)
    os.chmod(prog, 0o644)
    audit = area.root / "a.jsonl"
    res = cli("run", *BIBA, "--rx", "/", "--audit", str(audit), "--",
              "/usr/bin/python3.11", str(prog), user=user)
    assert res.returncode == 1, res
    for name in ("io_setup", "userfaultfd", "prctl"):
        assert f"{name} -1 Operation not permitted" in res.stdout, res
    got = [(r["module"], r["object"]) for r in _denials(audit)]
    assert sorted(got) == [("supervisor", "io_setup"), ("supervisor", "prctl"),
                           ("supervisor", "userfaultfd")], got
    assert "the sandbox refused 3 operations" in res.stderr, res.stderr


@pytest.mark.usefixtures("audit_on")
def test_an_emulated_open_refused_by_landlock_is_recorded_once():
    """--mode enforce emulates the open; Landlock refuses it in the supervisor's domain: one
    record of /etc/hostname (as the plain run has), and the run says it refused it."""
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"stockade-t-open-{os.getpid()}.jsonl"
    scratch.unlink(missing_ok=True)
    try:
        res = cli("run", *BIBA, "--rx", "/usr", "--rx", "/lib", "--rx", "/lib64", "--rx",
                  "/bin", "--audit", str(scratch), "--", "/bin/cat", "/etc/hostname")
        assert res.returncode == 1, res
        hostname = [r for r in _denials(scratch) if r["object"] == "/etc/hostname"]
        assert len(hostname) == 1, _denials(scratch)
        assert hostname[0]["module"] == "landlock" and hostname[0]["profile"], hostname
        assert "the sandbox refused" in res.stderr, res.stderr
    finally:
        scratch.unlink(missing_ok=True)


@pytest.mark.usefixtures("audit_on")
def test_an_emulated_tcp_connect_refused_by_landlock_is_recorded():
    """A plain `run --net tcp` emulates connect(); the refused port is recorded, and named in
    the run's TCP line (which stands for the "refused" line when there is one)."""
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"stockade-t-tcp-{os.getpid()}.jsonl"
    scratch.unlink(missing_ok=True)
    code = ("import socket, sys\n"
            "try:\n    socket.create_connection(('127.0.0.1', 9))\n"
            "except PermissionError:\n    sys.exit(3)\n")
    try:
        res = cli("run", "--rx", "/", "--net", "tcp", "--audit", str(scratch), "--",
                  "/usr/bin/python3.11", "-c", code)
        assert res.returncode == 3, res
        tcp = [r for r in _denials(scratch) if "net.connect_tcp" in r.get("denied", "")]
        assert len(tcp) == 1 and tcp[0]["object"].endswith(":9"), _denials(scratch)
        assert "TCP refused: connect to port 9; grant with --connect-tcp 9" in res.stderr, res
    finally:
        scratch.unlink(missing_ok=True)
