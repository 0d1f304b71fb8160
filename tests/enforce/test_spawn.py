"""The launcher's child in C (enforce/spawn.py, enforce/supervisor/_spawn.c) against the Python
child it replaces on the common path (launcher._child, the fallback): the same real program,
launched once by each, must end up in the same confinement, as the kernel reports it in
/proc/self/status (capability sets, no_new_privs, seccomp filters, signal dispositions and
mask), with the same Landlock answers, descriptors and limits, and a failure before exec must
be reported the same way.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest
from confine_helpers import Result, confined, plan_with, scratch_for

from stockade.enforce import launcher, prepare, spawn
from stockade.enforce.plan.types import EnforcementPlan

KINDS = ["c", "python"]
MARK = "spawn: C child\n"
#: what the program sees of its confinement: the kernel's status lines, its descriptors,
#: Landlock's answers on a file outside the grants and in a granted directory, its limits
VIEW = ("grep -E '^(Cap|NoNewPrivs|Seccomp|Sig(Blk|Ign|Cgt))' /proc/self/status; "
        "ls /proc/self/fd; cat /etc/hostname >/dev/null 2>&1 && echo etc:read; "
        "echo x 2>/dev/null >{dir}/w && echo dir:write; echo core $(ulimit -c) "
        "nofile $(ulimit -Sn)/$(ulimit -Hn)")


@pytest.fixture(autouse=True)
def _built() -> None:
    if spawn._backend() is None:
        pytest.skip("the C extension is not built (no compiler when installed)")


def _choose(kind: str, then: Callable[[], None] | None = None) -> Callable[[], None]:
    """A `before` step for confined(): pick the child `kind` in the launcher (a forked helper)
    and have the C child's start say so on stderr."""
    def before() -> None:
        if kind == "python":
            os.environ[spawn.ENV_PURE] = "1"
        else:
            os.environ.pop(spawn.ENV_PURE, None)
            start = spawn.ChildSpec.start

            def said(self: spawn.ChildSpec, handover: launcher.Handover | None) -> int:
                os.write(2, MARK.encode())
                return start(self, handover)

            spawn.ChildSpec.start = said  # type: ignore[method-assign]
        if then is not None:
            then()
    return before


def _both(plan: Callable[[], EnforcementPlan], argv: list[str], user: str = "root",
          then: Callable[[], None] | None = None) -> dict[str, Result]:
    runs = {kind: confined(plan(), argv, user=user, before=_choose(kind, then))
            for kind in KINDS}
    assert MARK in runs["c"].err and MARK not in runs["python"].err
    runs["c"].err = runs["c"].err.replace(MARK, "")
    return runs


def _status(out: str, field: str) -> int:
    line = next(x for x in out.splitlines() if x.startswith(field + ":"))
    return int(line.split()[1], 16 if field.startswith(("Cap", "Sig")) else 10)


@pytest.mark.parametrize("keep", [(), (13,)])  # CAP_NET_RAW kept: bounding, inheritable, ambient
def test_the_same_confinement(user: str, keep: tuple[int, ...]) -> None:
    tmp_path = scratch_for(user, "stockade-spawn-")
    os.chmod(tmp_path, 0o777)

    def plan() -> EnforcementPlan:
        p = plan_with(ro=["/proc"], rw=[str(tmp_path), "/dev/null"], keep_caps=keep)
        p.rlimits[resource.RLIMIT_CORE] = 0
        p.rlimits[resource.RLIMIT_NOFILE] = 512
        return p

    try:
        runs = _both(plan, ["/bin/sh", "-c", VIEW.format(dir=tmp_path)], user)
    finally:
        shutil.rmtree(tmp_path)
    c, py = runs["c"], runs["python"]
    assert (c.status, c.out, c.err) == (py.status, py.out, py.err)
    assert c.status == 0, c.err
    assert _status(c.out, "NoNewPrivs") == 1 and _status(c.out, "Seccomp") == 2
    assert "etc:read" not in c.out and "dir:write" in c.out
    assert "core 0 nofile 512/512" in c.out
    if user == "root" and keep:
        assert _status(c.out, "CapBnd") == 1 << 13 == _status(c.out, "CapPrm")
    else:
        assert _status(c.out, "CapPrm") == 0


def test_signals_the_program_starts_with(user: str) -> None:
    """A Python handler is reset to the default, an inherited ignore stays, SIGPIPE is the
    default again, and the mask is the launcher's own before it blocked what it forwards."""
    def signals() -> None:
        signal.signal(signal.SIGUSR1, lambda *_: None)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})

    runs = _both(lambda: plan_with(ro=["/proc"]),
                 ["/usr/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"], user, signals)
    c, py = runs["c"], runs["python"]
    assert (c.status, c.out, c.err) == (py.status, py.out, py.err)
    # what pytest's own caller ignores stays ignored too: a CI run's pytest inherited an
    # ignored signal 32 (glibc's SIGCANCEL, which its sigaction refuses to change: only a raw
    # rt_sigaction, Go's signal.Ignore say, sets it). No test sets it: a full run here
    # recorded the pytest process's SigIgn after every test and it never changed.
    ignored = _status(c.out, "SigIgn")
    assert ignored & 1 << (signal.SIGHUP - 1)
    assert not ignored & (1 << (signal.SIGUSR1 - 1) | 1 << (signal.SIGPIPE - 1)
                          | 1 << (signal.SIGXFSZ - 1))
    assert _status(c.out, "SigBlk") == 1 << (signal.SIGUSR2 - 1)


@pytest.mark.parametrize(("argv", "status", "message"), [
    (["no-such-command-xyz"], 127, "no-such-command-xyz: command not found"),
    (["/nonexistent/cmd"], 127, "/nonexistent/cmd: No such file or directory"),
    (["/etc/hostname"], 126, "cannot execute /etc/hostname: Permission denied"),
    (["/bin/true", "a\0b"], 126, "cannot execute /bin/true: unexpected error"),  # the Python child
])
def test_errors_before_exec_are_reported_the_same(argv: list[str], status: int,
                                                  message: str) -> None:
    results = {}
    for kind in KINDS:
        res = confined(plan_with(), argv, before=_choose(kind))
        results[kind] = (res.status, res.err.replace(MARK, ""))
    assert results["c"] == results["python"]
    assert results["c"][0] == status and message in results["c"][1]


def test_a_confinement_failure_is_reported_the_same(tmp_path) -> None:
    """landlock_restrict_self on a descriptor that is no ruleset: 125, one line, not run."""
    for kind in KINDS:
        marker = tmp_path / f"ran-{kind}"

        def bad_ruleset() -> None:
            real = prepare.prepare

            def prepared(plan: EnforcementPlan) -> prepare.Prepared:
                prep = real(plan)
                os.close(prep.ruleset_fd)
                prep.ruleset_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
                return prep

            prepare.prepare = prepared  # type: ignore[assignment]

        res = confined(plan_with(rw=[str(tmp_path)]), ["/bin/touch", str(marker)],
                       before=_choose(kind, bad_ruleset))
        assert res.status == 125
        assert res.err.replace(MARK, "") == ("LaunchError: cannot confine /bin/touch: "
                                             "landlock_restrict_self failed: File descriptor "
                                             "in bad state\n")
        assert not marker.exists()


#: `stockade ARGS` as the console script runs it, the C child's start saying so on stderr
CLI = f"""
import os, sys
from stockade.enforce import spawn
start = spawn.ChildSpec.start
def said(self, handover):
    os.write(2, {MARK.encode()!r})
    return start(self, handover)
spawn.ChildSpec.start = said
from stockade.cli.main import entry
sys.argv = ["stockade", *sys.argv[1:]]
entry()
"""


def test_a_supervised_run(tmp_path) -> None:
    """`stockade run` (the supervisor's notification filter and listener hand-over): the same
    view, and a chmod the supervisor decides is denied by it."""
    os.chmod(tmp_path, 0o777)
    (tmp_path / "f").write_text("")
    args = ["run", "--rx", "/usr", "--ro", "/proc", "--ro", str(tmp_path), "--", "/bin/sh", "-c",
            VIEW.format(dir=tmp_path) + f"; chmod 600 {tmp_path}/f || echo chmod:denied"]
    runs = {}
    for kind in KINDS:
        env = {k: v for k, v in os.environ.items() if k != spawn.ENV_PURE}
        if kind == "python":
            env[spawn.ENV_PURE] = "1"
        runs[kind] = subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True,
                                    text=True, timeout=60, env=env, cwd="/")
    c, py = runs["c"], runs["python"]
    assert MARK in c.stderr and MARK not in py.stderr
    assert (c.returncode, c.stdout, c.stderr.replace(MARK, "")) == (py.returncode, py.stdout,
                                                                    py.stderr)
    assert c.returncode == 0, c.stderr
    assert _status(c.stdout, "Seccomp_filters") == 2  # the plan's and the notification's
    assert "chmod:denied" in c.stdout and "dir:write" not in c.stdout
    assert oct(os.stat(tmp_path / "f").st_mode)[-3:] == "644"
