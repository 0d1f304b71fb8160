# ruff: noqa: E501  (audit records are long lines; kept verbatim as the kernel writes them)
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = """\
type=AVC msg=audit(1700000001.100:10): apparmor="DENIED" operation="open" class="file" profile="/usr/sbin/cupsd" name="/etc/shadow" pid=1234 comm="cupsd" requested_mask="r" denied_mask="r" fsuid=0 ouid=0
type=SYSCALL msg=audit(1700000001.100:10): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=55d0 a2=80000 a3=0 items=1 ppid=1 pid=1234 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="cupsd" exe="/usr/sbin/cupsd" key=(null)
type=USER_START msg=audit(1700000002.000:11): pid=5 uid=0 auid=1000 ses=2 msg='op=PAM:session_open acct="u" exe="/usr/sbin/sshd" res=success'
type=UNKNOWN[1423] msg=audit(1700000003.000:12): domain=1a6fdc679 blockers=fs.write_file path="/tmp/out" dev="vda2" ino=9
type=UNKNOWN[1423] msg=audit(1700000004.000:13): domain=1a6fdc679 blockers=fs.read_file path="/etc/shadow" dev="vda2" ino=10
type=AVC msg=audit(1700000005.000:14): apparmor="ALLOWED" operation="open" class="file" profile="/usr/sbin/cupsd" name="/etc/gshadow" pid=1234 comm="cupsd" requested_mask="r" denied_mask="r" fsuid=0 ouid=0
"""


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", *args], capture_output=True, text=True,
                          env=env, timeout=60)


@pytest.fixture
def sample_log(tmp_path: Path) -> Path:
    path = tmp_path / "audit.log"
    path.write_text(SAMPLE)
    return path
