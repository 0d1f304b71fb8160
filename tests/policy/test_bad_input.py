"""Bad profile input never hangs or crashes (issue 10, items 11-13): non-regular and oversized
files, deep nesting, and long paths all end in a one-line error naming the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from confine_helpers import cli

from stockade.policy import IncludeError, Loader, PolicyError, compile_profiles
from stockade.policy.includes import MAX_FILE_BYTES, read_policy_file


@pytest.mark.parametrize("user", ["root", "nobody"])
@pytest.mark.parametrize("command", [["check"], ["explain", "read", "/etc/passwd", "--profile"]])
def test_device_as_profile_is_refused_quickly(command: list[str], user: str) -> None:
    out = cli(*command, "/dev/zero", user=user, timeout=20)
    assert out.returncode in (1, 2)
    assert "/dev/zero" in out.stderr and "not a regular file" in out.stderr
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr


def test_fifo_profile_and_fifo_include_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(PolicyError, match="not a regular file \\(a FIFO\\)"):
        read_policy_file(fifo)
    prof = tmp_path / "p"
    prof.write_text('include "fifo"\nprofile x {\n /a r,\n}\n')
    with pytest.raises(IncludeError) as err:
        compile_profiles(str(prof), loader=Loader(system=False))
    assert (err.value.file, err.value.line) == (str(prof), 1)
    assert "fifo" in err.value.message and "FIFO" in err.value.message
    out = cli("check", str(prof), timeout=20)
    assert out.returncode == 1 and f"{prof}:1:1:" in out.stderr


def test_device_include_is_refused(tmp_path: Path) -> None:
    prof = tmp_path / "p"
    prof.write_text("profile x {\n include </dev/zero>\n}\n")
    with pytest.raises(IncludeError, match="character device"):
        compile_profiles(str(prof), loader=Loader(system=False))


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(PolicyError, match="too large") as err:
        read_policy_file(big)
    assert str(err.value).startswith(f"{big}: ")
    out = cli("check", str(big), timeout=20)
    assert out.returncode == 1 and "too large" in out.stderr


def test_directory_check_skips_fifo_and_reports_per_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "a-fifo")
    (tmp_path / "good").write_text("profile good {\n /a r,\n}\n")
    out = cli("check", str(tmp_path), timeout=20)
    assert out.returncode == 0, out.stderr
    assert "1 profile(s)" in out.stdout
