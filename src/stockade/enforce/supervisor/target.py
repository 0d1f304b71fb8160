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
import queue
import select
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from stockade.enforce import caps
from stockade.enforce.supervisor import sys as ksys
from stockade.errors import StockadeError
from stockade.lsm.probe import subject_from_pid
from stockade.lsm.types import Subject

_ROOT_STAT = os.stat("/")


class ProcHelper:
    """One unrestricted thread that runs functions for the (restricted) supervisor thread."""

    def __init__(self) -> None:
        self._q: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], list[Any],
                                         threading.Event] | None] = queue.SimpleQueue()
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


def _status_fields(tid: int) -> dict[str, str]:
    with open(f"/proc/{tid}/status", encoding="utf-8", errors="replace") as f:
        text = f.read()
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


@dataclass
class TaskInfo:
    """One cached task: its Subject (pid = its thread group), umask, root and pidfd."""

    tid: int
    tgid: int
    ppid: int
    subject: Subject
    umask: int
    root_is_ours: bool
    pidfd: int
    poller: Any = field(repr=False, default=None)

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
        fields = _status_fields(tid)
        subject = subject_from_pid(tid)
        root = os.stat(f"/proc/{tid}/root")
    except (OSError, StockadeError):
        if pidfd >= 0:
            os.close(pidfd)
        raise StockadeError(f"task {tid} is gone") from None
    tgid = int(fields.get("Tgid", tid) or tid)
    merged = dict(subject.contexts)
    merged.update(contexts)
    subject = replace(subject, pid=tgid, contexts=tuple(sorted(merged.items())))
    poller = None
    if pidfd >= 0:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
    return TaskInfo(tid, tgid, int(fields.get("PPid", 0) or 0), subject, int(fields.get("Umask", "0022"), 8),
                    (root.st_dev, root.st_ino) == (_ROOT_STAT.st_dev, _ROOT_STAT.st_ino),
                    pidfd, poller)


class TaskCache:
    """tid -> TaskInfo, bounded; contexts (subject labels) are kept per thread group."""

    def __init__(self, helper: ProcHelper, initial_contexts: tuple[tuple[str, str], ...] = (),
                 limit: int = 1024) -> None:
        self.helper = helper
        self.limit = limit
        self.initial = initial_contexts
        self._tasks: dict[int, TaskInfo] = {}
        # labels per thread group after exec transitions, bounded like the tasks
        self.contexts: dict[int, tuple[tuple[str, str], ...]] = {}
        self.misses = 0

    def __len__(self) -> int:
        return len(self._tasks)

    def get(self, tid: int) -> TaskInfo:
        """The cached task, reading /proc on a miss (StockadeError if it is gone)."""
        info = self._tasks.get(tid)
        if info is not None:
            if info.pidfd < 0 or not info.poller.poll(0):  # alive(), inlined: the hot path
                return info
            self.drop(tid)
        self.misses += 1
        info = self.helper.call(read_task, tid, self.initial)
        labels = self.contexts.get(info.tgid)
        if labels is None and info.ppid in self.contexts:  # a child inherits its parent's labels
            labels = self.contexts[info.ppid]
            self.set_contexts(info.tgid, labels)
        if labels is not None:
            merged = dict(info.subject.contexts)
            merged.update(labels)
            info.subject = replace(info.subject, contexts=tuple(sorted(merged.items())))
        if len(self._tasks) >= self.limit:
            for old in list(self._tasks)[: max(1, self.limit // 16)]:
                self.drop(old)
        self._tasks[tid] = info
        return info

    def drop(self, tid: int) -> None:
        """Forget `tid` (it changed credentials, exec'd or exited)."""
        info = self._tasks.pop(tid, None)
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

    def set_contexts(self, tgid: int, contexts: tuple[tuple[str, str], ...]) -> None:
        """Labels of thread group `tgid` after an exec transition."""
        if len(self.contexts) >= self.limit and tgid not in self.contexts:
            self.contexts.pop(next(iter(self.contexts)))
        self.contexts[tgid] = contexts

    def clear(self) -> None:
        """Drop everything."""
        for tid in list(self._tasks):
            self.drop(tid)


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
