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
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, TextIO

_COLOURS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1", "dim": "2"}
#: the colour codes paint() makes
_SGR = frozenset(f"\033[{code}m" for code in [*_COLOURS.values(), "0"])
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _plain(text: str) -> bool:
    """Only printable ASCII (anything else takes the careful path)."""
    return text.isascii() and text.isprintable()


def _split_colours(text: str) -> list[str]:
    """`text` split around paint()'s colour codes, which are the odd items (as re.split with
    a group; written out so that a plain run does not import re)."""
    parts, start, at = [], 0, text.find("\033[")
    while at >= 0:
        end = text.find("m", at + 2, at + 6)  # the longest code is ESC [ 3 4 m
        if end >= 0 and text[at:end + 1] in _SGR:
            parts += [text[start:at], text[at:end + 1]]
            start = end + 1
            at = text.find("\033[", start)
        else:
            at = text.find("\033[", at + 1)
    parts.append(text[start:])
    return parts


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
    if _plain(text):
        return text
    if text.isascii():  # one C pass over ASCII with controls (`run -v` of 100,000 rules wrote
        # 27 million characters: one generator step each, since every line ends in "\n")
        return text.translate(_ascii_escapes(keep))
    return "".join(c if c in keep or c.isprintable() else _escape_char(c) for c in text)


_TABLES: dict[str, dict[int, str]] = {}


def _ascii_escapes(keep: str) -> dict[int, str]:
    """str.translate's table of the ASCII controls `printable` escapes (those not in `keep`);
    a few `keep` strings are ever used, so at most 8 tables are kept."""
    table = _TABLES.get(keep)
    if table is None:
        table = {code: _escape_char(chr(code)) for code in [*range(32), 127]
                 if chr(code) not in keep}
        if len(_TABLES) < 8:
            _TABLES[keep] = table
    return table


def _shown(text: object, keep: str = "") -> str:
    """`printable()` that keeps the colour codes `paint()` makes (text may hold painted parts)."""
    text = str(text)
    if _plain(text):
        return text
    parts = _split_colours(text)  # odd positions: our colour codes
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
    import errno

    from stockade.errors import StockadeError, UsageError
    from stockade.suppress import suppress

    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise UsageError(f"-o {path}: no such directory {directory}")
    tmp = f"{path}.tmp.{os.getpid()}"
    # made new, never through a link planted at that name (a sandbox that may write the
    # directory knows our pid's range): O_EXCL|O_NOFOLLOW; a name taken is an error
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o666)
    except OSError as err:
        why = "exists (a symbolic link or a leftover: remove it)" if err.errno in (
            errno.EEXIST, errno.ELOOP) else err.strerror
        raise StockadeError(f"-o {path}: cannot make {tmp}: {why}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as err:
        with suppress(OSError):
            os.unlink(tmp)  # ours: made by the O_EXCL open above
        raise StockadeError(f"-o {path}: {err.strerror}") from None


def help_width() -> int:
    """The width argparse formats help for: shutil.get_terminal_size's columns (COLUMNS, else
    stdout's terminal, else 80) less 2, as argparse computes it, without importing shutil
    (argparse does on every parser and argument it builds: about 1.5 ms of every start-up)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2
