"""The `stockade` entry point: finds the command modules and runs one.

Every module in `stockade.cli` that defines `COMMAND` (its own module name), `HELP`,
`add_arguments(parser)` and `run(args) -> int` is a sub-command; adding a command is adding a
file. Only the module of the command being run is imported. A command whose options are a
table (`OPTIONS`, cli/_options.py) is parsed without argparse when its argv is plain (`run`:
argparse, with re, gettext and locale, was ~5 ms of every plain run); argparse parses the rest.
"""

from __future__ import annotations

import gc
import os
import sys
from types import ModuleType, SimpleNamespace

import stockade
import stockade.cli
from stockade.cli.output import HumanStream, help_width, printable
from stockade.errors import EXIT_STATUS, StockadeError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse

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
            if stem.startswith("_") or stem in {"main", "output"}:
                continue
            if ext in (".py", ".pyc") or (not ext and os.path.isfile(
                    os.path.join(directory, entry, "__init__.py"))):  # a command's package
                names.add(stem)
    return sorted(names)


def _command_module(name: str) -> ModuleType:
    """importlib.import_module, without importing importlib (and warnings): start-up."""
    __import__(f"stockade.cli.{name}")
    return sys.modules[f"stockade.cli.{name}"]


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
        module = _command_module(name)
        if hasattr(module, "COMMAND") and hasattr(module, "run"):
            found.append(module)
    return found


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser; a sub-parser per command module (only the one `argv` names)."""
    from stockade.cli._parser import Parser

    parser = Parser(prog="stockade", description=stockade.__doc__, epilog=EXIT_STATUS)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    modules = _command_modules(sys.argv[1:] if argv is None else argv)
    for module in modules:
        cmd = sub.add_parser(module.COMMAND, help=module.HELP, description=module.HELP)
        cmd.usage_exit = getattr(module, "USAGE_EXIT", 2)
        if len(modules) == 1:
            parser.usage_exit = cmd.usage_exit
        module.add_arguments(cmd)
        cmd.set_defaults(**_command_defaults(module))
    return parser


def _version() -> str:
    return f"stockade {stockade.__version__}"


def _command_defaults(module: ModuleType) -> dict[str, object]:
    """What the namespace of a command also holds: its `run` and how it wants the process."""
    return {"_run": module.run,
            "_collects_garbage": getattr(module, "COLLECTS_GARBAGE", False),
            "_exit_at_once": getattr(module, "EXIT_AT_ONCE", False),
            "_profile_files": getattr(module, "PROFILE_FILES", ())}


def _fast_args(argv: list[str]) -> SimpleNamespace | None:
    """The namespace argparse would make of `argv`, without argparse (~5 ms of a plain run),
    for a command whose options are a table (`OPTIONS`, cli/_options.py) given in the simple
    forms `fast_parse` reads; None otherwise (argparse parses it)."""
    if not argv or argv[0] not in _command_names():
        return None
    module = _command_module(argv[0])
    options = getattr(module, "OPTIONS", None)
    if options is None or not hasattr(module, "COMMAND") or not hasattr(module, "run"):
        return None
    from stockade.cli._options import fast_parse

    values = fast_parse(options, argv[1:])
    if values is None:
        return None
    return SimpleNamespace(command=module.COMMAND, **values, **_command_defaults(module))


def _fast_version(argv: list[str]) -> bool:
    """`stockade --version` as argparse prints it, where its help width would not wrap it."""
    if argv != ["--version"] or help_width() < len(_version()):
        return False
    sys.stdout.write(_version() + "\n")
    return True


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
            try:  # noqa: SIM105 (contextlib is not imported by `--version`: start-up)
                stream.flush()
            except (OSError, ValueError):  # a closed pipe, a closed stream
                pass
        os._exit(status & 0xFF)
    raise SystemExit(status)


def _find_profiles(args: object) -> None:
    """A command's profile arguments (its PROFILE_FILES) that name a learned profile by its
    file name (`run -p usr.bin.tar`) are that file in the profiles directory
    (cache_home.find_profile)."""
    for dest in args._profile_files:  # type: ignore[attr-defined]
        value = getattr(args, dest, None)
        if not value:
            continue
        from stockade.cache_home import find_profile

        setattr(args, dest, [find_profile(v) for v in value] if isinstance(value, list)
                else find_profile(value))


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
        given = sys.argv[1:] if argv is None else list(argv)
        if _fast_version(given):
            return 0
        args = _fast_args(given)
        if args is None:
            parser = build_parser(argv)
            args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            parser.print_help(sys.stderr)
            return 2
        command = args.command
        _exit_at_once = args._exit_at_once
        _find_profiles(args)
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
