"""The supervisor: notifications in, the Stack's verdicts out, one thread, bounded state.

The loop runs in a dedicated thread that has made itself look like the target as far as the
kernel is concerned: its own fs_struct (unshare(CLONE_FS): cwd and umask per request), the
plan's Landlock ruleset applied to itself (landlock_restrict_self is per thread), and the
target's fsuid/fsgid/groups/effective capabilities switched per request (CredSwitch). So an
open it performs for the target is subject to the same Landlock rules and the same kernel DAC
as the target's own would be; the Stack then decides on the descriptor it got.

That thread also forks the target: the child inherits the thread's Landlock domain and adds the
plan's own layer, so the supervisor's domain is an ancestor of the target's and
process_vm_readv/pidfd_getfd (ptrace-mode access) are allowed by Landlock. PR_SET_PDEATHSIG
follows the thread that forked: if the supervisor thread ends, the child is killed.

Per notification: receive, look the task up (cache), read pointer arguments with
process_vm_readv, check SECCOMP_IOCTL_NOTIF_ID_VALID, decide, then deny / emulate + inject /
continue as docs/supervisor.md lists per system call.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable

from stockade.enforce.seccomp import AUDIT_ARCH_X86_64, resolve_syscall
from stockade.enforce.supervisor import fast, resolve, table
from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.blocking import REAP_INTERVAL_MS, BlockingOpens
from stockade.enforce.supervisor.execve import confirm as exec_confirm
from stockade.enforce.supervisor.held import writable_files
from stockade.enforce.supervisor.notify import Listener
from stockade.enforce.supervisor.resolve import Refused
from stockade.enforce.supervisor.target import (
    CredSwitch,
    ProcHelper,
    TaskCache,
    TaskInfo,
    UnknownTask,
)
from stockade.errors import StockadeError
from stockade.lsm.module import Mode, Verdict
from stockade.lsm.probe import subject_from_pid
from stockade.lsm.stack import DENIED, AuditEvent, AuditSink, Stack
from stockade.lsm.types import (
    MAY_APPEND,
    MAY_OPEN,
    MAY_READ,
    MAY_WRITE,
    Object,
    ObjectKind,
    Request,
    Subject,
    access_names,
)
from stockade.suppress import suppress

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:  # a plain run neither observes nor judges a profile
    from typing import Any, TypeVar

    from stockade.enforce.supervisor.complain import ProfileJudge
    from stockade.enforce.supervisor.observe import Observation, Observer
    from stockade.enforce.supervisor.plan_guard import PlanGuard
    from stockade.enforce.supervisor.protect import Protected

    T = TypeVar("T")

Handler = Callable[["Supervisor", int, int, tuple[int, ...]], None]
UNREADABLE = ("the call's arguments cannot be read: the task is not dumpable (it changed its "
              "user or group ids, or called prctl(PR_SET_DUMPABLE, 0)) and reading its memory "
              "or taking its descriptors then needs CAP_SYS_PTRACE, which this supervisor "
              "lacks: run stockade as root, or keep the program dumpable")


def not_dumpable(tid: int) -> bool:
    """Whether task `tid` is not dumpable: the kernel then gives the files of its /proc
    directory to root (task_dump_owner) whatever the task's ids; a task whose effective uid
    is 0 is taken as dumpable (they are root's either way)."""
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            owner = os.fstat(f.fileno()).st_uid
            for line in f:
                if line.startswith(b"Uid:"):
                    return owner == 0 and int(line.split()[2]) != 0
    except (OSError, ValueError, IndexError):
        pass
    return False
_LABEL_FREE = frozenset({"dac", "capability", "yama", "loadpin", "lockdown", "tomoyo"})
_WALKERS = frozenset({"selinux", "smack", "apparmor"})


def label_attributes(stack: Stack) -> tuple[str, ...] | None:
    """The xattrs the label modules of `stack` read (None: unknown, read them all)."""
    found: set[str] = set()
    for module in stack.modules:
        if module.name in _LABEL_FREE:
            continue
        attrs = [v for k, v in vars(module).items()
                 if "xattr" in k and isinstance(v, str) and v.startswith(("security.", "user."))]
        if not attrs:
            return None
        found.update(attrs)
    return tuple(sorted(found))


class Stats:
    """Counters: what the supervisor did, for tests, benchmarks and the exit report."""

    __slots__ = (
        "continued",
        "denied",
        "emulated",
        "errors",
        "fast_hits",
        "notifications",
        "vanished",
        "would_deny",
    )

    def __init__(self) -> None:
        self.notifications = self.denied = self.emulated = self.continued = 0
        self.vanished = self.errors = self.would_deny = 0
        #: opens answered by the C fast path: a descriptor installed (also counted in emulated)
        #: or ENOENT/ENOTDIR (also in denied); all also in notifications
        self.fast_hits = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return {k: getattr(self, k) for k in self.__slots__}


class Supervisor:
    """Decides the notified system calls of one supervised process tree."""

    def __init__(self, stack: Stack, *, mode: str = "enforce", observer: Observer | None = None,
                 audit_sink: AuditSink | None = None, exec_enforced: bool = False,
                 helper: ProcHelper | None = None, contexts: tuple[tuple[str, str], ...] = (),
                 task_limit: int = 1024, serving: Iterable[str] | None = None) -> None:
        self.stack = stack
        self.mode = mode
        self.observer = observer
        if observer is not None:  # now: the loop's thread cannot open files once restricted
            from stockade.enforce.supervisor.observe import Observation

            self._observation: type[Observation] = Observation
        self.audit_sink = audit_sink if audit_sink is not None else stack.audit_sink
        self.exec_enforced = exec_enforced
        self.helper = helper or ProcHelper()
        lowest = {m.name: m.lowest_label() for m in stack.modules if hasattr(m, "lowest_label")}
        self.tasks = TaskCache(self.helper, contexts, task_limit, lowest)
        #: exec transitions applied once the exec happened (execve/confirm.py)
        self.tasks.labels.execs = exec_confirm.PendingExecs(
            self.helper, min(task_limit, exec_confirm.MAX_PENDING), kill=mode == "enforce")
        self._pending_execs = self.tasks.labels.execs.items
        for module in stack.modules:  # modules that relabel running tasks keep it in our store
            if hasattr(module, "task_labels"):
                module.task_labels = self.tasks.labels
            if hasattr(module, "writable_files"):
                module.writable_files = self._writable_files
        self.creds: CredSwitch | None = None
        #: the C mechanics (fast.py), or None: pure Python
        self.backend = fast.load()
        self.mem: ksys.MemReader | fast.CMemReader = (
            fast.CMemReader(self.backend) if self.backend is not None else ksys.MemReader())
        ksys.use_openat2(fast.openat2_with(self.backend) if self.backend is not None else None)
        self.mem.retry = self._reread
        #: the C mirror of the AVC's allows for plain opens (fast.FastPath), while serving
        self.fastpath: fast.FastPath | None = None
        self._cred_gen = 0
        self.stats = Stats()
        names = {m.name for m in stack.modules}
        #: the TOMOYO module, told each exec's argv and envp (None without one)
        self.tomoyo = next((m for m in stack.modules if m.name == "tomoyo"), None)
        self.labels = bool(names - _LABEL_FREE)
        self.walk = bool(names & _WALKERS)
        resolve.LABEL_NAMES = label_attributes(stack)
        #: label attributes the program may not change (beyond user.stockade.*)
        self.label_names = frozenset(resolve.LABEL_NAMES or ())
        #: the plan's decision on calls Landlock does not mediate (set by the session)
        self.guard: PlanGuard | None = None
        #: complain mode for a profile: records what the profile would refuse (complain.py)
        self.judge: ProfileJudge | None = None
        #: the launcher's own files and directories, never changed for the program (protect.py)
        self.protect: Protected | None = None
        #: an exec was let through: before it, the sandbox holds only the launcher's child,
        #: running the launcher's code (no process of the program that could race an exec)
        self.program_execd = False
        self.hooks = {h for m in stack.modules if m.name not in ("dac", "capability")
                      for h in m.hooks()}
        self.table: dict[int, Handler] = {}
        self.serve(serving)
        self.listener: Listener | None = None
        self.blocking = BlockingOpens(self)
        self._umask = -1
        self._stop_r, self._stop_w = os.pipe2(os.O_CLOEXEC)
        #: stop() and close() come from different threads: never write to a closed (and maybe
        #: reused) descriptor number
        self._stop_lock = threading.Lock()
        self.fatal: BaseException | None = None

    def serve(self, names: Iterable[str] | None) -> None:
        """Add the handlers of the system calls `names` (None: all) to the table, importing
        their modules now (before the supervisor thread restricts itself). A routed call
        without a handler is denied."""
        for name, fn in table.handlers_for(names).items():
            try:
                nr = resolve_syscall(name)
            except KeyError:
                continue
            if nr >= 0:
                self.table[nr] = fn

    @property
    def watching(self) -> bool:
        """Whether every access is looked at (learn's observer, complain's profile judge):
        no fast path may skip building the request."""
        return self.observer is not None or self.judge is not None

    # -- answers ----------------------------------------------------------------------------

    def deny(self, nid: int, err: int) -> None:
        """Fail the call with `err`."""
        assert self.listener is not None
        self.stats.denied += 1
        self.listener.respond(nid, 0, err)

    def ok(self, nid: int, val: int = 0) -> None:
        """The call returns `val` (we performed it)."""
        assert self.listener is not None
        self.stats.emulated += 1
        self.listener.respond(nid, val)

    def cont(self, nid: int) -> None:
        """Let the kernel perform the call."""
        assert self.listener is not None
        self.stats.continued += 1
        self.listener.continue_(nid)

    def inject(self, nid: int, fd: int, cloexec: bool) -> None:
        """Install our `fd` in the target as the call's result (then we close ours)."""
        assert self.listener is not None
        got = self.listener.inject_close(nid, fd, cloexec)
        if got >= 0:
            self.stats.emulated += 1
        elif got != -errno.ENOENT:
            self.deny(nid, -got)  # e.g. EMFILE: the target's table is full
        else:
            self.stats.vanished += 1

    def valid(self, nid: int) -> bool:
        """ID_VALID after reading the target's memory: False if it died or moved on."""
        assert self.listener is not None
        if self.listener.id_valid(nid):
            return True
        self.stats.vanished += 1
        return False

    # -- decisions ---------------------------------------------------------------------------

    def task(self, tid: int) -> TaskInfo:
        """The calling task (cached)."""
        return self.tasks.get(tid)

    def act_as(self, task: TaskInfo, umask: bool = False) -> None:
        """Switch this thread to the target's fs credentials (and umask for creations)."""
        if self.creds is not None:
            self.creds.become(task.subject)
            if self.creds.generation != self._cred_gen:
                self._cred_gen = self.creds.generation
                if self.fastpath is not None:
                    self.fastpath.creds(self._cred_gen)
        if umask and task.umask != self._umask:
            os.umask(task.umask)
            self._umask = task.umask

    def _not_dumpable(self, tid: int) -> bool:
        """not_dumpable(tid), asked in the helper thread (this one may not open /proc)."""
        try:
            return bool(self.helper.call(not_dumpable, tid))
        except StockadeError:
            return False

    def _read_as_self(self, read: Callable[[], T]) -> T:
        """`read()` again with this thread's own capabilities (a failed read of a target's
        memory: it may not be dumpable), then the target's again: nothing else runs meanwhile
        (the C fast path runs in this thread, between notifications)."""
        creds = self.creds
        before = creds.regain() if creds is not None else None
        try:
            return read()
        finally:
            if before is not None:
                assert creds is not None
                creds.restore(before)

    def _reread(self, read: Callable[[], T]) -> T:
        """`_read_as_self(read)` for a failed read of memory: where it fails again because the
        kernel's ptrace check refused it (process_vm_readv: EPERM), the address is as
        unreadable as an unmapped one (EFAULT), which `handle` explains for a task that is not
        dumpable."""
        try:
            got = self._read_as_self(read)
        except PermissionError:
            raise OSError(errno.EFAULT, "Bad address") from None
        return -errno.EFAULT if got == -errno.EPERM else got  # type: ignore[return-value]

    def take_fd(self, task: TaskInfo, fd: int) -> int:
        """Our duplicate of the target's descriptor `fd` (pidfd_getfd); refused on a task that
        is not dumpable, taken once more with this thread's own capabilities (root's
        CAP_SYS_PTRACE), as its memory is read. ksys.DescriptorRefused when that fails too:
        `handle` refuses the call with a record."""
        try:
            return ksys.take_fd(task.tgid, fd, task.pidfd)
        except ksys.DescriptorRefused:
            return self._read_as_self(lambda: ksys.take_fd(task.tgid, fd, task.pidfd))

    def decide(self, task: TaskInfo, requests: list[Request], syscall: str, op: str, *,
               target: str = "", peer: dict[str, Any] | None = None) -> int:
        """Ask the stack each request in turn; the first denial's errno (0: allowed).

        Also records the observation in learn mode. A change to one of the launcher's own
        files (protect.py) is refused before any module is asked.
        """
        if self.protect is not None:
            hit = self.protect.refusal(requests)
            if hit is not None:
                self.audit_refusal(task, hit[0].hook, hit[0].obj, errno.EACCES, hit[1])
                return errno.EACCES
        err = 0
        would: list[str] = []
        caps: list[str] = []
        for req in requests:
            decision = self.stack.decide(req)
            if self.observer is not None:
                for ev in decision.events:
                    if ev.request.hook == "capable":
                        caps.append(str(ev.request.cap))
                    elif ev.result != DENIED:
                        would.append(ev.verdict.module)
            if decision.errno:
                err = decision.errno
                if self.observer is not None and decision.decider is not None:
                    would.append(decision.decider.module)
                break
        if not err and would:
            self.stats.would_deny += 1
        if self.judge is not None and not err and requests:
            self.judge(task.tgid, task.subject.comm, task.subject.exe, task.subject.uid, requests)
        if self.observer is not None and requests:
            first = requests[0]
            obj = first.obj
            self.observer(self._observation(
                time=time.time(), pid=task.tgid, tid=task.tid, comm=task.subject.comm,
                exe=task.subject.exe, syscall=syscall, hook=first.hook, op=op,
                path=obj.path if obj is not None and obj.kind == ObjectKind.FILE else "",
                access=access_names(first.access), target=target, peer=peer,
                signal=first.signal, capability=caps,
                result="denied" if err else ("would-deny" if would else "allowed"),
                errno=err, modules=would))
        return err

    def refuse(self, nid: int, task: TaskInfo, hook: str, obj: Object | None, err: int,
               reason: str, requested: str = "") -> None:
        """A denial by the supervisor itself (not a module): audited as module=supervisor;
        `requested`: the AppArmor mask the plan lacked (`w`), for a rule to be proposed."""
        self.audit_refusal(task, hook, obj, err, reason, requested)
        self.deny(nid, err)

    def audit_refusal(self, task: TaskInfo, hook: str, obj: Object | None, err: int,
                      reason: str, requested: str = "") -> None:
        """The one audit record of a denial by the supervisor itself (module=supervisor)."""
        if self.audit_sink is not None:
            req = Request(hook, task.subject, obj)
            fields = (("requested", requested),) if requested else ()
            self.audit_sink(AuditEvent(req, Verdict("supervisor", err, reason, fields=fields),
                                       DENIED, Mode.ENFORCE, time.time(), 0))

    def _writable_files(self, pid: int) -> list[Object] | None:
        """What thread group `pid` holds open for writing (held.py, in the helper thread)."""
        return self.helper.call(writable_files, pid)

    def refuse_unknown(self, nid: int, tid: int, reason: str, hook: str = "task_alloc",
                       kill: int = 0) -> None:
        """A task whose labels (or arguments) cannot be known: EACCES, audited as
        module=supervisor; thread group `kill` (if any) is killed before the answer."""
        if self.audit_sink is not None:
            try:
                subject = self.helper.call(subject_from_pid, tid)
            except StockadeError:
                subject = Subject(pid=tid)
            self.audit_sink(AuditEvent(Request(hook, subject, None),
                                       Verdict("supervisor", errno.EACCES, reason), DENIED,
                                       Mode.ENFORCE, time.time(), 0))
        if kill:
            self.helper.call(exec_confirm.kill_group, kill)
        self.deny(nid, errno.EACCES)

    # -- the loop ---------------------------------------------------------------------------

    def handle(self, note: tuple[int, ...]) -> None:
        """One notification: dispatch; any unexpected failure denies (fail closed)."""
        nid, tid, nr = note[0], note[1], note[2]
        self.stats.notifications += 1
        fn = self.table.get(nr)
        try:
            if fn is None:  # a plan routed something we have no handler for
                self.deny(nid, errno.EACCES)
                return
            fn(self, nid, tid, note[4:10])
        except Refused as ref:
            try:
                task = self.tasks.get(tid)
                self.refuse(nid, task, "file_open", None, ref.errno, ref.reason)
            except StockadeError:
                self.deny(nid, ref.errno)
        except UnknownTask as err:
            self.refuse_unknown(nid, tid, str(err), err.hook, err.kill)
        except ksys.DescriptorRefused:  # pidfd_getfd: EPERM
            if self._not_dumpable(tid):
                self.refuse_unknown(nid, tid, UNREADABLE, "ptrace_access_check")
            else:
                self.deny(nid, errno.EPERM)
        except StockadeError:  # the task is gone
            if self._not_dumpable(tid):  # no: its /proc files became root's (gpg-agent)
                self.refuse_unknown(nid, tid, UNREADABLE, "ptrace_access_check")
                return
            self.stats.vanished += 1
            assert self.listener is not None
            self.listener.respond(nid, 0, errno.ESRCH)
        except OSError as err:  # a kernel answer for the target (ENOENT, EACCES, ...)
            if err.errno == errno.EFAULT and self._not_dumpable(tid):
                self.refuse_unknown(nid, tid, UNREADABLE, "ptrace_access_check")
                return
            self.deny(nid, err.errno or errno.EIO)
        except Exception:
            self.stats.errors += 1
            self.deny(nid, errno.EACCES)

    def listener_for(self, fd: int) -> Listener:
        """The listener on `fd`, with the mechanics this supervisor uses."""
        if self.backend is not None:
            return fast.CListener(fd, self.backend)
        return Listener(fd)

    def run(self, listener: Listener) -> None:
        """Serve `listener` until no task uses the filter any more, or `stop()`."""
        self.listener = listener
        listener.enable_sync_wakeup()
        if isinstance(listener, fast.CListener) and self.backend is not None:
            self._run_c(listener, self.backend)
            return
        poller = select.poll()
        poller.register(listener.fd, select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        receive = listener.receive
        handle = self.handle
        lfd = listener.fd
        waiting = self.blocking.waiting
        while True:
            try:
                events = poller.poll(REAP_INTERVAL_MS if waiting else None)
            except InterruptedError:
                continue
            if waiting:
                self.blocking.reap()
            for fd, ev in events:
                if fd != lfd:
                    return
                if ev & select.POLLIN:
                    note = receive()
                    if note is not None:
                        handle(note)
                elif ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                    return

    def mirror(self, task: TaskInfo, key: tuple, decision: Any, access: int, path: str,
               st: os.stat_result, xattrs: tuple[tuple[str, bytes], ...]) -> None:
        """Offer the C fast path an allow of a plain open that the AVC now holds (fast.py)."""
        fp = self.fastpath
        avc = self.stack.avc
        seqno = avc.seqno  # read before `holds`: a reset in between is seen by the C side
        if fp is None or decision.errno or decision.events or not avc.holds(key, decision) \
                or not task.root_is_ours or task.pidfd < 0 \
                or not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)) \
                or task.tgid in self._pending_execs:  # its labels may change any moment
            return
        with suppress(OSError):  # best effort (e.g. EMFILE): the open is decided
            fp.put(task.tid, task.pidfd, task.subject.key, self._cred_gen, access, path, st,
                   xattrs, seqno)

    def _start_fastpath(self, backend: fast.Backend) -> fast.FastPath | None:
        """The C mirror, where every open it could complete would be an AVC hit in Python:
        no observer or judge, no directory walks, label names known, open/openat served by
        their plain handlers."""
        names = resolve.LABEL_NAMES
        if self.watching or self.walk or names is None or os.environ.get(fast.ENV_NO_MIRROR):
            return None
        nr_open, nr_openat = resolve_syscall("open"), resolve_syscall("openat")
        # The handler module is loaded only where a launch routes opens (table.py): if it is
        # not loaded, the table cannot hold its handlers. No import here: the thread may
        # already be restricted.
        handlers = sys.modules.get("stockade.enforce.supervisor.handlers.open_exec")
        if handlers is None or self.table.get(nr_open) is not handlers.h_open \
                or self.table.get(nr_openat) is not handlers.h_openat \
                or os.uname().machine != "x86_64":
            return None
        labels = tuple(n for n in names if n.startswith(resolve.LABEL_PREFIXES))
        fp = fast.FastPath.create(backend, labels, nr_open, nr_openat, AUDIT_ARCH_X86_64,
                                  resolve.PROC_DEV, (MAY_OPEN, MAY_READ, MAY_WRITE, MAY_APPEND))
        if fp is None:
            return None
        fp.creds(self._cred_gen)
        self.stack.avc.on_reset.append(fp.flush)
        self.tasks.on_forget = fp.forget
        if isinstance(self.mem, fast.CMemReader):
            self.mem.prefetch = fp.ctx
        self.fastpath = fp
        return fp

    def _stop_fastpath(self) -> None:
        fp = self.fastpath
        if fp is None:
            return
        self.fastpath = None
        self.tasks.on_forget = None
        if isinstance(self.mem, fast.CMemReader):
            self.mem.prefetch = None
        with suppress(ValueError):
            self.stack.avc.on_reset.remove(fp.flush)
        hits, _misses, vanished, failed, lookups = fp.counts()
        self.stats.notifications += hits + vanished + failed + lookups
        self.stats.emulated += hits
        self.stats.vanished += vanished
        self.stats.denied += failed + lookups
        self.stats.fast_hits += hits + lookups
        fp.close()

    def _run_c(self, listener: Listener, backend: fast.Backend) -> None:
        """run() with the wait and the receive in C (one call per notification); AVC hits of
        plain opens are completed in C when the fast path applies."""
        note = backend.ffi.new("struct stk_note *")
        args = note.args
        fp = self._start_fastpath(backend)
        try:
            self._loop_c(listener, backend, note, args, fp)
        finally:
            self._stop_fastpath()

    def _loop_c(self, listener: Listener, backend: fast.Backend, note: Any, args: Any,
                fp: fast.FastPath | None) -> None:
        # the mirror's table as a trailing argument, not a wrapper: no Python frame per
        # notification (cffi already returns an int)
        step, extra = ((backend.lib.stk_next_fast, (fp.ctx,)) if fp is not None
                       else (backend.lib.stk_next, ()))
        handle = self.handle
        lfd, stop = listener.fd, self._stop_r
        waiting = self.blocking.waiting
        while True:
            got = step(lfd, stop, REAP_INTERVAL_MS if waiting else -1, note, *extra)
            if waiting:
                self.blocking.reap()
            if got == 1:
                handle((note.id, note.pid, note.nr, note.arch,
                        args[0], args[1], args[2], args[3], args[4], args[5]))
            elif got == 2:
                return
            elif got < 0:
                raise OSError(-got, os.strerror(-got))

    def stop(self) -> None:
        """Ask the loop to end (from another thread)."""
        with self._stop_lock, suppress(OSError):
            if self._stop_w >= 0:
                os.write(self._stop_w, b"x")

    def close(self) -> None:
        """Release the listener, the task cache and the helper."""
        self.blocking.wake_all()
        if self.listener is not None:
            self.listener.close()
        self.tasks.clear()
        if self.tasks.labels.execs is not None:
            self.tasks.labels.execs.clear()
        self.helper.stop()
        with self._stop_lock:
            for fd in (self._stop_r, self._stop_w):
                with suppress(OSError):
                    os.close(fd)
            self._stop_r = self._stop_w = -1


def run_in_thread(target: Callable[[], None], name: str) -> threading.Thread:
    """Start a daemon thread (it inherits the caller's signal mask)."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread
