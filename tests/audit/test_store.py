# ruff: noqa: E501  (audit records are long lines; kept verbatim as the kernel writes them)
"""The SQLite store: WAL, batches, dedupe, filters, stats, migration."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from stockade.audit.readers import records_from_lines
from stockade.audit.record import AuditRecord
from stockade.audit.store import AuditStore


def rec(t: float, serial: int, *, module: str = "apparmor", result: str = "DENIED",
        profile: str = "p", obj: str = "/etc/shadow", op: str = "open", rtype: int | None = 1400,
        index: int = 0) -> AuditRecord:
    return AuditRecord(time=t, serial=serial, operation=op, module=module, result=result,
                       profile=profile, object=obj, record_type=rtype,
                       fields={"record_index": str(index)})


@pytest.fixture
def store(tmp_path: Path):
    s = AuditStore(tmp_path / "a.sqlite")
    yield s
    s.close()


def test_wal_mode(store: AuditStore) -> None:
    assert store.journal_mode == "wal"


def test_batches_are_invisible_until_committed(store: AuditStore) -> None:
    other = sqlite3.connect(store.path)
    writer = store.writer(batch=5, max_delay=3600)
    for i in range(4):
        writer.add(rec(100.0 + i, i))
    assert other.execute("SELECT count(*) FROM records").fetchone()[0] == 0
    writer.add(rec(104.0, 4))  # the fifth fills the batch: committed
    assert other.execute("SELECT count(*) FROM records").fetchone()[0] == 5
    writer.add(rec(105.0, 5))
    assert writer.committed == 5
    writer.flush()  # acknowledged
    assert other.execute("SELECT count(*) FROM records").fetchone()[0] == 6
    other.close()


def test_acknowledged_records_survive_a_crash(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "crash.sqlite"
    code = f"""
import os
from stockade.audit.store import AuditStore
from stockade.audit.record import AuditRecord
s = AuditStore({str(path)!r})
w = s.writer(batch=1000)
for i in range(10):
    w.add(AuditRecord(time=float(i), serial=i, operation="open", module="apparmor", result="DENIED"))
w.flush()
print("acked", flush=True)
w.add(AuditRecord(time=99.0, serial=99, operation="open", module="apparmor", result="DENIED"))
os._exit(9)  # crash: no close, no flush of the 11th
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 9 and "acked" in out.stdout
    s = AuditStore(path)
    assert s.count() == 10
    s.close()


def test_dedupe_by_time_serial_type_and_index(store: AuditStore) -> None:
    assert store.insert([rec(1.0, 1), rec(1.0, 1, index=1), rec(1.0, 2)]) == 3
    assert store.insert([rec(1.0, 1), rec(1.0, 1, index=1), rec(1.0, 2)]) == 0
    assert store.insert([rec(1.0, 1, rtype=1423)]) == 1  # another record type, same event
    assert store.insert([rec(1.0, 1, rtype=None), rec(1.0, 1, rtype=None)]) == 1  # stockade's own
    assert store.count() == 5


def test_reimporting_a_log_adds_nothing(store: AuditStore) -> None:
    text = [
        'type=UNKNOWN[1423] msg=audit(1729738801.000:40): domain=1 blockers=fs.refer path="/usr/bin" dev="vda2" ino=351',
        'type=UNKNOWN[1423] msg=audit(1729738801.000:40): domain=1 blockers=fs.make_reg,fs.refer path="/usr/local" dev="vda2" ino=365',
    ]
    assert store.insert(records_from_lines(text)) == 2
    assert store.insert(records_from_lines(text)) == 0
    assert sorted(r.object for r in store.query()) == ["/usr/bin", "/usr/local"]


def test_query_filters(store: AuditStore) -> None:
    store.insert([
        rec(100.0, 1, profile="a"), rec(200.0, 2, profile="b"),
        rec(300.0, 3, module="landlock", profile="", obj="/x", op="fs.read_file", rtype=1423),
        rec(400.0, 4, result="ALLOWED", profile="a"), rec(500.0, 5, result="AUDIT", module="kernel"),
    ])
    assert [r.serial for r in store.query(since=250.0)] == [3, 4, 5]
    assert [r.serial for r in store.query(profile="a")] == [1, 4]
    assert [r.serial for r in store.query(module="landlock")] == [3]
    assert [r.serial for r in store.query(result="DENIED")] == [1, 2, 3]
    assert [r.serial for r in store.query(profile="a", result="ALLOWED")] == [4]
    assert [r.serial for r in store.query(limit=2)] == [1, 2]
    again = next(store.query(module="landlock"))
    assert again.object == "/x" and again.fields["record_index"] == "0"


def test_denial_stats(store: AuditStore) -> None:
    store.insert([rec(1.0, i, profile="web", obj="/etc/shadow") for i in range(3)]
                 + [rec(2.0, 10, profile="web", obj="/etc/passwd", op="exec")]
                 + [rec(3.0, 11, profile="db", obj="/etc/shadow")]
                 + [rec(4.0, 12, profile="web", result="ALLOWED")])
    stats = store.denial_stats()
    assert stats["denials"] == 5
    assert stats["by_profile"][0] == {"module": "apparmor", "profile": "web", "count": 4}
    assert {"operation": "open", "count": 4} in stats["by_operation"]
    assert stats["by_path"][0] == {"object": "/etc/shadow", "count": 4}
    assert stats["by_rule"][0] == {"module": "apparmor", "profile": "web", "operation": "open",
                                   "object": "/etc/shadow", "count": 3}


def test_migrates_an_old_store(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
CREATE TABLE records (id INTEGER PRIMARY KEY, time REAL NOT NULL, serial INTEGER NOT NULL,
 operation TEXT NOT NULL, module TEXT NOT NULL, result TEXT NOT NULL, profile TEXT NOT NULL DEFAULT '',
 pid INTEGER NOT NULL DEFAULT 0, object TEXT NOT NULL DEFAULT '', record TEXT NOT NULL);""")
    r = rec(1.0, 1)
    for _ in range(2):  # the old schema let duplicates in
        db.execute("INSERT INTO records (time, serial, operation, module, result, record)"
                   " VALUES (1.0, 1, 'open', 'apparmor', 'DENIED', ?)", (r.to_json(),))
    db.commit()
    db.close()
    s = AuditStore(path)
    assert s.count() == 1
    assert s.insert([r]) == 0
    s.close()
    row = sqlite3.connect(path).execute("SELECT record_type FROM records").fetchone()
    assert row == (1400,)
    assert json.loads(sqlite3.connect(path).execute("SELECT record FROM records").fetchone()[0])["serial"] == 1


def test_import_streams_in_committed_batches(store: AuditStore) -> None:
    """The writer consumes a stream: batches are committed while the source is still being
    read (a progress display can wrap the iterator; memory holds one batch)."""
    other = sqlite3.connect(store.path)
    seen_mid_stream: list[int] = []

    def source():
        for i in range(2500):
            if i == 2100:
                seen_mid_stream.append(other.execute("SELECT count(*) FROM records").fetchone()[0])
            yield rec(float(i), i)

    with store.writer(batch=1000, max_delay=3600) as writer:
        writer.extend(source())
    assert seen_mid_stream == [2000]
    assert (writer.seen, writer.inserted, store.count()) == (2500, 2500, 2500)
    other.close()


def test_one_batch_mixes_new_replaced_and_kept_records(store: AuditStore) -> None:
    """New rows, a longer copy (replaces), a shorter copy (kept out) and a duplicate inside the
    batch itself, counted right by the single INSERT ... ON CONFLICT statement."""
    assert store.insert([rec(1.0, 1, obj="/a"), rec(2.0, 2, obj="/bbbb")]) == 2
    batch = [rec(1.0, 1, obj="/a-longer"), rec(2.0, 2, obj="/b"), rec(3.0, 3, obj="/c"),
             rec(3.0, 3, obj="/c-longer"), rec(4.0, 4)]
    assert store.insert(batch) == 2
    assert store.improved == 2  # serial 1 by the longer copy, serial 3 inside the batch
    assert {r.serial: r.object for r in store.query()} == {
        1: "/a-longer", 2: "/bbbb", 3: "/c-longer", 4: "/etc/shadow"}


def test_concurrent_writers_count_only_their_own_rows(tmp_path: Path) -> None:
    """Two processes import into one store at once: each counts the rows it added, not the
    other's (the count is taken under the write lock), and together they add every row."""
    import subprocess
    import sys

    path = tmp_path / "shared.sqlite"
    AuditStore(path).close()
    code = """
import sys
from stockade.audit.record import AuditRecord
from stockade.audit.store import AuditStore
s = AuditStore(sys.argv[1])
base = int(sys.argv[2])
with s.writer(batch=50, max_delay=3600) as w:
    w.extend(AuditRecord(time=float(base + i), serial=base + i, operation="open",
                         module="apparmor", result="DENIED") for i in range(3000))
print(w.inserted)
"""
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(base)],
                              stdout=subprocess.PIPE, text=True) for base in (0, 100000)]
    counts = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert counts == [3000, 3000]
    s = AuditStore(path)
    assert s.count() == 6000
    s.close()
