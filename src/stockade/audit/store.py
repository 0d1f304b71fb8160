"""The SQLite audit store: WAL, batched commits, indexed by time, profile, module and result.

A record is identified by (time, serial, record_type, record_index): the kernel's event stamp,
the audit record type (0 for stockade's own records) and the record's position in its event
(two LANDLOCK_ACCESS records of one event share the first three). Inserting a record already
there keeps the more complete of the two (the longer record: a truncated line is a prefix of the
whole one), so re-importing a log is harmless and a cut-short copy imported first does not hide
the whole record. A record with a value out of range (`invalid`) is never stored.

The `record` column holds the record's JSON, or, for a record read from audit text, the text of
its event (`eventrows.event_text`, starting with MARK), interpreted again by the reader when
read. The store's format is `PRAGMA user_version` (STORE_VERSION); an older store is brought up
to it, a newer one refused. An import into an empty (or small) store builds the query indexes
after the rows (`insert_rows`' `bulk`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time as _time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from stockade.audit.record import AuditRecord
from stockade.errors import StockadeError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    serial INTEGER NOT NULL,
    operation TEXT NOT NULL,
    module TEXT NOT NULL,
    result TEXT NOT NULL,
    profile TEXT NOT NULL DEFAULT '',
    pid INTEGER NOT NULL DEFAULT 0,
    object TEXT NOT NULL DEFAULT '',
    record TEXT NOT NULL,
    record_type INTEGER NOT NULL DEFAULT 0,
    record_index INTEGER NOT NULL DEFAULT 0
);
"""
# The indexes the queries filter by (tests/audit/test_store_indexes.py asks SQLite's planner which
# each query uses). A query by time alone takes the identity index, which starts with time: the
# old `records_time` index (time) was never chosen and is dropped from older stores on open.
_SECONDARY = {
    "records_profile": "CREATE INDEX IF NOT EXISTS records_profile ON records(profile, time)",
    "records_module": "CREATE INDEX IF NOT EXISTS records_module ON records(module, time)",
    "records_result": "CREATE INDEX IF NOT EXISTS records_result ON records(result, time)",
}
_UNUSED = ("records_time",)
_UNIQUE = ("CREATE UNIQUE INDEX IF NOT EXISTS records_identity "
           "ON records(time, serial, record_type, record_index)")
# One statement inserts a record or, when one of the same identity is stored, keeps the more
# complete of the two (more text: a line cut short, as by a full disk or a reader that stopped
# mid-line, is a prefix of the whole one). No SELECT per record: the UNIQUE index finds it.
# Texts of one form are compared (two JSONs, or two events' texts, whose length is counted in
# bytes: SQLite's length() of text stops at a NUL, which a line of a log may hold).
_UPSERT = ("INSERT INTO records (time, serial, operation, module, result, profile, pid, object,"
           " record, record_type, record_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
           " ON CONFLICT (time, serial, record_type, record_index) DO UPDATE SET"
           " operation = excluded.operation, module = excluded.module, result = excluded.result,"
           " profile = excluded.profile, pid = excluded.pid, object = excluded.object,"
           " record = excluded.record WHERE CASE WHEN substr(excluded.record, 1, 1) = char(30)"
           " THEN substr(records.record, 1, 1) = char(30) AND length(CAST(excluded.record AS"
           " BLOB)) > length(CAST(records.record AS BLOB)) ELSE substr(records.record, 1, 1) <>"
           " char(30) AND length(excluded.record) > length(records.record) END")
# 1: main's store before the format had a number (the record's JSON in every row);
# 2: a record read from audit text may be stored as its event's text
STORE_VERSION = 2
PAGE_SIZE = 16384  # of a store this stockade creates
MARK = "\x1e"  # the first character of an event's text in the record column (char(30) above)


def default_store_path() -> Path:
    """`/var/lib/stockade/audit.sqlite` for root, `$XDG_STATE_HOME/stockade/...` otherwise."""
    if os.geteuid() == 0:
        return Path("/var/lib/stockade/audit.sqlite")
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "stockade" / "audit.sqlite"


_INT64 = (1 << 63) - 1
_PID_MAX = (1 << 31) - 1
_TIME_MAX = float(_INT64)
_RANGES = (("serial", 0, _INT64), ("pid", 0, _PID_MAX), ("errno", -_INT64, _INT64),
           ("record_type", 0, (1 << 31) - 1))


def invalid(r: AuditRecord) -> str | None:
    """Why a record cannot be stored (a value out of range or of the wrong type), or None."""
    # the usual record (a reader's), checked in one expression: this runs once per record
    t, serial, pid, errno, rtype, uid = r.time, r.serial, r.pid, r.errno, r.record_type, r.uid
    if type(t) is float and 0.0 <= t < _TIME_MAX and type(serial) is int \
            and 0 <= serial <= _INT64 and type(pid) is int and 0 <= pid <= _PID_MAX \
            and type(errno) is int and -_INT64 <= errno <= _INT64 \
            and (rtype is None or (type(rtype) is int and 0 <= rtype <= _PID_MAX)) \
            and (uid is None or (type(uid) is int and 0 <= uid <= 0xFFFFFFFF)) \
            and type(r.operation) is str and type(r.module) is str and type(r.result) is str \
            and type(r.profile) is str and type(r.object) is str and type(r.fields) is dict:
        return None
    return _why_invalid(r)


def _why_invalid(r: AuditRecord) -> str | None:
    if not isinstance(r.time, int | float) or not 0 <= r.time < float(_INT64) \
            or r.time != r.time:
        return f"time out of range: {r.time!r}"
    for name, low, high in _RANGES:
        value = getattr(r, name)
        if value is None and name == "record_type":
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return f"{name} out of range: {value!r}"
    if r.uid is not None and (not isinstance(r.uid, int) or not 0 <= r.uid <= 0xFFFFFFFF):
        return f"uid out of range: {r.uid!r}"
    for name in ("operation", "module", "result", "profile", "object"):
        if not isinstance(getattr(r, name), str):
            return f"{name} is not text: {getattr(r, name)!r}"
    if not isinstance(r.fields, dict):
        return "fields is not a mapping"
    return None


Row = tuple[Any, ...]


def row(r: AuditRecord) -> Row:
    """The store's row of a valid record (see `invalid`), the record kept as its JSON."""
    return columns(r, _record_json(r))


def columns(r: AuditRecord, record: str) -> Row:
    """The store's row of a valid record, with `record` as the record column."""
    try:
        index = int(r.fields.get("record_index", 0))
    except ValueError:
        index = 0
    if not 0 <= index <= _INT64:
        index = 0
    return (r.time, r.serial, _text(r.operation), _text(r.module), _text(r.result),
            _text(r.profile), r.pid, _text(r.object), record, r.record_type or 0, index)


def check_version(db: sqlite3.Connection, path: str | os.PathLike[str]) -> int:
    """The store's format; a StockadeError when a newer stockade wrote it."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > STORE_VERSION:
        raise StockadeError(
            f"the audit store {os.fspath(path)} is in format {version}, written by a newer "
            f"stockade; this one reads formats up to {STORE_VERSION}")
    return version


class RecordReader:
    """The AuditRecord of a stored row: its JSON, or its event's text interpreted again (the
    last event is remembered: its records are read one after the other)."""

    def __init__(self) -> None:
        self._text = ""
        self._records: dict[int, AuditRecord] = {}

    def __call__(self, text: str, index: int) -> AuditRecord:
        """The record of a row's `record` column and `record_index`."""
        if not text.startswith(MARK):
            return AuditRecord.from_dict(json.loads(text))
        if text != self._text:
            from stockade.audit.eventrows import event_records

            self._records = {int(r.fields["record_index"]): r for r in event_records(text)}
            self._text = text
        found = self._records.get(index)
        if found is None:
            raise StockadeError("the audit store holds an event it cannot read")
        return found


def _record_json(r: AuditRecord) -> str:
    """The record's JSON for the `record` column: orjson encodes the dataclass itself, in
    field order (no to_dict copy, no key sort: the column is read back with json.loads; half
    the time of to_dict + sorted orjson); text with surrogate escapes, which orjson refuses,
    takes the stdlib's."""
    try:
        return orjson.dumps(r).decode()
    except TypeError:
        return r.to_json()


def _text(value: str) -> str:
    """A column value SQLite can hold: bytes that were not UTF-8 (surrogate escapes) as
    `\\xff`, as the readers show them (the record's JSON keeps them exactly)."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class AuditStore:
    """An embedded store of `AuditRecord`s."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.improved = 0  # stored records replaced by a more complete one of the same identity
        self._deferred = False  # a bulk import into this store builds the indexes last
        self._import_lock: int | None = None  # held while it does (`_hold_import_lock`)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            # 16 KiB pages for a new store (an existing one keeps its own): a row of audit text
            # is ~600 bytes, and with the larger page SQLite's share of an import is about a
            # third smaller (docs/audit.md, "Session 5"); the cache stays 2 MiB either way
            self._db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL under WAL survives a process crash; a committed batch is never lost.
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                version = check_version(self._db, self.path)
            except StockadeError:
                self._db.close()
                raise
            self._db.executescript(_SCHEMA)
            if version < STORE_VERSION:
                self._migrate()
            self._fix_indexes()
        except (OSError, sqlite3.Error) as err:
            raise StockadeError(f"cannot open the audit store {self.path}: {err}") from None

    def _migrate(self) -> None:
        """Bring a store made by an older stockade up to this format (its JSON rows stay as
        they are: they are read as before)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(records)")}
        with self._db:
            for column in ("record_type", "record_index"):
                if column not in columns:
                    self._db.execute(
                        f"ALTER TABLE records ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
            if "record_type" not in columns:
                self._db.execute(
                    "UPDATE records SET record_type = coalesce(json_extract(record,"
                    " '$.record_type'), 0), record_index = coalesce(CAST(json_extract(record,"
                    " '$.fields.record_index') AS INTEGER), 0)")
                self._db.execute(
                    "DELETE FROM records WHERE id NOT IN (SELECT min(id) FROM records"
                    " GROUP BY time, serial, record_type, record_index)")
            self._db.execute(_UNIQUE)
            self._db.execute(f"PRAGMA user_version = {STORE_VERSION}")

    def _fix_indexes(self) -> None:
        """Build the query indexes an import that died left out (see `insert_rows`) and drop
        the ones no query uses (older stores have them)."""
        present = {name for (name,) in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        missing = [sql for name, sql in _SECONDARY.items() if name not in present]
        unused = [name for name in _UNUSED if name in present]
        if not missing and not unused:
            return
        if missing and self._import_running():
            return  # a live bulk import builds them when it ends
        with self._db:
            for name in unused:
                self._db.execute(f"DROP INDEX IF EXISTS {name}")
            for sql in missing:
                self._db.execute(sql)

    def _lock_path(self) -> str:
        return os.fspath(self.path) + "-import"

    def _hold_import_lock(self) -> bool:
        """Take the lock that tells other openers a bulk import will build the indexes
        (`flock` on PATH-import, let go when the import ends or dies); False when another
        import holds it or the file cannot be made (the import then keeps the indexes)."""
        try:
            fd = os.open(self._lock_path(), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._import_lock = fd
        return True

    def _let_go_import_lock(self) -> None:
        if self._import_lock is not None:
            # removed while still held, so an import that starts later makes a new one
            with contextlib.suppress(OSError):
                os.unlink(self._lock_path())
            os.close(self._import_lock)
            self._import_lock = None

    def _import_running(self) -> bool:
        """Whether a live bulk import holds the import lock."""
        try:
            fd = os.open(self._lock_path(), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    @property
    def journal_mode(self) -> str:
        """The SQLite journal mode (`wal`)."""
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    def insert(self, records: Iterable[AuditRecord]) -> int:
        """Insert `records` in one transaction; returns how many were new."""
        return self.insert_rows([row(r) for r in records if invalid(r) is None])

    def insert_rows(self, rows: Iterable[Row], *, bulk: int | None = None,
                    last: bool = False) -> int:
        """Insert rows made by `row()` in one transaction (one prepared statement); returns
        how many were new. A row whose identity is stored replaces it only when longer.

        `bulk` (the batches of one import expected to add at least `bulk` rows, 0 when not
        known): when the store is empty or holds fewer rows than that, its query indexes are
        dropped in this transaction and built again in the transaction of the `last` batch,
        which makes a large import about a third cheaper in SQLite (one sort per index instead
        of an index insert per row; building them costs about half as much per row as keeping
        them up to date, so a store as large as the import would gain little). An import that
        dies between the two leaves every committed batch and no query index; opening the store
        builds them (`_fix_indexes`). The identity index stays: the upsert needs it."""
        db = self._db
        before = db.total_changes
        with db:
            if not db.in_transaction:  # hold the write lock from the count on: another
                db.execute("BEGIN IMMEDIATE")  # writer's rows must not count as ours
            top = self._top_id()
            if bulk is not None and (top == 0 or top < bulk) and not self._deferred \
                    and self._hold_import_lock():
                for name in _SECONDARY:
                    db.execute(f"DROP INDEX IF EXISTS {name}")
                self._deferred = True
            db.executemany(_UPSERT, rows)
            # a new row takes the largest rowid + 1, so the new rows are those above `top`
            added = self._top_id() - top
            if last and self._deferred:
                for sql in _SECONDARY.values():
                    db.execute(sql)
                self._deferred = False
        if not self._deferred:
            self._let_go_import_lock()
        self.improved += db.total_changes - before - added
        return added

    def _top_id(self) -> int:
        return self._db.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0]

    def writer(self, batch: int = 2000, max_delay: float = 1.0, *, bulk: bool = False,
               expected: int = 0) -> BatchWriter:
        """A writer that commits every `batch` records or `max_delay` seconds (`bulk`: one
        import, expected to add at least `expected` rows; see `insert_rows`)."""
        return BatchWriter(self, batch, max_delay, bulk=max(0, expected) if bulk else None)

    def query(self, *, since: float | None = None, until: float | None = None,
              profile: str | None = None, module: str | None = None,
              result: str | None = None, limit: int | None = None) -> Iterator[AuditRecord]:
        """Records matching every given filter, oldest first."""
        where, args = self._where(since, until, profile, module, result)
        sql = "SELECT record FROM records" + where + " ORDER BY time, serial, record_index"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        sql = sql.replace("SELECT record", "SELECT record, record_index", 1)
        read = RecordReader()
        for text, index in self._db.execute(sql, args):
            yield read(text, index)

    @staticmethod
    def _where(since: float | None, until: float | None, profile: str | None,
               module: str | None, result: str | None) -> tuple[str, list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("profile", profile), ("module", module), ("result", result)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(_text(value))
        if since is not None:
            where.append("time >= ?")
            args.append(since)
        if until is not None:
            where.append("time < ?")
            args.append(until)
        return (" WHERE " + " AND ".join(where) if where else ""), args

    def denial_stats(self, *, since: float | None = None, profile: str | None = None,
                     module: str | None = None, top: int = 50) -> dict[str, Any]:
        """Counts of denials by profile, by operation, by path and by all three."""
        where, args = self._where(since, None, profile, module, "DENIED")
        out: dict[str, Any] = {}
        total = self._db.execute("SELECT count(*) FROM records" + where, args).fetchone()[0]
        out["denials"] = total
        for key, columns in (("by_profile", ("module", "profile")), ("by_operation", ("operation",)),
                             ("by_path", ("object",)),
                             ("by_rule", ("module", "profile", "operation", "object"))):
            cols = ", ".join(columns)
            sql = (f"SELECT {cols}, count(*) AS n FROM records{where} GROUP BY {cols}"
                   f" ORDER BY n DESC, {cols} LIMIT {int(top)}")
            out[key] = [dict(zip((*columns, "count"), row, strict=True))
                        for row in self._db.execute(sql, args)]
        return out

    def count(self) -> int:
        """How many records the store holds."""
        return self._db.execute("SELECT count(*) FROM records").fetchone()[0]

    def close(self) -> None:
        """Close the database (building the indexes a bulk import left out)."""
        try:
            if self._deferred:
                self.insert_rows((), last=True)
        finally:
            self._db.close()
            self._let_go_import_lock()


class BatchWriter:
    """Collects records and commits them in batches; `flush()` returns once they are durable.

    A record counts as acknowledged when the `flush()` (or the automatic commit of a full
    batch) that wrote it has returned; a crash after that loses nothing acknowledged.
    """

    def __init__(self, store: AuditStore, batch: int = 2000, max_delay: float = 1.0, *,
                 bulk: int | None = None) -> None:
        self.store = store
        self.bulk = bulk  # an import expected to add at least this many rows (`insert_rows`)
        self.batch = max(1, batch)
        self.max_delay = max_delay
        self._buffer: list[Row] = []
        self._since = _time.monotonic()
        self.seen = 0
        self.rejected = 0  # records not stored because a value was out of range
        self.inserted = 0  # new rows committed
        self.committed = 0  # records whose batch has been committed

    def extend_rows(self, rows: Iterable[Row | None]) -> None:
        """Queue rows made by `row()` or `eventrows` (None: a record that cannot be stored,
        counted in `rejected`); commits as `extend` does."""
        buffer, batch, max_delay = self._buffer, self.batch, self.max_delay
        monotonic = _time.monotonic
        for item in rows:
            if item is None:
                self.rejected += 1
                continue
            buffer.append(item)
            self.seen += 1
            if len(buffer) >= batch or monotonic() - self._since >= max_delay:
                self.flush()

    def add(self, record: AuditRecord) -> None:
        """Queue one record (one that cannot be stored is counted in `rejected`); commits
        when the batch is full or old enough."""
        self.extend((record,))

    def extend(self, records: Iterable[AuditRecord]) -> None:
        """Queue many records (a stream: only the current batch is held)."""
        self.extend_rows(row(r) if invalid(r) is None else None for r in records)

    def flush(self, *, last: bool = False) -> int:
        """Commit what is queued; returns how many new rows that added (`last`: the end of
        a bulk import, whose transaction builds the indexes it left out)."""
        last = last and self.bulk is not None
        added = self.store.insert_rows(self._buffer, bulk=self.bulk, last=last) \
            if self._buffer or last else 0
        self.inserted += added
        self.committed += len(self._buffer)
        self._buffer.clear()
        self._since = _time.monotonic()
        return added

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush(last=True)
