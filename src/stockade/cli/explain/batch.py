"""`stockade explain --batch`: many questions, one process, one JSON answer per line.

A question is `OP TARGET [OPTIONS]` as on the command line, or a JSON object whose keys are
the long option names (`{"op": "read", "target": "/etc/shadow", "as": "nobody"}`). The
command line's options are every question's defaults. The stack (and the --profile plan, and
the SELinux policy) of a configuration is built once and kept in a small LRU cache.
"""

from __future__ import annotations

import argparse
import copy
import json
import shlex
import sys
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import IO, Any

from stockade.cli import progress
from stockade.cli.explain.evaluate import (
    Configured,
    answer,
    answer_json,
    config_key,
    configure,
    subject_key,
    subject_of,
)
from stockade.errors import StockadeError, UsageError
from stockade.files import require_input
from stockade.lsm.types import Subject

MAX_CONFIGS = 8  # stacks kept
MAX_POLICY_CONFIGS = 2  # of which holding an SELinux policy (~170 MB each for Debian's)
MAX_SUBJECTS = 256
MAX_LINE = 1 << 16
ALLOWED, DENIED, BAD = 0, 1, 2
_POSITIONAL_KEYS = {"op": "operation", "operation": "operation", "target": "target"}


class _LineParser(argparse.ArgumentParser):
    """The question options; an error is an exception (one line of the batch), not an exit."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(message)


def line_parser() -> argparse.ArgumentParser:
    """A parser of one question: explain's question options, no --batch, no help."""
    from stockade.cli.explain.args import add_question_arguments

    parser = _LineParser(prog="explain", add_help=False)
    add_question_arguments(parser)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # always JSON
    return parser


def json_tokens(parser: argparse.ArgumentParser, question: dict[str, Any]) -> list[str]:
    """A JSON question as command-line words: keys are long option names (`new-mode` or
    `new_mode`), lists repeat an option, true sets a flag, false and null leave it out."""
    options = {opt: act for act in parser._actions for opt in act.option_strings}
    words: list[str] = []
    positional: dict[str, str] = {}
    for key, value in question.items():
        if key in _POSITIONAL_KEYS:
            if not isinstance(value, str):
                raise UsageError(f"{key!r} must be a string")
            positional[_POSITIONAL_KEYS[key]] = value
            continue
        flag = "--" + key.replace("_", "-")
        action = options.get(flag)
        if action is None:
            raise UsageError(f"unknown field {key!r}")
        if value is None or value is False:
            continue
        if value is True:
            if action.nargs != 0:
                raise UsageError(f"{key!r} needs a value, not true")
            words.append(flag)
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise UsageError(f"{key!r}: expected a string or a number, not {item!r}")
            words += [flag, str(item)]
    return [*words, "--", *(positional.get(k, "") for k in ("operation", "target") if k in positional)]


def question_words(parser: argparse.ArgumentParser, line: str) -> list[str]:
    """The words of one question line (text or JSON)."""
    text = line.strip()
    if text.startswith("{"):
        try:
            question = json.loads(text)
        except ValueError as err:
            raise UsageError(f"bad JSON: {err}") from None
        if not isinstance(question, dict):
            raise UsageError("a JSON question must be an object")
        return json_tokens(parser, question)
    try:
        return shlex.split(text)
    except ValueError as err:
        raise UsageError(f"bad quoting: {err}") from None


def _holds_policy(conf: Configured) -> bool:
    return any(m.name == "selinux" for m in conf.stack.modules)


class Batch:
    """Answers questions against configurations built once (LRU, MAX_CONFIGS)."""

    def __init__(self, defaults: argparse.Namespace) -> None:
        self.defaults = defaults
        self.parser = line_parser()
        self.configs: OrderedDict[tuple[Any, ...], Configured] = OrderedDict()
        self.subjects: OrderedDict[tuple[Any, ...], Subject] = OrderedDict()

    def configured(self, args: argparse.Namespace) -> Configured:
        """The stack and plan of `args`' configuration, from the cache when it is there."""
        key = config_key(args)
        found = self.configs.get(key)
        if found is not None:
            self.configs.move_to_end(key)
            return found
        found = configure(args)
        self.configs[key] = found
        if len(self.configs) > MAX_CONFIGS:
            self.configs.popitem(last=False)
        with_policy = [k for k, c in self.configs.items() if _holds_policy(c)]
        for old in with_policy[:-MAX_POLICY_CONFIGS]:  # the least recently used go first
            del self.configs[old]
        return found

    def ask(self, line: str | None) -> dict[str, Any]:
        """The JSON answer of one question line (raises UsageError for a bad one; None is a
        line that was too long to read)."""
        if line is None or len(line) > MAX_LINE:
            raise UsageError(f"question longer than {MAX_LINE} characters")
        args = self.parser.parse_args(question_words(self.parser, line),
                                      namespace=copy.copy(self.defaults))
        if not args.operation or not args.target:
            raise UsageError("a question needs OPERATION and TARGET")
        conf = self.configured(args)
        key = subject_key(args, conf)
        subject = self.subjects.get(key)
        if subject is not None:
            self.subjects.move_to_end(key)
        else:
            try:
                subject = subject_of(args, conf.apparmor_label)
            except StockadeError as err:
                raise UsageError(str(err)) from None
            self.subjects[key] = subject
            if len(self.subjects) > MAX_SUBJECTS:
                self.subjects.popitem(last=False)
        return answer_json(conf, answer(conf, args, subject))


def bounded_lines(stream: IO[str]) -> Iterator[str | None]:
    """The lines of `stream`, None for one longer than MAX_LINE (read past, never held)."""
    while line := stream.readline(MAX_LINE + 1):
        if len(line) <= MAX_LINE or line.endswith("\n"):
            yield line
            continue
        while (rest := stream.readline(MAX_LINE)) and not rest.endswith("\n"):
            pass
        yield None


def answers(batch: Batch, lines: Iterable[str | None]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(status, answer) per question; blank lines and # comments are skipped but counted."""
    for number, line in enumerate(lines, 1):
        if line is not None and (not line.strip() or line.lstrip().startswith("#")):
            continue
        try:
            found = batch.ask(line)
            status = ALLOWED if found["decision"] == "allow" else DENIED
        except StockadeError as err:
            found, status = {"error": str(err)}, BAD
        except Exception as err:  # a bug must not stop the batch: say it, go on
            found, status = {"error": f"internal error: {type(err).__name__}: {err}"}, BAD
        found["line"] = number
        yield status, found


def _open(path: str) -> IO[str]:
    if path == "-":
        return sys.stdin
    try:
        require_input(path, "--batch", fifo=True)
        return open(path, encoding="utf-8", errors="replace")
    except OSError as err:
        raise UsageError(f"--batch: cannot open {path}: {err.strerror}") from None
    except StockadeError as err:
        raise UsageError(str(err)) from None


def run_batch(args: argparse.Namespace) -> int:
    """Answer every question of --batch FILE (or stdin): 0 if all were allowed, 1 if any was
    denied, 2 if any question was bad."""
    if args.operation is not None or args.target is not None:
        raise UsageError("--batch reads the questions: give no OPERATION or TARGET")
    stream = _open(args.batch)
    out = sys.stdout
    worst = ALLOWED
    try:
        for status, found in answers(Batch(args), progress.iterate(
                bounded_lines(stream), "questions", unit="q", show=stream is not sys.stdin)):
            worst = max(worst, status)
            out.write(json.dumps(found, sort_keys=True, separators=(",", ":"), default=str) + "\n")
            out.flush()
    finally:
        if stream is not sys.stdin:
            stream.close()
    return worst
