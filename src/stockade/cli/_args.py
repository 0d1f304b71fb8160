"""Argument helpers shared by commands that run a program."""

from __future__ import annotations

from collections.abc import Sequence

from stockade.errors import UsageError


def trailing_command(argv: Sequence[str], usage: str) -> list[str]:
    """The command after `--` (argparse.REMAINDER keeps the `--`); a usage error if none."""
    command = list(argv)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError(f"no command given (usage: {usage})")
    return command
