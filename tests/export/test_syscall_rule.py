"""stockade's `syscall` rule (a profile-language extension): parsing, and the kernel
enforcing it under `stockade run`."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stockade.enforce import seccomp as sc
from stockade.enforce.plan.profile import compile_plan
from stockade.policy import PolicyError, compile_profiles


def _plan(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    prof = tmp_path / "p"
    prof.write_text("profile p {\n" + body + "\n}\n")
    return compile_plan(compile_profiles(str(prof))[0], abi=7)


@pytest.mark.parametrize("rule, message", [
    ("syscall,", "names system calls or says 'default'"),
    ("syscall default read,", "names system calls or says 'default'"),
    ("syscall action=maybe read,", "invalid syscall action"),
    ("syscall read arg0=eq,", "expected 'arg0=OP:VALUE'"),
    ("syscall read arg0=masked_eq:1,", "expected 'arg0=OP:VALUE'"),
    ("syscall read arg0=eq:1 arg0=eq:2,", "compared once"),
    ("syscall read arg9=eq:1,", "unexpected"),
])
def test_bad_rules_are_one_line_errors(tmp_path: Path, rule: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        _plan(tmp_path, "  " + rule)
    assert message in str(info.value) and str(info.value).count("\n") == 0


def test_rules_become_plan_rules(tmp_path: Path) -> None:
    pp = _plan(tmp_path, "  all,\n  deny syscall default errno=ENOSYS,\n"
               "  syscall (read, execve, ptrace),\n  deny syscall errno=EXDEV getppid,\n"
               "  syscall personality arg0=masked_eq:0xff:0x8,")
    plan = pp.plan
    assert plan.seccomp_default == sc.errno_action(errno.ENOSYS)
    mine = [r for r in plan.seccomp_rules if r.reason == "profile syscall rule"]
    assert [(r.syscall, str(r.action)) for r in mine] == [
        ("read", "allow"), ("execve", "allow"), ("ptrace", "allow"),
        ("getppid", "errno(EXDEV)"), ("personality", "allow")]
    assert mine[-1].conditions == (sc.ArgCmp(0, sc.Cmp.MASKED_EQ, 0xFF, 0x8),)
    # an unconditional allow replaces the baseline's refusal of ptrace
    assert not any(r.syscall == "ptrace" and r.reason != "profile syscall rule"
                   for r in plan.seccomp_rules)
    assert sum("syscall" in e.rule for e in pp.coverage.entries) == 4


def test_run_enforces_a_syscall_rule(area: object, user: str, probe: Path) -> None:
    """The kernel answers EXDEV for getppid and lets getpid through."""
    if user == "nobody" and os.geteuid() != 0:
        pytest.skip("dropping to nobody needs root")
    root = area.root  # type: ignore[attr-defined]
    prof = root / "p"
    prof.write_text("profile p {\n  all,\n  deny syscall errno=EXDEV getppid,\n}\n")
    exe = root / "probe"
    shutil.copy(probe, exe)
    for path in (prof, exe):
        os.chmod(path, 0o755)
    pre = ["runuser", "-u", "nobody", "--"] if user == "nobody" else []
    for name, want in (("getppid", f"errno {errno.EXDEV}"), ("getpid", "ok")):
        # `all,` grants writing /run/stockade: no status record (or run refuses, exit 125)
        res = subprocess.run([*pre, sys.executable, "-m", "stockade", "run", "--no-status-record",
                              "-p", str(prof),
                              "--", str(exe), str(sc.resolve_syscall(name))],
                             capture_output=True, text=True, timeout=60)
        assert res.stdout.strip() == want, (user, name, res.stdout, res.stderr)
