"""files.realpaths: the same answers as os.path.realpath, path by path (links, missing
components, loops, links to links, relative links, odd spellings)."""

from __future__ import annotations

import os

from stockade.files import realpaths


def test_realpaths_agree_with_os_path_realpath(tmp_path):
    t = tmp_path
    (t / "d" / "e").mkdir(parents=True)
    (t / "d" / "e" / "f.txt").write_text("x")
    (t / "l1").symlink_to(t / "d")
    (t / "l2").symlink_to("l1")  # relative, to a link
    (t / "d" / "up").symlink_to("..")
    (t / "loop").symlink_to("loop")
    (t / "d" / "e" / "abs").symlink_to("/usr")
    names = ["d", "d/e/f.txt", "l1/e/f.txt", "l2/e", "l2/e/f.txt", "d/up/l1/e",
             "missing/x/y", "l1/missing/z", "loop", "loop/x", "d/e/abs/bin", "d/e/abs",
             "l2/./e", "l2//e", "l2/e/", "l1/../d", "."]
    paths = [str(t / n) if n != "." else str(t) + "/." for n in names]
    paths += ["/", "/usr/bin", "/bin/sh", "/lib64", "relative/x", "/proc/self/fd", "/" + "a/" * 300]
    assert realpaths(paths) == [os.path.realpath(p) for p in paths]
    # the same paths in another order (the shared work is memoized in between)
    assert realpaths(paths[::-1]) == [os.path.realpath(p) for p in paths[::-1]]
