"""`stockade export`: the registry, the command's exit statuses and the oci-seccomp object."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stockade import export
from stockade.enforce import seccomp as sc
from stockade.export.oci_seccomp import effective_rules, oci_seccomp

from .conftest import stockade

PROFILE = """\
profile exp {
  /usr/** r,
  /tmp/ rw,
  network inet stream,
  capability chown,
  set rlimit nofile <= 64,
}
"""


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    p = tmp_path / "exp"
    p.write_text(PROFILE)
    return p


def test_registry_knows_oci_seccomp() -> None:
    assert "oci-seccomp" in export.format_names()
    assert export.exporter("oci-seccomp").name == "oci-seccomp"


def test_unknown_format_is_a_usage_error(profile: Path) -> None:
    res = stockade("export", "--format", "nosuch", str(profile))
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "unknown format" in res.stderr


def test_missing_profile_is_a_usage_error(tmp_path: Path) -> None:
    res = stockade("export", "--format", "oci-seccomp", str(tmp_path / "none"))
    assert res.returncode == 2 and "no such file" in res.stderr
    assert "Traceback" not in res.stderr


def test_every_plan_rule_is_in_the_object(profile: Path) -> None:
    inp = export.load(str(profile))
    plan = inp.planned.plan
    obj = oci_seccomp(plan)
    assert obj["defaultAction"] == "SCMP_ACT_ALLOW"
    assert obj["architectures"] == ["SCMP_ARCH_X86_64"]
    flat = {(n, e["action"], e.get("errnoRet"), json.dumps(e.get("args", [])))
            for e in obj["syscalls"] for n in e["names"]}
    # Every rule that decides something (libseccomp lets a call's first unconditional rule shadow
    # its conditional ones: chmod routed to the supervisor shadows the baseline's S_ISUID rule).
    for rule, action in effective_rules(plan, None, "test"):
        args = [{"index": c.arg, "value": c.datum_a, "valueTwo": c.datum_b,
                 "op": "SCMP_CMP_" + c.op.name} for c in rule.conditions]
        want = (rule.syscall, "SCMP_ACT_" + action.kind.name, action.value or None,
                json.dumps(args))
        if action.kind is sc.ActionKind.ERRNO:
            assert want in flat, rule


def test_cli_writes_file_and_reports_losses(profile: Path, tmp_path: Path) -> None:
    out = tmp_path / "seccomp.json"
    res = stockade("export", "--format", "oci-seccomp", "-o", str(out), str(profile))
    assert res.returncode == 0, res.stderr
    assert json.loads(out.read_text())["syscalls"]
    # quiet by default: one summary line; -v lists the rules
    assert res.stderr.count("\n") == 1 and "-v lists them" in res.stderr, res.stderr
    res = stockade("export", "--format", "oci-seccomp", "-v", "-o", str(out), str(profile))
    assert "deny filesystem access not granted" in res.stderr
    assert "rlimit" in res.stderr


def test_strict_writes_nothing_and_exits_3(profile: Path, tmp_path: Path) -> None:
    out = tmp_path / "seccomp.json"
    res = stockade("export", "--format", "oci-seccomp", "--strict", "-o", str(out),
                   str(profile))
    assert res.returncode == 3
    assert not out.exists()


def test_supervisor_rules_are_reported_as_lost(tmp_path: Path) -> None:
    """The plan leaves owner checks to the supervisor: no target has one, so the export's
    summary line counts them without -v, and -v names them."""
    prof = tmp_path / "own"
    prof.write_text("profile own {\n  owner /tmp/** rw,\n}\n")
    res = stockade("export", "--format", "oci-seccomp", str(prof))
    assert res.returncode == 0
    assert res.stderr.count("\n") == 1 and "1 need the supervisor" in res.stderr, res.stderr
    res = stockade("export", "--format", "oci-seccomp", "-v", str(prof))
    assert "plan approximated: owner /tmp/** rw," in res.stderr
    assert "needs supervisor" in res.stderr


def test_profile_errors_are_one_line_with_status_2(tmp_path: Path) -> None:
    prof = tmp_path / "bad"
    prof.write_text("profile bad {\n  /foo rq,\n}\n")
    res = stockade("export", "--format", "oci-seccomp", str(prof))
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and f"{prof}:2:" in res.stderr
    prof.write_text("profile bad {\n  deny syscall nosuchcall,\n}\n")
    res = stockade("export", "--format", "oci-seccomp", str(prof))
    assert res.returncode == 2 and "unknown system call 'nosuchcall'" in res.stderr


@pytest.mark.parametrize("fmt", ["oci-seccomp", "oci", "systemd"])
def test_export_works_unprivileged(fmt: str) -> None:
    """Exporting needs no privilege: nobody gets the same output as root."""
    import os

    if os.geteuid() != 0:
        pytest.skip("dropping to nobody needs root")
    repo = Path(__file__).resolve().parents[2]
    prof = str(repo / "examples" / "profiles" / "demo-reader")
    as_root = stockade("export", "--format", fmt, prof)
    as_nobody = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-m",
                                "stockade", "export", "--format", fmt, prof],
                               capture_output=True, text=True, timeout=120, cwd="/")
    assert as_nobody.returncode == 0, as_nobody.stderr

    def stable(text: str) -> list[str]:  # globs under /proc expand to the pids of the moment
        return [line for line in text.splitlines() if "/proc/" not in line]

    assert stable(as_nobody.stdout) == stable(as_root.stdout)


def test_transitions_are_refused_by_plan_formats_unless_accepted(tmp_path: Path) -> None:
    """A px/cx transition cannot be carried by a format built from the plan (the programs it
    runs keep this confinement): refused in one line, nothing written, as `run` refuses;
    --inherit-transitions accepts it; the apparmor format carries the transition itself."""
    prof = tmp_path / "trans"
    prof.write_text("profile trans {\n  /usr/** r,\n  /usr/bin/env Px -> other,\n}\n"
                    "profile other {\n  /usr/** r,\n}\n")
    for fmt in ("oci-seccomp", "oci", "systemd", "k8s"):
        out = tmp_path / f"out.{fmt}"
        res = stockade("export", "--format", fmt, "--profile-name", "trans", "-o", str(out),
                       str(prof))
        assert res.returncode == 2 and res.stderr.count("\n") == 1, (fmt, res.stderr)
        assert f"{prof}:3: `/usr/bin/env Px -> other,`" in res.stderr
        assert "--inherit-transitions" in res.stderr and not out.exists()
        res = stockade("export", "--format", fmt, "--profile-name", "trans",
                       "--inherit-transitions", "-o", str(out), str(prof))
        assert res.returncode == 0 and out.exists(), (fmt, res.stderr)
    res = stockade("export", "--format", "apparmor", "--profile-name", "trans", str(prof))
    assert res.returncode == 0 and "Px -> other" in res.stdout, res.stderr


def test_own_proc_rules_are_reported_lost(tmp_path: Path) -> None:
    """A rule on the program's own /proc/PID (`@{PROC}/@{pid}/...`) is granted by `run` at
    launch; no plan-based format can name that pid, so each such rule is a loss."""
    prof = tmp_path / "own"
    prof.write_text("include <tunables/global>\nprofile own {\n  /usr/** r,\n"
                    "  @{PROC}/@{pid}/status r,\n}\n")
    inp = export.load(str(prof))
    assert inp.planned.plan.own_proc
    for fmt in ("oci-seccomp", "oci", "systemd"):
        lost = [e for e in export.export(fmt, inp).lost
                if e.source == f"{prof}:4" and "own /proc/PID" in e.detail]
        assert [e.rule for e in lost] == ["@{PROC}/@{pid}/status r,"], (fmt, lost)
    # k8s's AppArmorProfile and the apparmor format name the pattern itself (any pid)
    assert not [e for e in export.export("k8s", inp).lost if "own /proc/PID" in e.detail]
    assert not export.export("apparmor", inp).lost
    res = stockade("export", "--format", "systemd", "-v", str(prof))
    assert res.returncode == 0
    assert f"@{{PROC}}/@{{pid}}/status r, ({prof}:4): systemd: the program's own" in res.stderr


def test_an_export_does_not_name_this_machines_processes(tmp_path: Path) -> None:
    """`@{pid}` expands, for `run`, to every process's /proc/PID on this machine: an export
    carries none of them (they name nothing of the target's), so the same profile exports
    the same text while processes come and go."""
    prof = tmp_path / "pids"
    prof.write_text("include <tunables/global>\nprofile pids {\n  /usr/** r,\n"
                    "  @{PROC}/@{pid}/fd/ r,\n}\n")
    first = stockade("export", "--format", "oci", str(prof))
    other = subprocess.Popen(["sleep", "30"])
    try:
        second = stockade("export", "--format", "oci", str(prof))
    finally:
        other.kill()
        other.wait()
    assert first.returncode == second.returncode == 0, first.stderr
    assert f"/proc/{other.pid}" not in second.stdout and "/proc/1/" not in first.stdout
    assert first.stdout == second.stdout
