"""Group records into events by their `audit(TIME:SERIAL)` stamp, with bounded memory.

The kernel writes an event's records one after the other and ends a syscall event with EOE
(auditd does not log EOE, so most files have none). An event is complete when its EOE arrives,
when it is one record of a user-space message, when more than `max_pending` newer events are
waiting, or, when following live, when no record has joined it for `max_age` seconds. An event
of more than `max_records` records is cut there (the rest becomes a new event with the same
stamp), so neither the pending table nor one event can grow without bound.

Speed (benchmarks/audit.py): `records_from_lines` reads a regular file in 1 MiB blocks split in
C, cuts each line's `type=T msg=audit(STAMP):` head with str.find (the type token checked once
per distinct token, the stamp once per event) and appends a line whose stamp is the previous
line's straight to its pending event and a new event's first line straight into the pending
table; anything unusual takes `parse_line()` and `add()`, with the same result. `interpret`
then reads each event once: the SYSCALL fields with one regex anchored on the kernel's layout
(the general one, whose head is atomic, as the fallback), the context fields, errno, cwd and
first path once per event, body fields with one findall turned into a dict in C, hex decoding
memoised (bounded). Every record is still interpreted eagerly, events without a security record
included (a `kernel` record with pid, comm, exe, uid, object and the whole event's text), so the
AuditRecords are the same as before, field for field (checked against the previous reader on
generated and mangled logs).
"""

from __future__ import annotations

import io
import itertools
import re
import time as _time
from collections.abc import Iterable, Iterator
from typing import IO, Any

from stockade.audit.readers import fast
from stockade.audit.readers.interpret import interpret
from stockade.audit.readers.parser import _STAMP, RawRecord, parse_line
from stockade.audit.readers.types import AUDIT_EOE, is_user_message, type_number
from stockade.audit.record import AuditRecord


class Correlator:
    """Feed records in, take whole events (as AuditRecords) out."""

    # what a finished event becomes: interpret(records, first) (a subclass may make store rows)
    turn = staticmethod(interpret)

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
            return self.turn((rec,))
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
        return self.turn(event, first)

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


_BLOCK = 1 << 20  # characters read at a time from a file
MAX_LINE = 1 << 20  # characters of one line kept (a kernel audit record is under 9 KiB)


def _blocks(handle: IO[str]) -> Iterator[list[str]]:
    """A text file's lines (without their newline), a block of about 1 MiB at a time."""
    read = handle.read
    carry = ""
    while True:
        chunk = read(_BLOCK)
        if not chunk:
            break
        text = carry + chunk if carry else chunk
        cut = text.rfind("\n")
        if cut < 0:
            # a line longer than any audit record is cut (memory stays bounded); the cut
            # pieces are not records and are counted as skipped lines
            carry = text if len(text) <= MAX_LINE else ""
            if not carry:
                yield [""]
            continue
        carry = text[cut + 1:]
        yield text[:cut].split("\n")
    if carry:
        yield [carry]


def _line_batches(lines: Iterable[str]) -> Iterable[Iterable[str]]:
    """Blocks of a seekable text file (lines split in C); any other iterable line by line.

    Either way the lines come without their newline.
    """
    if isinstance(lines, io.TextIOBase):
        try:
            seekable = lines.seekable()
        except (OSError, ValueError):
            seekable = False
        if seekable:  # a regular file: read in blocks; a pipe or a tty: line by line
            return _blocks(lines)
    if isinstance(lines, io.TextIOBase):  # a pipe: read a bounded line at a time
        return (line.rstrip("\n") for line in iter(lambda: lines.readline(MAX_LINE), "")),
    return (line.rstrip("\n") for line in lines),


# type token (`AVC`, `1400`, `UNKNOWN[1423]`) → (type number, 0 | _USER | _EOE); bounded
_USER, _EOE = 1, 2
_tokens: dict[str, tuple[int, int]] = {}
_TOKEN = re.compile(r"\S+")


def _token(token: str) -> tuple[int, int] | None:
    r"""The type of a token HEAD would accept (`\S+`), remembered; None for any other token."""
    if _TOKEN.fullmatch(token) is None:
        return None
    number = type_number(token)
    info = (number, _USER if is_user_message(number) else _EOE if number == AUDIT_EOE else 0)
    if len(_tokens) < 4096:
        _tokens[token] = info
    return info


def records_from_lines(lines: Iterable[str], correlator: Correlator | None = None,
                       stats: dict[str, int] | None = None) -> Iterator[AuditRecord]:
    """AuditRecords from lines of audit.log, dmesg or journal text, in log order.

    The loop below is `parse_line()` and `Correlator.add()` inlined for auditd's usual line,
    `type=T msg=audit(TIME:SERIAL): body`: the head is cut with str.find (the type token is
    checked once per distinct token, the stamp once per event), and a record with the stamp of
    the line before joins its pending event directly. Anything else (node=, dmesg or journal
    prefixes, an odd head) takes the general path; the result is the same either way.

    With the compiled reader built (readers.fast; STOCKADE_AUDIT_PURE=1 forces this loop), all
    of it runs in C with the same result; a `correlator` given lends its limits and gets the
    counts and completed stamps, as if it had read the lines (it must be a fresh Correlator:
    one that holds events, or a subclass, takes this loop).
    """
    # A fresh, plain Correlator only: a subclass (import's RowCorrelator) completes events
    # its own way, which the compiled reader does not know.
    if correlator is None or (type(correlator) is Correlator
                              and not (correlator._pending or correlator._done)):
        limits = correlator or Correlator()
        compiled = fast.reader(limits.max_pending, limits.max_records)
        if compiled is not None:
            yield from compiled_records(compiled, lines, correlator, stats)
            return
    corr = correlator or Correlator()
    skipped = 0
    add = corr.add
    pending = corr._pending
    max_records = corr.max_records
    max_pending = corr.max_pending
    tokens = _tokens
    stamp_ok = _STAMP.fullmatch
    last: str | None = None  # the stamp of the pending event the previous line joined
    event: list[RawRecord] = []
    for batch in _line_batches(lines):
        for given in batch:
            line = given
            if "\x1d" in line:  # auditd's ENRICHED suffix is not the kernel's record
                line = line[:line.index("\x1d")]
            if line[:5] == "type=":
                space = line.find(" ", 5)
                info = tokens.get(line[5:space])
                if info is None and space > 5:
                    info = _token(line[5:space])
                if info is not None and line.startswith(" msg=audit(", space):
                    close = line.find("):", space + 11)
                    stamp = line[space + 11:close] if close > 0 else None
                    if stamp is None:  # no `):`: not a record (parse_line says so and counts it)
                        rec = parse_line(given)
                    elif stamp == last:
                        body = line[close + 3:] if line[close + 2:close + 3] == " " else line[close + 2:]
                        rec = RawRecord(info[0], stamp, body, line, "")
                        if info[1] == 0:
                            event.append(rec)
                            if len(event) < max_records:
                                continue
                            corr.evicted += 1
                            last = None
                            yield from corr._complete(stamp)
                            continue
                    elif stamp_ok(stamp):
                        body = line[close + 3:] if line[close + 2:close + 3] == " " else line[close + 2:]
                        rec = RawRecord(info[0], stamp, body, line, "")
                        if info[1] == 0 and stamp not in pending:  # a new event: add(), inlined
                            event = pending[stamp] = [rec]
                            last = stamp
                            if len(pending) > max_pending:
                                corr.evicted += 1
                                yield from corr._complete(next(iter(pending)))
                                if stamp not in pending:
                                    last = None
                            continue
                    else:
                        rec = parse_line(given)
                else:
                    rec = parse_line(given)
            else:
                rec = parse_line(given)
            if rec is None:
                skipped += 1
                continue
            out = add(rec)
            if out:
                yield from out
            found = pending.get(rec.stamp)
            if found is None:
                last = None
            else:
                last, event = rec.stamp, found
    yield from corr.flush()
    if stats is not None:
        stats["skipped"] = stats.get("skipped", 0) + skipped
        stats["events"] = stats.get("events", 0) + corr.events


def compiled_records(reader: Any, lines: Iterable[str], correlator: Correlator | None,
                     stats: dict[str, int] | None) -> Iterator[AuditRecord]:
    """records_from_lines through the compiled reader (fast.py): the same records and counts
    (or, for a reader made with rows=, the same store rows as import's RowCorrelator)."""
    feed = reader.feed
    for batch in _line_batches(lines):
        if isinstance(batch, list):  # a block of a file
            out = feed(batch)
            if out:
                yield from out
            continue
        source = iter(batch)  # a pipe or any iterable: bounded slices of lines
        while chunk := list(itertools.islice(source, 1024)):
            out = feed(chunk)
            if out:
                yield from out
    yield from reader.flush()
    if correlator is not None:  # as if it had read the lines itself
        correlator.events += reader.events
        correlator.evicted += reader.evicted
        correlator._done = reader.done
    if stats is not None:
        stats["skipped"] = stats.get("skipped", 0) + reader.skipped
        stats["events"] = stats.get("events", 0) + reader.events
