"""The processes a sandboxed program leaves behind: the launcher becomes their child subreaper
(`adopt`, before it forks the program), so that every descendant orphaned on the way is
re-parented to it rather than to init, and `end` kills and reaps them all once the program has
exited. A descendant cannot leave the subtree (setsid and double forks do not), so none is
missed; what the program asked a process outside the sandbox to start is not its descendant.
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


def _children() -> list[int]:
    kids: list[int] = []
    with suppress(FileNotFoundError):
        for tid in os.listdir("/proc/self/task"):
            with suppress(FileNotFoundError), \
                    open(f"/proc/self/task/{tid}/children", encoding="ascii") as f:
                kids += [int(p) for p in f.read().split()]
    return kids


def end() -> int:
    """Kill and reap every child of ours (after `adopt`, each process left of the program);
    how many there were."""
    killed: set[int] = set()
    while True:
        kids = _children()
        for pid in kids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        try:  # killing one re-parents its children to us: list again after each reap
            done, _ = os.waitpid(-1, 0 if kids else os.WNOHANG)
        except ChildProcessError:
            return len(killed)
        if not kids and done == 0:  # a child re-parented after we listed
            time.sleep(0.005)
