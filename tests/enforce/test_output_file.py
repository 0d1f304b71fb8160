"""Files the unconfined launcher writes (enforce/output_file.py): never through a link."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stockade.enforce.landlock import AccessFs
from stockade.enforce.output_file import RecordFile, open_output, open_unexposed
from stockade.errors import StockadeError


def test_a_symbolic_link_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    (tmp_path / "log").symlink_to(victim)
    with pytest.raises(StockadeError, match="symbolic link"):
        open_output(str(tmp_path / "log"), "audit file")
    with pytest.raises(StockadeError, match="symbolic link"):
        open_output(str(tmp_path / "log"), "profile", truncate=True)
    assert victim.read_text() == "keep\n"


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(StockadeError, match=r"cannot open|not a regular file"):
        open_output(str(tmp_path / "fifo"), "audit file")


def test_append_and_truncate(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("old\n")
    out = RecordFile(open_output(str(path), "audit file"), str(path))
    out.write("new\n")
    out.close()
    assert path.read_text() == "old\nnew\n"
    fd = open_output(str(path), "profile", truncate=True)
    os.write(fd, b"x")
    os.close(fd)
    assert path.read_text() == "x"


def test_a_directory_inside_a_writable_grant_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    log = tmp_path / "a" / "log"
    with pytest.raises(StockadeError, match="lies inside the writable grant"):
        open_unexposed(str(log), "audit records", "--audit", [(str(tmp_path), AccessFs.WRITE_FILE)])
    assert not log.exists()  # refused before anything was created
    os.close(open_unexposed(str(log), "audit records", "--audit",
                            [(str(tmp_path), AccessFs.READ_FILE)]))


def test_the_file_or_another_link_of_it_in_a_grant_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("")
    with pytest.raises(StockadeError, match=f"is writable through the grant {log}"):
        open_unexposed(str(log), "audit records", "--audit", [(str(log), AccessFs.TRUNCATE)])
    (tmp_path / "w").mkdir()
    os.link(log, tmp_path / "w" / "alias")
    with pytest.raises(StockadeError, match="has 2 hard links"):
        open_unexposed(str(log), "audit records", "--audit",
                       [(str(tmp_path / "w"), AccessFs.MAKE_REG)])


def test_learn_does_not_write_its_profile_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    out = tmp_path / "prof"
    out.symlink_to(victim)
    res = subprocess.run([sys.executable, "-m", "stockade", "learn", "-o", str(out), "--",
                          "/usr/bin/true"], capture_output=True, text=True, timeout=120)
    assert victim.read_text() == "keep\n"
    assert res.returncode != 0 and "symbolic link" in res.stderr, res
    assert "Traceback" not in res.stderr


def test_dotdot_after_a_link_meets_the_link(tmp_path: Path) -> None:
    """Red team 11: `W/lnk/..` is where lnk points to's parent for the kernel; it was
    shortened as text to W (the file opened was not the file checked). The walk meets the
    link and refuses it; `..` without a link opens the parent."""
    (tmp_path / "w").mkdir()
    (tmp_path / "safe" / "sub").mkdir(parents=True)
    (tmp_path / "w" / "lnk").symlink_to(tmp_path / "safe" / "sub")
    with pytest.raises(StockadeError, match=f"{tmp_path}/w/lnk is a symbolic link"):
        open_output(str(tmp_path / "w" / "lnk" / ".." / "a.jsonl"), "audit file")
    assert not (tmp_path / "w" / "a.jsonl").exists()
    assert not (tmp_path / "safe" / "a.jsonl").exists()
    os.close(open_output(str(tmp_path / "safe" / "sub" / ".." / "a.jsonl"), "audit file"))
    assert (tmp_path / "safe" / "a.jsonl").exists()
