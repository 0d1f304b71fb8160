"""Audit text into the store: each event's own text beside the columns the store indexes.

A record read from audit text is stored as the text of its event (the lines the correlator put
together and the position of the first of them, `event_text`) plus the indexed columns (time,
serial, operation, module, result, profile, pid, object, record type and index). Reading it
back interprets that text again with the normal reader (`event_records`: `parse_line` and
`interpret`), so a stored record and the log line it came from have one meaning, and the row
is about two thirds the size of the record's JSON (an AppArmor denial: 600 instead of 926
characters).

Import groups lines into events with the reader's own correlation, so the events and record
positions are the reader's: the compiled reader made with `rows=event_rows` when it is built
(readers/fast.py; it builds the commonest event's row in C by the rules of `_fast_apparmor` and
hands every other event to `event_rows`), else `RowCorrelator` (the Python `Correlator`, turning
a finished event into rows instead of AuditRecords); tests/audit/test_importrows.py checks that
both give the same rows. The columns of the commonest event, an AppArmor file record with its SYSCALL and
PROCTITLE, come from one regex anchored on the layout the kernel writes (security/apparmor
audit.c and file.c) and the SYSCALL fields the reader takes, without building the AuditRecord;
every other event is interpreted in full and its columns taken from the records. Both give the
same rows: tests/audit/test_eventrows.py compares them on the benchmark logs, the libapparmor
formats, real kernel lines and mangled copies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from stockade.audit.readers import fast
from stockade.audit.readers.correlate import Correlator, compiled_records, records_from_lines
from stockade.audit.readers.interpret import (
    AA_RESULT,
    AUXILIARY,
    SYSCALL_EXACT,
    interpret,
    syscall_fields,
    to_int,
)
from stockade.audit.readers.parser import RawRecord, field_value, parse_line, stamp_time
from stockade.audit.readers.sources import read_stream, read_text, records_from_jsonl
from stockade.audit.readers.tomoyo import read_records as tomoyo_records
from stockade.audit.readers.types import AUDIT_AVC, AUDIT_SYSCALL
from stockade.audit.record import AuditRecord
from stockade.audit.store import (
    _INT64,
    _PID_MAX,
    _TIME_MAX,
    MARK,
    Row,
    _text,
    columns,
    invalid,
    row,
)
from stockade.errors import StockadeError

# An AppArmor file record as audit_pre() and file_audit_cb() write it: apparmor= operation=
# [class="file"] profile= name= pid= comm= requested_mask= denied_mask= fsuid= ouid=, and
# nothing else. A value is quoted (no quote inside) or bare (not starting with a quote), so
# parse_fields reads these keys and values and no others; anything else takes the full path.
_AVC_FILE = re.compile(
    r'apparmor="(DENIED|ALLOWED|AUDIT|KILL)" operation="([^"]*)" (?:class="file" )?'
    r'profile="([^"]*)" name=("[^"]*"|[^"\'\s]\S*) pid=(\d{1,9}) '
    r'comm=(?:"[^"]*"|[^"\'\s]\S*) requested_mask="[^"]*" denied_mask="[^"]*" '
    r"fsuid=(\d{1,9}) ouid=\d+")
_OBJECT_ELSEWHERE = frozenset({"capable", "signal", "ptrace"})  # object not from name=


def event_text(event: Sequence[RawRecord], first: int) -> str:
    """What the store keeps of an event: the mark, `first`, then each record's line."""
    if len(event) == 3:  # the usual AppArmor denial: AVC, SYSCALL, PROCTITLE
        a, b, c = event
        return f"{MARK}{first}\n{a.line}\n{b.line}\n{c.line}"
    return f"{MARK}{first}\n" + "\n".join([rec.line for rec in event])


def event_records(text: str) -> list[AuditRecord]:
    """The AuditRecords of an event stored by `event_text`, as the reader gives them.

    The compiled reader reads the event's lines again when it is built (a fresh one, without
    limits: it groups them as the one event they were, the same records as `parse_line` and
    `interpret` give, tests/audit/test_fastread.py); it is trusted only when every line became
    a record of one event (its `done` count is the number of lines: no line skipped, no EOE
    dropped, no second stamp or user message). Any other text, and the later part of an event
    cut in two (`first` > 0), is parsed and interpreted here in Python."""
    head, _, body = text.partition("\n")
    try:
        first = int(head[1:])
    except ValueError:
        raise StockadeError("the audit store holds an event it cannot read") from None
    lines = body.split("\n")
    if first == 0:
        compiled = fast.reader(len(lines) + 1, len(lines) + 1)
        if compiled is not None:
            records: list[AuditRecord] = compiled.feed(lines)
            records += compiled.flush()
            done = list(compiled.done.values())
            if compiled.events == 1 and (done == [len(lines)] if done else len(lines) == 1):
                return records
    event: list[RawRecord] = []
    for line in lines:
        rec = parse_line(line)
        if rec is None:
            raise StockadeError("the audit store holds an event it cannot read")
        event.append(rec)
    return interpret(event, first)


def _fast_apparmor(event: Sequence[RawRecord], first: int) -> Row | None:
    """The row of an event of one AppArmor file AVC and syscall context records (the same row
    the full interpretation gives); None for any other event or a value out of range."""
    avc: RawRecord | None = None
    index = 0
    syscall_body = ""
    for at, rec in enumerate(event):
        t = rec.type
        if t == AUDIT_AVC:
            if avc is not None:
                return None
            avc, index = rec, first + at
        elif t == AUDIT_SYSCALL:
            syscall_body = rec.body  # the last one counts, as in interpret
        elif t not in AUXILIARY:
            return None
    if avc is None:
        return None
    match = _AVC_FILE.fullmatch(avc.body)
    if match is None:
        return None
    # fsuid (the record's uid) has at most 9 digits: always in range
    verdict, operation, profile, name, pid_text, _fsuid = match.groups()
    if operation in _OBJECT_ELSEWHERE:
        return None
    result = AA_RESULT[verdict]
    pid = int(pid_text)
    errno = 0
    if syscall_body:
        # the exit and pid syscall_fields() gives: from its exact match when that matches
        exact = SYSCALL_EXACT.match(syscall_body)
        get = exact.group if exact is not None else syscall_fields(syscall_body).get
        exit_code = to_int(get("exit"))
        errno = -exit_code if exit_code < 0 else 0
        if not pid:
            pid = to_int(get("pid"))
    if result == "DENIED" and not errno:
        errno = 13
    time, serial = stamp_time(avc.stamp)
    if not (0.0 <= time < _TIME_MAX and serial <= _INT64 and 0 <= pid <= _PID_MAX
            and -_INT64 <= errno <= _INT64):
        return None
    text = event_text(event, first)
    if text.isascii():  # the usual event: its columns are ASCII text already
        obj = name[1:-1] if name[0] == '"' else _text(field_value("name", name))
        return (time, serial, operation, "apparmor", result, profile, pid, obj, text,
                AUDIT_AVC, index)
    if not _storable(text):
        return None
    return (time, serial, _text(operation), "apparmor", result, _text(profile), pid,
            _text(field_value("name", name)), text, AUDIT_AVC, index)


def _storable(text: str) -> bool:
    """Whether SQLite can hold `text` (lines read with surrogate escapes, as stdin in the C
    locale, cannot be encoded: such an event's records are stored as their JSON)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def event_rows(event: Sequence[RawRecord], first: int = 0) -> list[Row | None]:
    """The store's rows of one event, in the order of its records (None: a record with a
    value out of range, which is not stored)."""
    fast = _fast_apparmor(event, first)
    if fast is not None:
        return [fast]
    text = event_text(event, first)
    records = interpret(event, first)
    if not _storable(text):
        return [row(r) if invalid(r) is None else None for r in records]
    return [columns(r, text) if invalid(r) is None else None for r in records]


class RowCorrelator(Correlator):
    """The reader's `Correlator`, giving each finished event as store rows (`event_rows`)."""

    turn = staticmethod(event_rows)  # type: ignore[assignment]


def rows_from_lines(lines: Iterable[str], stats: dict[str, int] | None = None,
                    correlator: RowCorrelator | None = None) -> Iterator[Row | None]:
    """Store rows from lines of audit text, as `records_from_lines` reads them: through the
    compiled reader when it is built (the same events, limits and rows), else `correlator`'s
    Python loop (a RowCorrelator with the default limits when none is given)."""
    corr = correlator or RowCorrelator()
    if not (corr._pending or corr._done):
        compiled = fast.reader(corr.max_pending, corr.max_records, event_rows)
        if compiled is not None:
            return compiled_records(compiled, lines, corr, stats)  # type: ignore[return-value]
    return records_from_lines(lines, corr, stats)  # type: ignore[return-value]


def record_rows(records: Iterable[AuditRecord]) -> Iterator[Row | None]:
    """Store rows (the record's JSON) of AuditRecords that come with no audit text."""
    for record in records:
        yield row(record) if invalid(record) is None else None


def rows_from_file(path: str | Path, stats: dict[str, int] | None = None) -> Iterator[Row | None]:
    """Store rows of one file: audit.log or kernel log text, TOMOYO's log or stockade JSONL
    (told apart as `read_records` does)."""
    yield from read_text(path, lambda lines: record_rows(records_from_jsonl(lines, stats)),
                         lambda lines: record_rows(tomoyo_records(lines)),
                         lambda lines: rows_from_lines(lines, stats))


def rows_from_stream(handle: IO[str], stats: dict[str, int] | None = None) -> Iterator[Row | None]:
    """Store rows from an open text stream (stdin, a pipe), as `records_from_stream`."""
    yield from read_stream(handle, lambda lines: record_rows(records_from_jsonl(lines, stats)),
                           lambda lines: record_rows(tomoyo_records(lines)),
                           lambda lines: rows_from_lines(lines, stats))
