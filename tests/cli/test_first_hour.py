"""A newcomer's first hour with stockade (learn, run, explain, logprof, check, audit): the
friction found doing everyday tasks beside aa-genprof, firejail and bwrap, each fixed here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def stockade(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def _two_profiles_sharing(tmp_path: Path) -> Path:
    """Two profiles that include one abstraction with a lint warning in it."""
    (tmp_path / "abstractions").mkdir()
    (tmp_path / "abstractions" / "shared").write_text("  /srv/drop/** rwix,\n")
    text = "".join(f"profile p{i} /usr/bin/p{i} {{\n  include <abstractions/shared>\n}}\n"
                   for i in range(2))
    prof = tmp_path / "two"
    prof.write_text(text)
    return prof


def test_check_prints_a_shared_abstractions_warning_once(tmp_path: Path) -> None:
    """`stockade check /etc/apparmor.d` printed abstractions/base's two warnings once per
    profile including it (27 times each, 54 of its 101 lines): now once, saying in how many
    profiles; --json keeps one entry per profile, which it names."""
    prof = _two_profiles_sharing(tmp_path)
    out = stockade("check", "-I", str(tmp_path), str(prof))
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if "abstractions/shared:1:" in ln]
    assert len(lines) == 1, out.stdout
    assert lines[0].endswith("(in 2 profiles)")
    assert out.stdout.splitlines()[-1].endswith("1 warning(s)")
    as_json = stockade("check", "--json", "-I", str(tmp_path), str(prof))

    warned = {w["profile"] for w in json.loads(as_json.stdout)["warnings"]}
    assert warned == {"p0", "p1"}
