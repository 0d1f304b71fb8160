"""`stockade learn -o P` onto an existing profile adds only what is missing; --overwrite
replaces it. Real programs, learned and then enforced, as root and as nobody."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import NOBODY, PY, USER_ENV, hand_to, scratch_for, stockade_as

ENV = USER_ENV


@pytest.fixture
def work(user: str) -> Iterator[Path]:
    d = scratch_for(user, "stockade-merge-")
    (d / "a.txt").write_text("from a\n")
    (d / "b.txt").write_text("from b\n")
    hand_to(user, d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def reader(path: Path) -> list[str]:
    return [PY, "-c", f"print(open({str(path)!r}).read(), end='')"]


def test_learn_merges_into_an_existing_profile(user: str, work: Path) -> None:
    profile = work / "p.profile"
    a, b = reader(work / "a.txt"), reader(work / "b.txt")
    first = stockade_as(user, "learn", "-o", str(profile), "--", *a, cwd=work)
    assert first.returncode == 0, first.stderr
    # the user's own edits: a comment and a rule of their own
    text = profile.read_text().replace("{\n", "{\n  # hand-written, keep\n  /etc/hostname r,\n", 1)
    profile.write_text(text)

    second = stockade_as(user, "learn", "-o", str(profile), "--", *b, cwd=work)
    assert second.returncode == 0, second.stderr
    merged = profile.read_text()
    old_lines, new_lines = text.splitlines(), merged.splitlines()
    added = list(new_lines)
    for line in old_lines:  # every old line is kept, in order
        assert line in added, (line, merged)
        del added[added.index(line)]
    assert added == [f"  {work / 'b.txt'} r,"], merged
    assert "added to" in second.stderr
    check = stockade_as(user, "check", str(profile), cwd=work)
    assert check.returncode == 0, check.stdout + check.stderr
    for cmd, out in ((a, "from a\n"), (b, "from b\n")):
        run = stockade_as(user, "run", "-p", str(profile), "--", *cmd, cwd=work)
        assert (run.returncode, run.stdout) == (0, out), run.stderr

    # nothing new: the file is left as it is
    again = stockade_as(user, "learn", "-o", str(profile), "--", *b, cwd=work)
    assert again.returncode == 0, again.stderr
    assert profile.read_text() == merged

    # --overwrite replaces it: the hand edits and a's rule are gone, a is refused again
    over = stockade_as(user, "learn", "--overwrite", "-o", str(profile), "--", *b, cwd=work)
    assert over.returncode == 0, over.stderr
    replaced = profile.read_text()
    assert "hand-written" not in replaced and "a.txt" not in replaced
    refused = stockade_as(user, "run", "-p", str(profile), "--", *a, cwd=work)
    assert refused.returncode != 0 and "PermissionError" in refused.stderr


def test_learn_refuses_to_merge_into_a_file_that_is_not_a_profile(user: str,
                                                                  work: Path) -> None:
    profile = work / "notes.txt"
    profile.write_text("these are my notes {\n")
    if user == "nobody":
        os.lchown(profile, NOBODY, NOBODY)
    marker = work / "ran"
    res = stockade_as(user, "learn", "-o", str(profile), "--", "touch", str(marker), cwd=work)
    assert res.returncode != 0
    assert "--overwrite" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert profile.read_text() == "these are my notes {\n"
    assert not marker.exists()  # refused before the program ran
