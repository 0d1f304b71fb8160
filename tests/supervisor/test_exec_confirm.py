"""Exec transitions applied only once the exec happened (supervisor/execve/confirm.py): the
evidence on real processes stopped before their exec, and an SELinux domain transition through
the supervisor that the kernel then fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sv_helpers import NOBODY, Tree, script, supervised

from stockade.enforce.supervisor.execve import confirm as exec_confirm
from stockade.enforce.supervisor.execve.confirm import (
    FAILED,
    GONE,
    HAPPENED,
    PENDING,
    UNKNOWN,
    PendingExecs,
    capture,
    outcome,
)
from stockade.enforce.supervisor.target import ExecUnconfirmed, ProcHelper, TaskLabels, stat_of

# waits for a line on stdin, then execs what it names ("fail": a 4 MB argv, E2BIG), then
# prints the errno and waits again
CHILD = r"""
import os, sys
sys.stdout.write("ready\n"); sys.stdout.flush()
what = sys.stdin.readline().strip()
if what == "norandom":
    import ctypes
    ctypes.CDLL(None).personality(0x0040000)
    what = "fail"
argv = ["true", *(["x" * 100000] * 40)] if what == "fail" else ["sleep", "30"]
path = sys.executable if what == "self" else "/usr/bin/true" if what == "fail" else "/usr/bin/sleep"
if what == "self":
    argv = [path, "-c", "import time; print('again', flush=True); time.sleep(30)"]
try:
    os.execv(path, argv)
except OSError as e:
    print(e.errno, flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def helper() -> Iterator[ProcHelper]:
    h = ProcHelper()
    yield h
    h.stop()


class Child:
    """A python child stopped before its exec (it waits for a line on stdin)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "ready\n"
        self.pid = self.proc.pid

    def go(self, what: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()
        if what in ("fail", "norandom", "self"):
            return self.proc.stdout.readline().strip()
        time.sleep(0.3)
        return ""

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def child() -> Iterator[Child]:
    c = Child()
    yield c
    c.close()


def test_an_exec_that_happened_is_told_by_anyone(child: Child) -> None:
    ev = capture(child.pid, child.pid, {"tomoyo": "new"})
    assert ev is not None and ev.mem >= 0 and ev.parent is None
    assert outcome(ev, 0) == PENDING  # not past it yet: nobody can tell
    assert outcome(ev, child.pid) == FAILED  # (as if it had come back: the layout is unchanged)
    child.go("run")
    assert outcome(ev, 0) == HAPPENED  # /proc/PID/exe is sleep now
    ev.close()


def test_a_failed_exec_is_failed_only_for_the_task_itself(child: Child) -> None:
    ev = capture(child.pid, child.pid, {})
    assert ev is not None
    assert child.go("fail") == "7"
    assert outcome(ev, 0) == PENDING  # someone else asking: it may still be in execve
    assert outcome(ev, child.pid) == FAILED
    ev.close()


def test_a_re_exec_of_the_same_file_is_told_by_its_layout_or_released_memory(
        child: Child) -> None:
    ev = capture(child.pid, child.pid, {})
    assert ev is not None
    assert child.go("self") == "again"  # the same python: /proc/PID/exe is unchanged
    assert exec_confirm._exe(child.pid) == ev.exe
    assert exec_confirm._released(ev.mem)
    assert outcome(ev, child.pid) == HAPPENED
    mem, ev.mem = ev.mem, -1  # without the pinned memory, the new layout still tells
    assert exec_confirm._layout(child.pid) != ev.layout
    assert outcome(ev, child.pid) == HAPPENED
    os.close(mem)


def test_an_unrandomized_failed_exec_is_told_only_for_another_file(child: Child) -> None:
    """Not randomized, a failed exec of the running file cannot be told from a re-exec whose
    old memory a reader holds; of another file, the unchanged exe link tells."""
    same = capture(child.pid, child.pid, {}, os.path.realpath(sys.executable))
    other = capture(child.pid, child.pid, {}, "/usr/bin/true")
    unknown = capture(child.pid, child.pid, {})
    assert same is not None and other is not None and unknown is not None
    assert same.target == same.exe and other.target != other.exe and unknown.target is None
    assert child.go("norandom") == "7"
    assert [outcome(ev, 0) for ev in (same, other, unknown)] == [PENDING] * 3
    assert [outcome(ev, child.pid) for ev in (same, other, unknown)] == [UNKNOWN, FAILED, UNKNOWN]
    for ev in (same, other, unknown):
        ev.close()


def test_a_gone_group_is_gone(child: Child) -> None:
    ev = capture(child.pid, child.pid, {})
    assert ev is not None
    child.close()
    assert outcome(ev, 0) == GONE
    assert capture(child.pid, child.pid, {}) is None
    ev.close()


def test_pending_execs_are_bounded_and_settled(helper: ProcHelper, child: Child) -> None:
    execs = PendingExecs(helper, limit=1)
    assert execs.expect(child.pid, child.pid, {"tomoyo": "new"})
    other = Child()
    try:
        assert not execs.expect(other.pid, other.pid, {})  # full of a live group: refused
        assert execs.settle(child.pid, 0) is None and child.pid in execs  # still pending
        assert child.go("fail") == "7"
        assert execs.settle(child.pid, child.pid) is None and child.pid not in execs
        assert execs.expect(other.pid, other.pid, {"tomoyo": "x"})
        other.go("run")
        assert execs.settle(other.pid, 0) == {"tomoyo": "x"}  # applied by the caller
    finally:
        other.close()
    execs.sweep()  # the group is gone: its descriptor is closed
    assert len(execs) == 0


def test_an_unconfirmed_exec_raises_with_the_group_to_kill(helper: ProcHelper,
                                                          child: Child) -> None:
    execs = PendingExecs(helper)
    assert execs.expect(child.pid, child.pid, {})
    assert child.go("norandom") == "7"
    with pytest.raises(ExecUnconfirmed) as got:
        execs.settle(child.pid, child.pid)
    assert got.value.kill == child.pid and "not randomized" in str(got.value)
    exec_confirm.kill_group(child.pid)
    assert child.proc.wait(10) == -signal.SIGKILL


def test_the_label_store_applies_a_pending_exec_once_it_happened(helper: ProcHelper,
                                                                  child: Child) -> None:
    """Looked up by anyone (a signal's target, a child's lineage) the group keeps its labels
    while its exec may still run; once the exec happened, the look-up applies the new ones."""
    store = TaskLabels(helper, (("biba", "medium"),))
    store.execs = PendingExecs(helper)
    assert store.execs.expect(child.pid, child.pid, {"biba": "low"})
    assert store.labels(child.pid) is None and child.pid in store.execs.items
    start = stat_of(child.pid)
    assert start is not None
    assert store.resolve(child.pid, start[1], start[0]) == {"biba": "medium"}  # still pending
    child.go("run")
    assert store.labels(child.pid) == {"biba": "low"}
    assert child.pid not in store.execs.items and len(store.execs) == 0


def test_a_failed_exec_seen_by_its_own_notification_is_dropped(helper: ProcHelper,
                                                               child: Child) -> None:
    store = TaskLabels(helper, (("biba", "medium"),))
    store.execs = PendingExecs(helper)
    assert store.execs.expect(child.pid, child.pid, {"biba": "low"})
    assert child.go("fail") == "7"
    start = stat_of(child.pid)
    assert start is not None
    assert store.resolve(child.pid, start[1], start[0], tid=child.pid) == {"biba": "medium"}
    assert len(store.execs) == 0 and store.labels(child.pid) is None


# -- an SELinux domain transition the kernel fails ------------------------------------------

MINI = Path(__file__).resolve().parent.parent / "selinux" / "data" / "mini.cil"
EXTRA = """
(allow user_t unlabeled_t (file (read open getattr execute execute_no_trans map ioctl lock)))
(allow user_t unlabeled_t (dir (search read open getattr)))
(allow user_t user_tmp_t (dir (search read open getattr)))
(allow passwd_t unlabeled_t (file (read open getattr execute execute_no_trans map ioctl lock)))
(allow passwd_t unlabeled_t (dir (search read open getattr)))
(allow passwd_t user_tmp_t (dir (search read open getattr)))
(allow passwd_t passwd_exec_t (file (open getattr ioctl map)))
"""


def test_selinux_failed_exec_keeps_the_old_domain(user: str) -> None:
    """user_t runs passwd_exec_t -> passwd_t, which may read shadow_t. The exec with a 4 MB
    argv fails (E2BIG): python is still user_t and may not read shadow (before the fix it was
    passwd_t and read it); the exec that happens reads it."""
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        policy = tree.root / "policy.cil"
        policy.write_text(MINI.read_text() + EXTRA)
        os.chmod(policy, 0o644)
        ctx = "system_u:object_r:{}:s0"
        shadow = tree.file("shadow", "HASHES\n", selinux=ctx.format("shadow_t"))
        tool = tree.file("passwd-tool", "#!/usr/bin/python3\n"
                         f"print(open({str(shadow)!r}).read().strip())\n",
                         selinux=ctx.format("passwd_exec_t"))
        os.chmod(tool, 0o755)
        run = supervised(script(f"""
import os
try:
    os.execv({str(tool)!r}, ["tool", *(["x" * 100000] * 40)])
except OSError as e:
    print("failed", e.errno)
attempt(lambda: open({str(shadow)!r}).read())
os.execv({str(tool)!r}, [{str(tool)!r}])
"""), user=user, lsm="capability,selinux", contexts=["selinux=user_u:user_r:user_t:s0"],
            options=[f'selinux.policy_paths=["{policy}"]'], rx=[str(tree.root)])
        assert run.lines == ["failed", "7", "EACCES", "HASHES"], run
        denied = [r for r in run.audit if r["result"] == "DENIED"]
        assert [r["fields"]["scontext"].split(":")[2] for r in denied] == ["user_t"]
    finally:
        tree.cleanup()
