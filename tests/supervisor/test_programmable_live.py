"""Programmable modules (`--module-file`) in `explain` and on a live process under `run`."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sv_helpers import NOBODY, Tree

MODULE = '''
import errno
from stockade.modules.programmable import hook

NAME = "no-secrets"


@hook("file_open", cacheable=True)
def no_secrets(req):
    """Nothing named *.secret may be opened, whatever DAC says."""
    if req.obj is not None and req.obj.path.endswith(".secret"):
        return errno.EACCES
    return None
'''


def stockade(*args: str, user: str = "root",
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "stockade", *args]
    if user == "nobody":
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_explain_with_a_module_file(tmp_path: Path) -> None:
    module = tmp_path / "no_secrets.py"
    module.write_text(MODULE)
    target = tmp_path / "a.secret"
    target.write_text("x")
    out = stockade("explain", "--lsm", "capability", "--module-file", str(module), "read",
                   str(target))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "no-secrets" in out.stdout and "deny EACCES" in out.stdout
    plain = tmp_path / "a.txt"
    plain.write_text("x")
    assert stockade("explain", "--lsm", "capability", "--module-file", str(module), "read",
                    str(plain)).returncode == 0
    broken = tmp_path / "broken.py"
    broken.write_text("from stockade.modules.programmable import hook\n\ndef f(:\n")
    out = stockade("explain", "--module-file", str(broken), "read", str(plain))
    assert out.returncode == 2 and f"{broken}:3" in out.stderr and "Traceback" not in out.stderr


def test_run_enforces_a_module_file_on_a_live_process(user) -> None:
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        module = tree.root / "no_secrets.py"
        module.write_text(MODULE)
        os.chmod(module, 0o644)
        (tree.file("keys.secret", "KEY\n"))
        (tree.file("notes.txt", "NOTES\n"))
        d = str(tree.root)
        code = (f"import errno\nprint(open({d + '/notes.txt'!r}).read().strip())\n"
                f"try:\n    open({d + '/keys.secret'!r})\nexcept OSError as e:\n"
                "    print(errno.errorcode[e.errno])\n")
        out = stockade("run", "--module-file", str(module), "--lsm", "capability",
                       "--ro", d, "--rx", "/usr", "--ro", "/etc", "--", "/usr/bin/python3", "-c",
                       code, user=user)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["NOTES", errno.errorcode[errno.EACCES]]
    finally:
        tree.cleanup()


def _module(tree: Tree, name: str, text: str) -> Path:
    """A module file in `tree` that nobody can read."""
    module = tree.root / name
    module.write_text(text)
    os.chmod(module, 0o644)
    return module


BOOM = '''
from stockade.modules.programmable import hook

NAME = "boom"


@hook("file_open")
def boom(req):
    """A policy program that ends the thread it runs in (SystemExit is no Exception)."""
    if req.obj is not None and req.obj.path.endswith("/trigger"):
        raise SystemExit("the policy program gave up")
    return None
'''


def test_a_supervisor_that_fails_says_why_and_the_program_gets_nothing(user) -> None:
    """The child's open of `trigger` makes the supervisor thread end on an exception: the run
    says so in one line (the traceback only with -v), and the program neither reads the file
    nor goes on undecided (fail closed)."""
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        module = _module(tree, "boom.py", BOOM)
        trigger = tree.file("trigger", "SECRET\n")
        argv = ["run", "--module-file", str(module), "--lsm", "capability", "--rx", "/", "--",
                "/bin/sh", "-c", f"/bin/cat {trigger}; echo after"]
        out = stockade(*argv, user=user)
        assert out.returncode == 128 + 9 and out.stdout == "", out  # sh killed, no "after"
        # (cat, left by the killed sh, may still run when sh is reaped: it is ended with
        # the run, which says so in a line of its own: enforce/leftovers.py)
        lines = [x for x in out.stderr.splitlines() if x.startswith("stockade run:")
                 and "process the program left running" not in x]
        assert lines == ["stockade run: the supervisor failed (SystemExit: the policy program "
                         "gave up): the program was killed and any process it left gets ENOSYS "
                         "for every call the supervisor decides (fail closed); -v shows where"
                         ], out.stderr
        assert "Traceback" not in out.stderr
        verbose = stockade(argv[0], "-v", *argv[1:], user=user)
        assert verbose.returncode == 128 + 9 and verbose.stdout == ""
        assert "Traceback" in verbose.stderr and 'raise SystemExit("the policy program' in \
            verbose.stderr, verbose.stderr
    finally:
        tree.cleanup()


OPENS = '''
from stockade.modules.programmable import hook

NAME = "opens"


@hook("file_open", cacheable=True)
def no_opinion(req):
    """Routes every open to the supervisor, decides nothing."""
    return None
'''
#: the program: become nobody (root) or make itself not dumpable, then open twice
UNDUMPABLE = '''
import ctypes, os, sys
if sys.argv[1] == "setresuid":
    os.setgroups([])
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)
else:
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
for _ in range(2):
    try:
        print(open("/etc/hostname").read().strip() == open("/etc/hostname").read().strip())
    except OSError as e:
        print(e.errno)
'''


@pytest.mark.parametrize("pure", ["0", "1"])
def test_a_task_that_is_no_longer_dumpable_is_read_or_refused_with_a_reason(
        user, pure, tmp_path) -> None:
    """Root's supervisor reads a target that became nobody (setresuid: not dumpable) with its
    own CAP_SYS_PTRACE; nobody's, which has none, refuses the calls of a target that called
    prctl(PR_SET_DUMPABLE, 0) with EACCES and one audit record each, never a bare EFAULT."""
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        module = _module(tree, "opens.py", OPENS)
        audit = tree.file("audit.jsonl", "")
        how = "setresuid" if user == "root" else "prctl"
        keep = ["--keep-cap", "setuid", "--keep-cap", "setgid"] if user == "root" else []
        out = stockade("run", "--module-file", str(module), "--lsm", "capability", *keep,
                       "--rx", "/", "--audit", str(audit), "--", "/usr/bin/python3", "-c",
                       UNDUMPABLE, how, user=user, env={"STOCKADE_SUPERVISOR_PURE": pure})
        assert out.returncode == 0, out.stderr
        refused = [r for r in map(json.loads, audit.read_text().splitlines())
                   if r.get("module") == "supervisor"]
        if user == "root":
            assert out.stdout.split() == ["True", "True"], out.stdout
            assert refused == []
        else:
            assert out.stdout.split() == [str(errno.EACCES)] * 2, out.stdout
            assert len(refused) == 2, refused  # two refused opens, one record each
            assert all(r["operation"] == "ptrace_access_check" and r["errno"] == errno.EACCES
                       and "not dumpable" in r["reason"] for r in refused)
    finally:
        tree.cleanup()
