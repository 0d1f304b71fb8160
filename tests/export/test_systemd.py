"""The `systemd` drop-in: systemd-analyze verify accepts it on a test unit, and
`systemd-analyze security --offline=true` scores the unit lower (safer) with it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from stockade import export
from stockade.export import systemd as sd

from .conftest import need_root_and

REPO = Path(__file__).resolve().parents[2]
PROFILES = [REPO / "examples" / "profiles" / "demo-reader",
            Path("/etc/apparmor.d/bin.ping"), Path("/etc/apparmor.d/usr.sbin.dnsmasq")]
UNIT = "[Unit]\nDescription=stockade export test\n[Service]\nExecStart=/bin/true\n"


def _unit(tmp_path: Path, dropin: str | None) -> Path:
    unit = tmp_path / "stockade-export-test.service"
    unit.write_text(UNIT)
    if dropin is not None:
        d = tmp_path / "stockade-export-test.service.d"
        d.mkdir(exist_ok=True)
        (d / "stockade.conf").write_text(dropin)
    return unit


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=120)


def exposure(unit: Path) -> float:
    """The overall exposure level systemd-analyze security gives `unit` (0 safe - 10)."""
    res = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                          str(unit)], capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", res.stdout)
    assert m, res.stdout[-500:] + res.stderr
    return float(m.group(1))


def _export(profile: Path) -> str:
    # usr.sbin.dnsmasq has Cx rules: accept that its helpers keep its confinement
    res = subprocess.run([sys.executable, "-m", "stockade", "export", "--format", "systemd",
                          "--inherit-transitions", str(profile)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_verify_reads_the_dropin(tmp_path: Path) -> None:
    """Negative control: a bad directive in the drop-in is reported, so a clean run means
    systemd parsed every line of ours."""
    need_root_and("systemd-analyze")
    unit = _unit(tmp_path, "[Service]\nNoSuchDirective=1\nSystemCallFilter=~nosuchcall\n")
    res = _verify(unit)
    assert "NoSuchDirective" in res.stderr


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_verify_accepts_and_security_scores(tmp_path: Path, profile: Path) -> None:
    need_root_and("systemd-analyze")
    if not profile.exists():
        pytest.skip(f"{profile} not installed (apparmor-profiles)")
    dropin = _export(profile)
    (tmp_path / "base").mkdir()
    base = exposure(_unit(tmp_path / "base", None))
    unit = _unit(tmp_path, dropin)
    res = _verify(unit)
    assert res.returncode == 0, res.stderr
    assert "stockade.conf" not in res.stderr, res.stderr
    with_dropin = exposure(unit)
    sys.stderr.write(f"exposure {profile.name}: {base} without, {with_dropin} with\n")
    assert with_dropin < base - 3, (base, with_dropin)


def test_dropin_directives(tmp_path: Path) -> None:
    prof = tmp_path / "p"
    (tmp_path / "data").mkdir()
    prof.write_text("profile p {\n  /usr/** rix,\n  " + str(tmp_path) + "/data/** rw,\n"
                    "  network inet stream,\n"
                    "  capability net_bind_service,\n  set rlimit nofile <= 64,\n"
                    "  deny /etc/shadow r,\n}\n")
    inp = export.load(str(prof))
    losses = export.Losses("systemd")
    got = dict(sd.dropin(inp, losses))
    assert got["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert got["NoNewPrivileges"] == "yes" and got["LimitNOFILE"] == "64"
    assert got["RestrictAddressFamilies"].split() == ["AF_UNIX", "AF_INET"]
    assert got["ProtectSystem"] == "strict" and got["ProtectHome"] == "yes"
    assert got["InaccessiblePaths"] == "-/etc/shadow"
    assert got["NoExecPaths"] == "/" and got["ExecPaths"] == "-/usr"
    assert got["ReadWritePaths"] == f"-{tmp_path}/data"
    assert "bpf:EPERM" in got["SystemCallFilter"].split()
    assert got["SystemCallFilter"].startswith("~")
    assert "tiocsti" not in got["SystemCallFilter"].lower()
    assert any("0x5412" in e.rule for e in losses.entries)  # TIOCSTI rule: no directive
