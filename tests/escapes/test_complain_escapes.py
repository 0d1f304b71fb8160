"""Red team 3 against `stockade run --complain -p P` (the profile is asked, not enforced).

The complain-mode program runs in a Landlock domain that grants every filesystem right except
changing stockade's own state, so: it cannot read the memory of a process outside its domain
(a concurrent `stockade run` launcher holds the plan cache key), it cannot rewrite status
records or the --audit file. As root it is no boundary: the banner says so, and the kernel
agrees (the program may open /proc/sys for writing).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import NOBODY, PY, USER_ENV, scratch_for, stockade_as

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
def test_complain_program_cannot_read_a_same_user_process_memory(work: Path, user: str) -> None:
    """Finding 1: a dumpable process of the same user (as a `stockade run` launcher is before
    it makes itself non-dumpable) has its memory out of the program's reach: Landlock refuses
    ptrace access to processes outside the program's domain."""
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
        res = complain(user, work, code)
    finally:
        victim.kill()
        victim.wait()
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[0] == "REFUSED", res.stdout + res.stderr


def test_complain_program_cannot_forge_status_records(work: Path, user: str) -> None:
    """Finding 3: the program can neither rewrite its own status record nor write one for
    another pid, so `stockade status` keeps saying "complain"."""
    env = dict(USER_ENV)
    if user == "nobody":
        runtime = work / "runtime"
        runtime.mkdir(mode=0o700)
        os.chown(runtime, NOBODY, NOBODY)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        directory = runtime / "stockade"
    else:
        directory = Path("/run/stockade")
    code = ("import json, os\n"
            f"d = {str(directory)!r}\n"
            "p = f'{d}/{os.getpid()}.json'\n"
            "r = json.load(open(p))\n"
            "def t(f):\n"
            "    try:\n        f(); return 'WROTE'\n"
            "    except OSError as e:\n        return 'REFUSED'\n"
            "forged = json.dumps(dict(r, mode='enforce', profile='locked-down'))\n"
            "def rename():\n"
            "    open(p + '.x', 'w').write(forged); os.rename(p + '.x', p)\n"
            "print(t(rename), t(lambda: open(p, 'w').write(forged)),"
            " t(lambda: open(f'{d}/rt3-forged.json', 'w').write(forged)),"
            " t(lambda: os.unlink(p)))\n"
            "print(json.load(open(p))['mode'])\n")
    try:
        res = complain(user, work, code, env=env)
    finally:  # without the fix the forged record would stay behind
        (directory / "rt3-forged.json").unlink(missing_ok=True)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines == ["REFUSED REFUSED REFUSED REFUSED", "complain"], res.stdout + res.stderr


def test_complain_program_cannot_tamper_with_its_audit_file(work: Path, user: str) -> None:
    """Finding 3: --audit FILE can be neither truncated, appended to, nor replaced."""
    audit = work / "out" / "a.jsonl"
    code = ("import os\n"
            f"a = {str(audit)!r}\n"
            "open('/etc/hostname').read()\n"
            "def t(f):\n"
            "    try:\n        f(); return 'WROTE'\n"
            "    except OSError:\n        return 'REFUSED'\n"
            "def replace():\n"
            "    os.unlink(a); open(a, 'w').write('{\"event\": \"forged\"}\\n')\n"
            "print(t(lambda: open(a, 'w').close()),"
            " t(lambda: open(a, 'a').write('{\"event\": \"forged\"}\\n')),"
            " t(replace), t(lambda: os.rename(a, a + '.old')))\n")
    res = complain(user, work, code, "--audit", str(audit))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.split() == ["REFUSED"] * 4, res.stdout + res.stderr
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert "forged" not in {r.get("event") for r in records}
    assert records[-1]["event"] == "exit"
    assert any(r.get("object") == "/etc/hostname" and r.get("result") == "ALLOWED"
               for r in records)
    # the cost of the split, said in the banner and in the coverage record (one summary, not
    # one rule per entry of each split directory)
    assert str(audit.parent) in res.stderr, res.stderr
    coverage = next(r for r in records if r["event"] == "coverage")
    assert str(audit) in coverage["state_guard"]["protected"]
    assert str(audit.parent) in coverage["state_guard"]["split"]
    assert len(audit.read_text()) < 100_000


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
