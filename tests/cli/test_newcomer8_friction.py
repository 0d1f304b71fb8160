"""Friction left from the last newcomer session, and met again by a newcomer who knows
AppArmor, firejail and bwrap: each fixed, each test failing before its fix."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import hand_to, scratch_for, stockade_as


@pytest.fixture
def scratch(user: str) -> Iterator[Path]:
    d = scratch_for(user, "stockade-nc8-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def nobody_scratch() -> Iterator[Path]:
    d = scratch_for("nobody", "stockade-nc8-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_logprof_apply_in_a_sticky_directory_says_why_it_cannot(nobody_scratch: Path) -> None:
    """`logprof --apply` as nobody on root's world-writable profile in a sticky directory
    (/tmp) ended in `internal error: PermissionError`: the sticky bit lets only the owner
    rename over the file. Now one line says so and what to do, and nothing is left behind."""
    scratch = nobody_scratch
    sticky = scratch / "sticky"
    sticky.mkdir()
    seen = scratch / "seen.txt"
    seen.write_text("seen\n")
    hand_to("nobody", scratch)
    os.chmod(sticky, 0o1777)
    os.chown(sticky, 0, 0)
    prof = sticky / "cat.profile"
    text = ("include <tunables/global>\nprofile cat /usr/bin/cat {\n"
            "  include <abstractions/base>\n  /usr/bin/cat ix,\n}\n")
    prof.write_text(text)
    os.chmod(prof, 0o666)
    log = scratch / "complain.jsonl"
    ran = stockade_as("nobody", "run", "-q", "--complain", "-p", str(prof), "--audit",
                      str(log), "--", "/usr/bin/cat", str(seen), cwd=scratch)
    assert ran.returncode == 0 and ran.stdout == "seen\n", ran.stderr
    applied = stockade_as("nobody", "logprof", "-p", str(prof), "--log", str(log), "--apply",
                          cwd=scratch)
    assert applied.returncode == 2, applied.stderr
    assert "internal error" not in applied.stderr and "Traceback" not in applied.stderr
    lines = applied.stderr.strip().splitlines()
    assert len(lines) == 1, applied.stderr
    assert "sticky directory" in lines[0] and "root's" in lines[0], lines[0]
    assert prof.read_text() == text
    assert sorted(p.name for p in sticky.iterdir()) == ["cat.profile"]
    # the way out it names works: a copy of one's own takes the change
    own = scratch / "cat.profile"
    shutil.copy(prof, own)
    os.chown(own, 65534, 65534)
    again = stockade_as("nobody", "logprof", "-p", str(own), "--log", str(log), "--apply",
                        cwd=scratch)
    assert again.returncode == 0, again.stderr
    assert f"{seen} r," in own.read_text()
