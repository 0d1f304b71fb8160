"""`run --audit` attributes the kernel's SECCOMP denial records of every process the program
started, also of a child that already exited and of a grandchild re-parented to the launcher
(red team 7): the launcher learns the program's processes from the kernel's fork events as
they are created. Root only (the kernel's audit records need CAP_AUDIT_READ)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from confine_helpers import PY, cli
from test_run_profile import _audit_enabled

# three refused mount(2) calls (baseline seccomp: EPERM), by the program, by a child that exits
# at once, and by a grandchild whose parent exits first (re-parented away from the program)
PROGRAM = """
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
target = sys.argv[1].encode()
def denied(tag):
    rc = libc.mount(b"none", target, b"tmpfs", 0, None)
    print(tag + ":" + str(rc) + ":" + str(ctypes.get_errno()), flush=True)
denied("program")
if os.fork() == 0:
    if os.fork() == 0:
        time.sleep(0.3); denied("orphan"); os._exit(0)
    os._exit(0)
os.wait()
if os.fork() == 0:
    denied("child"); os._exit(0)
os.wait()
time.sleep(0.8)
"""


def test_denials_of_exited_and_orphaned_processes_are_attributed(tmp_path):
    before = _audit_enabled()
    if before is None or not shutil.which("auditctl"):
        pytest.skip("cannot read or change the audit state (needs root and auditctl)")
    out = tmp_path / "audit.jsonl"
    target = tmp_path / "mnt"  # a harmless place, were the mount ever allowed
    target.mkdir()
    try:
        if not before:
            subprocess.run(["auditctl", "-e", "1"], check=True, capture_output=True)
        res = cli("run", "--rx", "/usr", "--ro", "/etc", "--audit", str(out), "--",
                  PY, "-c", PROGRAM, str(target), user="root")
    finally:
        if not before:
            subprocess.run(["auditctl", "-e", str(before)], check=True, capture_output=True)
        if os.path.ismount(target):
            subprocess.run(["umount", str(target)], check=False)
    assert sorted(res.stdout.split()) == ["child:-1:1", "orphan:-1:1", "program:-1:1"], res
    records = [json.loads(line) for line in out.read_text().splitlines()]
    start = next(r for r in records if r.get("event") == "start")
    mounts = [r for r in records if r.get("module") == "seccomp" and r.get("object") == "mount"]
    assert len(mounts) == 3, (res.stderr, mounts)  # one record per denial
    pids = {r["pid"] for r in mounts}
    assert len(pids) == 3 and start["pid"] in pids, mounts
    assert "may be missing" not in res.stderr, res.stderr
