"""The `stockade` entry point: finds the command modules and runs one.

Every module in `stockade.cli` that defines `COMMAND` (its own module name), `HELP`,
`add_arguments(parser)` and `run(args) -> int` is a sub-command; adding a command is adding a
file. Only the module of the command being run is imported.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import sys
from types import ModuleType
from typing import Any

import stockade
import stockade.cli
from stockade.cli.output import HumanStream, printable
from stockade.errors import EXIT_STATUS, StockadeError

INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE
#: set by `_main` when the command run says it may end the process at once (`entry`)
_exit_at_once = False


def _command_names() -> list[str]:
    """Command module names, found without importing them (a directory listing: pkgutil
    alone would add ~5 ms to every start-up)."""
    names = set()
    for directory in stockade.cli.__path__:
        for entry in os.listdir(directory):
            stem, ext = os.path.splitext(entry)
            if ext in (".py", ".pyc") and not stem.startswith("_") and stem not in {"main", "output"}:
                names.add(stem)
    return sorted(names)


def _command_modules(argv: list[str]) -> list[ModuleType]:
    """The command named in `argv` alone (start-up cost matters for `run`), else all of them."""
    names = _command_names()
    wanted = next((a for a in argv if not a.startswith("-")), None)
    if wanted in names:
        names = [wanted]
    elif wanted is None and "--version" in argv:
        return []  # `stockade --version` needs no command (it was 110 ms building all of them)
    found = []
    for name in names:
        module = importlib.import_module(f"stockade.cli.{name}")
        if hasattr(module, "COMMAND") and hasattr(module, "run"):
            found.append(module)
    return found


def _did_you_mean(message: str) -> str:
    """For argparse's "invalid choice: 'rnu' (choose from 'run', ...)": the nearest choice."""
    import difflib
    import re

    found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
    if not found:
        return ""
    choices = re.findall(r"'([^']*)'", found.group(2))
    close = difflib.get_close_matches(found.group(1), choices, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _help_width() -> int:
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


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    #: a command module may set USAGE_EXIT (`run`: 125, so a usage error is never taken for
    #: the program's own status)
    usage_exit = 2
    #: the innermost (sub)command parsed so far: argparse reports unrecognized arguments from
    #: the top-level parser, but the user typed them to this one
    innermost: str = "stockade"

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        _Parser.innermost = self.prog
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> None:  # type: ignore[override]
        # the whole command path ("stockade label set"), never only its last word
        prog = _Parser.innermost if message.startswith("unrecognized arguments") else self.prog
        name = " ".join(["stockade", *prog.split()[1:]])
        sys.stderr.write(f"{name}: {printable(message)}{_did_you_mean(message)}\n")
        raise SystemExit(self.usage_exit)

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=_help_width())


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser; a sub-parser per command module (only the one `argv` names)."""
    parser = _Parser(prog="stockade", description=stockade.__doc__, epilog=EXIT_STATUS)
    parser.add_argument("--version", action="version", version=f"stockade {stockade.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = _command_modules(sys.argv[1:] if argv is None else argv)
    for module in modules:
        cmd = sub.add_parser(module.COMMAND, help=module.HELP, description=module.HELP)
        cmd.usage_exit = getattr(module, "USAGE_EXIT", 2)
        if len(modules) == 1:
            parser.usage_exit = cmd.usage_exit
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run,
                         _collects_garbage=getattr(module, "COLLECTS_GARBAGE", False),
                         _exit_at_once=getattr(module, "EXIT_AT_ONCE", False))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors become one line on stderr and a non-zero status."""
    streams = sys.stdout, sys.stderr
    # Names in our output may be chosen by someone else: nothing unprintable reaches a terminal.
    sys.stdout, sys.stderr = HumanStream(sys.stdout), HumanStream(sys.stderr)  # type: ignore
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = streams


def entry() -> None:
    """The `stockade` console script and `python -m stockade`: `main()`, then exit.

    After a command module that sets EXIT_AT_ONCE = True (`run`: its own finally blocks have
    closed the audit and learn files, removed the status record and stopped its threads), the
    process ends without the interpreter's finalization, which tears down every module and
    object (~10 ms of CPU after a plain run): only stdout and stderr are left to flush.
    """
    status = main()
    if _exit_at_once:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe, a closed stream
                stream.flush()
        os._exit(status & 0xFF)
    raise SystemExit(status)


def _main(argv: list[str] | None) -> int:
    global _exit_at_once
    command = "stockade"
    # Start-up (imports, class creation, the parser) allocates many objects and frees few in
    # cycles: the cyclic collector would run ~30 times for nothing (~5 ms of a plain `run`).
    # It is on again before a command does work whose size depends on its input; a command
    # module that sets COLLECTS_GARBAGE = True turns it on itself (`run`: before the program
    # starts or a profile is compiled).
    collecting = gc.isenabled()
    gc.disable()
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            parser.print_help(sys.stderr)
            return 2
        command = args.command
        _exit_at_once = args._exit_at_once
        if collecting and not args._collects_garbage:
            gc.enable()
        return int(args._run(args))
    except StockadeError as err:
        sys.stderr.write(f"stockade {command}: {printable(err)}\n")
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # A closed pipe (`stockade ... | head`) is not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as err:
        if os.environ.get("STOCKADE_DEBUG"):
            raise
        sys.stderr.write(
            f"stockade {command}: internal error: {type(err).__name__}: {printable(err)} "
            "(set STOCKADE_DEBUG=1 for a traceback)\n"
        )
        return INTERNAL_ERROR_EXIT
    finally:
        if collecting:
            gc.enable()


if __name__ == "__main__":
    entry()
