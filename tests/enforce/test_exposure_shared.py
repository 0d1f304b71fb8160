"""The exposure checks of many paths at one moment share what they learn about the file system
(own_code.paths_exposure's `known`: the mount table, lstat answers of the walks, stats of
ancestors and grants, the grants' positions), and a walked path is not resolved again
(name_chain.exposure passes its physical end as `real`). Neither may change an answer: each
path is judged with the shared answers, in several orders, against a check of its own."""

from __future__ import annotations

import os
import random
from pathlib import Path

from stockade.enforce import name_chain, own_code, status_record
from stockade.enforce.landlock import AccessFs

RW = AccessFs.WRITE_FILE | AccessFs.READ_FILE | AccessFs.MAKE_REG | AccessFs.REMOVE_FILE
RO = AccessFs.READ_FILE


def _tree(root: Path) -> tuple[list[str], list[list[tuple[str, AccessFs]]]]:
    """Paths that are safe, inside a grant, reached through a link in a grant, missing below
    a grant, and the grant sets to judge them against (a grant named through a link too: its
    stat follows the link where a walk's lstat does not)."""
    (root / "grant" / "inner").mkdir(parents=True)
    (root / "safe" / "sub").mkdir(parents=True)
    (root / "safe" / "sub" / "f").write_text("x")
    (root / "safe" / "a").write_text("x")
    (root / "grant" / "g").write_text("x")
    (root / "file").write_text("x")
    (root / "safe" / "link").symlink_to("../grant")  # a link to the grant
    (root / "safe" / "up").symlink_to("../grant/inner")  # up/.. is grant, as the kernel walks
    (root / "grant" / "out").symlink_to("../safe/a")  # a link inside the grant
    (root / "safe" / "tofile").symlink_to("../file")
    os.link(root / "safe" / "sub" / "f", root / "hl")  # judged by inode only
    (root / "safe" / "tohl").symlink_to("../hl")
    paths = [str(root / p) for p in (
        "safe/tohl", "safe", "safe/a", "safe/sub", "safe/sub/f", "safe/link", "safe/link/g",
        "safe/up/../g", "safe/up", "grant", "grant/g", "grant/out", "grant/missing/y",
        "safe/missing/z", "file", "safe/tofile", "nothing")]
    grant_sets = [
        [(str(root / "grant"), RW)],
        [(str(root / "safe" / "link"), RW)],  # the grant by a link's name
        [(str(root / "file"), RW), (str(root / "safe" / "sub"), RO)],
        [(str(root / "safe" / "sub"), RW), (str(root / "safe" / "tofile"), RW)],
        [(str(root / "safe"), RO)],
        [(str(root / "safe" / "tohl"), RW)],  # a link to a hard link of safe/sub/f
    ]
    return paths, grant_sets


def test_shared_answers_equal_a_check_of_its_own(tmp_path: Path) -> None:
    paths, grant_sets = _tree(tmp_path)
    for grants in grant_sets:
        alone = {p: own_code.paths_exposure([p], grants) for p in paths}
        writes = any(int(r) & int(status_record.WRITE_RIGHTS) for _, r in grants)
        assert any(alone.values()) == writes  # the check judges something here
        for seed in range(4):
            order = paths[:]  # as listed first: a walk's lstat of a link the grant names
            if seed:
                random.Random(seed).shuffle(order)
            known: dict[str, object] = {}
            for p in order:
                assert own_code.paths_exposure([p], grants, known) == alone[p], (p, grants)
            assert any(k.startswith("\0lstat ") for k in known) == writes  # shared


def test_known_answers_of_the_first_grant_set_do_not_leak_to_the_next(tmp_path: Path) -> None:
    """One `known` kept across grant sets (the launcher's code, then the profile's inputs,
    with the same grants in run; here different ones): still each set's own answers."""
    paths, grant_sets = _tree(tmp_path)
    known: dict[str, object] = {}
    for grants in grant_sets:
        for p in paths:
            assert own_code.paths_exposure([p], grants, known) == \
                own_code.paths_exposure([p], grants), (p, grants)


def test_a_walks_end_is_its_real_path(tmp_path: Path) -> None:
    paths, grant_sets = _tree(tmp_path)
    for p in paths:
        _links, end, found = name_chain.walk(p)
        if found:
            assert end == os.path.realpath(p), p
            for grants in grant_sets:
                assert status_record.exposure(end, grants, real=end) == \
                    status_record.exposure(end, grants), (p, grants)
    # `..` after a link is the parent of its target, as the kernel walks it
    why = own_code.paths_exposure([str(tmp_path / "safe/up/../g")], grant_sets[0])
    assert why is not None and "grant" in why


def test_a_deep_path_is_judged_without_recursion(tmp_path: Path) -> None:
    """A profile input 1,500 directories deep: judged like any other (the ancestors are
    gathered in a loop, not by recursion)."""
    deep = tmp_path
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(1500):  # by descriptor: the path grows past what one call may name
            os.mkdir("a", dir_fd=fd)
            nxt = os.open("a", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
    finally:
        os.close(fd)
    try:
        deep = str(tmp_path) + "/a" * 1500
        grants = [(str(tmp_path / "a" / "a"), RW)]
        why = own_code.paths_exposure([deep], grants, {})
        assert why is not None and "writable grant" in why
        assert own_code.paths_exposure([deep], [(str(tmp_path / "b"), RW)], {}) is None
    finally:
        _remove_chain(tmp_path, 1500)


def _remove_chain(top: Path, depth: int) -> None:
    """Remove top/a/a/... (`depth` levels) bottom-up by descriptor: pytest's recursive
    rmtree of old temporary directories would exceed the recursion limit."""
    fds = [os.open(top, os.O_RDONLY)]
    try:
        for _ in range(depth - 1):
            fds.append(os.open("a", os.O_RDONLY, dir_fd=fds[-1]))
        while fds:
            fd = fds.pop()
            os.rmdir("a", dir_fd=fd)
            os.close(fd)
    finally:
        for fd in fds:
            os.close(fd)


def test_positions_derived_from_the_directory_are_the_kernels_here() -> None:
    """The host's mounts as any user sees them (as root, test_mount_position adds bind and
    stacked mounts): a walked path's position, derived from its directory's where it is no
    mount point, is the one mount_position.of_path asks the kernel for."""
    import sys

    from stockade.enforce import mount_position

    table = mount_position.mounts()
    asked = ["/", "/dev", "/dev/null", "/dev/shm", "/proc/1", "/sys/fs/cgroup", "/etc/passwd",
             "/etc/apparmor.d/abstractions/base", "/usr/lib", "/nonexistent/x",
             *(m.point for m in table.values()), *sys.path]
    ends = [end for end, found in (name_chain.walk(p)[1:] for p in asked if p) if found]
    shared: dict[str, object] = {}
    for end in ends:
        want = mount_position.of_path(end, table)
        assert status_record._Place(end, None, table, shared, real=end).here == want, end
