"""Exec transitions applied only once the exec is known to have happened.

The supervisor decides an execve and lets the kernel continue it (seccomp cannot exec for the
target), and the kernel may still fail it after the decision (E2BIG from a huge argv, EFAULT,
ENOEXEC...): the old program then keeps running and must keep its old labels. So the labels
an exec gives (TOMOYO domain, SELinux/Smack/Biba exec labels) are kept pending, with evidence
taken while the task is stopped in execve, and settled at the group's next notification (or
wherever its labels are looked up before: signals to it, the lineage of its children):

* /proc/TID/exe names another file: happened (mm->exe_file changes only by exec or
  prctl(PR_SET_MM), which the notification filter refuses);
* the old address space, pinned by a descriptor of /proc/TID/mem (that holds mm_count, not
  mm_users), has no users left, so a read through it returns nothing: happened;
* the task shared its parent's address space (vfork, posix_spawn): happened iff it no longer
  does (kcmp KCMP_VM; the parent is known by its start time);
* the address-space layout of /proc/TID/stat (code, stack, data, brk start, argument and
  environment areas: set by the kernel at exec, otherwise only by prctl(PR_SET_MM), refused)
  changed: happened;
* otherwise, once the task is past the call (it made its next system call): the exec failed,
  unless it ran the file already running and the address space is not randomized: a re-exec
  of the same file may then give the same layout while a short-lived reader of its memory
  (get_task_mm) keeps the old one alive, and the supervisor cannot tell; it kills the program
  (fail closed, with an audit record).

A non-leader thread's successful exec takes the leader's pid (de_thread): entries are keyed by
thread group. Under a supervisor that decides exec the caller is single-threaded and no
CLONE_VM process but a vfork parent shares its memory (execve/race.py), so the only users of the
old address space are the task, its suspended vfork parents and short-lived readers.
"""

from __future__ import annotations

import _signal  # signal's C core: no enum conversions (start-up)
import os

from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.execve.race import same_mm
from stockade.enforce.supervisor.target import (
    ExecUnconfirmed,
    ProcHelper,
    exited_among,
    stat_of,
)
from stockade.suppress import suppress

HAPPENED, FAILED, PENDING, UNKNOWN, GONE = "happened", "failed", "pending", "unknown", "gone"
#: /proc/PID/stat fields (1-based) the kernel sets at exec: startcode endcode startstack,
#: start_data end_data start_brk arg_start arg_end env_start env_end
_LAYOUT = (26, 27, 28, 45, 46, 47, 48, 49, 50, 51)
ADDR_NO_RANDOMIZE = 0x0040000
#: pending execs at most (each holds a descriptor of an address space)
MAX_PENDING = 256
UNCONFIRMED = ("an exec's outcome cannot be told: the program's address space is not randomized "
               "(personality ADDR_NO_RANDOMIZE or kernel.randomize_va_space=0), it exec'd the "
               "file it runs and its old memory is still in use; it may hold the new labels or "
               "the old ones, so it is killed")


class Evidence:
    """What an exec is judged by, taken while the task is stopped in execve."""

    __slots__ = ("exe", "labels", "layout", "mem", "parent", "start", "target", "tgid", "tid")

    def __init__(self, tid: int, tgid: int, start: int, exe: tuple[int, int], mem: int,
                 parent: tuple[int, int] | None, layout: tuple[int, ...],
                 labels: dict[str, str], target: tuple[int, int] | None = None) -> None:
        self.tid = tid
        self.tgid = tgid
        self.start = start
        self.exe = exe
        self.target = target  # the file the exec runs (its exe after it), when known
        self.mem = mem
        self.parent = parent  # (pid, start time) of a vfork parent sharing its memory
        self.layout = layout
        self.labels = labels  # what the exec gives once it happened

    def close(self) -> None:
        """Release the descriptor of the old address space."""
        if self.mem >= 0:
            with suppress(OSError):
                os.close(self.mem)
            self.mem = -1


def _exe(pid: int) -> tuple[int, int]:
    st = os.stat(f"/proc/{pid}/exe")
    return st.st_dev, st.st_ino


def _layout(pid: int) -> tuple[int, ...]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    fields = raw[raw.rfind(b")") + 2:].split()  # starts at field 3
    return tuple(int(fields[n - 3]) for n in _LAYOUT)


def capture(tid: int, tgid: int, labels: dict[str, str], runs: str = "") -> Evidence | None:
    """The evidence of task `tid` (group `tgid`) stopped in execve, about to run the file
    `runs` (the last one read to decide what runs: the ELF the kernel makes its exe); None
    when it is gone. Runs in the helper thread (it opens /proc and calls kcmp)."""
    group = stat_of(tgid)
    mine = stat_of(tid)
    if group is None or mine is None:
        return None
    try:
        exe, layout = _exe(tid), _layout(tid)
    except (OSError, ValueError, IndexError):
        return None
    try:
        mem = os.open(f"/proc/{tid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        mem = -1  # not dumpable: the other evidence still decides
    parent = None
    ppid = group[0]
    with suppress(OSError):
        pst = stat_of(ppid)
        if ppid > 1 and pst is not None and same_mm(tgid, ppid):
            parent = (ppid, pst[1])
    target = None
    with suppress(OSError):
        if runs:
            st = os.stat(runs)
            target = (st.st_dev, st.st_ino)
    return Evidence(tid, tgid, group[1], exe, mem, parent, layout, labels, target)


def _released(mem: int) -> bool:
    """Whether the address space pinned by `mem` has no users left (the read returns nothing;
    a live one answers a byte or EIO for the unmapped page 0)."""
    if mem < 0:
        return False
    try:
        return os.pread(mem, 1, 0) == b""
    except OSError:
        return False


def _randomized(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/personality", "rb") as f:
            persona = int(f.read().strip(), 16)
        with open("/proc/sys/kernel/randomize_va_space", "rb") as f:
            system = int(f.read().strip())
    except (OSError, ValueError):
        return False
    return system > 0 and not persona & ADDR_NO_RANDOMIZE


def outcome(ev: Evidence, tid: int) -> str:
    """Whether the exec `ev` describes happened, as told now; `tid` is the task of the group
    that asks (its own notification), 0 for a lookup by anyone else. PENDING: not known yet
    (the exec may still be running), which only a lookup by anyone else gets. Helper thread."""
    group = stat_of(ev.tgid)
    if group is None or group[1] != ev.start:
        return GONE
    alive = os.path.exists(f"/proc/{ev.tgid}/task/{ev.tid}")
    # the caller is past the call when it is the exec'ing task, or when that task's id is gone
    # (a non-leader thread's exec took the leader's pid)
    past = bool(tid) and (tid == ev.tid or not alive)
    now = ev.tid if alive else ev.tgid
    try:
        if _exe(now) != ev.exe:
            return HAPPENED
    except OSError:
        return GONE if stat_of(ev.tgid) is None else (UNKNOWN if past else PENDING)
    if _released(ev.mem):
        return HAPPENED
    if ev.parent is not None:
        pst = stat_of(ev.parent[0])
        if pst is not None and pst[1] == ev.parent[1]:
            try:
                if not same_mm(now, ev.parent[0]):
                    return HAPPENED
                return FAILED if past else PENDING
            except OSError:
                pass  # the parent went away meanwhile: the layout decides
    try:
        if _layout(now) != ev.layout:
            return HAPPENED
    except (OSError, ValueError, IndexError):
        return UNKNOWN if past else PENDING
    if not past:
        return PENDING
    # an exec of another file would have changed the exe link
    other = ev.target is not None and ev.target != ev.exe
    return FAILED if other or _randomized(now) else UNKNOWN


def kill_group(tgid: int) -> None:
    """SIGKILL thread group `tgid` (stopped in a notification, so it is still that process)."""
    try:
        fd = ksys.pidfd_open(tgid)
    except OSError:
        return
    try:
        with suppress(OSError):
            _signal.pidfd_send_signal(fd, _signal.SIGKILL)
    finally:
        os.close(fd)


class PendingExecs:
    """Exec transitions decided and continued but not yet known to have happened, by thread
    group; bounded (each holds a descriptor): when full, those of exited groups are dropped,
    and if that frees nothing the exec is refused."""

    def __init__(self, helper: ProcHelper, limit: int = 128, kill: bool = True) -> None:
        self.helper = helper
        self.limit = limit
        #: kill a program whose exec's outcome cannot be told (enforce); else keep old labels
        self.kill = kill
        #: thread group -> its pending exec (read directly on the task cache's hot path)
        self.items: dict[int, Evidence] = {}

    def __contains__(self, tgid: object) -> bool:
        return tgid in self.items

    def __len__(self) -> int:
        return len(self.items)

    def expect(self, tid: int, tgid: int, labels: dict[str, str], runs: str = "") -> bool:
        """Keep the labels an exec of task `tid` (running file `runs`) is about to give
        pending; False when they cannot be (full, or its evidence cannot be read: the caller
        refuses the exec)."""
        if tgid not in self.items and len(self.items) >= self.limit:
            self.sweep()
            if len(self.items) >= self.limit:
                return False
        ev = self.helper.call(capture, tid, tgid, labels, runs)
        if ev is None:
            return False
        self.drop(tgid)
        self.items[tgid] = ev
        return True

    def settle(self, tgid: int, tid: int = 0) -> dict[str, str] | None:
        """The labels to apply when group `tgid`'s pending exec is known to have happened
        (the caller applies them, then `drop`s it); None otherwise, with a failed exec or a
        gone group dropped. `tid`: the notifying task of that group (0: anyone else).
        Raises ExecUnconfirmed when the group is past the exec and its outcome cannot be told."""
        ev = self.items.get(tgid)
        if ev is None:
            return None
        result = self.helper.call(outcome, ev, tid)
        if result == HAPPENED:
            return ev.labels
        if result == PENDING:
            return None
        self.drop(tgid)
        if result == UNKNOWN and self.kill:
            raise ExecUnconfirmed(f"task {tgid}: {UNCONFIRMED}", tgid)
        return None

    def drop(self, tgid: int) -> None:
        """Forget group `tgid`'s pending exec."""
        ev = self.items.pop(tgid, None)
        if ev is not None:
            ev.close()

    def sweep(self) -> None:
        """Drop the pending execs of groups that are gone."""
        gone = self.helper.call(exited_among, [(t, e.start) for t, e in self.items.items()])
        for tgid in gone:
            self.drop(tgid)

    def clear(self) -> None:
        """Drop everything."""
        for tgid in list(self.items):
            self.drop(tgid)
