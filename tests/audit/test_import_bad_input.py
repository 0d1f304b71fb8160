"""`audit import` on bad input (issue 10, items 14 and 15): a bad record is skipped and counted,
the rest imported; a truncated copy of a record never hides the whole one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stockade.audit.readers import records_from_lines
from stockade.audit.record import AuditRecord
from stockade.audit.store import AuditStore, invalid
from tests.audit.conftest import SAMPLE, run_cli

LINES = SAMPLE.splitlines()
AVC = LINES[0]


def _log(tmp_path: Path, lines: list[str], name: str = "audit.log") -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("bad", [
    AVC.replace("pid=1234", "pid=99999999999999999999999").replace(":10)", ":20)"),
    AVC.replace(":10)", ":99999999999999999999999)"),
    AVC.replace("fsuid=0", "fsuid=99999999999999999999").replace(":10)", ":21)"),
])
def test_one_out_of_range_number_drops_only_its_record(tmp_path: Path, bad: str) -> None:
    store = str(tmp_path / "s.sqlite")
    out = run_cli("audit", "import", "--store", store, _log(tmp_path, [bad, *LINES]))
    assert out.returncode == 0, out.stderr
    assert "imported 5 new records" in out.stdout
    assert "1 record(s) with values out of range" in out.stderr
    assert "internal error" not in out.stderr
    records = json.loads(run_cli("audit", "query", "--store", store, "--json").stdout)
    assert {r["serial"] for r in records} == {10, 11, 12, 13, 14}


def test_junk_lines_are_counted_on_stderr(tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    out = run_cli("audit", "import", "--store", store,
                  _log(tmp_path, ["junk", *LINES[:1], "type=AVC msg=audit(", "\x00\xff"]))
    assert out.returncode == 0, out.stderr
    assert "imported 1 new records" in out.stdout
    assert "skipped 3 line(s) that were not audit records" in out.stderr


def test_nothing_that_is_an_audit_record_is_exit_2(tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    out = run_cli("audit", "import", "--store", store, _log(tmp_path, ["hello", "world"]))
    assert out.returncode == 2
    assert "skipped 2 line(s)" in out.stderr


def test_bad_jsonl_record_is_skipped(tmp_path: Path) -> None:
    good = AuditRecord(time=1.0, serial=1, operation="open", module="dac", result="DENIED")
    bad = {**good.to_dict(), "serial": 2, "pid": 1 << 70}
    wrong_type = {**good.to_dict(), "serial": 3, "time": "soon"}
    path = _log(tmp_path, [good.to_json(), json.dumps(bad), json.dumps(wrong_type), "{"],
                "r.jsonl")
    out = run_cli("audit", "import", "--store", str(tmp_path / "s.sqlite"), path)
    assert out.returncode == 0, out.stderr
    assert "imported 1 new records" in out.stdout
    assert "skipped 2 line(s)" in out.stderr and "1 record(s) with values" in out.stderr


def test_invalid_names_the_value() -> None:
    ok = AuditRecord(time=1.0, serial=1, operation="open", module="dac", result="DENIED")
    assert invalid(ok) is None
    assert "pid" in (invalid(AuditRecord(**{**ok.to_dict(), "pid": -1})) or "")
    assert "time" in (invalid(AuditRecord(**{**ok.to_dict(), "time": float("nan")})) or "")
    assert "uid" in (invalid(AuditRecord(**{**ok.to_dict(), "uid": 1 << 32})) or "")


def _records(line: str) -> list[AuditRecord]:
    return list(records_from_lines([line]))


@pytest.mark.parametrize("order", ["truncated-first", "complete-first"])
def test_store_keeps_the_more_complete_record(tmp_path: Path, order: str) -> None:
    whole = _records(AVC)
    cut = _records(AVC[:AVC.index("/etc/sha") + 8])
    assert len(whole) == len(cut) == 1 and cut[0].object != "/etc/shadow"
    store = AuditStore(tmp_path / "s.sqlite")
    try:
        first, second = (cut, whole) if order == "truncated-first" else (whole, cut)
        assert store.insert(first) == 1
        assert store.insert(second) == 0
        (kept,) = store.query()
        assert kept.object == "/etc/shadow" and kept.pid == 1234
        assert store.improved == (1 if order == "truncated-first" else 0)
    finally:
        store.close()


def test_import_reports_replaced_records(tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    run_cli("audit", "import", "--store", store,
            _log(tmp_path, [AVC[:AVC.index("/etc/sha") + 8]], "cut.log"))
    out = run_cli("audit", "import", "--store", store, _log(tmp_path, LINES))
    assert "1 replaced by a more complete copy" in out.stdout
    records = json.loads(run_cli("audit", "query", "--store", store, "--json").stdout)
    assert [r["object"] for r in records if r["serial"] == 10] == ["/etc/shadow"]


def test_jsonl_value_of_the_wrong_type_is_skipped() -> None:
    """Found by tests/fuzz: `"fields": null` made the reader raise AttributeError."""
    from stockade.audit.readers.sources import records_from_jsonl

    good = AuditRecord(time=1.0, serial=1, operation="open", module="dac", result="DENIED")
    stats: dict[str, int] = {}
    lines = [json.dumps({**good.to_dict(), "fields": None}),
             json.dumps({**good.to_dict(), "comm": 5}), "[1, 2]", good.to_json()]
    assert [r.serial for r in records_from_jsonl(lines, stats)] == [1]
    assert stats["skipped"] == 3


def test_undecodable_bytes_are_stored(tmp_path: Path) -> None:
    """Found by tests/fuzz: a name with a surrogate escape made SQLite raise."""
    record = AuditRecord(time=1.0, serial=1, operation="open", module="apparmor",
                         result="DENIED", profile="p\udcff", object="/x\udcfe")
    store = AuditStore(tmp_path / "s.sqlite")
    try:
        assert store.insert([record]) == 1
        (back,) = store.query(profile="p\udcff")
        assert back.object == "/x\udcfe"  # exact in the record itself
    finally:
        store.close()


@pytest.mark.parametrize("args", [
    ["audit", "import", "--store", "{store}", "/dev/zero"],
    ["logprof", "-p", "{profile}", "--log", "/dev/zero"],
    ["notify", "--once", "--no-desktop", "--audit-log", "/dev/zero"],
    ["notify", "--once", "--no-desktop", "--audit-log", "", "--log", "{fifo}"],
    ["analyze", "who-can", "write", "x", "--policy", "/dev/zero"],
])
def test_device_inputs_are_refused_quickly(tmp_path: Path, args: list[str]) -> None:
    """Reading /dev/zero never ends: every command that reads a log or a policy refuses
    devices (and `notify`, which follows a file by inode, FIFOs) before opening them."""
    profile = tmp_path / "p"
    profile.write_text("profile p {\n /a r,\n}\n")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    filled = [a.format(store=tmp_path / "s.sqlite", profile=profile, fifo=fifo) for a in args]
    out = run_cli(*filled)
    assert out.returncode in (1, 2), out.stderr
    assert "not a regular file" in out.stderr and out.stderr.count("\n") == 1


def test_a_pipe_is_an_audit_log_and_lines_are_bounded(tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    data = "x" * (3 << 20) + "\n" + SAMPLE
    out = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m stockade audit import --store {store} <(cat)"],
        input=data + "\n", capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "imported 5 new records" in out.stdout
    assert "skipped" in out.stderr  # the 3 MiB line, in pieces of at most 1 MiB
