"""The processes a sandboxed program leaves behind: the launcher becomes their child subreaper
(`adopt`, before it forks the program), so that every descendant orphaned on the way is
re-parented to it rather than to init, and `end` kills and reaps them all once the program has
exited. A descendant cannot leave the subtree (setsid and double forks do not), so none is
missed; what the program asked a process outside the sandbox to start is not its descendant.

Every `stockade run` ends them when the program exits (`AfterExit`), as firejail and
`bwrap --die-with-parent` do: a process left running keeps the sandbox's grants after `run`
has returned, its later denials reach no --audit file, and it could change files of a later
run that the later run's checks judge against its own grants only (red team 12).
`run --keep-running` leaves them running (as `systemd-run --scope` does) and says so.
"""

from __future__ import annotations

import _signal as signal  # signal's C core: no enum conversions (start-up)
import os
import time

from stockade.suppress import suppress

PR_SET_CHILD_SUBREAPER = 36


def adopt() -> None:
    """Make this process the child subreaper of its descendants."""
    from stockade.enforce.prctl import prctl

    prctl(PR_SET_CHILD_SUBREAPER, 1)


def release() -> None:
    """No longer adopt orphans (`run` called in a process that goes on: tests)."""
    from stockade.enforce.prctl import prctl

    prctl(PR_SET_CHILD_SUBREAPER, 0)


def _children() -> list[int]:
    kids: list[int] = []
    with suppress(FileNotFoundError):
        for tid in os.listdir("/proc/self/task"):
            with suppress(FileNotFoundError), \
                    open(f"/proc/self/task/{tid}/children", encoding="ascii") as f:
                kids += [int(p) for p in f.read().split()]
    return kids


def _running(pid: int) -> bool:
    """Whether child `pid` has not exited yet (a zombie waits only to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:][:1] not in (b"Z", b"X")


def alive(skip: frozenset[int] = frozenset()) -> list[int]:
    """The children of ours but `skip` that are still running (after `adopt`: the program's
    leftovers)."""
    return sorted(pid for pid in _children() if pid not in skip and _running(pid))


def end(skip: frozenset[int] = frozenset()) -> int:
    """Kill and reap every child of ours but `skip` (after `adopt`, each process left of the
    program); how many of them were still running."""
    killed: set[int] = set()
    while True:
        kids = [pid for pid in _children() if pid not in skip]
        for pid in kids:
            running = _running(pid)
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                if running:
                    killed.add(pid)
        if not kids and skip:  # other children of ours (a caller's): no wait for any child
            return len(killed)
        try:  # killing one re-parents its children to us: list again after each reap
            done, _ = os.waitpid(kids[0] if kids and skip else -1, 0 if kids else os.WNOHANG)
        except ChildProcessError:
            return len(killed)
        if not kids and done == 0:  # a child re-parented after we listed
            time.sleep(0.005)


#: how many processes a kept record names at most (memory bounded); a larger tree is ended
MAX_NAMED = 4096


def tree(pids: list[int]) -> list[tuple[int, int]] | None:
    """(pid, start time) of `pids` and of every descendant of theirs (/proc/PID/task/*/children),
    the processes a `run --keep-running` leaves; None when there are more than MAX_NAMED. A
    process forked while this reads is a child of one named: found through its parent."""
    from stockade.enforce.status_record import start_time

    out: dict[int, int] = {}
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        try:
            out[pid] = start_time(pid)
            tids = os.listdir(f"/proc/{pid}/task")
        except (OSError, ValueError, IndexError):
            out.pop(pid, None)
            continue
        if len(out) > MAX_NAMED:
            return None
        for tid in tids:
            with suppress(OSError), \
                    open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                todo += [int(p) for p in f.read().split()]
    return sorted(out.items())


class AfterExit:
    """Called once the program has exited: end what it left (`ended`), or with `keep`
    count what still runs (`running`). Made before the program starts: children we had then
    (a caller's, where `run` is called in-process) are not the program's and are left alone."""

    def __init__(self, keep: bool, keyring: bool = False) -> None:
        self.keep = keep
        self.keyring = keyring  # a keyring run's are always ended (no --keep-running)
        self.ended = 0
        self.running: list[int] = []  # with `keep`: the pids left running
        self.unkept: str | None = None  # with `keep`: why they were ended after all
        self.others = frozenset(_children())

    def __call__(self) -> None:
        if self.keep:
            self.running = alive(self.others)
        else:
            self.ended += end(self.others)
