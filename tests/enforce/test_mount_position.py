"""enforce/mount_position.py: positions inside a file system, against the kernel's mountinfo
and stat (real bind mounts, as root)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.enforce import mount_position as mp

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")


@pytest.fixture
def bind(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(source, target): target, whose name holds a space and a backslash (escaped in
    mountinfo), is a bind mount of source/sub."""
    source, target = tmp_path / "src dir", tmp_path / "bind \\ here"
    (source / "sub" / "deep").mkdir(parents=True)
    target.mkdir()
    subprocess.run(["mount", "--bind", str(source / "sub"), str(target)], check=True)
    try:
        yield source, target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def _dev(path: Path) -> str:
    st = os.stat(path)
    return f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"


def test_a_bind_mount_has_its_sources_position(bind: tuple[Path, Path]) -> None:
    source, target = bind
    table = mp.mounts()
    assert any(m.point == str(target) for m in table.values())  # escapes undone
    here = mp.of_path(str(target / "deep"), table)
    assert here is not None and here[0] == _dev(target)
    assert here == mp.of_path(str(source / "sub" / "deep"), table)
    # a missing file: its directory's position and the rest of its name
    assert mp.of_path(str(target / "deep" / "new.jsonl"), table) == (here[0],
                                                                     here[1] + "/new.jsonl")


def test_passed_holds_the_mount_points_that_show_the_file(bind: tuple[Path, Path]) -> None:
    source, target = bind
    table = mp.mounts()
    here = mp.of_path(str(source / "sub" / "deep"), table)
    assert here is not None
    walked = mp.passed(here, table)
    parent = mp.of_path(str(target.parent), table)
    assert parent is not None
    assert mp.covers(parent, walked)  # the grant above the bind's mount point
    above_source = mp.of_path(str(source), table)
    assert above_source is not None and mp.covers(above_source, walked)
    other = source / "other"
    other.mkdir()
    elsewhere = mp.of_path(str(other), table)
    assert elsewhere is not None and not mp.covers(elsewhere, walked)


def test_an_open_descriptor_is_placed_where_it_was_opened(bind: tuple[Path, Path]) -> None:
    source, target = bind
    fd = os.open(target / "deep", os.O_PATH)
    try:
        table = mp.mounts()
        assert mp.of_fd(fd, table) == mp.of_path(str(source / "sub" / "deep"), table)
    finally:
        os.close(fd)
