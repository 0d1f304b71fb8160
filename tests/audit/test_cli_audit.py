"""`stockade audit` end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.audit.conftest import run_cli


def test_import_dedupes_and_query_filters(tmp_path: Path, sample_log: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    first = run_cli("audit", "import", str(sample_log), "--store", store)
    assert first.returncode == 0, first.stderr
    assert "imported 5 new records (0 already" in first.stdout
    again = run_cli("audit", "--store", store, "import", str(sample_log))
    assert "imported 0 new records (5 already" in again.stdout
    out = run_cli("audit", "query", "--store", store, "--module", "landlock", "--json")
    records = json.loads(out.stdout)
    assert [r["object"] for r in records] == ["/tmp/out", "/etc/shadow"]
    out = run_cli("audit", "query", "--store", store, "--result", "allowed", "--json")
    assert [r["object"] for r in json.loads(out.stdout)] == ["/etc/gshadow"]
    out = run_cli("audit", "query", "--store", store, "--profile", "/usr/sbin/cupsd",
                  "--since", "1700000003", "--json")
    assert [r["serial"] for r in json.loads(out.stdout)] == [14]
    table = run_cli("audit", "query", "--store", store, "--result", "denied")
    assert table.returncode == 0 and "/etc/shadow" in table.stdout and "cupsd[1234]" in table.stdout


def test_stats_and_export_roundtrip(tmp_path: Path, sample_log: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    run_cli("audit", "import", str(sample_log), "--store", store)
    stats = json.loads(run_cli("audit", "stats", "--json", "--store", store).stdout)
    assert stats["denials"] == 3
    assert {"object": "/etc/shadow", "count": 2} in stats["by_path"]
    human = run_cli("audit", "stats", "--store", store)
    assert "3 denials" in human.stdout and "by profile" in human.stdout
    exported = tmp_path / "out.jsonl"
    out = run_cli("audit", "export", "--jsonl", "--store", store, "-o", str(exported))
    assert out.returncode == 0, out.stderr
    lines = exported.read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(line)["time"] for line in lines)
    # stockade's JSONL imports into another store, and dedupes against itself
    other = str(tmp_path / "t.sqlite")
    assert "imported 5 new" in run_cli("audit", "import", str(exported), "--store", other).stdout
    assert "imported 0 new" in run_cli("audit", "import", str(exported), "--store", other).stdout


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    for args, code in ((("audit", "import", "/no/such/file", "--store", store), 2),
                       (("audit", "query", "--since", "yesterday-ish", "--store", store), 2),
                       (("audit",), 2)):
        out = run_cli(*args)
        assert out.returncode == code, (args, out.stderr)
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_import_from_stdin_and_rotated_logs(tmp_path: Path, sample_log: Path) -> None:
    import gzip
    import subprocess
    import sys

    from stockade.audit.readers import audit_log_files, read_audit_logs

    store = str(tmp_path / "s.sqlite")
    out = subprocess.run([sys.executable, "-m", "stockade", "audit", "import", "-", "--store", store],
                         input="[  1.0] noise\n" + sample_log.read_text(), capture_output=True,
                         text=True)
    assert out.returncode == 0 and "imported 5 new" in out.stdout
    assert "skipped 1 line(s) that were not audit records" in out.stderr
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = sample_log.read_text().splitlines(keepends=True)
    (logs / "audit.log.2").write_text(lines[0] + lines[1])
    with gzip.open(logs / "audit.log.1.gz", "wt") as f:
        f.write(lines[3])
    (logs / "audit.log").write_text(lines[4])
    (logs / "audit.log.bak").write_text("not a rotation")
    assert [p.name for p in audit_log_files(logs / "audit.log")] == ["audit.log.2", "audit.log.1.gz",
                                                                      "audit.log"]
    assert [r.object for r in read_audit_logs(logs / "audit.log")] == ["/etc/shadow", "/tmp/out",
                                                                        "/etc/shadow"]
