"""Where kernel audit text comes from: audit.log and its rotations, kernel log text, JSONL.

`read_records(path)` accepts any of them and tells them apart by content: a file whose first
non-blank line is a JSON object is stockade's own JSON lines; anything else is read as audit
text (auditd's log, `dmesg`, `journalctl -k` output, /dev/kmsg lines), where lines that hold
no audit record are skipped and counted.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from stockade.audit.readers.correlate import MAX_LINE, Correlator, records_from_lines
from stockade.audit.readers.tomoyo import is_tomoyo_header
from stockade.audit.readers.tomoyo import read_records as tomoyo_records
from stockade.audit.record import AuditRecord
from stockade.errors import StockadeError
from stockade.files import require_input

AUDIT_LOG = Path("/var/log/audit/audit.log")
T = TypeVar("T")
Reader = Callable[[Iterable[str]], Iterable[T]]
"""Turns the lines of one format into what is read (records, store rows)."""
_ROTATED = re.compile(r"\.(\d+)(?:\.gz)?$")


def audit_log_files(log: str | os.PathLike[str] = AUDIT_LOG) -> list[Path]:
    """`log` and its rotations (`audit.log.N`, optionally gzipped), oldest first."""
    base = Path(log)
    rotated: list[tuple[int, Path]] = []
    try:
        siblings = list(base.parent.iterdir())
    except OSError:
        siblings = []
    for entry in siblings:
        name = entry.name
        if name.startswith(base.name + "."):
            match = _ROTATED.search(name[len(base.name):])
            if match:
                rotated.append((int(match.group(1)), entry))
    files = [path for _, path in sorted(rotated, reverse=True)]
    if os.path.exists(base):
        files.append(base)
    return files


def _open_text(path: Path) -> IO[str]:
    require_input(path, "audit log", fifo=True)  # a device could be read forever
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace", buffering=1 << 20)


def _lines(handle: IO[str]) -> Iterator[str]:
    """The lines of `handle`, none longer than MAX_LINE (a longer one comes in pieces)."""
    return iter(lambda: handle.readline(MAX_LINE), "")


def _first_content(handle: IO[str]) -> str:
    for line in _lines(handle):
        if line.strip():
            return line
    return ""


def is_jsonl(path: str | os.PathLike[str]) -> bool:
    """True when the file's first non-blank line is a JSON object (stockade's records)."""
    try:
        with _open_text(Path(path)) as handle:
            return _first_content(handle).lstrip().startswith("{")
    except OSError as err:
        raise StockadeError(f"cannot read {os.fspath(path)}: {err.strerror}") from None


def records_from_jsonl(lines: Iterable[str], stats: dict[str, int] | None = None,
                       where: str = "") -> Iterator[AuditRecord]:
    """AuditRecords from stockade's JSON lines; a line that is not a record is skipped."""
    skipped = 0
    for line in lines:
        text = line.strip()
        if not text:
            continue
        try:
            data = json.loads(text)
            yield AuditRecord.from_dict(data)
        except (ValueError, TypeError):
            skipped += 1
    if stats is not None:
        stats["skipped"] = stats.get("skipped", 0) + skipped


def read_text(path: str | os.PathLike[str], jsonl: Reader[T], tomoyo: Reader[T],
              audit: Reader[T]) -> Iterator[T]:
    """What `jsonl`, `tomoyo` or `audit` makes of one file's lines, the one its content calls
    for: stockade JSONL, TOMOYO's log or audit text (audit.log, kernel log text)."""
    source = Path(path)
    try:
        handle = _open_text(source)
    except OSError as err:
        raise StockadeError(f"cannot read {source}: {err.strerror}") from None
    with handle:
        if not handle.seekable():  # a pipe: what was read to tell the format cannot be reread
            yield from read_stream(handle, jsonl, tomoyo, audit)
            return
        first = _first_content(handle)
        handle.seek(0)
        if first.lstrip().startswith("{"):
            yield from jsonl(handle)
        elif is_tomoyo_header(first):  # TOMOYO's own log (its audit interface, tomoyo-auditd)
            yield from tomoyo(_lines(handle))
        else:
            yield from audit(handle)  # blocks: lines split in C


def read_stream(handle: IO[str], jsonl: Reader[T], tomoyo: Reader[T],
                audit: Reader[T]) -> Iterator[T]:
    """`read_text` for an open text stream (stdin, a pipe): told apart by its first line."""
    first = _first_content(handle)
    if not first:
        return
    rest = itertools.chain([first], _lines(handle))
    if first.lstrip().startswith("{"):
        yield from jsonl(rest)
    elif is_tomoyo_header(first):
        yield from tomoyo(rest)
    else:
        yield from audit(rest)


def read_records(path: str | os.PathLike[str], stats: dict[str, int] | None = None,
                 correlator: Correlator | None = None) -> Iterator[AuditRecord]:
    """Every record in one file: audit.log, kernel log text, TOMOYO's log or stockade JSONL."""
    yield from read_text(path, lambda lines: records_from_jsonl(lines, stats), tomoyo_records,
                         lambda lines: records_from_lines(lines, correlator, stats))


def records_from_stream(handle: IO[str], stats: dict[str, int] | None = None) -> Iterator[AuditRecord]:
    """Records from an open text stream (stdin): JSONL when its first line is JSON."""
    yield from read_stream(handle, lambda lines: records_from_jsonl(lines, stats), tomoyo_records,
                           lambda lines: records_from_lines(lines, None, stats))


def read_audit_logs(log: str | os.PathLike[str] = AUDIT_LOG,
                    stats: dict[str, int] | None = None) -> Iterator[AuditRecord]:
    """Every record of audit.log and its rotations, oldest first."""
    for path in audit_log_files(log):
        yield from read_records(path, stats)


def kmsg_lines(path: str = "/dev/kmsg") -> list[str]:
    """The kernel ring buffer as it is now (audit records reach it when auditd is not running).

    /dev/kmsg lines look like `5,1234,567890,-;audit: type=1400 audit(...): ...`; continuation
    lines (starting with a space) are skipped. Needs root or kernel.dmesg_restrict=0.
    """
    lines: list[str] = []
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise StockadeError(f"cannot read the kernel log {path}: {err.strerror}") from None
    try:
        while True:
            try:
                chunk = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError as err:  # EPIPE: the reader fell behind the ring buffer
                if err.errno == 32:
                    continue
                break
            if not chunk:
                break
            text = chunk.decode("utf-8", "replace")
            _head, _, message = text.partition(";")
            if message and not message.startswith(" "):
                lines.append(message.rstrip("\n"))
    finally:
        os.close(fd)
    return lines
