"""A cached plan's coverage entries in a side file of their entry, read only when something
lists them (-v, --strict, --audit): a hit of a 100,000-rule profile spent most of its time
reading, authenticating and decoding 100,000 entries to print one summary line.

The entry keeps what that line needs (coverage_scope.Precount: counts by source file and
status, and the few entries of no `file:line` source) and the BLAKE2b-256 digest and size of
the side file, so the side file is as authentic as the entry, whose MAC covers the digest: its
bytes are checked when they are read. The side file is opened on the hit and read through that
descriptor, so an entry rewritten meanwhile (renamed over) does not change what this run
reads; its name carries the digest, so that a run writing the same entry does not replace it
either. Bytes that differ from the digest (a changed file of ours) refuse the run: nothing is
listed or judged from entries that are not the ones compiled.
"""

from __future__ import annotations

import os

from stockade.enforce.coverage_scope import MAX_WORST, Precount
from stockade.enforce.plan.cache.codec import CodecError, decode, encode
from stockade.enforce.plan.types import CoverageEntry, CoverageReport, CoverageStatus, ProfilePlan
from stockade.errors import StockadeError
from stockade.slotted import replace

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

_STATUS = {s.value: s for s in CoverageStatus}


def side_name(entry: str, digest: str) -> str:
    """The side file of `entry` holding the coverage entries of `digest`."""
    return f"{entry.removesuffix('.json')}-{digest[:32]}.side"


def split(pp: ProfilePlan) -> tuple[ProfilePlan, dict[str, Any], bytes]:
    """`pp` without its coverage entries, what its entry keeps of them, and the side file
    (`pp`'s report keeps the precount for this run's summary line)."""
    from stockade.digest import hexdigest

    entries = pp.coverage.entries
    import json  # here: a hit imports this module, and json imports re (start-up)

    data = json.dumps(encode(entries), separators=(",", ":")).encode("utf-8", "surrogateescape")
    pre = Precount.of(entries)
    pp.coverage.counted(pre)
    doc = {"digest": hexdigest(data), "size": len(data),
           "counts": [_counts(pre.unsupervised), _counts(pre.supervised)],
           "loose": encode(list(pre.loose)),
           "worst": None if pre.worst is None else [
               [[source, status.value] for source, status in each.items()]
               for each in pre.worst]}
    return replace(pp, coverage=CoverageReport()), doc, data


def _counts(tally: Any) -> list[list[Any]]:
    return [[path, status.value, n] for (path, status), n in tally.items()]


def attach(store: Any, entry: str, doc: Any) -> CoverageReport | None:
    """The deferred coverage report `doc` describes, its side file opened now; None when
    the side file is gone (a miss). CodecError when `doc` is malformed."""
    if not isinstance(doc, dict) or set(doc) != {"digest", "size", "counts", "loose", "worst"}:
        raise CodecError("bad coverage")
    digest, size, counts, loose = doc["digest"], doc["size"], doc["counts"], decode(doc["loose"])
    worst = None if doc["worst"] is None else _worst(doc["worst"])
    if (not isinstance(digest, str) or len(digest) != 64 or type(size) is not int
            or not isinstance(counts, list) or len(counts) != 2
            or not isinstance(loose, list)
            or not all(type(e) is CoverageEntry for e in loose)):
        raise CodecError("bad coverage")
    pre = Precount(_tally(counts[0]), _tally(counts[1]), tuple(loose), worst)
    try:
        fd = store.open_file(side_name(entry, digest))
    except ValueError as err:
        raise CodecError(str(err)) from None
    if fd is None:
        return None
    return CoverageReport.deferred(SideFile(fd, digest, size).load, pre)


def _tally(rows: Any) -> Any:
    from collections import Counter

    if not isinstance(rows, list):
        raise CodecError("bad coverage counts")
    out: Counter[tuple[str, CoverageStatus]] = Counter()
    for row in rows:
        if (not isinstance(row, list) or len(row) != 3 or not isinstance(row[0], str)
                or row[1] not in _STATUS or type(row[2]) is not int or row[2] < 0):
            raise CodecError("bad coverage counts")
        out[row[0], _STATUS[row[1]]] += row[2]
    return out


def _worst(doc: Any) -> tuple[dict[str, CoverageStatus], dict[str, CoverageStatus]]:
    """Precount.worst from its JSON form; CodecError when malformed."""
    if not isinstance(doc, list) or len(doc) != 2:
        raise CodecError("bad coverage statuses")
    out: list[dict[str, CoverageStatus]] = []
    for rows in doc:
        if not isinstance(rows, list) or len(rows) > MAX_WORST:
            raise CodecError("bad coverage statuses")
        each: dict[str, CoverageStatus] = {}
        for row in rows:
            if (not isinstance(row, list) or len(row) != 2 or not isinstance(row[0], str)
                    or row[1] not in _STATUS or row[0] in each):
                raise CodecError("bad coverage statuses")
            each[row[0]] = _STATUS[row[1]]
        out.append(each)
    return out[0], out[1]


class SideFile:
    """The coverage entries in an open side file, loaded once (`load`)."""

    def __init__(self, fd: int, digest: str, size: int) -> None:
        self.fd, self.digest, self.size = fd, digest, size
        self.error: str | None = None

    def load(self) -> list[CoverageEntry]:
        """The entries; StockadeError when the file is not what the entry says, every time
        it is asked (fail closed)."""
        if self.error is None:
            try:
                return self._read()
            except (OSError, ValueError) as err:  # CodecError and JSON errors included
                self.error = str(err)
            finally:
                self.close()
        raise StockadeError(f"plan cache: the coverage entries of this plan cannot be read "
                            f"({self.error}); run again, or with --no-cache")

    def _read(self) -> list[CoverageEntry]:
        from stockade.digest import equal, hexdigest

        if self.fd < 0:
            raise ValueError("read twice")
        chunks, size = [], 0
        while chunk := os.read(self.fd, 1 << 20):
            size += len(chunk)
            if size > self.size:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        if size != self.size or not equal(hexdigest(data).encode(), self.digest.encode()):
            raise ValueError("changed since it was written")
        from stockade.json_text import loads  # json.loads without importing json (~1.2 ms)

        entries = decode(loads(data.decode("utf-8", "surrogatepass")))  # as json.loads would
        if not isinstance(entries, list) or not all(type(e) is CoverageEntry for e in entries):
            raise CodecError("not coverage entries")
        return entries

    def close(self) -> None:
        """Release the descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        self.close()
