"""Red team 14 (the supervisor under `--mode enforce`): each test failed before its fix; they
run the real `stockade` command line on a real confined child."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import PY, cli, uid_of

REAL_PY = os.path.realpath(PY)

#: the programs' prelude: an open printed OPENED or refused (nothing is read or written)
ATTEMPT = """
import os, signal, sys
def attempt(tag, path, flags):
    try:
        os.close(os.open(path, flags))
        print("OPENED", tag, flush=True)
    except OSError as e:
        print("refused", tag, e.strerror, flush=True)
"""

#: opens a program makes in /proc
PROC_OPENS = ATTEMPT + """
attempt("cmdline", "/proc/cmdline", os.O_RDONLY)
attempt("boot_id", "/proc/sys/kernel/random/boot_id", os.O_RDONLY)
attempt("core_pattern", "/proc/sys/kernel/core_pattern", os.O_WRONLY)
attempt("own_status", "/proc/self/status", os.O_RDONLY)
attempt("own_oom", "/proc/self/oom_score_adj", os.O_WRONLY)
attempt("own_environ", "/proc/self/environ", os.O_RDONLY)
root = os.getpid()
pid = os.fork()
if pid == 0:
    attempt("child_own_status", "/proc/self/status", os.O_RDONLY)
    attempt("child_parents_oom", f"/proc/{root}/oom_score_adj", os.O_WRONLY)
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.fixture
def proc_profile() -> Iterator[Path]:
    """A profile with abstractions/base (own /proc/@{pid}/{maps,auxv,status,stat} r) and an
    own-/proc write rule, as the red team's (root's program could open core_pattern for
    writing; nobody's is refused that by DAC, the rest holds for both); its directory holds
    the program too."""
    tmp = Path(tempfile.mkdtemp(prefix="stockade-rt14a-", dir="/tmp"))
    os.chmod(tmp, 0o755)
    (tmp / "prof").write_text(f"""include <tunables/global>
profile rt14 {REAL_PY} {{
  include <abstractions/base>
  /usr/** rix,
  {tmp}/** r,
  @{{PROC}}/@{{pid}}/oom_score_adj rw,
}}
""")
    (tmp / "w.py").write_text(PROC_OPENS)
    yield tmp
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()


def _outcomes(stdout: str) -> dict[str, str]:
    return {line.split()[1]: line.split()[0] for line in stdout.splitlines()
            if line.startswith(("OPENED", "refused"))}


def test_enforce_mode_opens_in_proc_meet_the_plan(proc_profile, user):
    """The supervisor thread's ruleset grants all of /proc with the rights of the profile's
    own-/proc rules: under --mode enforce the emulated opens read /proc/cmdline and /proc/sys
    and opened core_pattern for writing (plain run -p refuses all three). Now they are refused
    exactly as in plain run, with one audit record each, while the own-/proc rules still
    work (for a child of the program too: its own /proc/PID)."""
    tmp = proc_profile
    plain = cli("run", "-q", "-p", str(tmp / "prof"), "--", PY, str(tmp / "w.py"), cwd=tmp,
                user=user)
    assert plain.returncode == 0, plain.stderr
    audit = tmp / "audit.jsonl"
    audit.touch()
    os.chmod(audit, 0o666)
    enforce = cli("run", "-q", "-p", str(tmp / "prof"), "--mode", "enforce",
                  "--lsm", "capability,biba", "--context", "biba=medium",
                  "--module-option", "biba.default_level=medium", "--audit", str(audit),
                  "--", PY, str(tmp / "w.py"), cwd=tmp, user=user)
    assert enforce.returncode == 0, enforce.stderr
    before, after = _outcomes(plain.stdout), _outcomes(enforce.stdout)
    for name in ("cmdline", "boot_id", "core_pattern", "own_environ"):
        assert before[name] == after[name] == "refused", (name, plain.stdout, enforce.stdout)
    for name in ("own_status", "own_oom"):
        assert before[name] == after[name] == "OPENED", (name, plain.stdout, enforce.stdout)
    assert after["child_own_status"] == "OPENED", enforce.stdout
    # another process's /proc/PID is not the child's own: refused (plain run's child may,
    # through the launcher's grant on the program's first pid: the supervisor is stricter)
    assert after["child_parents_oom"] == "refused", enforce.stdout
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    denied = [r for r in records if r.get("result", r.get("decision")) in ("DENIED", "denied")
              or r.get("denied")]
    paths = [json.dumps(r) for r in denied]
    # nobody's open of core_pattern fails in the kernel (DAC) before anything is decided
    refused_by_plan = ("/proc/cmdline", *(("/proc/sys/kernel/core_pattern",)
                                          if user == "root" else ()))
    for name in refused_by_plan:
        assert sum(name in p for p in paths) == 1, (name, paths)


#: the low task: refused kill() of the high task (Biba "no invoke up"), then the /proc opens
LOW_TASK = ATTEMPT + """
high = int(sys.argv[1])
try:
    os.kill(high, signal.SIGCONT)
    print("OPENED kill", flush=True)
except OSError as e:
    print("refused kill", e.strerror, flush=True)
attempt("high_mem", f"/proc/{high}/mem", os.O_RDWR)
attempt("high_environ", f"/proc/{high}/environ", os.O_RDONLY)
attempt("high_maps", f"/proc/{high}/task/{high}/maps", os.O_RDONLY)
attempt("high_status", f"/proc/{high}/status", os.O_RDONLY)
attempt("own_mem", "/proc/self/mem", os.O_RDWR)
"""


@pytest.fixture
def high_and_low(area) -> Path:
    """A static shell labelled Biba high (it reads nothing lower, so it stays high) and the
    low task's script (python is unlabelled: the low-water-mark makes its exec low)."""
    root = area.root / "bin"
    root.mkdir()
    shell = root / "busybox"  # busybox takes the applet from argv[1] under this name
    shell.write_bytes(Path("/bin/busybox").read_bytes())
    os.chmod(shell, 0o755)
    os.setxattr(shell, "user.stockade.biba", b"high")
    (root / "low.py").write_text(LOW_TASK)
    os.chmod(root, 0o755)
    return root


def test_proc_pid_mem_asks_the_ptrace_hook(high_and_low, user):
    """Biba "no invoke up": the low task is refused kill() of the high task, but the emulated
    open of /proc/HIGH/mem asked the stack only file_open (an unlabelled procfs file), so the
    low task opened it read-write (and rewrote the high task's memory). Now the stack's
    ptrace_access_check is asked on the task the entry belongs to (attach for mem, read for
    environ and maps), once, with one audit record; its own /proc/self/mem stays open."""
    if not os.path.exists("/bin/busybox"):
        pytest.skip("busybox-static not installed")
    root = high_and_low
    audit = root / "audit.jsonl"
    audit.touch()
    os.chmod(audit, 0o666)
    res = cli("run", "-q", "--mode", "enforce", "--lsm", "capability,biba",
              "--context", "biba=high", "--module-option", "biba.model=lwm",
              "--rx", "/", "--rw", "/proc", "--audit", str(audit), "--",
              str(root / "busybox"), "sh", "-c", f"{PY} {root / 'low.py'} $$; true",
              user=user, cwd=root)
    assert res.returncode == 0, res.stderr
    got = _outcomes(res.stdout)
    assert got["kill"] == "refused", res.stdout  # the rule the /proc opens must follow
    for name in ("high_mem", "high_environ", "high_maps"):
        assert got[name] == "refused", (name, res.stdout)
    assert "refused high_mem Permission denied" in res.stdout  # mm_access: EACCES
    assert got["high_status"] == "OPENED", res.stdout  # not guarded by ptrace_may_access
    assert got["own_mem"] == "OPENED", res.stdout  # its own thread group: no hook asked
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    ptrace = [r for r in records if "ptrace_access_check" in json.dumps(r)]
    # kill's refusal is task_kill; one record per /proc refusal (mem, environ, maps)
    assert len(ptrace) == 3, [json.dumps(r) for r in ptrace]


#: a thread with a descriptor table of its own opens M for writing; the leader then reads L
UNSHARED_WRITER = """
import ctypes, os, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
D = os.path.dirname(os.path.abspath(__file__))
ready, go, box = threading.Event(), threading.Event(), {}
def writer():
    if libc.unshare(0x400) != 0:  # CLONE_FILES
        box["why"] = os.strerror(ctypes.get_errno())
    elif sys.argv[1] == "write":
        box["fd"] = os.open(f"{D}/M", os.O_WRONLY | os.O_APPEND)
    ready.set()
    go.wait()
    if "fd" in box:  # low data in a medium file, had the group been lowered
        os.write(box["fd"], b"written after the read\\n")
th = threading.Thread(target=writer)
th.start()
ready.wait()
print("unshare", box.get("why", "ok"), flush=True)
try:
    open(f"{D}/L").read()
    print("OPENED read_low", flush=True)
except OSError as e:
    print("refused read_low", e.strerror, flush=True)
go.set()
th.join()
"""


def test_lwm_looks_at_every_descriptor_table(area, user):
    """Biba low-water-mark refuses a demoting read while the task holds a file above the new
    level open for writing; only /proc/TGID/fd (the leader's table) was read, so a thread
    that unshared CLONE_FILES kept its writable descriptor of M out of view: the leader's
    read of L passed and the thread wrote low data into M. Now every table is read."""
    root = area.root
    m, low = root / "M", root / "L"
    m.write_text("medium-data\n")
    low.write_text("low-data\n")
    os.setxattr(m, "user.stockade.biba", b"medium")
    os.setxattr(low, "user.stockade.biba", b"low")
    (root / "t.py").write_text(UNSHARED_WRITER)
    for p in (m, low):
        os.chown(p, uid_of(user), uid_of(user))
    outs = {}
    for case in ("write", "hold-nothing"):
        res = cli("run", "-q", "--mode", "enforce", "--lsm", "capability,biba",
                  "--context", "biba=medium", "--module-option", "biba.model=lwm",
                  "--module-option", "biba.default_level=high", "--rx", "/", "--rw",
                  str(root), "--", PY, str(root / "t.py"), case, user=user, cwd=root,
                  timeout=60)
        assert res.returncode == 0, res.stderr
        assert "unshare ok" in res.stdout, res.stdout
        outs[case] = res.stdout
    assert "refused read_low" in outs["write"], outs
    # the control: the same thread holding nothing, the read demotes the group
    assert "OPENED read_low" in outs["hold-nothing"], outs
