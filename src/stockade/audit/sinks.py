"""Where audit records go: JSON lines files, the SQLite store and syslog, behind one `Auditor`."""

from __future__ import annotations

import os
import socket
import syslog
import threading
import time
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
    """Appends one JSON object per line to a file named by path, or to an already open text
    stream (which the sink then owns and closes); each write is flushed."""

    def __init__(self, target: str | os.PathLike[str] | IO[str]) -> None:
        if isinstance(target, str | os.PathLike):
            self.path: str | None = os.fspath(target)
            self._file: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        else:
            self.path = None
            self._file = target
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


class SyslogSink:
    """Sends each record as one JSON message to the local syslog socket (/dev/log).

    The message is RFC 3164 as glibc's syslog(3) writes it (`<PRI>Mmm dd hh:mm:ss
    stockade[pid]: {...}`), so journald, rsyslog and syslog-ng take it as they take any other;
    denials go at LOG_WARNING, the rest at LOG_INFO, in the LOG_AUTHPRIV facility by default.
    A record that cannot be sent raises OSError (the Auditor counts it): none is lost silently.
    """

    def __init__(self, address: str = "/dev/log", *, ident: str = "stockade",
                 facility: int = syslog.LOG_AUTHPRIV) -> None:
        self.address = address
        self.ident = ident
        self.facility = facility
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.sent = 0

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.connect(self.address)
            except OSError:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    def message(self, record: AuditRecord) -> bytes:
        """The datagram for one record."""
        level = syslog.LOG_WARNING if record.result == "DENIED" else syslog.LOG_INFO
        stamp = time.strftime("%b %d %H:%M:%S", time.localtime(record.time or time.time()))
        return (f"<{self.facility | level}>{stamp} {self.ident}[{os.getpid()}]: "
                f"{record.to_json()}").encode("utf-8", "replace")

    def write(self, records: Iterable[AuditRecord]) -> None:
        """Send `records`, one datagram each; reconnects once if syslog restarted."""
        with self._lock:
            for record in records:
                data = self.message(record)
                try:
                    self._connect().send(data)
                except OSError:
                    self.close()
                    self._connect().send(data)
                self.sent += 1

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


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
        #: the profile a record names when its event names none (`run -p`'s own supervisor:
        #: its refusals are the profile's plan's)
        self.profile = ""

    def __call__(self, event: AuditEvent) -> None:
        record = record_from_event(event)
        if self.profile and not record.profile:
            record.profile = self.profile
        self.write_record(record)

    def write_record(self, record: AuditRecord) -> None:
        """Hand one record (not from a stack event: complain mode's) to every sink."""
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
