"""`stockade explain` on bad or unusual input (issue 10, items 16 and 17): a one-line error and
exit 2, never an internal error, and never an answer about something the user did not name."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stockade.cli.main import INTERNAL_ERROR_EXIT, main
from stockade.lsm import operations as ops
from stockade.modules.registry import FACTORIES


def explain(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "stockade", "explain", *args],
                          capture_output=True, timeout=60, env=env)


def _target(op: str) -> str:
    if op in ops.NET_OPERATIONS:
        return "127.0.0.1:8080"
    if op in ops.TASK_OPERATIONS:
        return str(os.getpid())
    return "/etc/hostname"


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_every_module_usable_alone_in_lsm(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The class of bug behind `--lsm capability,abac`: a module built with no settings must
    either work or say what it needs, for every operation."""
    for lsm in (name, f"capability,{name}" if name != "capability" else "capability,yama"):
        for op in ops.OPERATIONS:
            status = main(["explain", "--lsm", lsm, "--json", op, _target(op)])
            out, err = capsys.readouterr()
            assert status != INTERNAL_ERROR_EXIT, f"--lsm {lsm} {op}: {err}"
            assert "internal error" not in err
            if status in (0, 1):
                assert json.loads(out)["decision"] in ("allow", "deny")
            else:
                assert status == 2 and err.count("\n") == 1, err


def test_abac_without_policy_has_no_opinion() -> None:
    out = explain("--lsm", "capability,abac", "--json", "read", "/etc/hostname")
    assert out.returncode == 0, out.stderr
    layers = json.loads(out.stdout)["layers"]
    assert not any(layer["module"] == "abac" and layer["verdict"] == "deny" for layer in layers)


def test_non_utf8_path_is_explained_with_raw_bytes_in_the_audit_line(tmp_path) -> None:
    name = os.fsencode(tmp_path) + b"/\xff\xfe"
    out = explain("--json", "--as", "nobody", "read", os.fsdecode(name))
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    assert any(name.hex().upper() in line for line in data["audit"])
    text = explain("--as", "nobody", "read", os.fsdecode(name))
    assert text.returncode == 1 and b"internal error" not in text.stderr


@pytest.mark.parametrize("args", [
    ["read", ""],
    ["--as", "4294967296", "read", "/etc/hostname"],
    ["--as", "4294967295", "read", "/etc/hostname"],
    ["--as", "-1", "read", "/etc/hostname"],
    ["--as", "99999999999999999999999", "read", "/etc/hostname"],
    ["--as", "\u00b2", "read", "/etc/hostname"],
    ["--owner", "4294967296", "read", "/etc/hostname"],
    ["--group", "-5", "read", "/etc/hostname"],
    ["--groups", "0,4294967296", "read", "/etc/hostname"],
    ["--new-owner", "0:4294967296", "chown", "/etc/hostname"],
    ["--mode", "777777777777", "read", "/etc/hostname"],
    ["--mode", "-1", "read", "/etc/hostname"],
    ["--signal", "65", "kill", "1"],
    ["--signal", "-1", "kill", "1"],
    ["--signal", "99999999999999999999", "kill", "1"],
    ["--signal", "\u00b2", "kill", "1"],
    ["kill", "99999999999"],
    ["kill", "0"],
    ["connect", "127.0.0.1:\u0663"],
])
def test_bad_input_is_a_usage_error(args: list[str]) -> None:
    out = explain(*args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr.count(b"\n") == 1 and b"internal error" not in out.stderr


def test_largest_uid_and_signal_zero_are_accepted() -> None:
    assert explain("--as", "4294967294", "read", "/etc/hostname").returncode in (0, 1)
    assert explain("--signal", "0", "kill", str(os.getpid())).returncode in (0, 1)
    assert explain("--signal", "64", "kill", str(os.getpid())).returncode in (0, 1)
