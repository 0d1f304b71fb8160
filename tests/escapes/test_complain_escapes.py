"""Red team 3 against `stockade run --complain -p P` (the profile is asked, not enforced).

The complain-mode program runs in a Landlock domain that grants every filesystem right on /:
it cannot read the memory of a process outside its domain (a concurrent `stockade run`
launcher holds the plan cache key). It can rewrite the user's status records and its --audit
file (documented: protecting them takes splitting /tmp and $HOME, which breaks ordinary
programs). As root it is no boundary: the banner says so, and the kernel agrees (the program
may open /proc/sys for writing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import NOBODY, PY, scratch_for, stockade_as

PROFILE = """#include <tunables/global>
profile rt {
  #include <abstractions/base>
  /usr/** rix,
}
"""


@pytest.fixture
def work(user: str) -> Iterator[Path]:
    d = scratch_for(user, "stockade-rt3-")
    (d / "p.profile").write_text(PROFILE)
    (d / "out").mkdir()
    for p in (d / "out", d / "p.profile"):
        if user == "nobody":
            os.lchown(p, NOBODY, NOBODY)
    os.chmod(d / "out", 0o755)
    os.chmod(d / "p.profile", 0o644)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def complain(user: str, work: Path, code: str, *flags: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return stockade_as(user, "run", "--complain", "-p", str(work / "p.profile"), *flags, "--",
                       PY, "-c", code, cwd=work, env=env, timeout=60)


@pytest.mark.parametrize("user", ["nobody"])
@pytest.mark.parametrize("mode", ["complain", "learn"])
def test_complain_program_cannot_read_a_same_user_process_memory(work: Path, user: str,
                                                                 mode: str) -> None:
    """Finding 1: a dumpable process of the same user (as a `stockade run` launcher is before
    it makes itself non-dumpable) has its memory out of the program's reach: Landlock refuses
    ptrace access to processes outside the program's domain. `--mode learn` (what `stockade
    learn` runs) limits no file, but runs in a domain for this too."""
    secret = "rt3-key-" + os.urandom(8).hex()
    victim = subprocess.Popen([PY, "-c", f"import time; s = {secret!r}; time.sleep(60)"],
                              user=NOBODY, group=NOBODY, extra_groups=[],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        code = (f"import os\npid = {victim.pid}\n"
                "try:\n"
                "    maps = open(f'/proc/{pid}/maps').read().splitlines()\n"
                "    mem = open(f'/proc/{pid}/mem', 'rb', 0)\n"
                "except OSError as e:\n"
                "    print('REFUSED', e.errno); raise SystemExit(0)\n"
                "got = b''\n"
                "for line in maps:\n"
                "    a, perm = line.split()[:2]\n"
                "    if not perm.startswith('rw'): continue\n"
                "    lo, hi = (int(x, 16) for x in a.split('-'))\n"
                "    try:\n"
                "        mem.seek(lo); got += mem.read(hi - lo)\n"
                "    except OSError: pass\n"
                f"print('READ', {secret.encode()!r} in got)\n")
        if mode == "complain":
            res = complain(user, work, code)
        else:
            res = stockade_as(user, "run", "-q", "--mode", "learn", "--learn",
                              str(work / "out" / "obs.jsonl"), "--", PY, "-c", code, cwd=work,
                              timeout=60)
    finally:
        victim.kill()
        victim.wait()
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[0] == "REFUSED", res.stdout + res.stderr


def test_complain_banner_says_root_is_not_confined(work: Path, user: str) -> None:
    """Finding 2: as root the program may write /proc/sys (core_pattern: every capability
    back): the banner says complain mode is no boundary then, and claims no capability set."""
    code = ("import os\n"
            "try:\n"
            "    os.close(os.open('/proc/sys/kernel/core_pattern', os.O_WRONLY)); print('OPEN')\n"
            "except OSError:\n"
            "    print('REFUSED')\n")
    res = complain(user, work, code)
    assert res.returncode == 0, res.stderr
    if user == "root":
        assert res.stdout.split() == ["OPEN"], res.stdout + res.stderr  # the kernel agrees
        assert "NOT a boundary as root" in res.stderr, res.stderr
        assert "the profile's capability set" not in res.stderr, res.stderr
    else:
        assert res.stdout.split() == ["REFUSED"], res.stdout + res.stderr
        assert "NOT a boundary" not in res.stderr, res.stderr
        assert "the profile's capability set" in res.stderr, res.stderr


def test_capability_rules_do_not_make_an_ordinary_user_privileged(work: Path, user: str) -> None:
    """Newcomer pass: a profile's capability rules made the banner say "NOT a boundary as
    root or with capabilities" for nobody, who gets no capability from them."""
    prof = work / "caps.profile"
    prof.write_text(PROFILE.replace("/usr/** rix,", "/usr/** rix,\n  capability dac_override,"))
    os.chmod(prof, 0o644)
    res = stockade_as(user, "run", "--complain", "-p", str(prof), "--", PY, "-c", "pass",
                      cwd=work, timeout=60)
    assert res.returncode == 0, res.stderr
    assert ("NOT a boundary" in res.stderr) == (user == "root"), res.stderr
