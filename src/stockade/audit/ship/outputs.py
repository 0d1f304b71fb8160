"""Where `audit follow --to` sends shipped records: stdout, syslog or the systemd journal.

`syslog` frames each record as an RFC 5424 message (its MSG is the record in the chosen
format) and sends it as one datagram to a local socket (/dev/log) or a UDP `host:port`.
`journal` sends each record with `systemd.journal.send` (systemd-python, or Debian's
python3-systemd): MESSAGE is the record in the chosen format, the shipped fields become
`STOCKADE_*` journal fields. A record that cannot be sent raises: none is dropped silently.
"""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Sequence
from typing import IO, Any, Protocol

from stockade.audit.record import AuditRecord
from stockade.audit.ship import Encoder, rfc5424
from stockade.audit.ship.fields import ship_fields
from stockade.errors import StockadeError


class Output(Protocol):
    """A destination for shipped records."""

    def send(self, records: Sequence[AuditRecord]) -> None:
        """Ship one batch."""

    def close(self) -> None:
        """Release the destination."""


class StreamOutput:
    """Lines of the format on a stream (stdout), flushed per batch."""

    def __init__(self, encoder: Encoder, stream: IO[str] | None = None,
                 host: str | None = None) -> None:
        self.encoder = encoder
        self.stream = stream or sys.stdout
        self.host = host

    def send(self, records: Sequence[AuditRecord]) -> None:
        """Write the batch's lines."""
        for line in self.encoder(records, self.host):
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Nothing to release (the stream is the caller's)."""


def _syslog_socket(address: str) -> tuple[socket.socket, Any]:
    if address.startswith("/"):
        return socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM), address
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise StockadeError(f"--syslog-address {address}: expected a socket path or HOST:PORT")
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    return socket.socket(family, socket.SOCK_DGRAM), (host.strip("[]"), int(port))


class SyslogOutput:
    """RFC 5424 datagrams to a syslog socket or UDP address."""

    def __init__(self, encoder: Encoder, fmt: str, address: str = "/dev/log",
                 host: str | None = None) -> None:
        self.encoder = encoder
        self.fmt = fmt
        self.host = host
        self.sock, self.address = _syslog_socket(address)
        self.sent = 0

    def datagram(self, record: AuditRecord) -> bytes:
        """The message for one record (MSG: the record in the chosen format)."""
        body = None if self.fmt == "syslog" else self.encoder([record], self.host)[0]
        return rfc5424.message(record, self.host, body).encode("utf-8", "replace")

    def send(self, records: Sequence[AuditRecord]) -> None:
        """One datagram per record."""
        for record in records:
            try:
                self.sock.sendto(self.datagram(record), self.address)
            except OSError as err:
                raise StockadeError(f"syslog {self.address}: {err.strerror}") from None
            self.sent += 1

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


_JOURNAL_NAME = re.compile(r"[^A-Z0-9_]")


def journal_fields(record: AuditRecord, host: str | None = None) -> dict[str, str]:
    """The shipped fields as journal fields: `event.action` -> `STOCKADE_EVENT_ACTION`."""
    out: dict[str, str] = {}
    for key, value in ship_fields(record, host).fields.items():
        if key in ("message", "@timestamp"):
            continue
        name = "STOCKADE_" + _JOURNAL_NAME.sub("_", key.upper())
        out[name[:64]] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return out


class JournalOutput:
    """Records to the systemd journal through `systemd.journal.send`."""

    def __init__(self, encoder: Encoder, fmt: str, host: str | None = None) -> None:
        try:
            from systemd import journal
        except ImportError:
            raise StockadeError("--to journal needs the systemd Python bindings (pip install "
                                "'stockade[journal]', or Debian's python3-systemd)") from None
        self.journal = journal
        self.encoder = encoder
        self.fmt = fmt
        self.host = host

    def send(self, records: Sequence[AuditRecord]) -> None:
        """One journal entry per record."""
        for record in records:
            shipped = ship_fields(record, self.host)
            text = shipped.message if self.fmt == "syslog" else self.encoder([record],
                                                                             self.host)[0]
            try:
                self.journal.send(text, PRIORITY=str(shipped.severity),
                                  SYSLOG_IDENTIFIER=rfc5424.APP_NAME,
                                  SYSLOG_FACILITY=str(rfc5424.FACILITY_AUTHPRIV),
                                  **journal_fields(record, self.host))
            except OSError as err:
                raise StockadeError(f"journal: {err.strerror}") from None

    def close(self) -> None:
        """Nothing to release."""
