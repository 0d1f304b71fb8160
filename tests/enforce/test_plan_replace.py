"""Files the profile lets the program create or replace are granted through their directory.

A rule bound to an inode that the program replaces (unlink + create, rename over it: what
gcc, make, tar and editors do) covers nothing afterwards; the plan compiler grants such names
through their directory with the narrowest rights and reports it approximated. The kernel
decides in the confined tests.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import cli, policy_dir, unconfinable_reason

from stockade.enforce import landlock as ll
from stockade.enforce.plan.profile import compile_plan
from stockade.enforce.plan.types import CoverageStatus
from stockade.policy import compile_profiles

A = ll.AccessFs
REPLACE = (A.WRITE_FILE | A.TRUNCATE | A.IOCTL_DEV | A.MAKE_REG | A.REMOVE_FILE | A.MAKE_SYM
           | A.MAKE_FIFO | A.MAKE_SOCK)


def plan_of(tmp_path: Path, body: str):
    path = tmp_path / "p.aa"
    path.write_text(f"profile t {{\n{body}\n}}\n")
    return compile_plan(compile_profiles(str(path))[0], abi=7)


def rules(pp) -> dict[str, A]:
    return {r.path: r.access for r in pp.plan.fs_rules}


def entry(pp, text: str):
    return next(e for e in pp.coverage.entries if e.rule.startswith(text))


@pytest.fixture
def work(tmp_path: Path) -> Path:
    d = tmp_path / "w"
    (d / "out").mkdir(parents=True)
    (d / "t").write_text("old")
    (d / "src.c").write_text("c")
    return d


def test_existing_file_with_w_is_granted_through_its_directory(tmp_path: Path, work: Path):
    pp = plan_of(tmp_path, f"{work}/t rw,\n{work}/src.c r,")
    got = rules(pp)
    assert got[str(work)] == REPLACE | A.READ_FILE
    assert A.REMOVE_DIR not in got[str(work)] and A.READ_DIR not in got[str(work)]
    e = entry(pp, f"{work}/t rw")
    assert e.status is CoverageStatus.APPROXIMATED
    assert f"granted through {work} " in e.detail and "new inode" in e.detail
    assert "narrower" not in e.detail
    # a read-only rule binds to the inode as before: the program cannot replace that file
    assert entry(pp, f"{work}/src.c r").status is CoverageStatus.EXACT


def test_missing_file_and_new_directory(tmp_path: Path, work: Path):
    pp = plan_of(tmp_path, f"{work}/out/repo.tar w,\n{work}/new/ w,\n{work}/new/x.o w,\n"
                           f"{work}/gone/deep/y w,")
    got = rules(pp)
    assert got[f"{work}/out"] == REPLACE
    # new/ may be made (w on the directory), so new/x.o goes through work/
    assert got[str(work)] >= A.MAKE_DIR | A.REMOVE_DIR | A.MAKE_REG
    assert "not present at launch" not in entry(pp, f"{work}/out/repo.tar w").detail
    # gone/ may not be made: its file grants nothing, and says so
    assert "not present at launch" in entry(pp, f"{work}/gone/deep/y w").detail


def test_globs_in_the_last_component_go_through_their_directory(tmp_path: Path, work: Path):
    pp = plan_of(tmp_path, f"{work}/out/* w,\n{work}/*/deep.o w,\n{work}/out/*.log a,")
    got = rules(pp)
    assert got[f"{work}/out"] >= A.WRITE_FILE | A.MAKE_REG | A.REMOVE_FILE
    assert str(work) not in got  # `*/deep.o` is expanded, never widened to its tree


def test_a_tree_rule_does_not_make_file_rules_climb(tmp_path: Path, work: Path):
    """`/srv/work/** rw` lets the program make any directory beneath it, but binds at its own
    root: a file rule inside goes through its own directory, never above the tree."""
    pp = plan_of(tmp_path, f"{work}/** r,\n{work}/out/** w,\n{work}/out/x.log w,")
    got = rules(pp)
    assert str(tmp_path) not in got and A.WRITE_FILE not in got[str(work)]
    assert got[f"{work}/out"] & A.MAKE_REG


def test_pseudo_filesystems_and_devices_are_never_widened(tmp_path: Path):
    pp = plan_of(tmp_path, "/dev/null rw,\n/proc/self/attr/current w,\n/dev/pts/* rw,")
    got = rules(pp)
    assert "/dev" not in got and "/proc" not in got and "/dev/pts" not in got
    assert got["/dev/null"] & A.WRITE_FILE


# -- the kernel ------------------------------------------------------------------------------

@pytest.fixture
def area(user: str) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="stockade-replace-", dir="/tmp"))
    os.chmod(d, 0o755)
    (d / "out").mkdir()
    (d / "build").mkdir()
    (d / "build" / "t").write_text("old\n")
    if user == "nobody":
        for p in (d, d / "out", d / "build", d / "build" / "t"):
            os.chown(p, 65534, 65534)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_replaced_and_created_files_work_confined(user: str, area: Path):
    reason = unconfinable_reason()
    if reason:
        pytest.skip(reason)
    profile = policy_dir(area) / "p.profile"  # outside the grants: run refuses it inside
    profile.write_text(f"""profile t {{
  /usr/** rix,
  /etc/ld.so.cache r,
  {area}/build/t rw,
  {area}/out/repo.tar w,
  {area}/secret w,
}}
""")
    os.chmod(profile, 0o644)
    t = area / "build" / "t"
    script = (f"rm {t} && echo new > {t} && cat {t} && "
              f"echo tar > {area}/out/repo.tar && echo made")
    res = cli("run", "-p", str(profile), "--", "/usr/bin/sh", "-c", script, user=user,
              timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "new\nmade\n"
    # the directory grant carries only what the rules name: out/ is write-only
    denied = cli("run", "-p", str(profile), "--", "/usr/bin/cat", str(area / "out/repo.tar"),
                 user=user, timeout=60)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr


def test_dirname_is_os_path_dirname():
    """replace._dirname (asked for every rule's parent) answers as os.path.dirname."""
    import random

    from stockade.enforce.plan.replace import _dirname

    rng = random.Random(14)
    for _ in range(5000):
        path = "".join(rng.choice(["/", "/", "a", "é", ".", "b/", "//"])
                       for _ in range(rng.randint(0, 8)))
        assert _dirname(path) == os.path.dirname(path), path
