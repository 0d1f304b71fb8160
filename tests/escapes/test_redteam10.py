"""Red-team findings (round 10): each test runs a real confined program through `stockade run`
(as root and as nobody) and asserts that the sandbox HOLDS. Each failed before its fix."""

from __future__ import annotations

import os
from pathlib import Path

from confine_helpers import PY, cli, uid_of

BIBA_LWM = ["--mode", "enforce", "--lsm", "capability,biba", "--context", "biba=medium",
            "--module-option", "biba.model=lwm", "--module-option", "biba.default_level=high",
            "--no-status-record", "--no-cache"]

GETFD = """
import ctypes, os, sys
D = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
w = os.open(D + "/out/m", os.O_WRONLY | os.O_APPEND)
r, wp = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(w); os.close(r)
    data = open(D + "/low/data").read()          # now low
    try:
        os.open(D + "/out/m", os.O_WRONLY)
        print("open:OK")
    except OSError as e:
        print("open:" + str(e.errno))
    pidfd = libc.syscall(434, os.getppid(), 0)
    fd = libc.syscall(438, pidfd, w, 0)
    print("getfd:" + (str(ctypes.get_errno()) if fd < 0 else "OK"), flush=True)
    if fd >= 0:
        os.write(fd, b"LOW " + data.encode())
    os.write(wp, b"x"); os._exit(0)
os.close(wp); os.read(r, 1); os.waitpid(pid, 0)
# a medium sibling (not demoted) still takes it: the decision is the module's, not a blanket
pid = os.fork()
if pid == 0:
    pidfd = libc.syscall(434, os.getppid(), 0)
    fd = libc.syscall(438, pidfd, w, 0)
    print("peer:" + (str(ctypes.get_errno()) if fd < 0 else "OK"), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


def _label(path: Path, level: str) -> None:
    os.setxattr(path, "user.stockade.biba", level.encode())


def test_pidfd_getfd_is_decided_as_ptrace_attach(area, user: str) -> None:
    """A child demoted to low Biba cannot take its medium parent's writable descriptor."""
    root = area.root
    (root / "out").mkdir()
    (root / "low").mkdir()
    (root / "out" / "m").write_text("medium\n")
    (root / "low" / "data").write_text("low data\n")
    for p in (root / "out", root / "out" / "m"):
        _label(p, "medium")
    for p in (root / "low", root / "low" / "data"):
        _label(p, "low")
    for p in root.rglob("*"):
        os.chown(p, uid_of(user), uid_of(user))
    res = cli("run", *BIBA_LWM, "--rx", "/", "--rw", str(root / "out"), "--rw",
              str(root / "low"), "--", PY, "-c", GETFD, str(root), user=user, timeout=60)
    got = dict(line.split(":", 1) for line in res.stdout.split())
    assert got == {"open": "13", "getfd": "1", "peer": "OK"}, res
    assert (root / "out" / "m").read_text() == "medium\n"


LATER_WRITES = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ctx = ctypes.c_ulong(0)
def call(label, nr, *args):
    r = libc.syscall(nr, *args)
    print(label + ":" + ("OK" if r >= 0 else str(ctypes.get_errno())), flush=True)
call("io_setup", 206, 1, ctypes.byref(ctx))
call("userfaultfd", 323, 1)                  # UFFD_USER_MODE_ONLY: allowed unprivileged
"""


def test_kernel_writers_after_return_refused_where_exec_is_decided(user: str) -> None:
    """An AIO context outlives its unmapped ring (the [aio] line exec_race looked for): an
    O_DIRECT read lands in the exec path during the decision. io_setup and userfaultfd are
    refused where a module decides exec, and stay available otherwise."""
    decided = cli("run", *BIBA_LWM, "--rx", "/", "--", PY, "-c", LATER_WRITES, user=user)
    assert decided.stdout.split() == ["io_setup:1", "userfaultfd:1"], decided
    plain = cli("run", "--no-status-record", "--rx", "/", "--", PY, "-c", LATER_WRITES,
                user=user)
    assert plain.stdout.split() == ["io_setup:OK", "userfaultfd:OK"], plain
