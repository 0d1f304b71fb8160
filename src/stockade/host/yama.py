"""Yama's ptrace scope (0 classic, 1 restricted, 2 admin-only, 3 no attach)."""

from __future__ import annotations

from stockade.host._sys import read_int

PTRACE_SCOPE = "/proc/sys/kernel/yama/ptrace_scope"


def ptrace_scope(path: str = PTRACE_SCOPE) -> int | None:
    """The scope, or None when Yama is not running."""
    return read_int(path)
