"""The supervisor's task-label store on real processes: keyed by pid and start time, inherited
along the parent chain, bounded without ever forgetting a live task's label."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from stockade.enforce.supervisor.target import ProcHelper, TaskLabels, UnknownTask, stat_of

INITIAL = (("biba", "medium"),)
# a child that forks a grandchild, prints its pid and waits
TREE = ("import os, sys, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(60); os._exit(0)\n"
        "print(pid, flush=True)\n"
        "time.sleep(60)\n")


@pytest.fixture
def helper() -> Iterator[ProcHelper]:
    h = ProcHelper()
    yield h
    h.stop()


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        p.kill()
        p.wait()


def _sleeper(procs: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(["/bin/sleep", "60"])
    procs.append(p)
    return p


def _start(pid: int) -> int:
    st = stat_of(pid)
    assert st is not None
    return st[1]


def test_a_full_store_refuses_new_labels_and_keeps_the_live_ones(helper, sleepers) -> None:
    store = TaskLabels(helper, INITIAL, limit=4, lowest={"biba": "low"})
    procs = [_sleeper(sleepers) for _ in range(6)]
    for p in procs[:4]:
        assert store.relabel(p.pid, "biba", "low")
    assert not store.relabel(procs[4].pid, "biba", "low")  # full of live tasks: refused
    assert store.refused == 1
    assert [store.label(p.pid, "biba") for p in procs[:4]] == ["low"] * 4
    procs[1].kill()
    procs[1].wait()
    assert store.relabel(procs[4].pid, "biba", "low")  # the dead task's entry made room
    assert store.label(procs[1].pid, "biba") is None
    assert [store.label(p.pid, "biba") for p in (procs[0], procs[2], procs[3], procs[4])] == \
        ["low"] * 4
    # a new task whose labels would have to be stored is refused, not given the initial label
    child = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE)
    sleepers.append(child)
    assert store.relabel(child.pid, "biba", "low") is False


def test_a_grandchild_inherits_through_an_unseen_child(helper, sleepers) -> None:
    store = TaskLabels(helper, INITIAL, limit=16, lowest={"biba": "low"})
    child = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE)
    sleepers.append(child)
    assert child.stdout is not None
    grandchild = int(child.stdout.readline())

    store.root_parent = -1  # this test process is not the supervised tree's root here
    assert store.relabel(os.getpid(), "biba", "low")  # the tree's top was demoted
    ppid, start = stat_of(grandchild) or (0, 0)
    assert ppid == child.pid
    assert store.resolve(grandchild, start, ppid)["biba"] == "low"
    assert store.label(grandchild, "biba") == "low"  # kept for it: its ancestors may exit


def test_a_reused_pid_does_not_inherit_the_dead_tasks_label(helper, sleepers) -> None:
    store = TaskLabels(helper, INITIAL, limit=16, lowest={"biba": "low"})
    p = _sleeper(sleepers)
    assert store.relabel(p.pid, "biba", "low")

    # the same pid with another start time is another task: it starts from its parent (us,
    # the supervisor here: the configured label), not from the old entry
    assert store.resolve(p.pid, _start(p.pid) + 1, os.getpid())["biba"] == "medium"
    assert store.label(p.pid, "biba") is None


def test_unknown_lineage_fails_closed_once_labels_changed(helper, sleepers) -> None:
    store = TaskLabels(helper, (("biba", "medium"), ("smack", "App")), limit=16,
                       lowest={"biba": "low"})
    orphan = _sleeper(sleepers)
    start = _start(orphan.pid)
    store.root_parent = -1
    assert store.resolve(orphan.pid, start, 1)["biba"] == "medium"  # nothing changed yet
    demoted = _sleeper(sleepers)
    assert store.relabel(demoted.pid, "biba", "low")
    assert store.resolve(orphan.pid, start, 1)["biba"] == "low"  # the lowest label
    store.relabel(demoted.pid, "smack", "Other")  # no lowest label: the task is refused
    other = _sleeper(sleepers)
    with pytest.raises(UnknownTask):
        store.resolve(other.pid, _start(other.pid), 1)
