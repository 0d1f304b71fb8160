"""Follow audit sources live: audit.log (inotify, or polling), the netlink group, JSONL, a store.

Every source hands out AuditRecords; the `Follower` merges them and drops the copies a record
leaves when it reaches two sources (auditd's log and the netlink group), remembering a bounded
number of identities. Memory stays bounded: a partial line is capped, each source's correlator
caps its pending events and completes them by age, and the identity memory is an LRU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import select
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

from stockade.audit.readers.correlate import Correlator
from stockade.audit.readers.netlink import AuditMulticast
from stockade.audit.readers.parser import parse_line
from stockade.audit.record import AuditRecord
from stockade.audit.store import RecordReader, check_version
from stockade.errors import StockadeError
from stockade.files import require_input

IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
IN_MODIFY = 0x002
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
MAX_PARTIAL = 1 << 20  # a "line" longer than this without a newline is cut and counted


class Source(Protocol):
    """A place records come from."""

    name: str

    def fileno(self) -> int | None:
        """A descriptor that becomes readable when there is news, or None to be polled."""

    def read(self) -> list[AuditRecord]:
        """The records that arrived since the last call."""

    def close(self) -> None:
        """Release what the source holds, completing what is pending."""


class _Inotify:
    """inotify(7) through libc: a watch on a directory, for a log file in it."""

    def __init__(self, directory: str) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        mask = IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE
        if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, f"inotify_add_watch {directory}")
        self.fd = fd

    def drain(self) -> None:
        """Consume the pending events (which files changed does not matter here)."""
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.fd)


class LogFileSource:
    """Tails an audit.log (or any audit text file) across rotation; JSONL when it is JSONL."""

    def __init__(self, path: str | os.PathLike[str], *, from_start: bool = True,
                 correlator: Correlator | None = None, use_inotify: bool = True) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self.correlator = correlator or Correlator()
        self._fh: IO[bytes] | None = None
        self._inode = 0
        self._partial = b""
        self._jsonl: bool | None = None
        self.cut_lines = 0
        self._inotify: _Inotify | None = None
        if use_inotify:
            try:
                self._inotify = _Inotify(str(self.path.parent))
            except (OSError, AttributeError):
                self._inotify = None  # polling fallback
        self._open(from_start)

    def _open(self, from_start: bool) -> None:
        require_input(self.path, "log")  # followed by inode and size: a regular file only
        try:
            fh = open(self.path, "rb")  # noqa: SIM115
        except OSError:
            self._fh = None
            return
        self._fh = fh
        self._inode = os.fstat(fh.fileno()).st_ino
        if not from_start:
            fh.seek(0, os.SEEK_END)

    def fileno(self) -> int | None:
        """The inotify descriptor (None: poll)."""
        return self._inotify.fd if self._inotify else None

    def _rotated(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        if self._fh is None:
            return True
        return st.st_ino != self._inode or st.st_size < self._fh.tell()

    def _lines(self, data: bytes) -> list[str]:
        data = self._partial + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial = data
            if len(self._partial) > MAX_PARTIAL:
                self._partial = b""
                self.cut_lines += 1
            return []
        self._partial = data[cut + 1:]
        return data[:cut].decode("utf-8", "replace").split("\n")

    def _consume(self, lines: list[str]) -> list[AuditRecord]:
        out: list[AuditRecord] = []
        if self._jsonl is None:
            first = next((ln for ln in lines if ln.strip()), None)
            if first is None:
                return out
            self._jsonl = first.lstrip().startswith("{")
        if self._jsonl:
            for line in lines:
                if line.strip():
                    try:
                        out.append(AuditRecord.from_dict(json.loads(line)))
                    except (ValueError, TypeError):
                        continue
            return out
        now = time.monotonic()
        for line in lines:
            rec = parse_line(line)
            if rec is not None:
                out.extend(self.correlator.add(rec, now))
        return out

    def read(self) -> list[AuditRecord]:
        """New complete lines since the last read, as records; follows a rotation."""
        if self._inotify:
            self._inotify.drain()
        out: list[AuditRecord] = []
        if self._fh is not None:
            out.extend(self._consume(self._lines(self._fh.read())))
        if self._rotated():
            if self._fh is not None:
                self._fh.close()
            self._partial = b""
            self._open(True)
            if self._fh is not None:
                out.extend(self._consume(self._lines(self._fh.read())))
        out.extend(self.correlator.expire())
        return out

    def close(self) -> None:
        """Close the file and complete the pending events."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._inotify:
            self._inotify.close()
            self._inotify = None


class NetlinkSource:
    """The kernel's audit multicast group (root)."""

    name = "netlink"

    def __init__(self, correlator: Correlator | None = None) -> None:
        self.sock = AuditMulticast()
        self.correlator = correlator or Correlator()

    def fileno(self) -> int | None:
        """The netlink socket."""
        return self.sock.fileno()

    def read(self) -> list[AuditRecord]:
        """Records received since the last read."""
        out: list[AuditRecord] = []
        now = time.monotonic()
        for rec in self.sock.read(0.0):
            out.extend(self.correlator.add(rec, now))
        out.extend(self.correlator.expire())
        return out

    def close(self) -> None:
        """Leave the group."""
        self.sock.close()


class StoreSource:
    """New rows of an audit store (records other stockade processes wrote there)."""

    def __init__(self, path: str | os.PathLike[str], since: float | None = None,
                 from_start: bool = True) -> None:
        self.name = f"store:{os.fspath(path)}"
        try:
            self.db = sqlite3.connect(f"file:{os.fspath(path)}?mode=ro", uri=True)
            check_version(self.db, path)
            if from_start:
                self.last = 0
                if since is not None:
                    row = self.db.execute("SELECT min(id) FROM records WHERE time >= ?",
                                          (since,)).fetchone()
                    self.last = (row[0] or 1 << 62) - 1
            else:
                self.last = self.db.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0]
        except sqlite3.Error as err:
            raise StockadeError(f"cannot read the audit store {os.fspath(path)}: {err}") from None

    def fileno(self) -> int | None:
        """Polled."""
        return None

    def read(self) -> list[AuditRecord]:
        """Rows added since the last read."""
        out: list[AuditRecord] = []
        read = RecordReader()
        for row_id, text, index in self.db.execute(
                "SELECT id, record, record_index FROM records WHERE id > ? ORDER BY id"
                " LIMIT 10000", (self.last,)):
            self.last = row_id
            out.append(read(text, index))
        return out

    def close(self) -> None:
        """Close the database."""
        self.db.close()


def identity(r: AuditRecord) -> tuple[float, int, int, str]:
    """What makes two copies of a record the same record."""
    return (r.time, r.serial, r.record_type or 0, r.fields.get("record_index", ""))


class Follower:
    """Merges sources; yields each record once."""

    def __init__(self, sources: list[Source], *, since: float | None = None,
                 remember: int = 8192, poll_interval: float = 0.5) -> None:
        self.sources = sources
        self.since = since
        self.remember = remember
        self.poll_interval = poll_interval
        self._seen: OrderedDict[tuple[float, int, int, str], None] = OrderedDict()
        self.duplicates = 0

    def _fresh(self, records: list[AuditRecord]) -> list[AuditRecord]:
        out: list[AuditRecord] = []
        for r in records:
            if self.since is not None and r.time < self.since:
                continue
            key = identity(r)
            if key in self._seen:
                self.duplicates += 1
                self._seen.move_to_end(key)
                continue
            self._seen[key] = None
            if len(self._seen) > self.remember:
                self._seen.popitem(last=False)
            out.append(r)
        return out

    def poll(self, timeout: float) -> list[AuditRecord]:
        """Wait up to `timeout` seconds for news from any source; returns new records."""
        fds = [fd for fd in (s.fileno() for s in self.sources) if fd is not None]
        polled = any(s.fileno() is None for s in self.sources)
        wait = min(timeout, self.poll_interval) if polled else timeout
        if fds:
            select.select(fds, [], [], wait)
        elif wait > 0:
            time.sleep(wait)
        out: list[AuditRecord] = []
        for source in self.sources:
            out.extend(source.read())
        return self._fresh(out)

    def drain(self) -> list[AuditRecord]:
        """Everything available now, including events still pending (for --once)."""
        out: list[AuditRecord] = []
        for source in self.sources:
            out.extend(source.read())
            correlator = getattr(source, "correlator", None)
            if correlator is not None:
                out.extend(correlator.flush())
        return self._fresh(out)

    def follow(self, *, once: bool = False, timeout: float = 1.0) -> Iterator[AuditRecord]:
        """Records as they arrive; with `once`, what is there now and stop."""
        if once:
            yield from self.drain()
            return
        while True:
            yield from self.poll(timeout)

    def close(self) -> None:
        """Close every source."""
        for source in self.sources:
            source.close()


def auditd_running(pidfile: str = "/var/run/auditd.pid") -> bool:
    """True when the pid in auditd's pid file is a live auditd."""
    try:
        pid = int(Path(pidfile).read_text().strip())
        return Path(f"/proc/{pid}/comm").read_text().strip() == "auditd"
    except (OSError, ValueError):
        return False

