"""The store's layout: its page size, the indexes each consumer's query uses (SQLite's planner
says), and the bulk import that builds them after loading an empty (or small) store, committed
batch by batch, so an import that dies midway leaves every committed record and a store that
opens with its indexes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stockade.audit.eventrows import rows_from_file
from stockade.audit.follow import StoreSource
from stockade.audit.store import _SECONDARY, PAGE_SIZE, AuditStore, Row

from .store_answers import benchmark

QUERY_INDEXES = {"records_identity", *_SECONDARY}
FILTERS: list[dict[str, Any]] = [  # the log's times run from 1700000000 to 1700000035
    {}, {"since": 1_700_000_020.0}, {"since": 1_700_000_010.0, "until": 1_700_000_030.0},
    {"profile": "/usr/sbin/nginx"}, {"profile": "/usr/sbin/nginx", "since": 1_700_000_020.0},
    {"module": "selinux"}, {"module": "landlock", "result": "DENIED"}, {"result": "AUDIT"},
    {"result": "DENIED", "profile": "/usr/bin/cat", "module": "apparmor"}, {"limit": 25},
]


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """benchmarks/audit.py's mixed log: every module, verdict and many profiles."""
    path = tmp_path_factory.mktemp("bulk") / "mixed.log"
    benchmark().generate(str(path), 12000, seed=5)  # 3,674 records
    return path


def _rows(log: Path) -> list[Row]:
    return [row for row in rows_from_file(str(log), {}) if row is not None]


def _indexes(path: Path) -> set[str]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'")}
    finally:
        db.close()


def _answers(store: AuditStore) -> list[Any]:
    out: list[Any] = [[r.to_dict() for r in store.query(**f)] for f in FILTERS]
    out.append(store.denial_stats())
    out.append(store.denial_stats(profile="/usr/sbin/nginx", since=1_700_000_020.0))
    out.append(store.count())
    return out


def _import(path: Path, rows: list[Row], *, bulk: bool, batch: int = 500) -> AuditStore:
    store = AuditStore(path)
    with store.writer(batch=batch, max_delay=3600, bulk=bulk) as writer:
        writer.extend_rows(rows)
    assert writer.inserted == len({(r[0], r[1], r[9], r[10]) for r in rows})
    return store


def _plans(db: sqlite3.Connection, run: Any) -> Iterator[tuple[str, list[str]]]:
    """Each SELECT `run()` makes on `db`, with SQLite's plan for it."""
    seen: list[str] = []
    db.set_trace_callback(seen.append)
    try:
        run()
    finally:
        db.set_trace_callback(None)
    for sql in dict.fromkeys(s for s in seen if s.lstrip().upper().startswith("SELECT")):
        yield sql, [str(row[3]) for row in db.execute("EXPLAIN QUERY PLAN " + sql)]


def test_every_filtered_query_searches_an_index(tmp_path: Path, log: Path) -> None:
    """A query that filters (`audit query`, `stats`, `export`, `logprof --store` and `notify
    --store` all ask these) is answered by a search of an index, never by reading every row;
    removing one of the query indexes fails this."""
    store = _import(tmp_path / "s.sqlite", _rows(log), bulk=True)
    try:
        def consumers() -> None:
            for f in FILTERS:
                list(store.query(**f))
            store.denial_stats()
            store.denial_stats(since=1_700_000_020.0, profile="/usr/sbin/nginx",
                               module="apparmor")
            store.count()

        plans = dict(_plans(store._db, consumers))
        source = StoreSource(store.path, since=1_700_000_020.0)
        try:
            plans.update(_plans(source.db, source.read))
        finally:
            source.close()
        assert len(plans) >= len(FILTERS) + 6
        used: set[str] = set()
        for sql, plan in plans.items():
            used.update(word for line in plan for word in line.split() if word in QUERY_INDEXES)
            if " WHERE " in sql:
                assert any(line.startswith("SEARCH") for line in plan), (sql, plan)
        assert used == QUERY_INDEXES  # every index is some query's, and no other is asked
    finally:
        store.close()


def test_bulk_import_gives_the_same_store_and_answers(tmp_path: Path, log: Path) -> None:
    rows = _rows(log)
    rows += rows[:300]  # a log read twice: duplicates inside the import
    plain = _import(tmp_path / "plain.sqlite", rows, bulk=False)
    bulk = _import(tmp_path / "bulk.sqlite", rows, bulk=True)
    try:
        assert _indexes(bulk.path) == _indexes(plain.path) == {"records_identity", *_SECONDARY}
        assert _answers(bulk) == _answers(plain)
        assert [tuple(r) for r in bulk._db.execute("SELECT * FROM records ORDER BY id")] == \
            [tuple(r) for r in plain._db.execute("SELECT * FROM records ORDER BY id")]
    finally:
        plain.close()
        bulk.close()


@pytest.mark.parametrize(("expected", "deferred"), [(0, False), (100, False), (101, True),
                                                    (5000, True)])
def test_bulk_import_into_a_store_with_records(tmp_path: Path, log: Path, expected: int,
                                               deferred: bool) -> None:
    """A store that holds records keeps its query indexes through an import (a reader
    meanwhile searches them) unless the import is expected to bring more rows than it holds;
    either way it ends with all of them and every row."""
    rows = _rows(log)
    store = _import(tmp_path / "s.sqlite", rows[:100], bulk=False)
    seen: list[set[str]] = []

    def stream() -> Iterator[Row]:
        for i, row in enumerate(rows[100:]):
            if i == 1200:
                seen.append(_indexes(store.path))
            yield row

    try:
        with store.writer(batch=500, max_delay=3600, bulk=True, expected=expected) as writer:
            writer.extend_rows(stream())
        assert seen == [{"records_identity"} if deferred else {"records_identity", *_SECONDARY}]
        assert _indexes(store.path) == {"records_identity", *_SECONDARY}
        assert store.count() == len(rows)
    finally:
        store.close()


_CRASH = """
import os, sys
from stockade.audit.eventrows import rows_from_file
from stockade.audit.store import AuditStore
store = AuditStore(sys.argv[1])
writer = store.writer(batch=500, max_delay=3600, bulk=True)
def rows():
    n = 0
    for row in rows_from_file(sys.argv[2], {}):
        if row is not None:
            if n == 1700:
                print(writer.committed, flush=True)
                os._exit(9)  # dies midway: no flush, no close, no index built
            n += 1
        yield row
writer.extend_rows(rows())
"""


def test_an_import_that_dies_midway_leaves_every_committed_batch(tmp_path: Path,
                                                                 log: Path) -> None:
    path = tmp_path / "crash.sqlite"
    out = subprocess.run([sys.executable, "-c", _CRASH, str(path), str(log)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 9, out.stderr
    assert int(out.stdout) == 1500  # three batches of 500 committed, 200 rows in the fourth
    assert _indexes(path) == {"records_identity"}  # the import had left them for the end
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM records").fetchone()[0] == 1500
    db.close()
    store = AuditStore(path)  # opening builds the indexes the import left out
    reference = _import(tmp_path / "ref.sqlite", _rows(log)[:1500], bulk=False)
    try:
        assert _indexes(path) == {"records_identity", *_SECONDARY}
        assert _answers(store) == _answers(reference)
    finally:
        store.close()
        reference.close()


_PAUSED = """
import sys
from stockade.audit.eventrows import rows_from_file
from stockade.audit.store import AuditStore
store = AuditStore(sys.argv[1])
def rows():
    for n, row in enumerate(r for r in rows_from_file(sys.argv[2], {}) if r is not None):
        if n == 1700:
            print(writer.committed, flush=True)
            sys.stdin.readline()  # another command opens the store meanwhile
        yield row
with store.writer(batch=500, max_delay=3600, bulk=True) as writer:
    writer.extend_rows(rows())
store.close()
print(writer.inserted, flush=True)
"""


def test_a_store_opened_during_a_bulk_import_leaves_the_indexes_to_it(tmp_path: Path,
                                                                      log: Path) -> None:
    """The import holds a lock (flock on PATH-import) while its indexes are left out: a
    command that opens the store meanwhile reads it as it is, without building them (which
    would hold the write lock the import waits for), and the import builds them at its end."""
    path = tmp_path / "live.sqlite"
    child = subprocess.Popen([sys.executable, "-c", _PAUSED, str(path), str(log)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "1500"
        store = AuditStore(path)
        try:
            assert _indexes(path) == {"records_identity"}
            assert store.count() == 1500
            assert len(list(store.query(profile="/usr/sbin/nginx"))) > 0
        finally:
            store.close()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert int(child.stdout.readline()) == len(_rows(log))
        assert child.wait(timeout=120) == 0
    finally:
        child.kill()
        child.wait()
    assert _indexes(path) == {"records_identity", *_SECONDARY}
    assert not Path(f"{path}-import").exists()  # removed when the import let it go


def test_an_older_store_loses_the_unused_time_index(tmp_path: Path, log: Path) -> None:
    path = tmp_path / "old.sqlite"
    store = _import(path, _rows(log)[:800], bulk=False)
    store._db.execute("CREATE INDEX records_time ON records(time)")  # as session 4 made it
    store._db.commit()
    before = _answers(store)
    store.close()
    assert "records_time" in _indexes(path)
    store = AuditStore(path)
    try:
        assert _indexes(path) == {"records_identity", *_SECONDARY}
        assert _answers(store) == before
    finally:
        store.close()


def test_audit_import_expects_rows_from_regular_files_only(tmp_path: Path) -> None:
    from stockade.cli.audit import _BYTES_PER_ROW, _expected_rows

    big = tmp_path / "audit.log"
    big.write_bytes(b"x" * (_BYTES_PER_ROW * 3 + 5))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert _expected_rows([str(big), str(big), "-", str(fifo), str(tmp_path / "gone")]) == 6


def test_a_new_store_has_large_pages_and_an_older_one_keeps_its_own(tmp_path: Path,
                                                                    log: Path) -> None:
    rows = _rows(log)[:1500]
    old = tmp_path / "old.sqlite"
    db = sqlite3.connect(old)  # as an older stockade made it: SQLite's default 4 KiB pages
    db.execute("PRAGMA page_size = 4096")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE other (x)")
    db.commit()
    db.close()
    new = _import(tmp_path / "new.sqlite", rows, bulk=True)
    older = _import(old, rows, bulk=True)
    try:
        assert new._db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 16384
        assert older._db.execute("PRAGMA page_size").fetchone()[0] == 4096
        assert older.journal_mode == new.journal_mode == "wal"
        assert _answers(older) == _answers(new)
    finally:
        new.close()
        older.close()
