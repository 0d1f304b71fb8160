"""Friction newcomer 7 met (session 7), each test failing before its fix."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import NOBODY, hand_to, scratch_for, stockade_as


@pytest.fixture
def scratch(user: str) -> Iterator[Path]:
    d = scratch_for(user, "stockade-nc7-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _reader(scratch: Path) -> tuple[Path, Path]:
    seen = scratch / "seen.txt"
    seen.write_text("seen\n")
    prof = scratch / "cat.profile"
    prof.write_text(f"include <tunables/global>\nprofile cat /usr/bin/cat {{\n"
                    f"  include <abstractions/base>\n"
                    f"  /usr/bin/cat ix,\n  {seen} r,\n}}\n")
    return prof, seen


def test_no_cache_directory_is_made_where_the_home_is_not_the_users(user: str,
                                                                     scratch: Path) -> None:
    """Some root process with HOME=/nonexistent made /nonexistent/.cache/stockade/plans on
    this VM: a missing HOME was refused already, but an XDG_CACHE_HOME beneath a missing
    directory was made whole (os.makedirs), a HOME of another user's (`sudo -E`) got a
    root-owned .cache/stockade in it, and the SELinux dump cache checked nothing. Now the
    cache is off, `status` says why, and nothing is made."""
    prof, seen = _reader(scratch)
    other = scratch / "others-home"  # a home that belongs to someone else
    other.mkdir()
    hand_to(user, scratch)
    os.chown(other, 4242, 4242)
    missing = scratch / "gone" / ".cache"
    base = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    cases = [({**base, "HOME": str(other)}, f"home {other} belongs to uid 4242"),
             ({**base, "HOME": str(scratch), "XDG_CACHE_HOME": str(missing)},
              f"parent {missing.parent} does not exist"),
             ({**base, "HOME": "/nonexistent"}, "no home directory for this user")]
    for env, why in cases:
        ran = stockade_as(user, "run", "-v", "-p", str(prof), "--", "/usr/bin/cat", str(seen),
                          cwd=scratch, env=env)
        assert ran.returncode == 0, ran.stderr
        assert "plan cache: off" in ran.stderr, ran.stderr
        doc = json.loads(stockade_as(user, "status", "--json", cwd=scratch, env=env).stdout)
        assert doc["plan_cache"]["directory"] is None and why in doc["plan_cache"]["off"], doc
    assert sorted(os.listdir(other)) == [] and not missing.parent.exists()


def test_the_selinux_dump_cache_asks_the_same_place(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    from stockade.modules.selinux.importer import cache_dir

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "stockade" / "selinux"
    if os.geteuid() == 0:  # a home that is not root's
        os.chown(tmp_path, NOBODY, NOBODY)
        assert cache_dir() is None
    monkeypatch.setenv("HOME", "/nonexistent")
    assert cache_dir() is None
