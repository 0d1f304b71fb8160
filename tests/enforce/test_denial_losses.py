"""`run --audit` (root) keeps attributing the program's Landlock denials when the record
naming its domain is lost, and says in its one line when denial records were lost: the
domain's deallocation record counts its denials, AUDIT_GET counts the kernel's drops (red
team 12). The kernel's own records are the oracle: a run writes them, and they are replayed
through a collector that never saw the domain record."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from confine_helpers import PY, cli
from test_run_profile import _audit_enabled

FLOOD = """
import os, sys
n = int(sys.argv[1])
for i in range(n):
    try:
        os.open("/etc/hostname", os.O_RDONLY)
    except PermissionError:
        pass
"""


def _audited_run(tmp_path, *argv: str):
    before = _audit_enabled()
    if before is None or not shutil.which("auditctl"):
        pytest.skip("cannot read or change the audit state (needs root and auditctl)")
    out = tmp_path / "audit.jsonl"
    try:
        if not before:
            subprocess.run(["auditctl", "-e", "1"], check=True, capture_output=True)
        res = cli("run", "--rx", "/usr", "--audit", str(out), "--", *argv, user="root",
                  timeout=120)
    finally:
        if not before:
            subprocess.run(["auditctl", "-e", str(before)], check=True, capture_output=True)
    return res, [json.loads(line) for line in out.read_text().splitlines()]


def test_denials_stay_attributed_when_the_domain_record_is_lost(tmp_path):
    from stockade.audit.record import AuditRecord
    from stockade.enforce.denials import DenialCollector

    res, records = _audited_run(tmp_path, PY, "-c", FLOOD, "5")
    start = next(r for r in records if r.get("event") == "start")
    kernel = [r for r in records if r.get("module") == "landlock"]
    denied = [r for r in kernel if r.get("record_type") == 1423]
    if not any(r.get("operation") == "domain_allocated" for r in kernel) or len(denied) < 5:
        pytest.skip(f"the kernel's records of this run were not all received: {res.stderr}")
    # replayed without the domain record (and its fields, merged into the first denial)
    got = []
    collector = DenialCollector("p", got.append)
    try:
        collector.pids.add(start["pid"])
        for raw in kernel:
            if raw.get("operation") == "domain_allocated":
                continue
            rec = AuditRecord.from_dict(raw)
            rec.fields = {k: v for k, v in rec.fields.items() if not k.startswith("domain_")}
            collector.handle([rec])
    finally:
        collector.reader.close()
        if collector.forks is not None:
            collector.forks.close()
    assert len([r for r in got if r.record_type == 1423]) == len(denied), (res.stderr, got)
    if any(r.get("operation") == "domain_deallocated" for r in kernel):
        assert collector.missing == 0 and "were lost" not in collector.loss_line()


def test_a_lost_denial_record_is_reported_in_the_runs_line(tmp_path):
    from stockade.audit.record import AuditRecord
    from stockade.enforce.denials import DenialCollector

    res, records = _audited_run(tmp_path, PY, "-c", FLOOD, "5")
    start = next(r for r in records if r.get("event") == "start")
    kernel = [r for r in records if r.get("module") == "landlock"]
    if not any(r.get("operation") == "domain_deallocated" for r in kernel):
        pytest.skip(f"the domain's deallocation record was not received: {res.stderr}")
    first = next(i for i, r in enumerate(kernel) if r.get("record_type") == 1423)
    collector = DenialCollector("p", lambda rec: None)
    try:
        collector.pids.add(start["pid"])
        collector.handle([AuditRecord.from_dict(r) for i, r in enumerate(kernel) if i != first])
    finally:
        collector.reader.close()
        if collector.forks is not None:
            collector.forks.close()
    assert collector.missing == 1
    assert collector.loss_line().startswith("denial records of the program were lost"), \
        collector.loss_line()


def test_a_flood_that_loses_records_is_reported(tmp_path):
    """Many denials at once: the kernel's backlog (default 64) drops some on most machines;
    whatever was lost, the run's line says so, with the domain's own count."""
    res, records = _audited_run(tmp_path, PY, "-c", FLOOD, "20000")
    denied = [r for r in records if r.get("record_type") == 1423]
    counted = [int(r["fields"]["denials"]) for r in records
               if r.get("operation") == "domain_deallocated"]
    lost = [r for r in records if r.get("event") == "lost"]
    if counted and counted[0] > len(denied):
        assert f"the kernel counted {counted[0]} Landlock denials" in res.stderr, res.stderr
        assert lost and lost[0]["denials_missing"] == counted[0] - len(denied), lost
    elif len(denied) < 20000:
        # the deallocation record itself was not received: the kernel's drops are reported
        assert (lost and "dropped" in res.stderr) or "lost by the reader" in res.stderr, res
    else:
        assert "were lost" not in res.stderr, res.stderr
