"""A program's child reading its own /proc/PID under `run -p`: the profile allows it
(`@{PROC}/@{pid}/status r`, as `stockade learn` writes it), the kernel refuses it (Landlock
grants /proc/PID entries only of processes alive at launch and of the program itself), and
logprof said only "no changes proposed". It now says the kernel still refuses it, why, and
the rule that reaches it; the test runs that rule in the kernel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from confine_helpers import policy_dir

PROFILE = """include <tunables/global>
profile kid-proc /usr/bin/dash {
  include <abstractions/base>
  /usr/bin/dash ix,
  /usr/bin/cat ix,
  @{PROC}/@{pid}/status r,
}
"""
CHILD_READS_ITS_PROC = ["/usr/bin/dash", "-c", "/usr/bin/cat /proc/self/status >/dev/null"]


def stockade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", *args], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_logprof_says_why_a_childs_own_proc_stays_denied(tmp_path: Path,
                                                         kernel_audit: bool) -> None:
    if not kernel_audit:
        pytest.skip("needs root and kernel audit (Landlock records)")
    prof = policy_dir(tmp_path) / "kid.profile"
    prof.write_text(PROFILE)
    log = tmp_path / "audit.jsonl"
    ran = stockade("run", "-q", "--no-cache", "-p", str(prof), "--audit", str(log), "--",
                   *CHILD_READS_ITS_PROC)
    assert ran.returncode != 0, ran.stderr
    records = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    denied = [r["object"] for r in records if r.get("module") == "landlock"
              and r.get("result") == "DENIED"]
    if not denied:
        from stockade.host.audit import audit_get

        if not audit_get().get("enabled"):
            pytest.skip("kernel audit was turned off by another process during the test")
    assert any(p.startswith("/proc/") and p.endswith("/status") for p in denied), denied
    out = stockade("logprof", "-p", str(prof), "--log", str(log))
    assert out.returncode == 0, out.stderr
    assert "no changes proposed" in out.stdout, out.stdout
    assert "still denied under this profile" in out.stderr, out.stderr
    assert "a process started after launch" in out.stderr
    # the rule the note names does reach it, in the kernel
    prof.write_text(PROFILE.replace("}\n", "  @{PROC}/** r,\n}\n"))
    again = stockade("run", "-q", "--no-cache", "-p", str(prof), "--", *CHILD_READS_ITS_PROC)
    assert again.returncode == 0, again.stderr


def test_the_programs_own_proc_is_proposed_not_reported(tmp_path: Path,
                                                        kernel_audit: bool) -> None:
    """The program itself (the domain's creator) gets its /proc/PID at launch: logprof
    proposes the `@{PROC}/@{pid}/...` rule and no note, and the rule works in the kernel."""
    if not kernel_audit:
        pytest.skip("needs root and kernel audit (Landlock records)")
    prof = policy_dir(tmp_path) / "self.profile"
    prof.write_text(PROFILE.replace("/usr/bin/dash {", "/usr/bin/cat {")
                    .replace("  @{PROC}/@{pid}/status r,\n", ""))
    log = tmp_path / "audit.jsonl"
    argv = ["/usr/bin/cat", "/proc/self/cmdline"]
    ran = stockade("run", "-q", "--no-cache", "-p", str(prof), "--audit", str(log), "--", *argv)
    assert ran.returncode != 0, ran.stdout
    out = stockade("logprof", "--apply", "-p", str(prof), "--log", str(log))
    if "no changes proposed" in out.stdout:
        from stockade.host.audit import audit_get

        if not audit_get().get("enabled"):
            pytest.skip("kernel audit was turned off by another process during the test")
    assert "@{PROC}/@{pid}/cmdline r," in prof.read_text(), out.stdout + out.stderr
    assert "still denied" not in out.stderr, out.stderr
    again = stockade("run", "-q", "--no-cache", "-p", str(prof), "--", *argv)
    assert again.returncode == 0 and again.stdout.startswith("/usr/bin/cat\0"), again.stderr
