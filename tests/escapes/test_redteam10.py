"""Red-team findings (round 10): each test runs a real confined program through `stockade run`
(as root and as nobody) and asserts that the sandbox HOLDS. Each failed before its fix."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from confine_helpers import (
    LABELLED,
    NOBODY,
    PY,
    REPO,
    STOCKADE,
    cli,
    confined,
    plan_with,
    uid_of,
)

from stockade.enforce.plan.profile import compile_plan
from stockade.policy import compile_profiles

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


#: defines exec_mapped(path): a child execs the path held in a MAP_PRIVATE mapping of `path`
MAPPED_EXEC = LABELLED + """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_long]
def exec_mapped(path):
    pid = os.fork()
    if pid == 0:
        fd = os.open(path, os.O_RDONLY)
        addr = libc.mmap(None, 4096, 1, 2, fd, 0)  # PROT_READ, MAP_PRIVATE
        argv = (ctypes.c_char_p * 2)(b"true", None)
        libc.execve(ctypes.c_void_p(addr), argv, None)
        os._exit(ctypes.get_errno())
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code:
        raise OSError(code, "exec")
TRUE = b"/usr/bin/true\\0".ljust(4096, b"\\0")
"""


@pytest.mark.parametrize("owned", [True, False], ids=["own-file", "root-file"])
def test_exec_path_in_mapping_of_file_held_for_writing_refused(area, user: str,
                                                                owned: bool) -> None:
    """The exec path lies in a private mapping of the program's stdout, a file it holds open
    for writing (inherited, no grant): refused; the same bytes in a mapping of a file no one
    holds for writing run. A root-owned stdout: nobody's supervisor takes no lease on it and
    looks at the processes' descriptors instead."""
    readonly = area.root / "path.bin"
    readonly.write_bytes(b"/usr/bin/true\0".ljust(4096, b"\0"))
    os.chmod(readonly, 0o444)
    out = area.root / "out.txt"
    out.touch()
    os.chmod(out, 0o666)
    if owned:
        os.chown(out, uid_of(user), uid_of(user))
    program = MAPPED_EXEC + """
os.pwrite(1, TRUE, 0)
os.lseek(1, 4096, os.SEEK_SET)  # the results go after the page holding the path
t("readonly", lambda: exec_mapped(sys.argv[1]))
t("stdout", lambda: exec_mapped(sys.argv[2]))
"""
    log = area.root / "audit.jsonl"
    argv = [*STOCKADE, "run", *BIBA_LWM, "--audit", str(log), "--rx", "/", "--", PY, "-c",
            program,
            str(readonly), str(out)]
    ids = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if user == "nobody" else {}
    res = subprocess.run(["/bin/sh", "-c", '"$@" > "$0"', str(out), *argv], cwd="/",
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO / "src")}, **ids)
    got = out.read_bytes()[4096:].decode(errors="replace").split()
    assert [line for line in got if ":" in line] == ["readonly:OK", "stdout:13"], (got, res)
    held = "process " if user == "nobody" and not owned else f"{out} is open"  # scan or lease
    assert f"the path lies in a mapping of {out}: {held}" in log.read_text()


TOMOYO_READ = "".join(f"acl_group 0 file {perm} {pat}\n" for perm in ("read", "getattr")
                      for pat in ("/\\*", "/\\{\\*\\}/\\*", "/", "/\\{\\*\\}/")) + \
    "acl_group 0 misc env \\*\n"


def _tomoyo_policy(base: Path, out: Path) -> Path:
    """The program's domain may execute /usr/bin/true and write out/* (supervised rules only)."""
    init = Path("/usr/lib/tomoyo/init_policy")
    if not init.exists():
        pytest.skip("tomoyo-tools is not installed")
    pol = base / "policy"
    pol.mkdir()
    subprocess.run([str(init), f"policy_dir={base / 'init'}"], check=True, capture_output=True)
    for name in ("profile.conf", "manager.conf"):
        (pol / name).write_text((base / "init" / name).read_text())
    (pol / "exception_policy.conf").write_text(
        (base / "init" / "exception_policy.conf").read_text() + TOMOYO_READ)
    py = os.path.realpath(PY)
    (pol / "domain_policy.conf").write_text(
        f"<kernel>\nuse_profile 0\nuse_group 0\n\n<kernel> {py}\nuse_profile 3\nuse_group 0\n"
        f"file execute {py}\nfile execute /usr/bin/true\nfile create {out}/\\* 0-0777\n"
        f"file write {out}/\\*\nfile truncate {out}/\\*\n\n"
        f"<kernel> {py} /usr/bin/true\nuse_profile 3\nuse_group 0\n")
    os.chmod(pol, 0o755)
    for p in pol.iterdir():
        os.chmod(p, 0o644)
    return pol


def test_exec_path_in_mapping_of_file_writable_through_tomoyo_refused(area, user: str) -> None:
    """The mapped file is writable only through TOMOYO's supervised rules (no own grant):
    the whole ruleset counts, so the exec from its mapping is refused."""
    out = area.root / "out"
    out.mkdir()
    os.chown(out, uid_of(user), uid_of(user))
    pol = _tomoyo_policy(area.root, out)
    program = MAPPED_EXEC + """
open(sys.argv[1], "wb").write(TRUE)
t("tomoyo", lambda: exec_mapped(sys.argv[1]))
"""
    res = cli("run", "--mode", "enforce", "--lsm", "capability,tomoyo", "--module-option",
              f"tomoyo.policy_dir={pol}", "--no-status-record", "--no-cache", "--rx", "/",
              "--audit", str(area.root / "audit.jsonl"),
              "--", PY, "-c", program, str(out / "map"), user=user, timeout=60)
    assert res.stdout.split() == ["tomoyo:13"], res
    reasons = (area.root / "audit.jsonl").read_text()
    assert f"the path lies in a mapping of {out / 'map'}, which the sandbox may write" in reasons
    assert (out / "map").read_bytes().startswith(b"/usr/bin/true\0"), res


def _swap_in_link(share: Path, secret: Path) -> Callable[[], None]:
    """What a concurrent sandbox that may change `share` does between the plan and prepare:
    share/out (a directory) becomes a link to `secret` (RENAME_EXCHANGE, as the red team)."""
    def swap() -> None:
        os.rename(share / "out", share / "old")
        os.rename(share / "lnk", share / "out")
    return swap


@pytest.mark.parametrize("kind", ["profile", "adhoc"])
def test_grant_path_swapped_for_a_link_after_the_plan_is_refused(area, user: str,
                                                                kind: str) -> None:
    """The plan holds link-free paths; prepare opens them without following a link, so a
    link swapped in since fails the run (a StockadeError: exit 125) instead of granting the
    link's target."""
    share, secret = area.root / "share", area.root / "secret"
    (share / "out").mkdir(parents=True)
    secret.mkdir()
    os.symlink(secret, share / "lnk")
    for p in (share, share / "out", secret):
        os.chown(p, uid_of(user), uid_of(user))
    if kind == "profile":
        prof = area.root / "victim.profile"
        prof.write_text("profile victim {\n  /usr/** rix,\n  /etc/** r,\n"
                        f"  {share}/out/** rw,\n}}\n")
        plan = compile_plan(compile_profiles(str(prof))[0]).plan
    else:
        plan = plan_with(rw=[str(share / "out")], rx=["/usr"])
    res = confined(plan, ["/usr/bin/sh", "-c", f"echo x > {share}/out/f && echo WROTE"],
                   user=user, before=_swap_in_link(share, secret))
    assert "WROTE" not in res.out and not list(secret.iterdir()), res
    assert res.status != 0, res  # the helper's status for a StockadeError (the CLI's: 125)
    assert f"StockadeError: {'' if kind == 'profile' else '--rw '}" in res.err, res
    assert f"{share}/out has a symbolic link on its path now" in res.err, res
