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


def test_vouched_paths_are_taken_as_they_are(tmp_path, monkeypatch):
    """A path the plan cache vouched for (its recorded answers showed it is its own real path)
    is answered without a system call; the others are still resolved."""
    from stockade import files

    (tmp_path / "d").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "d")
    monkeypatch.setattr(files, "_vouched", set())
    files.vouch_real([str(tmp_path / "d" / "x")])
    asked = []
    real_lstat = os.lstat
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: asked.append(p) or real_lstat(p, *a, **k))
    assert realpaths([str(tmp_path / "d" / "x"), str(tmp_path / "link" / "y")]) == \
        [str(tmp_path / "d" / "x"), str(tmp_path / "d" / "y")]
    assert str(tmp_path / "d" / "x") not in asked and str(tmp_path / "link") in asked


def test_known_paths_are_taken_as_they_are_for_that_call_only(tmp_path, monkeypatch):
    """`known` (prepare's grants opened with no link on the way) answers like a vouched path,
    in the call it is given to only."""
    import stockade.files as files

    (tmp_path / "d").mkdir()
    known = frozenset({str(tmp_path / "d" / "x")})
    asked = []
    real_lstat = os.lstat
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: asked.append(p) or real_lstat(p, *a, **k))
    assert files.realpaths([str(tmp_path / "d" / "x")], known) == [str(tmp_path / "d" / "x")]
    assert asked == []
    # beneath a known path, only the new component is asked about
    assert files.realpaths([str(tmp_path / "d" / "x" / "y")], known) == \
        [str(tmp_path / "d" / "x" / "y")]
    assert asked == [str(tmp_path / "d" / "x" / "y")]
    asked.clear()
    assert files.realpaths([str(tmp_path / "d" / "x")]) == [str(tmp_path / "d" / "x")]
    assert str(tmp_path / "d" / "x") in asked


def test_vouched_false_looks_at_vouched_paths_too(tmp_path, monkeypatch):
    """The plan cache's re-check (fsview.still_valid) takes no vouched path on trust: what
    was vouched in an earlier check may have become a link since."""
    from stockade import files

    (tmp_path / "d").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "d")
    monkeypatch.setattr(files, "_vouched", set())
    files.vouch_real([str(tmp_path / "link")])  # stale: it is a link now
    assert realpaths([str(tmp_path / "link")]) == [str(tmp_path / "link")]  # trusted
    assert realpaths([str(tmp_path / "link")], vouched=False) == [str(tmp_path / "d")]


def test_the_recheck_of_real_paths_sees_a_link_put_in_place(tmp_path, monkeypatch):
    """fsview.still_valid answers the recorded real paths in one batch (files.realpaths):
    unchanged answers hold, a directory replaced by a link is named, also when vouched."""
    from stockade import files, fsview

    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "l").symlink_to("d")
    names = ["d", "d/sub", "d/sub/f", "l/sub", "missing/x", "d/../l"]
    paths = [str(tmp_path / n) for n in names] + ["relative/x"]
    recorded = [("r", p, os.path.realpath(p)) for p in paths]
    assert fsview.still_valid(recorded) is None
    monkeypatch.setattr(files, "_vouched", set())
    files.vouch_real([str(tmp_path / "d" / "sub"), str(tmp_path / "d" / "sub" / "f")])
    (tmp_path / "d" / "sub").rmdir()
    (tmp_path / "d" / "sub").symlink_to(tmp_path / "other")
    assert fsview.still_valid(recorded) == f"r {tmp_path / 'd' / 'sub'}"
    # the first changed answer, in the recorded order
    assert fsview.still_valid(recorded[2:]) == f"r {tmp_path / 'd' / 'sub' / 'f'}"
