"""link_walk.follow, the one component-by-component walk name_chain and grant_path ask, checked
against the kernel's own lookup (open O_PATH, then /proc/self/fd), and the two callers'
answers on the same trees."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.enforce import link_walk, name_chain
from stockade.enforce.grant_path import resolve_grant
from stockade.errors import StockadeError


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    """real/{a/b/file,c}; rel -> real/a; abs -> /…/real/a/b; up -> rel/..; hop -> up/c;
    loop1 <-> loop2; dangling -> real/none/x."""
    (tmp_path / "real/a/b").mkdir(parents=True)
    (tmp_path / "real/a/b/file").write_text("x")
    (tmp_path / "real/c").mkdir()
    (tmp_path / "rel").symlink_to("real/a")
    (tmp_path / "abs").symlink_to(tmp_path / "real/a/b")
    (tmp_path / "up").symlink_to("rel/..")
    (tmp_path / "hop").symlink_to("up/c")
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    (tmp_path / "dangling").symlink_to("real/none/x")
    yield tmp_path


def _kernel(path: Path) -> str:
    fd = os.open(path, os.O_PATH)
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


@pytest.mark.parametrize("name", ["rel/b/file", "abs/file", "up", "up/c", "hop", "rel/../c",
                                  "abs/../../c", "real/./a/b/../b/file"])
def test_follow_reaches_what_the_kernel_reaches(tree, name):
    walked = link_walk.follow(str(tree / name))
    assert walked.stop is None and walked.rest == []
    assert walked.reached == _kernel(tree / name)


def test_follow_names_the_directory_of_every_link_passed(tree):
    real = os.path.realpath(tree)
    walked = link_walk.follow(str(tree / "hop"))
    # hop (in tree) -> up (in tree) -> rel (in tree): rel/.. is real/, then c
    assert walked.links == [real, real, real]
    assert name_chain.walk(str(tree / "abs/file")) == ([real], f"{real}/real/a/b/file", True)


def test_a_missing_name_stops_the_walk_at_its_nearest_existing_ancestor(tree):
    walked = link_walk.follow(str(tree / "dangling/y"))
    assert walked.stop == link_walk.MISSING
    assert walked.reached == os.path.realpath(tree / "real")
    assert walked.rest == ["none", "x", "y"]
    assert resolve_grant(str(tree / "real/none/x"), "--ro").endswith("/real/none/x")


def test_a_link_loop_stops_as_the_kernels_lookup_does(tree):
    with pytest.raises(OSError) as err:
        os.open(tree / "loop1", os.O_PATH)
    assert err.value.errno == errno.ELOOP
    walked = link_walk.follow(str(tree / "loop1"))
    assert walked.stop == link_walk.LOOP and len(walked.links) == link_walk.MAX_LINKS + 1
    assert name_chain.walk(str(tree / "loop1"))[2] is False


def test_resolve_grant_follows_only_links_no_sandbox_could_plant(tree):
    """Debian's /bin -> usr/bin is root's, in root's / (followed); a link under a temporary
    directory is refused, naming it and its target."""
    if os.path.islink("/bin"):
        assert resolve_grant("/bin/sh", "--rx") == os.path.realpath("/bin/sh")
    with pytest.raises(StockadeError) as err:
        resolve_grant(str(tree / "rel/b"), "--rw")
    assert f"{tree}/rel is a symbolic link (to real/a)" in str(err.value)
    assert err.value.exit_code == 125
