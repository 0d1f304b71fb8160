
"""The store's format number: main's stores (format 1, every row a record's JSON) are read and
brought up to format 2 (a record from audit text kept as its event's text); a store of a newer
format is refused with one line, by `audit` and by `notify --store`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from stockade.audit.eventrows import rows_from_lines
from stockade.audit.readers import records_from_lines
from stockade.audit.store import MARK, STORE_VERSION, AuditStore
from stockade.errors import StockadeError

from .conftest import SAMPLE, run_cli


def _main_store(path: Path) -> list[dict[str, object]]:
    """A store as main's stockade left it: JSON rows, user_version 0; returns the records."""
    records = list(records_from_lines(SAMPLE.splitlines()))
    store = AuditStore(path)
    store.insert(records)
    store.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 0")
    db.commit()
    db.close()
    records.sort(key=lambda r: (r.time, r.serial, int(r.fields["record_index"])))
    return [r.to_dict() for r in records]


def test_a_store_of_main_is_read_and_takes_event_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    expected = _main_store(path)
    store = AuditStore(path)
    try:
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == STORE_VERSION
        assert [r.to_dict() for r in store.query()] == expected
        # the same log again, now as event rows: already there, nothing replaced
        with store.writer() as writer:
            writer.extend_rows(rows_from_lines(SAMPLE.splitlines()))
        assert (writer.inserted, store.improved) == (0, 0)
        kinds = {text[:1] for (text,) in store._db.execute("SELECT record FROM records")}
        assert kinds == {"{"}
        # a new event is stored as its text, and both kinds read back in order
        new = SAMPLE.replace("1700000001.100:10", "1700000009.000:90").splitlines()[:2]
        with store.writer() as writer:
            writer.extend_rows(rows_from_lines(new))
        assert writer.inserted == 1
        kinds = {text[:1] for (text,) in store._db.execute("SELECT record FROM records")}
        assert kinds == {"{", MARK}
        assert [r.to_dict() for r in store.query()][:len(expected)] == expected
        assert list(store.query())[-1].raw == new[0]
    finally:
        store.close()


def test_a_newer_store_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    _main_store(path)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {STORE_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StockadeError, match="written by a newer stockade"):
        AuditStore(path)
    for args in (("audit", "query", "--store", str(path)),
                 ("audit", "import", "--store", str(path), "/dev/null"),
                 ("notify", "--store", str(path), "--audit-log", "", "--no-netlink", "--once",
                  "--no-desktop")):
        proc = run_cli(*args)
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr
        if args[0] != "audit" or args[1] != "import":
            assert "newer stockade" in proc.stderr
            assert proc.stderr.count("\n") == 1
