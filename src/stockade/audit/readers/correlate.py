"""Group records into events by their `audit(TIME:SERIAL)` stamp, with bounded memory.

The kernel writes an event's records one after the other and ends a syscall event with EOE
(auditd does not log EOE, so most files have none). An event is complete when its EOE arrives,
when it is one record of a user-space message, when more than `max_pending` newer events are
waiting, or, when following live, when no record has joined it for `max_age` seconds. An event
of more than `max_records` records is cut there (the rest becomes a new event with the same
stamp), so neither the pending table nor one event can grow without bound.
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterable, Iterator

from stockade.audit.readers.interpret import interpret
from stockade.audit.readers.parser import HEAD, RawRecord, parse_line
from stockade.audit.readers.types import AUDIT_EOE, is_user_message, type_number
from stockade.audit.record import AuditRecord


class Correlator:
    """Feed records in, take whole events (as AuditRecords) out."""

    def __init__(self, *, max_pending: int = 64, max_records: int = 256,
                 max_age: float = 2.0) -> None:
        self.max_pending = max_pending
        self.max_records = max_records
        self.max_age = max_age
        self._pending: dict[str, list[RawRecord]] = {}  # insertion-ordered: oldest first
        self._touched: dict[str, float] = {}
        self._done: dict[str, int] = {}  # recently completed stamps → records already seen
        self.events = 0
        self.evicted = 0  # events completed because the table was full or one grew too large

    @property
    def pending(self) -> int:
        """How many events are waiting for more records."""
        return len(self._pending)

    def add(self, rec: RawRecord, now: float | None = None) -> list[AuditRecord]:
        """Add one record; returns the records of every event this completes."""
        if is_user_message(rec.type):
            self.events += 1
            return interpret((rec,))
        key = rec.stamp
        pending = self._pending
        event = pending.get(key)
        if now is not None:
            self._touched[key] = now
        if event is None:
            if rec.type == AUDIT_EOE:
                return []
            pending[key] = [rec]
            if len(pending) > self.max_pending:
                self.evicted += 1
                return self._complete(next(iter(pending)))
            return []
        if rec.type == AUDIT_EOE:
            return self._complete(key)
        event.append(rec)
        if len(event) >= self.max_records:
            self.evicted += 1
            return self._complete(key)
        return []

    def _complete(self, key: str) -> list[AuditRecord]:
        event = self._pending.pop(key)
        self._touched.pop(key, None)
        self.events += 1
        done = self._done
        first = done.pop(key, 0)  # a late part of an event already completed goes on counting
        done[key] = first + len(event)
        if len(done) > 4 * self.max_pending:
            del done[next(iter(done))]
        return interpret(event, first)

    def expire(self, now: float | None = None) -> list[AuditRecord]:
        """Complete the events no record has joined for `max_age` seconds (live sources)."""
        now = _time.monotonic() if now is None else now
        out: list[AuditRecord] = []
        for key in [k for k, t in self._touched.items() if now - t >= self.max_age]:
            if key in self._pending:
                out.extend(self._complete(key))
            else:
                self._touched.pop(key, None)
        return out

    def flush(self) -> list[AuditRecord]:
        """Complete every pending event (end of input)."""
        out: list[AuditRecord] = []
        while self._pending:
            out.extend(self._complete(next(iter(self._pending))))
        return out


def records_from_lines(lines: Iterable[str], correlator: Correlator | None = None,
                       stats: dict[str, int] | None = None) -> Iterator[AuditRecord]:
    """AuditRecords from lines of audit.log, dmesg or journal text, in log order."""
    corr = correlator or Correlator()
    skipped = 0
    add = corr.add
    head = HEAD.match
    for line in lines:
        # the audit.log fast path of parse_line(), inlined: this loop is the hot one
        match = head(line)
        if match is not None and "\x1d" not in line:
            node, token, stamp = match.groups()
            text = line.rstrip("\n")
            rec: RawRecord | None = RawRecord(type_number(token), stamp, text[match.end():], text,
                                              node or "")
        else:
            rec = parse_line(line)
            if rec is None:
                skipped += 1
                continue
        out = add(rec)
        if out:
            yield from out
    yield from corr.flush()
    if stats is not None:
        stats["skipped"] = stats.get("skipped", 0) + skipped
        stats["events"] = stats.get("events", 0) + corr.events
