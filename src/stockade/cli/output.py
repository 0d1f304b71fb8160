"""Output for people and for programs: tables and colour on a terminal, plain text in a pipe.

Names in our output are often chosen by someone else (a confined program names its files, a log
holds what any process wrote), so nothing unprintable reaches a terminal as is: `printable()`
is the one escaping function. `table()`, `paint()` and the CLI's error line escape each value
(so a name cannot start a line of its own), and `HumanStream`, which `main` puts in front of
stdout and stderr, escapes whatever else a command writes, keeping only newlines, tabs and the
colours `paint()` makes. JSON output is ASCII (`\\uXXXX` escapes), so it passes unchanged.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

_COLOURS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1", "dim": "2"}
_SGR = re.compile("(\033\\[(?:" + "|".join([*_COLOURS.values(), "0"]) + ")m)")
_SUSPECT = re.compile(r"[^ -~]")  # anything but printable ASCII takes the careful path
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape_char(c: str) -> str:
    code = ord(c)
    if c in _NAMED:
        return _NAMED[c]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape): show the byte
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: object, keep: str = "") -> str:
    """`text` with every character that is not printable (controls, escape sequences, bidi
    and other format characters, line separators, undecodable bytes) as a backslash escape
    (`\\x1b`, `\\n`, `\\u202e`); the characters in `keep` stay. Idempotent."""
    text = str(text)
    if _SUSPECT.search(text) is None:
        return text
    # only the characters outside printable ASCII are looked at (`run -v` of 100,000 rules
    # wrote 27 million characters, one generator step each, because each line ends in "\n")
    return _SUSPECT.sub(lambda m: _shown_char(m.group(), keep), text)


def _shown_char(c: str, keep: str) -> str:
    """One character outside printable ASCII, as `printable` shows it."""
    return c if c in keep or c.isprintable() else _escape_char(c)


def _shown(text: object, keep: str = "") -> str:
    """`printable()` that keeps the colour codes `paint()` makes (text may hold painted parts)."""
    text = str(text)
    if _SUSPECT.search(text) is None:
        return text
    parts = _SGR.split(text)  # odd positions: our colour codes
    return "".join(p if i % 2 else printable(p, keep) for i, p in enumerate(parts))


class HumanStream:
    """A text stream for people: `printable()` over everything written, newlines, tabs and
    `paint()`'s colours kept."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write `text` escaped."""
        return self._stream.write(_shown(text, "\n\t"))

    def writelines(self, lines: Sequence[str]) -> None:
        """Write each of `lines` escaped."""
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def use_colour(stream: TextIO | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set."""
    stream = stream or sys.stdout
    return stream.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, colour: str, stream: TextIO | None = None) -> str:
    """`text` in `colour` when writing to a terminal, unchanged otherwise."""
    text = _shown(text)
    if not use_colour(stream):
        return text
    return f"\033[{_COLOURS[colour]}m{text}\033[0m"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], stream: TextIO | None = None) -> None:
    """Print an aligned table; on a terminal the header is bold."""
    stream = stream or sys.stdout
    headers = [_shown(h) for h in headers]
    cells = [[_shown(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    head = "  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()
    stream.write(paint(head, "bold", stream) + "\n")
    for row in cells:
        stream.write("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() + "\n")


def print_json(data: Any, stream: TextIO | None = None) -> None:
    """Stable, sorted JSON on one document."""
    import json  # imported here: `--version` and `run` print no JSON

    stream = stream or sys.stdout
    json.dump(data, stream, indent=2, sort_keys=True, default=str)
    stream.write("\n")


def write_text(path: str, text: str) -> None:
    """Write `text` to the file `-o path` names, whole or not at all (a temporary file renamed
    over it); a missing directory is a usage error, any other failure a clear error."""
    from stockade.errors import StockadeError, UsageError

    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise UsageError(f"-o {path}: no such directory {directory}")
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise StockadeError(f"-o {path}: {err.strerror}") from None
