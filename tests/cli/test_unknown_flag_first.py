"""An unknown flag is what every command reports first, in one line (`check --bogus` said the
profile was missing): argparse checks required arguments and choices before leftovers."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from stockade.cli.main import build_parser, main


def _commands() -> list[list[str]]:
    """Every command and sub-command path (`["label", "set"]`), from the real parser."""
    paths = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if path:
            paths.append(path)
        for action in subs:
            for name, child in action.choices.items():
                walk(child, [*path, name])

    walk(build_parser(["__all__"]), [])
    return paths


COMMANDS = _commands()


def test_every_command_is_covered() -> None:
    assert {path[0] for path in COMMANDS} >= {
        "analyze", "audit", "check", "compile", "completion", "explain", "export", "import",
        "label", "learn", "logprof", "notify", "run", "status"}
    assert ["label", "set"] in COMMANDS and ["audit", "export"] in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_unknown_flag_is_reported_first(path: list[str], capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*path, "--bogus-flag"])
    err = capsys.readouterr().err
    assert exit_.value.code == (125 if path == ["run"] else 2)
    assert err == f"stockade {' '.join(path)}: unrecognized arguments: --bogus-flag\n", err


@pytest.mark.parametrize("argv, expected", [
    # a required argument is missing too: the flag is still what is named
    (["check", "--bogus"], "stockade check: unrecognized arguments: --bogus\n"),
    (["logprof", "--bogus", "--log", "x"], "stockade logprof: unrecognized arguments: --bogus\n"),
    # the word after it is not taken for a bad choice of sub-command
    (["label", "--bogus", "set"], "stockade label: unrecognized arguments: --bogus\n"),
    # a near miss names the flag meant
    (["check", "--jsn", "p"],
     "stockade check: unrecognized arguments: --jsn; did you mean '--json'?\n"),
    (["label", "set", "--modle", "biba", "x"],
     "stockade label set: unrecognized arguments: --modle; did you mean '--module'?\n"),
])
def test_flag_before_other_errors(argv: list[str], expected: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err == expected


def test_flags_of_the_program_are_not_stockades() -> None:
    """After `--` the words are the program's (learn runs it; nothing is reported)."""
    out = subprocess.run([sys.executable, "-m", "stockade", "check", "--", "--bogus"],
                         capture_output=True, text=True, timeout=60)
    assert "unrecognized" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
