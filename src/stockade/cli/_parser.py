"""The argparse side of the CLI: one-line errors, the help width, "did you mean".

Imported only when argparse parses (cli/main.py: a plain `run` takes the fast path of
cli/_options.py and never imports argparse).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stockade.cli.output import help_width, printable


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
    """argparse with one-line errors and exit status 2; an unknown flag is reported first."""

    #: a command module may set USAGE_EXIT (`run`: 125, so a usage error is never taken for
    #: the program's own status)
    usage_exit = 2
    #: the innermost (sub)command parsed so far: argparse reports unrecognized arguments from
    #: the top-level parser, but the user typed them to this one
    innermost: Parser | None = None
    #: the parsers of this command line, outermost first
    chain: list[Parser] = []
    #: the arguments this parser was given (its sub-command's words and flags)
    given: list[str] = []

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if " " not in self.prog:  # the top-level parser: a new command line
            Parser.chain = []
        Parser.innermost = self
        Parser.chain.append(self)
        self.given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> None:  # type: ignore[override]
        parser = self
        if message.startswith("unrecognized arguments"):
            parser = Parser.innermost or self
        if not message.startswith("ambiguous option"):
            # argparse checks required arguments and choices before it looks at the
            # leftovers: a mistyped flag would be reported as a missing argument
            # (`check --bogus`) or the word after it as a bad choice (`label --bogus set`)
            for outer in Parser.chain or [self]:
                unknown = outer.unknown_options(outer.given)
                if unknown:
                    parser = outer
                    if not message.startswith("unrecognized arguments"):
                        message = f"unrecognized arguments: {' '.join(unknown)}"
                    break
        hint = (parser.nearest_flag() if message.startswith("unrecognized arguments")
                else did_you_mean(message))
        # the whole command path ("stockade label set"), never only its last word
        name = " ".join(["stockade", *parser.prog.split()[1:]])
        sys.stderr.write(f"{name}: {printable(message)}{hint}\n")
        raise SystemExit(self.usage_exit)

    def unknown_options(self, given: list[str]) -> list[str]:
        """The flags in `given` this parser does not know, up to `--` or a sub-command."""
        commands = {name for action in self._actions
                    if isinstance(action, argparse._SubParsersAction)
                    for name in action.choices}
        unknown = []
        for token in given:
            if token == "--" or token in commands:
                break
            if len(token) < 2 or token[0] not in self.prefix_chars:
                continue
            parsed = self._parse_optional(token)
            # a tuple (action, option, argument) before Python 3.12, a list of them after
            options = parsed if isinstance(parsed, list) else [parsed] if parsed else []
            if options and all(option[0] is None for option in options):
                unknown.append(token)
        return unknown

    def nearest_flag(self) -> str:
        """"; did you mean '--output'?" for the first flag given to this parser it lacks."""
        import difflib

        unknown = self.unknown_options(self.given)
        close = difflib.get_close_matches(unknown[0].split("=")[0],
                                          list(self._option_string_actions), n=1, cutoff=0.8
                                          ) if unknown else []
        return f"; did you mean '{close[0]}'?" if close else ""

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=help_width())
