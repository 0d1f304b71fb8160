"""`stockade audit follow --to journal` read back by journalctl from a real systemd-journald.

The VM is not booted with systemd, so the test starts its own journald in a private mount
namespace (tmpfs on /run/systemd, /run/log and /var/log/journal: nothing outside sees it),
ships one record into it and reads the entry back with `journalctl -o json`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.audit.test_ship_cli import LANDLOCK_LINE

JOURNALD = "/lib/systemd/systemd-journald"

SCRIPT = r"""
set -e
for d in /run/systemd /run/log /var/log/journal; do mkdir -p $d; mount -t tmpfs tmpfs $d; done
mkdir -p /run/systemd/journal
{journald} >/dev/null 2>&1 &
jd=$!
trap 'kill $jd' EXIT
for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
{python} -m stockade audit follow --once --to journal --format ecs --audit-log '' --log {log}
for i in $(seq 50); do
  out=$(journalctl -D /run/log/journal -o json SYSLOG_IDENTIFIER=stockade 2>/dev/null || true)
  [ -n "$out" ] && break; sleep 0.1
done
printf '%s\n' "$out"
"""


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(JOURNALD)
                    or shutil.which("journalctl") is None or shutil.which("unshare") is None,
                    reason="needs root, systemd-journald, journalctl and unshare")
def test_follow_to_journal_arrives_with_fields(tmp_path: Path) -> None:
    pytest.importorskip("systemd.journal")
    log = tmp_path / "audit.log"
    log.write_text(LANDLOCK_LINE)
    script = SCRIPT.format(journald=JOURNALD, python=sys.executable, log=log)
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    (entry,) = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert entry["PRIORITY"] == "4" and entry["SYSLOG_FACILITY"] == "10"
    assert json.loads(entry["MESSAGE"])["file"]["path"] == "/etc/passwd"
    assert entry["STOCKADE_EVENT_ACTION"] == "fs.write_file"
    assert entry["STOCKADE_EVENT_OUTCOME"] == "failure"
    assert entry["STOCKADE_FILE_PATH"] == "/etc/passwd"
