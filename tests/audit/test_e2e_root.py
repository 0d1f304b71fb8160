"""End to end as root: a Landlock-denied child, its record through auditd or netlink, the store.

The child restricts itself with ctypes (a ruleset handling LANDLOCK_ACCESS_FS_READ_FILE, no
rules), then opens a file: EACCES. Since Landlock ABI 7 (Linux 6.15) such a denial is logged by
default for the same executable (LANDLOCK_RESTRICT_SELF_LOG_SAME_EXEC_OFF is not set), as soon
as audit is enabled. The audit state is put back as it was found, and auditd is stopped.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.audit.readers import read_records
from stockade.audit.readers.correlate import Correlator
from stockade.audit.readers.netlink import AuditMulticast
from stockade.audit.store import AuditStore
from stockade.host.audit import audit_get, auditd_pid

pytestmark = pytest.mark.root

CHILD = textwrap.dedent("""
    import ctypes, os, struct, sys
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(struct.pack("=QQQ", 1 << 2, 0, 0))  # handled: READ_FILE
    fd = libc.syscall(444, attr, 24, 0)                                     # create_ruleset
    assert fd >= 0, ctypes.get_errno()
    assert libc.prctl(38, 1, 0, 0, 0) == 0                                  # no_new_privs
    assert libc.syscall(446, fd, 0) == 0, ctypes.get_errno()                # restrict_self
    try:
        open(sys.argv[1]).read()
    except PermissionError:
        print("denied", os.getpid(), flush=True)
        sys.exit(0)
    sys.exit(1)
""")


def landlock_abi() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    return max(libc.syscall(444, None, ctypes.c_size_t(0), 1), 0)


def requirements() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (the kernel's audit is root's)")
    if landlock_abi() < 7:
        pytest.skip("Landlock audit records need ABI 7 (Linux 6.15)")
    try:
        audit_get()
    except OSError as err:
        pytest.skip(f"the kernel's audit cannot be controlled here: {err}")


def set_enabled(value: int) -> None:
    auditctl = shutil.which("auditctl") or "/sbin/auditctl"
    subprocess.run([auditctl, "-e", str(value)], capture_output=True, check=False)


@pytest.fixture
def audit_state() -> Iterator[dict[str, int]]:
    requirements()
    before = audit_get()
    yield before
    if before.get("enabled", 0) != 2:  # 2: locked, nothing to restore
        set_enabled(before.get("enabled", 0))


def denied_child(target: Path) -> int:
    out = subprocess.run([sys.executable, "-c", CHILD, str(target)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("denied"), out.stderr
    return int(out.stdout.split()[1])


@pytest.fixture
def private_auditd(tmp_path: Path, audit_state: dict[str, int]) -> Iterator[Path]:
    """auditd writing to a log of our own; stopped (and audit restored) afterwards."""
    binary = shutil.which("auditd") or ("/sbin/auditd" if os.path.exists("/sbin/auditd") else None)
    if binary is None:
        pytest.skip("auditd is not installed")
    if audit_state.get("pid") or auditd_pid():
        pytest.skip("an auditd already runs; not replacing it")
    conf = tmp_path / "auditd"
    (conf / "plugins").mkdir(parents=True)
    log = conf / "audit.log"
    (conf / "auditd.conf").write_text(textwrap.dedent(f"""\
        local_events = yes
        write_logs = yes
        log_file = {log}
        log_format = ENRICHED
        flush = SYNC
        max_log_file = 8
        num_logs = 2
        max_log_file_action = ROTATE
        space_left = 2
        space_left_action = IGNORE
        admin_space_left = 1
        admin_space_left_action = IGNORE
        disk_full_action = IGNORE
        disk_error_action = IGNORE
        plugin_dir = {conf / 'plugins'}
        """))
    proc = subprocess.Popen([binary, "-c", str(conf), "-n"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while audit_get().get("pid") != proc.pid:
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.stdout.read().decode() if proc.stdout else ""
                pytest.skip(f"auditd could not start here: {output.strip()[-200:]}")
            time.sleep(0.1)
        yield log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_landlock_denial_through_auditd_reader_and_store(private_auditd: Path, tmp_path: Path) -> None:
    target = tmp_path / f"secret-{os.getpid()}.txt"
    target.write_text("x")
    pid = denied_child(target)
    found = []
    deadline = time.monotonic() + 10
    while not found and time.monotonic() < deadline:
        time.sleep(0.2)
        if private_auditd.exists():
            found = [r for r in read_records(private_auditd)
                     if r.module == "landlock" and r.result == "DENIED" and r.object == str(target)]
    assert found, "no Landlock record for the denied path in auditd's log"
    r = found[0]
    assert (r.operation, r.pid, r.record_type, r.errno) == ("fs.read_file", pid, 1423, 13)
    assert r.fields["domain_pid"] == str(pid) and r.fields["syscall"] in ("openat", "syscall 257")
    store = AuditStore(tmp_path / "store.sqlite")
    try:
        assert store.insert(read_records(private_auditd)) > 0
        hits = [x for x in store.query(module="landlock", result="DENIED") if x.object == str(target)]
        assert len(hits) == 1 and hits[0].pid == pid
        assert store.insert(read_records(private_auditd)) == 0
    finally:
        store.close()


def test_landlock_denial_through_netlink(audit_state: dict[str, int], tmp_path: Path) -> None:
    if audit_state.get("enabled") == 0:
        set_enabled(1)
    try:
        reader = AuditMulticast()
    except Exception as err:  # no CAP_AUDIT_READ in this namespace
        pytest.skip(f"cannot join the audit multicast group: {err}")
    target = tmp_path / f"netlink-{os.getpid()}.txt"
    target.write_text("x")
    correlator = Correlator(max_age=0.5)
    found = []
    try:
        pid = denied_child(target)
        deadline = time.monotonic() + 10
        while not found and time.monotonic() < deadline:
            records = []
            for rec in reader.read(0.2):
                records.extend(correlator.add(rec, time.monotonic()))
            records.extend(correlator.expire())
            found += [r for r in records if r.module == "landlock" and r.object == str(target)]
    finally:
        reader.close()
    assert found and found[0].pid == pid and found[0].result == "DENIED"


SECCOMP_CHILD = textwrap.dedent("""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    for name, nr in (("clone3", 435), ("ptrace", 101)):
        print(name, libc.syscall(nr, 0, 0, 0, 0), ctypes.get_errno(), flush=True)
""")


def test_run_audit_seccomp_records_name_the_errno_and_clone3_is_expected(
        audit_state: dict[str, int], tmp_path: Path) -> None:
    """Through the kernel: stockade's filter answers ptrace with EPERM (a denial, shown as
    errno(EPERM), not errno(0)) and clone3 with ENOSYS (libc's fallback: not a denial)."""
    if audit_state.get("enabled") == 0:
        set_enabled(1)
    log = tmp_path / "audit.jsonl"
    out = subprocess.run([sys.executable, "-m", "stockade", "run", "--rx", "/", "--audit", str(log),
                          "--", sys.executable, "-c", SECCOMP_CHILD],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["clone3 -1 38", "ptrace -1 1"]  # what the kernel did
    import json

    records = [json.loads(line) for line in log.read_text().splitlines()]
    seccomp = {r["object"]: r for r in records if r.get("module") == "seccomp"}
    if "ptrace" not in seccomp:
        pytest.skip("the kernel logged no SECCOMP record (audit off or rate-limited)")
    ptrace = seccomp["ptrace"]
    assert (ptrace["result"], ptrace["denied"], ptrace["errno"]) == ("DENIED", "errno(EPERM)", 1)
    clone3 = seccomp["clone3"]
    assert clone3["result"] == "AUDIT" and clone3["errno"] == 38 and clone3["denied"] == ""
    assert "expected" in clone3["fields"]
