"""`stockade explain --profile FILE`: the layer row names the profile and the rule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "profiles" / "demo-reader")


def run(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "stockade", "explain", *args],
                          capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def test_explain_profile_denial_names_profile_and_rule() -> None:
    code, out, _ = run("--lsm", "capability", "--profile", EXAMPLE, "read", "/etc/shadow")
    assert code == 1
    assert "apparmor" in out and "deny EACCES" in out
    assert "profile demo-reader: r denied by deny rule at" in out
    assert "audit deny /etc/shadow r," in out
    assert 'apparmor="DENIED" operation="open" class="file" profile="demo-reader"' in out


def test_explain_profile_allow() -> None:
    code, out, _ = run("--lsm", "capability", "--profile", EXAMPLE, "read", "/etc/hostname")
    assert code == 0
    assert "allowed by" in out and "/etc/hostname r," in out
    assert "decision: allow" in out


def test_explain_profile_json(tmp_path: Path) -> None:
    prof = tmp_path / "two"
    prof.write_text("profile first { }\nprofile second { /etc/hostname r, }\n")
    code, out, _ = run("--lsm", "capability", "--profile", str(prof),
                       "--profile-name", "second", "--json", "read", "/etc/hostname")
    data = json.loads(out)
    assert code == 0 and data["decision"] == "allow"
    (row,) = [r for r in data["layers"] if r["module"] == "apparmor"]
    assert row["profile"] == "second" and row["rule"].endswith(":2: /etc/hostname r,")
    code, out, _ = run("--lsm", "capability", "--profile", str(prof), "--profile-name",
                       "first", "--json", "read", "/etc/hostname")
    data = json.loads(out)
    assert code == 1
    (row,) = [r for r in data["layers"] if r["module"] == "apparmor"]
    assert row["profile"] == "first" and row["errno"] == "EACCES"
    assert data["records"][0]["profile"] == "first"
    # two profiles, neither attaching nor a transition target: as compile and run, ask
    code, out, err = run("--lsm", "capability", "--profile", str(prof), "read", "/etc/hostname")
    assert code == 2 and "--profile-name" in err and len(err.strip().splitlines()) == 1


def test_explain_profile_errors_are_one_line(tmp_path: Path) -> None:
    prof = tmp_path / "p"
    prof.write_text("profile p { }\n")
    code, _, err = run("--profile", str(prof), "--profile-name", "q", "read", "/etc/hostname")
    assert code == 2
    assert "has no profile 'q'" in err and "Traceback" not in err


def test_explain_exec_under_a_profile(tmp_path: Path) -> None:
    prof = tmp_path / "p"
    prof.write_text("profile p { /usr/bin/env Px -> q, }\nprofile q { }\n")
    code, out, _ = run("--lsm", "capability", "--profile", str(prof), "--json",
                       "exec", "/usr/bin/env")
    data = json.loads(out)
    assert code == 0
    bprm = [r for r in data["layers"] if r["hook"] == "bprm_check_security" and r["module"] == "apparmor"]
    assert bprm[0]["rule"].endswith(":1: /usr/bin/env Px -> q,")
