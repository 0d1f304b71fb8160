"""Conflicting seccomp rules mean the same under `stockade run` and in runc with the export:
the first unconditional rule for a call decides, and it wins over the call's conditional
rules (libseccomp's behaviour; the kernel is the oracle for both)."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from stockade import export
from stockade.enforce import seccomp as sc
from stockade.export.oci_seccomp import effective_rules, oci_seccomp

from .conftest import Bundle, need_root_and

PROFILE = """\
profile m {
  all,
  deny syscall errno=EXDEV getppid,
  deny syscall errno=EPERM getppid,
  deny syscall errno=ENOENT getpid arg0=eq:0,
  deny syscall errno=EPERM getpid,
  deny syscall errno=ENOTTY getuid arg0=eq:7,
}
"""
CASES = [("getppid", "0", f"errno {errno.EXDEV}"), ("getpid", "0", f"errno {errno.EPERM}"),
         ("getpid", "1", f"errno {errno.EPERM}"), ("getuid", "7", f"errno {errno.ENOTTY}"),
         ("getuid", "0", "ok")]


def _script(probe: str) -> str:
    return "; ".join(f"{probe} {sc.resolve_syscall(n)} {a}" for n, a, _ in CASES)


def test_effective_rules(tmp_path: Path) -> None:
    prof = tmp_path / "m"
    prof.write_text(PROFILE)
    plan = export.load(str(prof)).planned.plan
    mine = {(r.syscall, str(a), r.conditions) for r, a in effective_rules(plan, None, "x")
            if r.reason == "profile syscall rule"}
    assert mine == {("getppid", "errno(EXDEV)", ()), ("getpid", "errno(EPERM)", ()),
                    ("getuid", "errno(ENOTTY)", (sc.ArgCmp(0, sc.Cmp.EQ, 7),))}


def test_run_and_runc_agree(tmp_path: Path, probe: Path,
                            bundle: Callable[[], Bundle]) -> None:
    need_root_and("runc")
    prof = tmp_path / "m"
    prof.write_text(PROFILE)
    exe = tmp_path / "probe"
    shutil.copy(probe, exe)
    # the profile grants writing /run/stockade: no status record (else run refuses, exit 125)
    res = subprocess.run([sys.executable, "-m", "stockade", "run", "--no-status-record",
                          "-p", str(prof), "--",
                          "/bin/sh", "-c", _script(str(exe))], capture_output=True, text=True,
                         timeout=60)
    under_run = res.stdout.splitlines()
    b = bundle()
    b.config["linux"]["seccomp"] = json.loads(json.dumps(
        oci_seccomp(export.load(str(prof)).planned.plan)))
    in_runc = b.run("/bin/sh", "-c", _script("/bin/probe")).stdout.splitlines()
    want = [w for _, _, w in CASES]
    assert under_run == want, res.stderr
    assert in_runc == want
