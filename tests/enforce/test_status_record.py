"""The status record's directory checks and its link-proof writing (enforce/status_record.py)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from stockade.enforce import status_record as sr
from stockade.enforce.landlock import AccessFs


def test_writable_grant_is_an_ancestor_with_a_write_right(tmp_path):
    d = str(tmp_path / "run" / "stockade")
    read = AccessFs.READ_FILE | AccessFs.READ_DIR
    assert sr.writable_grant(d, [(str(tmp_path), read)]) is None
    assert sr.writable_grant(d, [(str(tmp_path), AccessFs.MAKE_SYM)]) == str(tmp_path)
    assert sr.writable_grant(d, [(d, AccessFs.WRITE_FILE)]) == d
    assert sr.writable_grant(d, [(d + "/sub", AccessFs.MAKE_REG)]) is None  # beneath: fine
    assert sr.writable_grant(d, [(str(tmp_path / "ru"), AccessFs.MAKE_REG)]) is None


def test_write_and_remove_through_a_pinned_directory(tmp_path):
    d = tmp_path / "stockade"
    victim = tmp_path / "victim"
    victim.write_text("keep")
    d.mkdir(mode=0o700)
    pid = os.getpid()
    (d / f"{pid}.json.tmp").symlink_to(victim)  # planted: replaced, never followed
    rec = sr.write(pid, "p", directory=str(d), layers=["landlock"])
    assert victim.read_text() == "keep"
    data = json.loads((d / f"{pid}.json").read_text())
    assert data["pid"] == pid and data["profile"] == "p"
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    rec.remove()
    assert list(d.iterdir()) == []


@pytest.mark.parametrize("how", ["symlink", "mode"])
def test_directory_not_private_is_refused(tmp_path, how):
    d = tmp_path / "stockade"
    if how == "symlink":
        (tmp_path / "real").mkdir(mode=0o700)
        d.symlink_to(tmp_path / "real")
    else:
        d.mkdir()
        os.chmod(d, 0o755)
    with pytest.raises(sr.RecordDirError):
        sr.write(os.getpid(), "p", directory=str(d))


def test_keeper_warns_once_and_claims_nothing(tmp_path):
    said: list[str] = []
    (tmp_path / "stockade").symlink_to("/")
    keeper = sr.Keeper(str(tmp_path / "stockade"), "p", landlock_abi=0, layers=[],
                       warn=said.append)
    keeper(os.getpid())
    keeper.remove()
    assert keeper.record is None and len(said) == 1 and "symbolic link" in said[0]


def test_runtime_dir_of_another_user_is_not_used(tmp_path, monkeypatch):
    """`sudo -u` keeps the caller's XDG_RUNTIME_DIR: a runtime directory that is not ours is
    skipped quietly (no record, no warning on every run)."""
    import subprocess
    import sys

    os.chmod(tmp_path, 0o755)
    code = ("import os; from stockade.enforce import status_record as sr; "
            "print(sr.record_dir())")
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         user=65534, group=65534, extra_groups=[], cwd="/")
    if out.returncode:
        pytest.skip(f"nobody cannot run this interpreter: {out.stderr.strip()[-80:]}")
    own = os.path.isdir("/run/user/65534") and os.stat("/run/user/65534").st_uid == 65534
    expected = "/run/user/65534/stockade" if own else "None"
    assert out.stdout.strip() == expected


@pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")
def test_writable_grant_on_another_mount_of_an_ancestor_covers_it(tmp_path):
    """Landlock grants inodes: a grant on a bind mount of an ancestor (say of /run) covers the
    record directory although no path of the grant is a prefix of it."""
    import subprocess

    real = tmp_path / "run"
    (real / "stockade").mkdir(parents=True)
    bind = tmp_path / "elsewhere"
    bind.mkdir()
    subprocess.run(["mount", "--bind", str(real), str(bind)], check=True)
    try:
        d = str(real / "stockade")
        assert sr.writable_grant(d, [(str(bind), AccessFs.MAKE_REG)]) == str(bind)
        assert sr.writable_grant(d, [(str(bind / "stockade"), AccessFs.WRITE_FILE)]) \
            == str(bind / "stockade")
        assert sr.writable_grant(d, [(str(bind), AccessFs.READ_FILE)]) is None
    finally:
        subprocess.run(["umount", str(bind)], check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")
def test_a_bind_mount_of_a_directory_below_a_grant_is_exposed(tmp_path):
    """Red team 11: B is a bind mount of A/sub. A grant on A covers B/x (the program writes it
    as A/sub/x), and a grant on B lies inside A although no path says so; a grant beside the
    bind's source covers nothing. Compared by position inside the file system."""
    import subprocess

    a, b = tmp_path / "A", tmp_path / "B"
    (a / "sub" / "d").mkdir(parents=True)
    (a / "other").mkdir()
    b.mkdir()
    subprocess.run(["mount", "--bind", str(a / "sub"), str(b)], check=True)
    try:
        target = str(b / "d" / "audit.jsonl")
        assert sr.writable_grant(target, [(str(a), AccessFs.MAKE_REG)]) == str(a)
        assert sr.writable_grant(target, [(str(a / "other"), AccessFs.MAKE_REG)]) is None
        assert sr.writable_grant(target, [(str(a), AccessFs.READ_FILE)]) is None
        assert sr.exposure(str(a / "sub"), [(str(b / "d"), AccessFs.MAKE_REG)]) \
            == f"holds the writable grant {b / 'd'}"
        assert sr.exposure(str(a / "other"), [(str(b / "d"), AccessFs.MAKE_REG)]) is None
    finally:
        subprocess.run(["umount", str(b)], check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")
def test_a_grant_above_another_mount_point_of_the_file_covers_it(tmp_path):
    """The file is named through its own mount, but a bind mount of its directory lies below a
    grant elsewhere: the program writes it through that mount point."""
    import subprocess

    src, top = tmp_path / "data", tmp_path / "grant"
    src.mkdir()
    (top / "B").mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(src), str(top / "B")], check=True)
    try:
        target = str(src / "audit.jsonl")
        assert sr.writable_grant(target, [(str(top), AccessFs.MAKE_REG)]) == str(top)
    finally:
        subprocess.run(["umount", str(top / "B")], check=True)
