"""A program's temporary files outside the temporary directories (`~/.cache/app/tmpab12cd9k`,
a mkdtemp directory, mkstemps' `upload-Xy12Ab.part`): `learn` wrote their random names
literally, so the learnt profile refused the next run, which names them otherwise. Both
`learn` and `logprof` now ask learn.globs.random_name; each test runs the real program
confined again with what they proposed, as root and as nobody."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import PY, hand_to, policy_dir, scratch_for, stockade_as

#: Python's tempfile in a directory of the program's own: three of each, as a program that
#: runs a while makes several (one name of 8 random characters in ~12 has no digit, and a
#: name with none could be a word: one recognised is enough, its glob covers the others)
PROGRAM = """
import os, sys, tempfile
base = os.path.join(sys.argv[1], "cache", "app")
os.makedirs(base, exist_ok=True)
for _ in range(3):
    fd, name = tempfile.mkstemp(dir=base)
    os.write(fd, b"x")
    os.close(fd)
    with open(name) as f:
        f.read()
    os.unlink(name)
    d = tempfile.mkdtemp(dir=base)
    with open(os.path.join(d, "data.json"), "w") as f:
        f.write("{}")
    os.unlink(os.path.join(d, "data.json"))
    os.rmdir(d)
    fd, name = tempfile.mkstemp(dir=base, prefix="upload-", suffix=".part")
    os.close(fd)
    os.unlink(name)
print("ok")
"""


@pytest.fixture
def scratch(user: str) -> Iterator[Path]:
    d = scratch_for(user, "stockade-rnd-")
    (d / "work").mkdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_a_learnt_profile_globs_the_random_names_and_runs_again(user: str, scratch: Path):
    work = scratch / "work"
    prog = scratch / "prog.py"
    prog.write_text(PROGRAM)
    prof = policy_dir(scratch) / f"rnd-{user}.profile"
    hand_to(user, scratch)
    learned = stockade_as(user, "learn", "-q", "-o", str(prof), "--", PY, str(prog), str(work),
                          cwd=work)
    assert learned.returncode == 0, learned.stderr
    text = prof.read_text()
    base = f"{work}/cache/app"
    assert f"{base}/tmp* " in text and f"{base}/upload-*.part " in text, text
    assert f"{base}/tmp*/data.json " in text, text
    again = stockade_as(user, "run", "-q", "-p", str(prof), "--", PY, str(prog), str(work),
                        cwd=work)
    assert again.returncode == 0 and again.stdout == "ok\n", again.stderr


def test_logprof_proposes_the_same_globs_from_a_complain_run(user: str, scratch: Path):
    """The denials of a complain run (what the profile would refuse, recorded by the
    supervisor) through logprof: the same globs as learn, and the profile runs again."""
    work = scratch / "work"
    prog = scratch / "prog.py"
    prog.write_text(PROGRAM)
    prof = policy_dir(scratch) / f"rnd-lp-{user}.profile"
    prof.write_text(f"profile rnd {{\n  / r,\n  /** rix,\n  {work}/ rw,\n  {work}/cache/ rw,\n"
                    "  /dev/null rw,\n}\n")
    log = scratch / "complain.jsonl"
    hand_to(user, scratch)
    prof.chmod(0o666)
    seen = stockade_as(user, "run", "-q", "--complain", "-p", str(prof), "--audit", str(log),
                       "--", PY, str(prog), str(work), cwd=work)
    assert seen.returncode == 0, seen.stderr
    proposed = stockade_as(user, "logprof", "-p", str(prof), "--log", str(log), "--apply",
                           cwd=work)
    assert proposed.returncode == 0, proposed.stderr
    text = prof.read_text()
    base = f"{work}/cache/app"
    assert f"{base}/tmp* " in text and f"{base}/upload-*.part " in text, text
    again = stockade_as(user, "run", "-q", "-p", str(prof), "--", PY, str(prog), str(work),
                        cwd=work)
    assert again.returncode == 0 and again.stdout == "ok\n", (again.stderr, text)
