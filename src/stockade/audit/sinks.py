"""Where audit records go: JSON lines files and the SQLite store, behind one `Auditor`."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import IO, Protocol

from stockade.audit.record import AuditRecord, record_from_event
from stockade.audit.store import AuditStore
from stockade.lsm.stack import AuditEvent


class Sink(Protocol):
    """Anything that takes records."""

    def write(self, records: Iterable[AuditRecord]) -> None:
        """Store or forward `records`."""

    def close(self) -> None:
        """Flush and release resources."""


class JsonlSink:
    """Appends one JSON object per line; each write is flushed."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._file: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._lock = threading.Lock()

    def write(self, records: Iterable[AuditRecord]) -> None:
        """Append `records` as JSON lines."""
        text = "".join(r.to_json() + "\n" for r in records)
        with self._lock:
            self._file.write(text)
            self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class StoreSink:
    """Writes to an `AuditStore`."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    def write(self, records: Iterable[AuditRecord]) -> None:
        """Insert `records` in one transaction."""
        self.store.insert(records)

    def close(self) -> None:
        """Close the store."""
        self.store.close()


class Auditor:
    """The stack's audit sink: turns events into records and hands them to every sink.

    Counts what it writes, and what failed to be written, so that nothing is lost silently.
    """

    def __init__(self, sinks: Iterable[Sink] = ()) -> None:
        self.sinks = list(sinks)
        self.records: list[AuditRecord] = []
        self.keep = False
        self.written = 0
        self.failed = 0

    def __call__(self, event: AuditEvent) -> None:
        record = record_from_event(event)
        if self.keep:
            self.records.append(record)
        for sink in self.sinks:
            try:
                sink.write([record])
                self.written += 1
            except OSError:
                self.failed += 1

    def close(self) -> None:
        """Close every sink."""
        for sink in self.sinks:
            sink.close()
