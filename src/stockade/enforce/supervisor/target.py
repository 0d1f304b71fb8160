"""What the supervisor knows about a target task: its credentials, umask and root, cached per tid.

The supervisor thread is Landlock-restricted like the target (see loop.py), so it cannot read
/proc/PID/status: `ProcHelper` is one unrestricted thread that reads /proc for it on a cache miss.
The hot path (a cache hit) checks only that the cached task is still alive, through a pidfd.

Credentials are per thread in Linux, so the cache is per tid. An entry is dropped when the task
calls a set*id/capset/umask/chroot system call or exec (the supervisor routes those to itself
only to invalidate, then lets them continue) and when its pidfd says it exited (so a reused tid
never inherits a dead task's entry). The cache is bounded (FIFO eviction).
"""

from __future__ import annotations

import os
import select
import threading
from _queue import SimpleQueue  # queue.SimpleQueue itself, without queue.py's imports (start-up)
from collections.abc import Callable

from stockade.enforce import caps
from stockade.enforce.supervisor import sys as ksys
from stockade.errors import StockadeError
from stockade.lsm.probe import subject_from_pid
from stockade.lsm.types import Subject
from stockade.slotted import Slotted, replace

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

    from stockade.enforce.supervisor.execve.confirm import PendingExecs

_ROOT_STAT = os.stat("/")


class ProcHelper:
    """One unrestricted thread that runs functions for the (restricted) supervisor thread."""

    def __init__(self) -> None:
        self._q: SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], list[Any],
                                   threading.Event] | None] = SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="stockade-proc", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while (job := self._q.get()) is not None:
            fn, args, box, done = job
            try:
                box.append((True, fn(*args)))
            except BaseException as err:  # handed back to the caller
                box.append((False, err))
            done.set()

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(*args)` in the helper thread and return (or raise) its result."""
        if threading.current_thread() is self._thread:
            return fn(*args)
        box: list[Any] = []
        done = threading.Event()
        self._q.put((fn, args, box, done))
        done.wait()
        ok, value = box[0]
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        """End the helper thread."""
        self._q.put(None)


def status_fields(tid: int) -> dict[str, str]:
    """The fields of /proc/TID/status, by name."""
    with open(f"/proc/{tid}/status", encoding="utf-8", errors="replace") as f:
        text = f.read()
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


class TaskInfo(Slotted):
    """One cached task: its Subject (pid = its thread group), umask, root and pidfd."""

    FIELDS = ("tid", "tgid", "ppid", "subject", "umask", "root_is_ours", "pidfd", "poller",
              "start")
    __slots__ = FIELDS

    def __init__(self, tid: int, tgid: int, ppid: int, subject: Subject, umask: int,
                 root_is_ours: bool, pidfd: int, poller: Any = None, start: int = 0) -> None:
        self.tid = tid
        self.tgid = tgid
        self.ppid = ppid
        self.subject = subject
        self.umask = umask
        self.root_is_ours = root_is_ours
        self.pidfd = pidfd
        self.poller = poller
        self.start = start  # the thread group's start time (clock ticks after boot)

    def alive(self) -> bool:
        """False once the task exited (its pidfd became readable)."""
        if self.pidfd < 0:
            return True
        return not self.poller.poll(0)

    def close(self) -> None:
        """Release the pidfd."""
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


def read_task(tid: int, contexts: tuple[tuple[str, str], ...]) -> TaskInfo:
    """Read a task from /proc (in the helper thread); raises StockadeError if it is gone."""
    try:
        pidfd = ksys.pidfd_open(tid, ksys.PIDFD_THREAD)
    except OSError:
        try:  # before 6.9 only thread-group leaders get a pidfd
            pidfd = ksys.pidfd_open(tid)
        except OSError:
            pidfd = -1
    try:
        fields = status_fields(tid)
        subject = subject_from_pid(tid)
        root = os.stat(f"/proc/{tid}/root")
    except (OSError, StockadeError):
        if pidfd >= 0:
            os.close(pidfd)
        raise StockadeError(f"task {tid} is gone") from None
    tgid = int(fields.get("Tgid", tid) or tid)
    group = stat_of(tgid)
    if group is None:
        if pidfd >= 0:
            os.close(pidfd)
        raise StockadeError(f"task {tid} is gone")
    merged = dict(subject.contexts)
    merged.update(contexts)
    subject = replace(subject, pid=tgid, contexts=tuple(sorted(merged.items())))
    poller = None
    if pidfd >= 0:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
    return TaskInfo(tid, tgid, group[0], subject, int(fields.get("Umask", "0022"), 8),
                    (root.st_dev, root.st_ino) == (_ROOT_STAT.st_dev, _ROOT_STAT.st_ino),
                    pidfd, poller, group[1])


def stat_of(pid: int) -> tuple[int, int] | None:
    """(ppid, start time in clock ticks) of process `pid` from /proc/PID/stat; None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    try:  # field 4 (ppid) and field 22 (starttime); the list starts at field 3
        return int(fields[1]), int(fields[19])
    except (IndexError, ValueError):
        return None


#: ancestors looked at before a lineage counts as unknown
MAX_ANCESTORS = 64


def lineage(pid: int, root_parent: int) -> tuple[list[tuple[int, int]], bool]:
    """(pid, start time) of `pid` and its ancestors up to the supervisor `root_parent`, and
    whether the chain reached it (False: an orphan reparented away, or too deep)."""
    chain: list[tuple[int, int]] = []
    for _ in range(MAX_ANCESTORS):
        if pid == root_parent:
            return chain, True
        if pid <= 1:
            break
        st = stat_of(pid)
        if st is None:
            break
        chain.append((pid, st[1]))
        pid = st[0]
    return chain, False


def thread_group_of(tid: int) -> int:
    """The thread-group id of task `tid` (0 when it is gone), from /proc/TID/status."""
    try:
        return int(status_fields(tid).get("Tgid", 0) or 0)
    except (OSError, ValueError):
        return 0


def exited_among(tasks: list[tuple[int, int]]) -> list[int]:
    """The pids of `tasks` ((pid, start time) pairs) that no longer run."""
    return [pid for pid, start in tasks if (st := stat_of(pid)) is None or st[1] != start]


class UnknownTask(StockadeError):
    """A task whose labels cannot be known (or kept): its calls are refused (fail closed)."""

    hook = "task_alloc"
    kill = 0  # a thread group to kill as well


class ExecUnconfirmed(UnknownTask):
    """A program past an exec whose outcome cannot be told (execve/confirm.py): killed."""

    hook = "bprm_check_security"

    def __init__(self, reason: str, tgid: int) -> None:
        super().__init__(reason)
        self.kill = tgid


class TaskLabels:
    """The supervisor's one store of task labels that differ from the configured ones.

    Keyed by thread group and its start time, so a reused pid never inherits a dead task's
    labels. Filled by exec transitions and by modules that relabel a running task (Biba's
    low-water-mark: `relabel`); a task not in it takes the labels of its nearest ancestor that
    is (walking PPid in /proc), or the configured labels when its lineage reaches the supervisor
    through the program's first process (the tree's root is our child). A task of unknown
    lineage (an orphan reparented away from the tree, or adopted by the supervisor as a keyring
    run's child subreaper) gets the configured labels while no task was ever relabelled, and otherwise the
    lowest label of each relabelled module, or UnknownTask when the module has no lowest label.
    Bounded: when full, entries of exited tasks are dropped; if that frees nothing, the new
    label is refused (never is a live task's label forgotten). An exec transition enters only
    once the exec is known to have happened (`execs`, execve/confirm.py): every look-up of a
    group settles its pending exec first.
    """

    def __init__(self, helper: ProcHelper, initial: tuple[tuple[str, str], ...],
                 limit: int = 1024, lowest: dict[str, str] | None = None) -> None:
        self.helper = helper
        self.initial = dict(initial)
        self.limit = limit
        self.lowest = dict(lowest or {})
        self.root_parent = os.getpid()
        #: the program's first process (the supervisor's child): a lineage reaching the
        #: supervisor through another child (an orphan it adopted as the child subreaper of a
        #: keyring run) is not the tree's
        self.program_root = 0
        self._entries: dict[int, tuple[int, dict[str, str]]] = {}  # tgid -> (start, labels)
        self.changed: set[str] = set()  # modules whose label ever left the configured one
        self.on_change: Callable[[int, dict[str, str]], None] | None = None
        self.refused = 0
        #: exec transitions not yet known to have happened (exec_confirm.PendingExecs)
        self.execs: PendingExecs | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def confirm(self, tgid: int, tid: int = 0) -> None:
        """Apply group `tgid`'s pending exec transition if the exec is now known to have
        happened (execve/confirm.py); `tid`: its notifying task (0: a lookup by anyone else)."""
        execs = self.execs
        if execs is None or tgid not in execs.items:
            return
        labels = execs.settle(tgid, tid)
        if labels is None:
            return
        if not self.assign(tgid, labels):
            if tid:  # kept pending: every call of the new program is refused, fail closed
                raise UnknownTask(f"task {tgid}: the task-label store is full: its exec "
                                  "transition cannot be kept")
            return
        execs.drop(tgid)

    def label(self, pid: int, module: str) -> str | None:
        """`module`'s label of thread group `pid` when it was changed, else None."""
        self.confirm(pid)
        entry = self._entries.get(pid)
        return entry[1].get(module) if entry is not None else None

    def labels(self, pid: int) -> dict[str, str] | None:
        """Every changed label of thread group `pid`, or None."""
        self.confirm(pid)
        entry = self._entries.get(pid)
        return entry[1] if entry is not None else None

    def resolve(self, tgid: int, start: int, ppid: int,
                line: tuple[list[tuple[int, int]], bool] | None = None,
                tid: int = 0) -> dict[str, str]:
        """The labels of a task seen for the first time (or again after a cache drop); `line`
        is its `lineage_of` when the caller already walked it; `tid`: the task, when it is
        the one notifying (its group's pending exec is then settled for good)."""
        pending = self.execs is not None and bool(self.execs.items)
        if pending:
            self.confirm(tgid, tid)
        entry = self._entries.get(tgid)
        if entry is not None:
            if entry[0] == start:
                return entry[1]
            del self._entries[tgid]  # the pid was reused: the old task is gone
        if not self.changed and not pending:  # no label changed: the configured ones
            return self.initial
        chain, rooted = line if line is not None else self.lineage_of(tgid, ppid)
        for pid, pstart in chain:
            if pending:
                self.confirm(pid)
            found = self._entries.get(pid)
            if found is not None and found[0] == pstart:
                self._put(tgid, start, found[1])
                return found[1]
        if rooted or not self.changed:
            return self.initial
        labels = dict(self.initial)
        for module in self.changed:
            if module not in self.lowest:
                raise UnknownTask(f"task {tgid}: its {module} label is unknown (its lineage "
                                  "left the supervised tree after labels changed)")
            labels[module] = self.lowest[module]
        self._put(tgid, start, labels)
        return labels

    def lineage_of(self, tgid: int, ppid: int) -> tuple[list[tuple[int, int]], bool]:
        """`lineage` of thread group `tgid` (parent `ppid`), rooted only through the program's
        first process."""
        chain, rooted = self.helper.call(lineage, ppid, self.root_parent)
        top = chain[-1][0] if chain else tgid  # the supervisor's child on the way
        if rooted and self.program_root and top != self.program_root:
            rooted = False  # adopted by the supervisor: not a descendant of the program's root
        return chain, rooted

    def relabel(self, pid: int, module: str, label: str) -> bool:
        """Set `module`'s label of running thread group `pid`; False when the store is full."""
        return self.assign(pid, {module: label})

    def assign(self, pid: int, labels: dict[str, str]) -> bool:
        """Set labels of running thread group `pid` (exec transitions, relabels)."""
        entry = self._entries.get(pid)
        if entry is None:
            st = self.helper.call(stat_of, pid)
            if st is None:
                return False
            merged = {**self.initial, **labels}
            start = st[1]
        else:
            start, old = entry
            merged = {**old, **labels}
        try:
            self._put(pid, start, merged)
        except UnknownTask:
            return False
        return True

    def has_room(self, tgid: int) -> bool:
        """Whether labels of thread group `tgid` can be stored now (sweeping if full)."""
        if tgid in self._entries or len(self._entries) < self.limit:
            return True
        self.sweep()
        return len(self._entries) < self.limit

    def _put(self, tgid: int, start: int, labels: dict[str, str]) -> None:
        if tgid not in self._entries and len(self._entries) >= self.limit:
            self.sweep()
            if len(self._entries) >= self.limit:
                self.refused += 1
                raise UnknownTask(f"task {tgid}: the task-label store is full "
                                  f"({self.limit} tasks with changed labels)")
        labels = dict(labels)
        self._entries[tgid] = (start, labels)
        self.changed.update(m for m, lbl in labels.items() if self.initial.get(m) != lbl)
        if self.on_change is not None:
            self.on_change(tgid, labels)

    def sweep(self) -> int:
        """Drop the entries of exited tasks; how many were dropped."""
        dead = self.helper.call(exited_among, [(t, e[0]) for t, e in self._entries.items()])
        for tgid in dead:
            del self._entries[tgid]
        return len(dead)

    def exited(self, tgid: int) -> None:
        """Drop `tgid`'s entry if that process is gone (a thread's exit is not enough)."""
        entry = self._entries.get(tgid)
        if entry is not None:
            st = self.helper.call(stat_of, tgid)
            if st is None or st[1] != entry[0]:
                del self._entries[tgid]
        if self.execs is not None and tgid in self.execs.items:
            st = self.helper.call(stat_of, tgid)
            if st is None:
                self.execs.drop(tgid)


class TaskCache:
    """tid -> TaskInfo, bounded; the labels live in `labels` (TaskLabels), per thread group."""

    def __init__(self, helper: ProcHelper, initial_contexts: tuple[tuple[str, str], ...] = (),
                 limit: int = 1024, lowest: dict[str, str] | None = None) -> None:
        self.helper = helper
        self.limit = limit
        self.initial = initial_contexts
        self._tasks: dict[int, TaskInfo] = {}
        self.labels = TaskLabels(helper, initial_contexts, limit, lowest)
        self.labels.on_change = self._relabelled
        self.misses = 0
        #: told the tid of every task dropped or relabelled (the supervisor's C mirror)
        self.on_forget: Callable[[int], None] | None = None

    def __len__(self) -> int:
        return len(self._tasks)

    def get(self, tid: int) -> TaskInfo:
        """The cached task, reading /proc on a miss (StockadeError if it is gone,
        UnknownTask if its labels cannot be known)."""
        info = self._tasks.get(tid)
        if info is not None:
            if info.pidfd < 0 or not info.poller.poll(0):  # alive(), inlined: the hot path
                execs = self.labels.execs
                if execs is None or not execs.items or info.tgid not in execs.items:
                    return info
                self.drop_group(info.tgid)  # its exec is pending: read it again, then settle
            else:
                self.drop(tid)
                self.labels.exited(info.tgid)
        self.misses += 1
        info = self.helper.call(read_task, tid, self.initial)
        try:
            labels = self.labels.resolve(info.tgid, info.start, info.ppid, tid=tid)
        except BaseException:
            info.close()
            raise
        if labels is not self.labels.initial:
            info.subject = _with_labels(info.subject, labels)
        if len(self._tasks) >= self.limit:
            for old in list(self._tasks)[: max(1, self.limit // 16)]:
                self.drop(old)
        self._tasks[tid] = info
        return info

    def _relabelled(self, tgid: int, labels: dict[str, str]) -> None:
        for info in self._tasks.values():
            if info.tgid == tgid:
                info.subject = _with_labels(info.subject, labels)
                if self.on_forget is not None:
                    self.on_forget(info.tid)

    def drop(self, tid: int) -> None:
        """Forget `tid` (it changed credentials, exec'd or exited)."""
        info = self._tasks.pop(tid, None)
        if self.on_forget is not None:
            self.on_forget(tid)
        if info is not None:
            info.close()

    def drop_group(self, tgid: int) -> None:
        """Forget every thread of a thread group (exec replaces them all)."""
        for tid in [t for t, i in self._tasks.items() if i.tgid == tgid]:
            self.drop(tid)

    def drop_group_of(self, tid: int) -> None:
        """Forget `tid` and, if it is cached, every thread of its group."""
        info = self._tasks.get(tid)
        if info is not None:
            self.drop_group(info.tgid)
        self.drop(tid)

    def knows(self, tgid: int) -> bool:
        """Whether a task of thread group `tgid` is cached (it is supervised)."""
        return any(i.tgid == tgid for i in self._tasks.values())

    def contexts_of(self, tgid: int) -> tuple[tuple[str, str], ...] | None:
        """The labels of supervised thread group `tgid` (None: not known to be supervised)."""
        labels = self.labels.labels(tgid)
        if labels is not None:
            return tuple(sorted(labels.items()))
        return self.initial if self.knows(tgid) else None

    def contexts_in_tree(self, tid: int) -> tuple[tuple[str, str], ...] | None:
        """The labels of the task `tid` names (a thread id too) when it is of the supervised
        tree, whether or not it has made a routed call yet (its lineage reaches the
        supervisor); None for a task outside it (the signal and ptrace targets' labels)."""
        known = self.contexts_of(tid)
        if known is not None:
            return known
        tgid = self.labels.helper.call(thread_group_of, tid)
        if tgid <= 0:
            return None
        if tgid != tid and (known := self.contexts_of(tgid)) is not None:
            return known
        st = self.labels.helper.call(stat_of, tgid)
        if st is None:
            return None
        line = self.labels.lineage_of(tgid, st[0])
        if not line[1]:
            return None
        return tuple(sorted({**self.labels.initial,
                             **self.labels.resolve(tgid, st[1], st[0], line)}.items()))

    def set_contexts(self, tgid: int, contexts: tuple[tuple[str, str], ...],
                     before: tuple[tuple[str, str], ...] = ()) -> bool:
        """Labels of thread group `tgid` after an exec transition (only those that differ from
        `before` are stored); False when they cannot be kept (the store is full: the caller
        refuses)."""
        return self.labels.assign(tgid, dict(set(contexts) - set(before)))

    def expect_contexts(self, tid: int, tgid: int, contexts: tuple[tuple[str, str], ...],
                        before: tuple[tuple[str, str], ...], runs: list[str]) -> bool:
        """`set_contexts`, kept pending until the exec that task `tid` is stopped in is known
        to have happened (execve/confirm.py); `runs`: the files read to decide what runs (the
        last becomes its exe). False when that cannot be kept (the caller refuses the exec)."""
        execs = self.labels.execs
        if execs is None:
            return self.set_contexts(tgid, contexts, before)
        return self.labels.has_room(tgid) and execs.expect(
            tid, tgid, dict(set(contexts) - set(before)), runs[-1] if runs else "")

    def clear(self) -> None:
        """Drop everything."""
        for tid in list(self._tasks):
            self.drop(tid)


def _with_labels(subject: Subject, labels: dict[str, str]) -> Subject:
    merged = dict(subject.contexts)
    merged.update(labels)
    return replace(subject, contexts=tuple(sorted(merged.items())))


class CredSwitch:
    """Make the calling thread act with a target's filesystem credentials.

    Linux keeps credentials per thread and the raw setfsuid/setfsgid/setgroups/capset system
    calls change only the calling thread (glibc's wrappers for setgroups and set*id signal every
    thread; we do not use them). The supervisor thread therefore opens files with the target's
    fsuid, fsgid, groups and effective capabilities (never more than its own permitted set),
    then the kernel's own DAC applies to the emulated open. Switching is skipped when the
    credentials are those of the last request.
    """

    def __init__(self) -> None:
        state = caps.capget()
        self.permitted = state.permitted
        self.inheritable = state.inheritable
        self._own = (os.getuid(), os.getgid(), tuple(sorted(os.getgroups())), state.effective)
        self._current = self._own
        self.can_setgroups = bool(state.effective >> caps.cap_number("setgid") & 1)
        self._last: Subject | None = None
        #: bumped whenever this thread's credentials change
        self.generation = 0

    def become(self, subject: Subject) -> None:
        """Switch to `subject`'s fs credentials (no-op when already there)."""
        if subject is self._last:
            return
        want = (subject.fsuid, subject.fsgid, tuple(sorted(subject.groups)),
                subject.cap_effective & self.permitted)
        if want == self._current:
            self._last = subject
            return
        # regain our effective set first: changing ids and groups may need CAP_SETUID/SETGID
        if self._current[3] != self.permitted:
            caps.capset(caps.CapState(self.permitted, self.permitted, self.inheritable))
        if want[2] != self._current[2] and self.can_setgroups:
            ksys.set_thread_groups(want[2])
        ksys.set_fs_ids(want[0], want[1])
        caps.capset(caps.CapState(want[3], self.permitted, self.inheritable))
        self._current = want
        self._last = subject
        self.generation += 1

    def regain(self) -> tuple[int, int, tuple[int, ...], int] | None:
        """Take back this thread's own effective capabilities (its permitted set), keeping the
        fs ids and groups, until `restore`; the state to restore, or None when it already
        holds them. A task that is not dumpable (it changed its ids, or prctl(PR_SET_DUMPABLE,
        0)) lets only CAP_SYS_PTRACE read its memory (process_vm_readv's ptrace check)."""
        if self._current[3] == self.permitted:
            return None
        before = self._current
        caps.capset(caps.CapState(self.permitted, self.permitted, self.inheritable))
        self._current = (*before[:3], self.permitted)
        return before

    def restore(self, before: tuple[int, int, tuple[int, ...], int]) -> None:
        """Back to the effective set `regain` returned."""
        caps.capset(caps.CapState(before[3], self.permitted, self.inheritable))
        self._current = before
