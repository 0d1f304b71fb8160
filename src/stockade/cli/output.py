"""Output for people and for programs: tables and colour on a terminal, plain text in a pipe."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

_COLOURS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1", "dim": "2"}


def use_colour(stream: TextIO | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set."""
    stream = stream or sys.stdout
    return stream.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, colour: str, stream: TextIO | None = None) -> str:
    """`text` in `colour` when writing to a terminal, unchanged otherwise."""
    if not use_colour(stream):
        return text
    return f"\033[{_COLOURS[colour]}m{text}\033[0m"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], stream: TextIO | None = None) -> None:
    """Print an aligned table; on a terminal the header is bold."""
    stream = stream or sys.stdout
    cells = [[str(c) for c in row] for row in rows]
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
    stream = stream or sys.stdout
    json.dump(data, stream, indent=2, sort_keys=True, default=str)
    stream.write("\n")
