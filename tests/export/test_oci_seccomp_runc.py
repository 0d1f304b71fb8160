"""runc loads the exported linux.seccomp: refused calls fail with the planned errno inside
the container, allowed ones work (runc and the kernel are the oracle)."""

from __future__ import annotations

import errno
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from stockade import export
from stockade.enforce import seccomp as sc

from .conftest import Bundle

PROFILE = """\
profile web {
  /usr/** r,
  network inet stream,
  network unix,
}
"""
AF_INET, AF_PACKET, SOCK_STREAM, SOCK_RAW = 2, 17, 1, 3
CLONE_NEWUSER = 0x10000000


def _nr(name: str) -> str:
    return str(sc.resolve_syscall(name))


def _exported(tmp_path: Path, fmt: str = "oci-seccomp") -> dict:
    prof = tmp_path / "web"
    prof.write_text(PROFILE)
    out = tmp_path / "out.json"
    res = subprocess.run([sys.executable, "-m", "stockade", "export", "--format", fmt, "-o",
                          str(out), str(prof)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(out.read_text())


def _planned_errno(tmp_path: Path, syscall: str) -> int:
    prof = tmp_path / "web"
    plan = export.load(str(prof)).planned.plan
    rule = next(r for r in plan.seccomp_rules if r.syscall == syscall)
    return rule.action.value


def test_runc_enforces_the_exported_filter(tmp_path: Path,
                                           bundle: Callable[[], Bundle]) -> None:
    seccomp = _exported(tmp_path)
    b = bundle()
    b.config["linux"]["seccomp"] = seccomp
    cases = [
        # (argv, expected output)
        ([_nr("getpid")], "ok"),
        ([_nr("socket"), str(AF_INET), str(SOCK_STREAM), "0"], "ok"),
        ([_nr("socket"), str(AF_PACKET), str(SOCK_RAW), "0"],
         f"errno {_planned_errno(tmp_path, 'socket')}"),
        ([_nr("unshare"), hex(CLONE_NEWUSER)], f"errno {errno.EPERM}"),
        ([_nr("clone3"), "0", "0"], f"errno {errno.ENOSYS}"),
        ([_nr("io_uring_setup"), "1", "0"], f"errno {errno.EPERM}"),
    ]
    script = "; ".join("/bin/probe " + " ".join(argv) for argv, _ in cases)
    res = b.run("/bin/sh", "-c", script)
    assert res.returncode in (0, 1), res.stderr
    got = res.stdout.split("\n")[:len(cases)]
    assert got == [want for _, want in cases], (res.stdout, res.stderr)
    assert _planned_errno(tmp_path, "socket") == errno.EAFNOSUPPORT


def test_runc_refuses_other_architectures(tmp_path: Path,
                                          bundle: Callable[[], Bundle]) -> None:
    """i386 calls (int 0x80) and x32 numbers do not reach the rules: only the native
    architecture is listed, so runc gives them the filter's bad-architecture action."""
    seccomp = _exported(tmp_path)
    assert seccomp["architectures"] == ["SCMP_ARCH_X86_64"]
    b = bundle()
    res = b.run("/bin/probe", "--int80", "20")  # i386 getpid, no filter: works
    assert res.stdout.strip() == "ok", res
    b.config["linux"]["seccomp"] = seccomp
    res = b.run("/bin/probe", "--int80", "20")
    assert res.returncode == 128 + signal.SIGSYS and not res.stdout, res
    res = b.run("/bin/probe", str(sc.X32_SYSCALL_BIT | 39))  # x32 getpid
    assert res.returncode == 128 + signal.SIGSYS and not res.stdout, res
