"""Red-team finding (round 3): under `--mode enforce` a module decides exec on the file the
supervisor looked up, then the kernel looks the name up again. A sibling process swapping the
file behind the name (renameat2 RENAME_EXCHANGE in a directory the program may change) made
the kernel run a file the module refuses. The supervisor now refuses a decided exec whose
name the program can swap (docs/supervisor.md). Each test runs a real confined program."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import cli

SWAP_REASON = ("its name can be swapped after the decision: a directory on its path can be "
               "changed by the program")

#: inside the sandbox: exec DIR/prog while a sibling (no shared memory: the path bytes cannot
#: change) swaps prog and bad with renameat2(RENAME_EXCHANGE); prints how often bad ran
SWAPPER = """\
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
d = sys.argv[1].encode() + b"/"
swapper = os.fork()
if swapper == 0:
    while True:
        libc.syscall(316, -100, d + b"prog", -100, d + b"bad", 2)
r, w = os.pipe()
os.set_blocking(r, False)
hits = tries = 0
t0 = time.time()
while time.time() - t0 < 3 and not hits:
    tries += 1
    pid = os.fork()
    if pid == 0:
        os.dup2(w, 1)
        try:
            os.execv(d.decode() + "prog", ["prog"])
        except OSError:
            os._exit(3)
    os.waitpid(pid, 0)
    try:
        out = os.read(r, 4096)
    except BlockingIOError:
        out = b""
    hits += b"uid=" in out
os.kill(swapper, 9)
print("tries", tries, "hits", hits)
"""

DENY_BAD = """\
import os
from stockade.lsm.types import MAY_EXEC
from stockade.modules.programmable import hook

BAD = os.stat({bad!r}).st_ino


@hook("file_open")
def no_bad_exec(req):
    if req.access & MAY_EXEC and req.obj.ino == BAD:
        return False


@hook("bprm_check_security")
def no_bad_exec2(req):
    if req.obj.ino == BAD:
        return False
"""


@pytest.fixture
def scratch() -> Iterator[Path]:
    """/tmp/xs-*/ (root's, 0755) holding work/ (world-writable) and log/ (for --audit)."""
    root = Path(tempfile.mkdtemp(prefix="xs-", dir="/tmp"))
    os.chmod(root, 0o755)
    for name in ("work", "log"):
        (root / name).mkdir()
        os.chmod(root / name, 0o777)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _programs(work: Path, owner: int = 0) -> None:
    """work/prog (true, allowed) and work/bad (id, refused by the module)."""
    shutil.copy("/usr/bin/true", work / "prog")
    shutil.copy("/usr/bin/id", work / "bad")
    for name in ("prog", "bad"):
        os.chmod(work / name, 0o755)
        os.chown(work / name, owner, owner)


def _swap_reasons(log: Path) -> list[str]:
    reasons = [json.loads(line).get("reason", "") for line in log.read_text().splitlines()]
    return [r for r in reasons if SWAP_REASON in r]


def _run_swapper(scratch: Path, user: str, stack: list[str]) -> None:
    work, log = scratch / "work", scratch / "log" / "audit.jsonl"
    (scratch / "swap.py").write_text(SWAPPER)
    os.chmod(scratch / "swap.py", 0o644)
    res = cli("run", "--audit", str(log), "--mode", "enforce", *stack, "--rx", "/",
              "--rw", str(work), "--", "/usr/bin/python3", str(scratch / "swap.py"), str(work),
              user=user, timeout=90)
    assert "tries" in res.stdout, res.stdout + res.stderr
    assert res.stdout.split()[-1] == "0", res.stdout  # the refused program never ran
    assert _swap_reasons(log)  # its name could be swapped: prog itself is refused


def test_biba_exec_swap_refused_as_root(scratch: Path) -> None:
    work = scratch / "work"
    _programs(work)
    os.setxattr(work / "bad", "user.stockade.biba", b"low")
    _run_swapper(scratch, "root", ["--lsm", "capability,biba", "--context", "biba=high",
                                   "--module-option", "biba.default_level=high"])


def test_module_file_exec_swap_refused_as_nobody(scratch: Path) -> None:
    work = scratch / "work"
    _programs(work)
    module = scratch / "deny_bad.py"
    module.write_text(DENY_BAD.format(bad=str(work / "bad")))
    os.chmod(module, 0o644)
    _run_swapper(scratch, "nobody", ["--lsm", "capability", "--module-file", str(module)])


def _exec_codes(scratch: Path, user: str, grant: Path, *programs: str) -> list[str]:
    """Run each of `programs` under a module that decides exec; their exit codes."""
    log = scratch / "log" / "audit.jsonl"
    script = "; ".join(f"{p}; echo $?" for p in programs)
    res = cli("run", "--audit", str(log), "--mode", "enforce", "--lsm", "capability,biba",
              "--rx", "/", "--rw", str(grant), "--", "/usr/bin/sh", "-c", script,
              user=user, timeout=60)
    return res.stdout.split()


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_exec_in_changeable_directory_refused_once(scratch: Path, user: str) -> None:
    work = scratch / "work"
    _programs(work)
    # a system binary, and prog in a directory the program may change (Landlock grants it)
    assert _exec_codes(scratch, user, work, "/usr/bin/true", str(work / "prog")) == ["0", "126"]
    reasons = _swap_reasons(scratch / "log" / "audit.jsonl")
    assert len(reasons) == 1 and str(work) in reasons[0], reasons


def test_dac_read_only_directory_is_not_changeable(scratch: Path) -> None:
    """Landlock grants write on the directory, DAC does not let nobody change it."""
    fixed = scratch / "fixed"
    fixed.mkdir()
    os.chmod(fixed, 0o755)
    _programs(fixed)
    assert _exec_codes(scratch, "nobody", fixed, str(fixed / "prog")) == ["0"]
    assert _exec_codes(scratch, "root", fixed, str(fixed / "prog")) == ["126"]


def test_sticky_directory_protects_only_others_files(scratch: Path) -> None:
    """In a sticky world-writable directory nobody cannot swap root's file, but its own."""
    sticky = scratch / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    shutil.copy("/usr/bin/true", sticky / "roots")
    shutil.copy("/usr/bin/true", sticky / "mine")
    os.chmod(sticky / "roots", 0o755)
    os.chmod(sticky / "mine", 0o755)
    os.chown(sticky / "mine", 65534, 65534)
    assert _exec_codes(scratch, "nobody", sticky, str(sticky / "roots"),
                       str(sticky / "mine")) == ["0", "126"]


def test_symlink_in_changeable_directory_refused(scratch: Path) -> None:
    """A link to a system binary, in a directory the program may change: refused."""
    work = scratch / "work"
    os.symlink("/usr/bin/true", work / "link")
    assert _exec_codes(scratch, "nobody", work, "/usr/bin/true", str(work / "link")) == \
        ["0", "126"]


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_exec_of_a_script_the_program_may_rewrite_is_refused(scratch: Path, user: str) -> None:
    """Red team 7: the kernel reads a script's `#!` line again after the decision; a program
    that may write the script rewrote it to name an interpreter the module refuses. A script
    (or an ELF naming its loader) the program may write is refused; read-only, it runs."""
    fixed = scratch / "fixed"
    fixed.mkdir()
    os.chmod(fixed, 0o755)
    script = fixed / "s.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    os.chmod(script, 0o777)
    log = scratch / "log" / "audit.jsonl"

    def attempt(*grants: str) -> list[str]:
        res = cli("run", "--audit", str(log), "--mode", "enforce", "--lsm", "capability,biba",
                  "--rx", "/", *grants, "--", "/usr/bin/sh", "-c", f"{script}; echo $?",
                  user=user, timeout=60)
        return res.stdout.split()

    assert attempt() == ["ran", "0"]
    assert attempt("--rw", str(script)) == ["126"]
    reasons = [json.loads(line).get("reason", "") for line in log.read_text().splitlines()]
    assert any(f"the program may write {script}, whose first bytes name the interpreter"
               in r for r in reasons), reasons


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_exec_of_a_static_binary_the_program_may_rewrite_is_refused(scratch: Path,
                                                                    user: str) -> None:
    """Red team 9: a static ELF names no interpreter, so a writable one was not checked; the
    program could rewrite it into a `#!` script after the decision. Read-only, it runs."""
    fixed = scratch / "fixed"
    fixed.mkdir()
    os.chmod(fixed, 0o755)
    prog = fixed / "busybox"  # the name busybox dispatches on
    shutil.copy("/bin/busybox", prog)
    os.chmod(prog, 0o777)
    log = scratch / "log" / "audit.jsonl"

    def attempt(*grants: str) -> list[str]:
        res = cli("run", "--audit", str(log), "--mode", "enforce", "--lsm", "capability,biba",
                  "--rx", "/", *grants, "--", "/usr/bin/sh", "-c", f"{prog} true; echo $?",
                  user=user, timeout=60)
        return res.stdout.split()

    assert attempt() == ["0"]
    assert attempt("--rw", str(prog)) == ["126"]
    reasons = [json.loads(line).get("reason", "") for line in log.read_text().splitlines()]
    assert any(f"the program may write {prog}, whose first bytes" in r for r in reasons), reasons
