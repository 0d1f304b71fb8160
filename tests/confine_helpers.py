"""Helpers for tests that run REAL confined children and look at what the kernel did.

`confined(plan, argv, user=...)` forks a helper from the test process; the helper drops to
`nobody` when asked (setgroups([]), setresgid, setresuid), then prepares the plan and launches
the command through the real launcher, exactly as `stockade run` does. Payloads are
`/usr/bin/python3 -c` programs that print the errno name of each attempt (`probe(...)`).
"""

from __future__ import annotations

import functools
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stockade.enforce import defaults, launcher, prepare
from stockade.enforce.plan.types import EnforcementPlan

if TYPE_CHECKING:
    import pytest

NOBODY = 65534
PY = "/usr/bin/python3"  # Debian's python: reachable by nobody (pyenv's under /root is not)
REPO = Path(__file__).resolve().parent.parent
STOCKADE = [str(REPO / ".venv/bin/python"), "-m", "stockade"]

PRELUDE = """
import ctypes, errno, os, socket, sys
libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.syscall.restype = ctypes.c_long
def attempt(fn):
    try:
        r = fn()
    except OSError as e:
        print(errno.errorcode.get(e.errno, e.errno), flush=True)
    else:
        print("OK" if r is None or r is True or not isinstance(r, int) or r >= 0 else
              errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()), flush=True)
def sys_(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *args)
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r
"""


LABELLED = """
def t(label, fn):
    try:
        fn()
        print(label + ":OK", flush=True)
    except OSError as e:
        print(label + ":" + str(e.errno), flush=True)
"""
"""Program text defining t(label, fn): runs fn, prints `label:OK` or `label:ERRNO`."""

def probe(*statements: str) -> list[str]:
    """argv running each statement inside `attempt(lambda: ...)`, one result line each."""
    body = "\n".join(f"attempt(lambda: {s})" for s in statements)
    return [PY, "-c", PRELUDE + body]


def script(code: str) -> list[str]:
    """argv running `code` after the prelude (it calls attempt(...) itself)."""
    return [PY, "-c", PRELUDE + code]


@dataclass
class Result:
    status: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.split()


def drop_to_nobody() -> None:
    """setgroups([]), setresgid, setresuid to nobody (in a forked child)."""
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)


def unconfinable_reason() -> str | None:
    """Why real confinement tests cannot run here (no Landlock, or not root), or None."""
    from stockade.enforce import landlock

    if sys.platform != "linux" or landlock.abi_version() < 1:
        return "needs Linux with Landlock"
    if os.geteuid() != 0:
        return "these tests switch to nobody: run them as root"
    return None


def skip_unless_confinable(items: list, directory: Path) -> None:
    """From a conftest's pytest_collection_modifyitems: mark the tests below `directory`
    skipped when they cannot run here (a module-level skip in a conftest is an error)."""
    import pytest

    reason = unconfinable_reason()
    if reason is None:
        return
    for item in items:
        if directory in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


def in_child(fn) -> int:
    """Run fn() in a forked child; return its exit code (fn returns an int; 99 if it raised)."""
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            code = fn()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def fork_helper(body: Callable[[], int]) -> int:
    """Fork a helper that runs `body` and exits with what it returns; returns the helper's pid.

    A LaunchError exits with its own status, any other exception with 120; both are written
    to the helper's stderr (which `body` may have redirected first).
    """
    pid = os.fork()
    if pid == 0:
        code = 120
        try:
            code = body()
        except launcher.LaunchError as err:
            os.write(2, f"LaunchError: {err}\n".encode())
            code = err.exit_code
        except BaseException as err:
            os.write(2, f"helper: {type(err).__name__}: {err}\n".encode())
        finally:
            os._exit(code)
    return pid


def wait_helper(pid: int, timeout: float, what: str, poll: float) -> int:
    """The wait status of the helper `pid`, polled every `poll` seconds; past `timeout` it is
    killed and TimeoutError says that `what` did not finish."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise TimeoutError(f"{what} did not finish in {timeout}s")
        select.select([], [], [], poll)


def confined(plan: EnforcementPlan | None, argv: Sequence[str], *, user: str = "root",
             timeout: float = 30, stdin: int | None = None,
             before: Callable[[], None] | None = None) -> Result:
    """Run `argv` confined by `plan` (None: unconfined, the control) as `user`."""
    out_fd, out_path = tempfile.mkstemp(prefix="stockade-out-")
    err_fd, err_path = tempfile.mkstemp(prefix="stockade-err-")

    def helper() -> int:  # becomes the launcher
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        if stdin is not None:
            os.dup2(stdin, 0)
        if user == "nobody":
            drop_to_nobody()
        if before is not None:
            before()
        if plan is None:
            os.execve(argv[0], list(argv), dict(os.environ))
        with prepare.prepare(plan) as prep:
            return launcher.launch(prep, argv)

    pid = fork_helper(helper)
    os.close(out_fd)
    os.close(err_fd)
    status = wait_helper(pid, timeout, f"confined child {argv}", poll=0.01)
    out, err = Path(out_path).read_text(), Path(err_path).read_text()
    os.unlink(out_path)
    os.unlink(err_path)
    return Result(launcher.exit_status(status), out, err)


@functools.cache
def nobody_can_run_stockade() -> bool:
    """Whether `nobody` can reach this checkout's venv (a clone under /root cannot)."""
    try:
        probe_run = subprocess.run([*STOCKADE, "--version"], capture_output=True, cwd="/",
                                   user=NOBODY, group=NOBODY, extra_groups=[])
    except OSError:  # the interpreter itself is out of reach
        return False
    return probe_run.returncode == 0


#: this checkout lies under a temporary directory (as some CI runs clone it): `run` rightly
#: refuses a profile that may write there (the program could rewrite stockade's own code,
#: enforce/own_code.py; tests/escapes/test_own_code.py tests that refusal itself)
CODE_IN_TMP = str(REPO).startswith(("/tmp/", "/var/tmp/", "/dev/shm/"))


def skip_where_own_code_is_exposed(res: subprocess.CompletedProcess[str]
                                   ) -> subprocess.CompletedProcess[str]:
    """`res`, or a skip when it is `run`'s refusal of a plan that may write this checkout
    because the checkout lies under /tmp (the test cannot run what it means to here)."""
    if CODE_IN_TMP and res.returncode == 125 and "the launcher's own code" in res.stderr:
        import pytest

        pytest.skip(f"this checkout ({REPO}) lies where the profile may write: run refuses it "
                    "(enforce/own_code.py)")
    return res


def cli(*args: str, user: str = "root", timeout: float = 30,
        **kw: object) -> subprocess.CompletedProcess[str]:
    """Run `stockade ARGS` as a real command line (as nobody when asked)."""
    extra: dict[str, object] = {}
    if user == "nobody":
        if not nobody_can_run_stockade():
            import pytest

            pytest.skip(f"user nobody cannot run {STOCKADE[0]} (checkout not world-readable)")
        extra = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    cwd = kw.pop("cwd", "/")
    own_code_refusal = kw.pop("own_code_refusal", False)
    res = subprocess.run([*STOCKADE, *args], capture_output=True, text=True, timeout=timeout,
                         cwd=cwd, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
                         **extra, **kw)  # type: ignore[arg-type]
    return res if own_code_refusal else skip_where_own_code_is_exposed(res)


class Area:
    """A world-reachable scratch tree: allowed/ (granted) and forbidden/ (not granted)."""

    def __init__(self, owner: int = 0) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="stockade-t-", dir="/tmp"))
        os.chmod(self.root, 0o755)
        self.allowed = self.root / "allowed"
        self.forbidden = self.root / "forbidden"
        for d in (self.allowed, self.forbidden):
            d.mkdir()
            (d / "file.txt").write_text(f"{d.name} data\n")
            (d / "sub").mkdir()
        self.secret = self.forbidden / "file.txt"
        for p in [self.root, *self.root.rglob("*")]:
            os.chown(p, owner, owner)

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def plan_with(*, ro: Sequence[str] = (), rw: Sequence[str] = (), rx: Sequence[str] = (PY, "/usr"),
              connect: Sequence[int] = (), bind: Sequence[int] = (),
              keep_caps: Sequence[int] = ()) -> EnforcementPlan:
    """The ad-hoc plan `stockade run` builds (python's own files granted by default)."""
    return defaults.adhoc_plan(ro, rw, rx, connect, bind, keep_caps=keep_caps)


def uid_of(user: str) -> int:
    return NOBODY if user == "nobody" else 0


USERS = ["root", "nobody"]
IS_X86_64 = os.uname().machine == "x86_64"
PYTHON_VERSION_OK = sys.version_info >= (3, 11)


#: the environment of command-line tests that run stockade as root or as nobody
#: (no configuration directory: root's would be /tmp/.config, and every `run --rw /tmp` is
#: refused for the profile store `learn` keeps there: cache_home.profiles_dir)
USER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
            "XDG_CONFIG_HOME": "/nonexistent/.config"}


def stockade_as(user: str, *args: str, cwd: Path, env: dict[str, str] | None = None,
                input_text: str | None = None, timeout: float = 180,
                ) -> subprocess.CompletedProcess[str]:
    """`stockade ARGS` in `cwd` as `user` (root or nobody), output captured as text."""
    extra: dict[str, object] = {}
    if user == "nobody":
        extra = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    return skip_where_own_code_is_exposed(subprocess.run(
        [*STOCKADE, *args], cwd=cwd, text=True, capture_output=True, timeout=timeout,
        env=env or USER_ENV, input=input_text, **extra))  # type: ignore[call-overload]


def scratch_for(user: str, prefix: str) -> Path:
    """A fresh world-reachable directory under /tmp for a test run as `user` (skips when
    nothing can be confined here, or nobody cannot run this checkout)."""
    import pytest

    reason = unconfinable_reason()
    if reason:
        pytest.skip(reason)
    if user == "nobody" and not nobody_can_run_stockade():
        pytest.skip("nobody cannot reach this checkout's venv")
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(d, 0o755)
    return d


_POLICY_DIRS: dict[Path, Path] = {}


def policy_dir(scratch: Path) -> Path:
    """A world-writable directory outside `scratch` (under /var/tmp, removed when the tests
    end) for the profiles of programs that work in `scratch`: `run -p` refuses a profile its
    program may rewrite, and learned profiles grant the directories they worked in (and
    /tmp). One per `scratch`, with a name of its own: test runs of other checkouts at the same
    time have scratch directories of the same names."""
    import atexit
    import shutil
    import tempfile

    d = _POLICY_DIRS.get(scratch)
    if d is None:
        d = Path(tempfile.mkdtemp(prefix=f"{scratch.name}-", suffix="-policy", dir="/var/tmp"))
        os.chmod(d, 0o777)  # no sticky bit: logprof --apply as nobody replaces the file
        atexit.register(shutil.rmtree, d, True)
        _POLICY_DIRS[scratch] = d
    return d


def hand_to(user: str, tree: Path) -> None:
    """Make `tree` readable by everyone (dirs 0755, files 0644) and, for nobody, owned by it."""
    for p in [tree, *tree.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
        if user == "nobody":
            os.lchown(p, NOBODY, NOBODY)


def oracle_cache_dir(request: pytest.FixtureRequest, name: str) -> Path | None:
    """pytest's cache directory for an oracle's answers; None when there is none (run as
    another user, or with -p no:cacheprovider): the oracle is then asked again."""
    try:
        return Path(str(request.config.cache.mkdir(name)))
    except (AttributeError, OSError):
        return None


def gone(pid: int, wait: float = 0.0) -> bool:
    """Whether `pid` has ended (a zombie counts as ended), waiting up to `wait` seconds."""
    end = time.monotonic() + wait
    while True:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            return True
        if state in (b"Z", b"X") or time.monotonic() >= end:
            return state in (b"Z", b"X")
        time.sleep(0.02)


def keep_one_running(allowed: Path, user: str, seconds: int) -> tuple[
        subprocess.CompletedProcess[str], int]:
    """`run --keep-running` of a program that leaves a `sleep SECONDS` behind in a sandbox
    that may write `allowed`: the run's result and the pid of the process it left."""
    pid_file = allowed / "pid"
    script = (f"sh -c 'echo $$ > {pid_file}; exec sleep {seconds}' </dev/null >/dev/null 2>&1 & "
              f"while [ ! -s {pid_file} ]; do sleep 0.05; done; exit 0")
    res = cli("run", "--keep-running", "--rx", "/", "--rw", str(allowed), "--rw",
              "/dev/null", "--", "/bin/sh", "-c", script, user=user)
    return res, int(pid_file.read_text())
