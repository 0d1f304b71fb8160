"""Broken profiles raise PolicyError with file:line:col, and the CLI prints a caret."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stockade.errors import StockadeError
from stockade.policy import PolicyError, compile_profiles

from .conftest import compile_text

CASES = [
    # (profile text, line, col, message fragment)
    ("profile t {\n  capability sys_bogus,\n}\n", 2, 14, "Invalid capability sys_bogus"),
    ("profile t {\n  /etc/x r,\n", 1, 11, "unterminated '{'"),
    ("profile t {\n  /etc/x r\n  /etc/y r,\n}\n", 2, 11, "missing ','"),
    ("profile t {\n  /etc/x r\n}\n", 2, 11, "missing ','"),
    ("profile t {\n  @{NOPE}/x r,\n}\n", 2, 3, "NOPE, but is never declared"),
    ("profile t {\n  /a/* px,\n  /a/b* ix,\n}\n", 3, 3, "conflicting x modifiers"),
    ("profile t {\n  /x rwa,\n}\n", 2, 6, "mutually exclusive"),
    ("profile t {\n  /x x,\n}\n", 2, 6, "must be preceded by exec qualifier"),
    ("profile t {\n  deny /x ix,\n}\n", 2, 11, "in deny rules"),
    ("profile t flags=(bogus) {\n}\n", 1, 18, "Invalid profile flag"),
    ("profile t {\n  network bogusfamily,\n}\n", 2, 11, "Invalid network entry"),
    ("@{V}=/a\n@{V}=/b\nprofile t {\n}\n", 2, 1, "previously declared"),
    ("@{V}+=/a\nprofile t {\n}\n", 1, 1, "not previously declared"),
    ("profile t {\n  include <does/not/exist>\n}\n", 2, 3, "Could not open"),
    ("profile t {\n  /a/{b,c r,\n}\n", 2, 3, "unbalanced"),
    ("profile t {\n  signal set=(bogus),\n}\n", 2, 10, "unknown signal"),
    ("profile t {\n  set rlimit nofiles <= 3,\n}\n", 2, 14, "invalid rlimit"),
    ("/etc/x r,\n", 1, 1, "outside of a profile"),
    ("profile t {\n  frobnicate /x,\n}\n", 2, 3, "unknown rule 'frobnicate'"),
    ("profile t {\n  if ${UNSET} {\n  }\n}\n", 2, 3, "unknown boolean"),
    ('profile t {\n  "/unterminated r,\n}\n', 2, 3, "unterminated quoted string"),
]


@pytest.mark.parametrize(("text", "line", "col", "message"), CASES)
def test_error_positions(text: str, line: int, col: int, message: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.prof"
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        compile_profiles(str(path), include_dirs=[str(tmp_path)])
    err = info.value
    assert isinstance(err, StockadeError)
    assert (err.file, err.line, err.col) == (str(path), line, col), str(err)
    assert message in err.message
    assert str(err).startswith(f"{path}:{line}:{col}: ")


def test_caret_points_at_column() -> None:
    with pytest.raises(PolicyError) as info:
        compile_text("profile t {\n\tcapability  nope,\n}\n")
    lines = info.value.caret().split("\n")
    assert lines[0] == "\tcapability  nope,"
    assert lines[1] == "\t" + " " * 12 + "^"


def test_errors_in_included_files_name_that_file(tmp_path: Path) -> None:
    (tmp_path / "abstractions").mkdir()
    (tmp_path / "abstractions" / "bad").write_text("  /ok r,\n  capability nope,\n")
    prof = tmp_path / "p"
    prof.write_text("profile t {\n  include <abstractions/bad>\n}\n")
    with pytest.raises(PolicyError) as info:
        compile_profiles(str(prof), include_dirs=[str(tmp_path)])
    assert info.value.file.endswith("abstractions/bad") and info.value.line == 2


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", "check", *args],
                          capture_output=True, text=True)


def test_cli_error_output(tmp_path: Path) -> None:
    path = tmp_path / "bad"
    path.write_text("profile t {\n  /x r,\n  capability nope,\n}\n")
    out = _cli(str(path))
    assert out.returncode == 1
    assert f"{path}:3:14: error: Invalid capability nope." in out.stderr
    assert "  capability nope,\n             ^" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_cli_json_shape(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_text("profile g {\n  /x r,\n  /bin/sh ix,\n  ^h {\n  }\n}\n")
    bad = tmp_path / "bad"
    bad.write_text("profile b {\n  /x r\n}\n")
    out = _cli("--json", str(good), str(bad))
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert set(doc) == {"ok", "profiles", "errors", "warnings"}
    assert doc["ok"] is False
    assert doc["profiles"] == [{"name": "g", "file": str(good), "rules": 2},
                               {"name": "g//h", "file": str(good), "rules": 0}]
    assert doc["errors"] == [{"file": str(bad), "line": 2, "col": 7,
                              "message": "missing ',' at end of rule"}]
    assert [w["code"] for w in doc["warnings"]] == ["inherit-escape"]
    ok = _cli("--json", str(good))
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True


def test_cli_usage_errors() -> None:
    assert _cli("/no/such/profile").returncode == 2
    assert _cli().returncode == 2
