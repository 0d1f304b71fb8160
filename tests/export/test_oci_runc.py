"""The `oci` fragment merged into a runc bundle: capabilities, rlimits, masked and read-only
paths, bind mounts and seccomp as the plan says (runc and the kernel are the oracle)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stockade.enforce import seccomp as sc

from .conftest import Bundle

PROFILE = """\
profile svc {{
  {d}/ro/** r,
  {d}/rw/** rw,
  /usr/** rix,
  deny /etc/secret r,
  deny /etc/passwd w,
  capability chown,
  set rlimit nofile <= 77,
}}
"""


def export_oci(tmp_path: Path, text: str) -> dict[str, Any]:
    prof = tmp_path / "svc"
    prof.write_text(text)
    res = subprocess.run([sys.executable, "-m", "stockade", "export", "--format", "oci",
                          str(prof)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def merge(config: dict[str, Any], fragment: dict[str, Any]) -> None:
    """What a deployment does with the fragment: its keys win, path lists and mounts add."""
    config["process"].update(fragment["process"])
    for key, value in fragment["linux"].items():
        if isinstance(value, list):
            config["linux"][key] = sorted(set(config["linux"].get(key, [])) | set(value))
        else:
            config["linux"][key] = value
    config["mounts"] = config.get("mounts", []) + fragment.get("mounts", [])


def test_runc_runs_the_exported_config(tmp_path: Path, bundle: Callable[[], Bundle]) -> None:
    data = tmp_path / "data"
    (data / "ro").mkdir(parents=True)
    (data / "rw").mkdir()
    (data / "ro" / "file").write_text("ro\n")
    fragment = export_oci(tmp_path, PROFILE.format(d=data))
    assert fragment["linux"]["maskedPaths"] == ["/etc/secret"]
    assert "/usr" in fragment["linux"]["readonlyPaths"]
    b = bundle()
    rootfs = b.dir / "rootfs"
    (rootfs / "etc" / "secret").write_text("s3cret\n")
    (rootfs / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    (rootfs / "usr").mkdir()
    for mount in fragment["mounts"]:
        (rootfs / mount["destination"].lstrip("/")).mkdir(parents=True)
    b.config["root"]["readonly"] = False
    merge(b.config, fragment)
    unshare, newuser = sc.resolve_syscall("unshare"), 0x10000000
    script = f"""
echo secret:$(cat /etc/secret)
echo x >> /etc/passwd && echo passwd:written || echo passwd:refused
echo x > /usr/f && echo usr:written || echo usr:refused
echo x > {data}/ro/f && echo ro:written || echo ro:refused
echo ro-read:$(cat {data}/ro/file)
echo y > {data}/rw/f && echo rw:written || echo rw:refused
grep CapEff /proc/self/status
echo nofile:$(ulimit -n)
/bin/probe {unshare} {newuser:#x}
"""
    res = b.run("/bin/sh", "-c", script)
    assert res.returncode in (0, 1), res.stderr
    lines = res.stdout.split("\n")
    assert lines[:6] == ["secret:", "passwd:refused", "usr:refused", "ro:refused",
                         "ro-read:ro", "rw:written"], res.stdout + res.stderr
    assert lines[6].split() == ["CapEff:", "0000000000000001"]  # CAP_CHOWN only
    assert lines[7] == "nofile:77"
    assert lines[8] == "errno 1"
    assert (data / "rw" / "f").read_text() == "y\n"
    assert not (data / "ro" / "f").exists()
