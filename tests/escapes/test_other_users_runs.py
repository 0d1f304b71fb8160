"""Red team 14: root's `logprof -p NAME` and `notify --profile NAME` tied the kernel's Landlock
records of another user's run to root's profile of the same name (every user's status records
are read as root; the profile was matched by name only). A run counts for the profile of its
own launcher's uid; another user's is named `[uid N] NAME` (host/confinement.run_profiles).
The second user here is nobody, running the real `stockade run`."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from confine_helpers import NOBODY, REPO, STOCKADE, cli, nobody_can_run_stockade

from stockade.audit.readers.netlink import AuditMulticast

PROFILE = """profile web-server /usr/bin/python3.11 {{
  /usr/** rix,
  /etc/ld.so.cache r,
  /etc/** r,
  {extra}
}}
"""
PROGRAM = """import os, sys, time
try:
    os.open("/etc/cron.d/stockade-t-rt14", os.O_WRONLY | os.O_CREAT, 0o644)
except OSError as e:
    print("refused", e.strerror, flush=True)
time.sleep(30)
"""


def _kernel_log(reader: AuditMulticast, dest: Path, pid: int) -> bool:
    """The kernel's records read from the audit multicast group (dmesg and audit.log may
    drop or delay them on a busy host) into `dest` as audit.log lines, until one of the
    Landlock domain `pid` created is there (at most 10 s); whether it was."""
    lines: list[str] = []
    seen = False
    until = time.monotonic() + 10
    while not seen and time.monotonic() < until:
        for rec in reader.read(0.2):
            lines.append(rec.line)
            seen |= rec.type in (1423, 1424) and (f"domain_pid={pid} " in rec.line + " "
                                                  or f" pid={pid} " in rec.line + " ")
    dest.write_text("\n".join(lines) + "\n")
    os.chmod(dest, 0o644)
    return seen


def test_another_users_run_feeds_no_profile_of_roots(audit_on):
    if not nobody_can_run_stockade() or not os.path.exists("/usr/bin/python3.11"):
        pytest.skip("nobody cannot run stockade here")
    work = Path(tempfile.mkdtemp(prefix="stockade-t-"))
    os.chmod(work, 0o755)
    made_runtime = not os.path.exists(f"/run/user/{NOBODY}")
    if made_runtime:
        os.makedirs(f"/run/user/{NOBODY}", mode=0o700)
        os.chown(f"/run/user/{NOBODY}", NOBODY, NOBODY)
    roots = work / "web-server"
    roots.write_text(PROFILE.format(extra="/srv/www/** r,"))
    (work / "prog.py").write_text(PROGRAM)
    for p in work.iterdir():
        os.chmod(p, 0o644)
    (work / "home").mkdir()
    os.chown(work / "home", NOBODY, NOBODY)
    theirs = work / "home" / "web-server"  # where logprof, as nobody, writes its draft
    theirs.write_text(PROFILE.format(extra=f"{work}/** r,"))
    os.chmod(theirs, 0o644)
    reader = AuditMulticast()  # joined before the run: none of its records is missed
    run = subprocess.Popen([*STOCKADE, "run", "-q", "-p", str(theirs), "--",
                            "/usr/bin/python3.11", str(work / "prog.py")],
                           stdout=subprocess.PIPE, text=True, cwd="/", user=NOBODY,
                           group=NOBODY, extra_groups=[],
                           env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")})
    try:
        assert run.stdout is not None
        assert run.stdout.readline().startswith("refused"), "the user's program was not refused"
        time.sleep(0.5)
        log = work / "kernel.log"
        program_pid = int(subprocess.run(["pgrep", "-P", str(run.pid)], capture_output=True,
                                         text=True, check=False).stdout.split()[0])
        if not _kernel_log(reader, log, program_pid):
            pytest.skip("the kernel's Landlock record of the run did not arrive")
        mine = cli("logprof", "-p", str(roots), "--log", str(log))
        assert mine.returncode == 0, mine
        assert "/etc/cron.d" not in mine.stdout, mine.stdout
        assert "another user's run of a profile named web-server" in mine.stderr, mine
        # the user whose run it was gets it for the user's own profile
        own = cli("logprof", "-p", str(theirs), "--log", str(log), user="nobody")
        assert own.returncode == 0, own
        assert "/etc/cron.d" in own.stdout, own
        # notify names whose run it was, and --profile web-server leaves it out
        notify = ("notify", "--once", "--since", "1h", "--no-netlink", "--audit-log", "",
                  "--no-desktop", "--rate", "0", "--log", str(log))
        every = cli(*notify)
        assert f"[uid {NOBODY}] web-server" in every.stdout, every
        only = cli(*notify, "--profile", "web-server")
        assert "/etc/cron.d" not in only.stdout, only
    finally:
        subprocess.run(["pkill", "-KILL", "-P", str(run.pid)], check=False)
        run.kill()
        run.wait()
        reader.close()
        if made_runtime:
            shutil.rmtree(f"/run/user/{NOBODY}", ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
