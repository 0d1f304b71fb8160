"""Out-of-range and ill-typed numbers on the command line are usage errors (issue 10, item 17):
TCP ports (ASCII digits, 0-65535) and module options of `run`."""

from __future__ import annotations

import subprocess
import sys

import pytest


def stockade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("args", [
    ["--connect-tcp", "\u0663"],
    ["--bind-tcp", "-1"],
    ["--connect-tcp", "99999999999999999999"],
    ["--mode", "enforce", "--lsm", "capability,yama", "--module-option", "yama.scope=99"],
    ["--mode", "enforce", "--lsm", "capability,yama", "--module-option", "yama.bogus=1"],
    ["--mode", "enforce", "--lsm", "capability,biba", "--module-option", "biba.default_level=7"],
])
def test_run_rejects_bad_numbers_and_options(args: list[str]) -> None:
    out = stockade("run", *args, "--rx", "/usr", "--", "/bin/true")
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert out.stderr.count("\n") == 1 and "internal error" not in out.stderr
