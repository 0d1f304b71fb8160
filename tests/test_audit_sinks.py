"""AuditRecord from stack events, kernel-style lines, and the JSONL and SQLite sinks."""

import errno
import json
import sqlite3

from stockade.audit.formats import kernel_line
from stockade.audit.record import AuditRecord
from stockade.audit.sinks import Auditor, JsonlSink, StoreSink
from stockade.audit.store import AuditStore
from stockade.lsm.module import SecurityModule, Verdict
from stockade.lsm.stack import Stack
from stockade.lsm.types import MAY_READ, Object, ObjectKind, Request, Subject


class Denier(SecurityModule):
    name = "apparmor"

    def hook_file_open(self, req: Request) -> Verdict | None:
        return self.deny(errno.EACCES, "no rule", fields=(
            ("profile", "demo"), ("operation", "open"), ("class", "file"),
            ("requested", "r"), ("denied", "r"), ("fsuid", "1000"), ("ouid", "0")))


def request() -> Request:
    subject = Subject(pid=77, comm="cat", uid=1000, fsuid=1000)
    return Request("file_open", subject, Object(kind=ObjectKind.FILE, path="/etc/shadow"),
                   MAY_READ)


def test_records_reach_jsonl_and_sqlite(tmp_path) -> None:
    store = AuditStore(tmp_path / "audit.sqlite")
    auditor = Auditor([JsonlSink(tmp_path / "a.jsonl"), StoreSink(store)])
    stack = Stack([Denier()], audit_sink=auditor)
    assert stack.decide(request()).errno == errno.EACCES
    assert stack.decide(request()).cached  # the AVC replays the denial's record
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["module"] == "apparmor" and first["result"] == "DENIED"
    assert first["object"] == "/etc/shadow" and first["profile"] == "demo"
    assert [r.serial for r in store.query(result="DENIED")] == [json.loads(x)["serial"]
                                                                 for x in lines]
    assert store.count() == 2
    mode = sqlite3.connect(tmp_path / "audit.sqlite").execute("PRAGMA journal_mode").fetchone()
    assert mode == ("wal",)
    auditor.close()


def test_apparmor_line_has_the_kernel_fields() -> None:
    auditor = Auditor()
    auditor.keep = True
    Stack([Denier()], audit_sink=auditor).decide(request())
    line = kernel_line(auditor.records[0])
    for part in ('apparmor="DENIED"', 'operation="open"', 'profile="demo"',
                 'name="/etc/shadow"', "pid=77", 'comm="cat"', 'requested_mask="r"',
                 'denied_mask="r"', "fsuid=1000", "ouid=0"):
        assert part in line, part


def test_untrusted_strings_are_hex_encoded_like_the_kernel() -> None:
    record = AuditRecord(time=1.0, serial=1, operation="file_open", module="dac",
                         result="DENIED", object="/tmp/a\nb", comm="x")
    assert "name=2F746D702F610A62" in kernel_line(record)


def test_record_round_trips_through_dict() -> None:
    record = AuditRecord(time=1.5, serial=9, operation="capable", module="capability",
                         result="DENIED", fields={"capability": "21"})
    assert AuditRecord.from_dict(record.to_dict()) == record
