"""A command that is a package (cli/run/, cli/explain/) exposes every name of the command
protocol its command module defines: cli/main.py asks the package, not the module."""

from __future__ import annotations

import importlib

import pytest

from stockade.cli import main

#: the names cli/main.py reads from a command (getattr with a default for the optional ones)
PROTOCOL = ("COMMAND", "HELP", "USAGE_EXIT", "OPTIONS", "COLLECTS_GARBAGE", "EXIT_AT_ONCE",
            "PROFILE_FILES", "add_arguments", "run")


def _packages() -> list[str]:
    return [name for name in main._command_names()
            if hasattr(importlib.import_module(f"stockade.cli.{name}"), "__path__")]


def test_run_and_explain_are_found_as_packages() -> None:
    assert {"run", "explain"} <= set(_packages())


@pytest.mark.parametrize("name", _packages())
def test_a_command_package_exposes_its_module_protocol(name: str) -> None:
    package = importlib.import_module(f"stockade.cli.{name}")
    command = importlib.import_module(f"stockade.cli.{name}.command")
    missing = [attr for attr in PROTOCOL if hasattr(command, attr)
               and getattr(package, attr, None) is not getattr(command, attr)]
    assert not missing, f"stockade.cli.{name} does not expose {missing}"
