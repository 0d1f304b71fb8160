"""The SQLite audit store: WAL, batched commits, indexed by time, profile, module and result."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from stockade.audit.record import AuditRecord

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
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_time ON records(time);
CREATE INDEX IF NOT EXISTS records_profile ON records(profile, time);
CREATE INDEX IF NOT EXISTS records_module ON records(module, time);
CREATE INDEX IF NOT EXISTS records_result ON records(result, time);
"""


def default_store_path() -> Path:
    """`/var/lib/stockade/audit.sqlite` for root, `$XDG_STATE_HOME/stockade/...` otherwise."""
    if os.geteuid() == 0:
        return Path("/var/lib/stockade/audit.sqlite")
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "stockade" / "audit.sqlite"


class AuditStore:
    """An embedded store of `AuditRecord`s."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL under WAL survives a process crash; a committed batch is never lost.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def insert(self, records: Iterable[AuditRecord]) -> int:
        """Insert `records` in one transaction; returns how many."""
        rows = [
            (r.time, r.serial, r.operation, r.module, r.result, r.profile, r.pid, r.object,
             r.to_json())
            for r in records
        ]
        with self._db:
            self._db.executemany(
                "INSERT INTO records (time, serial, operation, module, result, profile, pid,"
                " object, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def query(self, *, since: float | None = None, profile: str | None = None,
              module: str | None = None, result: str | None = None,
              limit: int | None = None) -> Iterator[AuditRecord]:
        """Records matching every given filter, oldest first."""
        where, args = [], []
        for column, value in (("profile", profile), ("module", module), ("result", result)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("time >= ?")
            args.append(since)
        sql = "SELECT record FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY time, serial"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for (text,) in self._db.execute(sql, args):
            yield AuditRecord.from_dict(json.loads(text))

    def count(self) -> int:
        """How many records the store holds."""
        return self._db.execute("SELECT count(*) FROM records").fetchone()[0]

    def close(self) -> None:
        """Close the database."""
        self._db.close()
