"""`stockade import --from systemd`: a unit's sandboxing directives become a profile, and
`export --format systemd` of it gives the same directives back (systemd's own tables expand
the syscall groups; systemd-analyze scores both units alike)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockade.export.importers import systemd as imp
from stockade.export.systemd import SYSTEMD_IMPLICIT

from .conftest import need_root_and, stockade
from .test_systemd import exposure

UNIT = """\
[Unit]
Description=stockade import test
[Service]
ExecStart=/usr/bin/true
ProtectSystem=strict
ProtectHome=yes
ReadWritePaths={rw}
InaccessiblePaths=-/etc/shadow
NoExecPaths=/
ExecPaths=/usr/bin /usr/lib
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SocketBindDeny=tcp
SocketBindAllow=tcp:8080
SocketBindAllow=tcp:9000-9002
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
LimitNOFILE=1024
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
SystemCallArchitectures=native
"""


def _directives(text: str) -> dict[str, set[str]]:
    unit = imp.parse_unit(text)
    out = {k: {v.lstrip("-") for v in vals} for k, vals in unit.lists.items()}
    out.update({k: {v} for k, v in unit.values.items()})
    out.update({k: {v} for k, v in unit.limits.items()})
    return out


def _native(names: list[str]) -> set[str]:
    """The names systemd's filter acts on: native, and known to its libseccomp (it ignores
    the others with a warning, so the original unit does not allow them either)."""
    from stockade.enforce import seccomp as sc
    from stockade.export.oci_seccomp import libseccomp_cannot_name

    out = set()
    for name in names:
        if libseccomp_cannot_name(name):
            continue
        try:
            if sc.resolve_syscall(name) >= 0:
                out.add(name)
        except KeyError:
            pass
    return out


def test_round_trip_keeps_the_directives(tmp_path: Path) -> None:
    need_root_and("systemd-analyze")
    rw = tmp_path / "state"
    rw.mkdir()
    unit = tmp_path / "demo.service"
    unit.write_text(UNIT.format(rw=rw))
    prof = tmp_path / "demo"
    res = stockade("import", "--from", "systemd", str(unit), "-o", str(prof))
    assert res.returncode == 0, res.stderr
    res = stockade("export", "--format", "systemd", str(prof))
    assert res.returncode == 0, res.stderr
    x, back = _directives(UNIT.format(rw=rw)), _directives(res.stdout)
    for key in ("ProtectSystem", "ProtectHome", "InaccessiblePaths", "NoExecPaths",
                "ExecPaths", "RestrictAddressFamilies", "CapabilityBoundingSet",
                "NoNewPrivileges", "LimitNOFILE", "SystemCallErrorNumber",
                "SystemCallArchitectures", "SocketBindDeny", "SocketBindAllow"):
        assert back[key] == x[key], key
    # strict leaves the API file systems writable: the profile says so explicitly
    assert back["ReadWritePaths"] == x["ReadWritePaths"] | {"/dev", "/proc", "/sys"}
    groups = imp.syscall_groups()
    want = _native(imp.expand(["@system-service"], groups) + list(SYSTEMD_IMPLICIT))
    assert back["SystemCallFilter"] == want
    # systemd scores the round trip like the original (same directives, same exposure)
    dropin = tmp_path / "rt" / "demo.service.d"
    dropin.mkdir(parents=True)
    (tmp_path / "rt" / "demo.service").write_text("[Service]\nExecStart=/usr/bin/true\n")
    (dropin / "stockade.conf").write_text(res.stdout)
    assert exposure(tmp_path / "rt" / "demo.service") <= exposure(unit)


def test_deny_list_and_notes(tmp_path: Path) -> None:
    need_root_and("systemd-analyze")
    unit = tmp_path / "d.service"
    unit.write_text("[Service]\nExecStart=/usr/bin/true\nPrivateTmp=yes\n"
                    "SystemCallFilter=~@reboot @swap:EPERM\nCapabilityBoundingSet=~CAP_SYS_ADMIN\n")
    res = stockade("import", "--from", "systemd", str(unit), "-o", "-")
    assert res.returncode == 0, res.stderr
    assert "not imported: PrivateTmp" in res.stderr
    assert "deny syscall errno=EPERM (swapoff, swapon)," in res.stdout
    assert "syscall action=kill (kexec_file_load, kexec_load, reboot)," in res.stdout
    assert "deny capability sys_admin," in res.stdout


def test_bad_unit(tmp_path: Path) -> None:
    unit = tmp_path / "bad.service"
    unit.write_text("[Service]\nProtectSystem=sideways\n")
    res = stockade("import", "--from", "systemd", str(unit), "-o", str(tmp_path / "p"))
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "ProtectSystem=sideways" in res.stderr
    res = stockade("import", "--from", "systemd", str(tmp_path / "none"), "-o", "-")
    assert res.returncode == 2


@pytest.mark.parametrize("line", ["SystemCallFilter=@nosuchgroup"])
def test_unknown_group(tmp_path: Path, line: str) -> None:
    need_root_and("systemd-analyze")
    unit = tmp_path / "g.service"
    unit.write_text(f"[Service]\n{line}\n")
    res = stockade("import", "--from", "systemd", str(unit), "-o", "-")
    assert res.returncode == 2 and "unknown group @nosuchgroup" in res.stderr
