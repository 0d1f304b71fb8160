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


def _derived_equals_asked(paths: list[str]) -> None:
    """Each physical path's position as the exposure checks derive it (from its directory's,
    asking the kernel only at mount points) is what mount_position.of_path asks the kernel,
    with answers shared in either order or not at all."""
    from stockade.enforce import status_record

    table = mp.mounts()
    for order in (paths, paths[::-1]):
        shared: dict[str, object] = {}
        for path in order:
            want = mp.of_path(path, table)
            assert status_record._Place(path, None, table, shared, real=path).here == want, path
            assert status_record._Place(path, None, table, {}, real=path).here == want, path


def test_positions_derived_from_the_directory_are_the_kernels(bind: tuple[Path, Path],
                                                              tmp_path: Path) -> None:
    """Through a bind mount (of a directory, and of a file over a file), a mount over an
    ancestor of another mount (which it hides), and the host's own mounts."""
    source, target = bind
    over, hidden = tmp_path / "over", tmp_path / "over" / "hidden"
    hidden.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "lower", str(hidden)], check=True)
    (hidden / "in-lower").write_text("x")
    subprocess.run(["mount", "-t", "tmpfs", "upper", str(over)], check=True)
    (hidden).mkdir()  # in the upper tmpfs now: the lower one is out of reach by name
    (tmp_path / "file-a").write_text("a")
    (tmp_path / "file-b").write_text("b")
    subprocess.run(["mount", "--bind", str(tmp_path / "file-a"), str(tmp_path / "file-b")],
                   check=True)
    try:
        paths = [str(p) for p in (target, target / "deep", target / "deep" / "gone",
                                  source / "sub" / "deep", source, tmp_path, over, hidden,
                                  hidden / "in-lower", tmp_path / "file-a",
                                  tmp_path / "file-b")]
        _derived_equals_asked([*paths, "/", "/dev", "/dev/null", "/proc/1", "/sys/fs/cgroup",
                               "/etc/passwd", "/usr/lib"])
    finally:
        subprocess.run(["umount", str(tmp_path / "file-b")], check=True)
        subprocess.run(["umount", str(over)], check=True)
        subprocess.run(["umount", str(hidden)], check=True)
