"""The argparse side of the CLI: one-line errors, the help width, "did you mean".

Imported only when argparse parses (cli/main.py: a plain `run` takes the fast path of
cli/_options.py and never imports argparse).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stockade.cli.main import _help_width
from stockade.cli.output import printable


def did_you_mean(message: str) -> str:
    """For argparse's "invalid choice: 'rnu' (choose from 'run', ...)": the nearest choice."""
    import difflib
    import re

    found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
    if not found:
        return ""
    choices = re.findall(r"'([^']*)'", found.group(2))
    close = difflib.get_close_matches(found.group(1), choices, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    #: a command module may set USAGE_EXIT (`run`: 125, so a usage error is never taken for
    #: the program's own status)
    usage_exit = 2
    #: the innermost (sub)command parsed so far: argparse reports unrecognized arguments from
    #: the top-level parser, but the user typed them to this one
    innermost: str = "stockade"

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        Parser.innermost = self.prog
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> None:  # type: ignore[override]
        # the whole command path ("stockade label set"), never only its last word
        prog = Parser.innermost if message.startswith("unrecognized arguments") else self.prog
        name = " ".join(["stockade", *prog.split()[1:]])
        sys.stderr.write(f"{name}: {printable(message)}{did_you_mean(message)}\n")
        raise SystemExit(self.usage_exit)

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=_help_width())


