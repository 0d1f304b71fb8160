"""The kernel's denial records of a confined program, attributed to its profile.

Why live netlink and not audit.log: stockade must not depend on auditd (it does not run on
most hosts that use Landlock), and reading the log afterwards would need its rotation, its
format options and a time window. The audit multicast group (AUDIT_NLGRP_READLOG, root or
CAP_AUDIT_READ) receives every record the kernel emits whether or not auditd runs. The socket
is bound before the program starts, so nothing it does is missed; a thread reads it while the
launcher waits, and drains it after the program exits until the kernel goes quiet.

Attribution: a Landlock domain is inherited by every descendant of the process that created
it, and the kernel names the domain in each LANDLOCK_ACCESS (1423) record and its creator's
pid in the LANDLOCK_DOMAIN (1424) record of the first denial. So a 1423 record is ours when
its domain was created by the confined child, or when the task it names (the pid of the
event's SYSCALL record) is the child or one of its descendants: the 1424 record is logged once
per domain (security/landlock/audit.c log_domain), and a program that floods the audit backlog
so that it is lost must not hide the domain's later denials (red team 12). A domain the launcher
created is the supervisor thread's (it restricts itself with the plan's ruleset and performs the
program's emulated opens and connects in it): its refusals are the program's denials too, and
counted as ours (red team 14: they were recorded nowhere). SECCOMP (1326)
records carry the pid of the task: ours when it is the child or one of its descendants.

Losses: the kernel drops records when its backlog is full (Landlock logs with GFP_ATOMIC and
never waits) and counts them in AUDIT_GET's `lost`; the reader's socket may overrun. Both are
counted (`kernel_lost`: the host-wide counter's growth during the run, `lost`), and a domain's
deallocation record states how many denials it made (`denials=`), which is compared with the
denial records received (`missing`). `loss_line` says all of it in one line. The descendants are learned as
they are created, from the kernel's fork events (enforce/fork_events.py: a child that already
exited, or a grandchild re-parented to the launcher, still counts); where those events are not
available, by the parent chain in /proc when the record is read (pids seen once are
remembered), and the run says that records of exited or re-parented descendants may be
missing (`attribution_note`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable

from stockade.audit.readers.correlate import Correlator
from stockade.audit.readers.interpret import errno_action
from stockade.audit.readers.netlink import AuditMulticast
from stockade.audit.record import AuditRecord
from stockade.enforce.fork_events import open_events
from stockade.enforce.plan.types import SeccompRule
from stockade.enforce.seccomp import ActionKind

# After the program exits, records it caused may still sit in kauditd's queue (a loaded machine
# delays them): read until the socket has been quiet this long, but never longer than the cap.
DRAIN_QUIET_SECONDS = 0.4
DRAIN_MAX_SECONDS = 3.0


def plan_errnos(rules: Iterable[SeccompRule]) -> dict[str, int]:
    """syscall → errno, for the syscalls every errno rule of the plan answers alike."""
    found: dict[str, set[int]] = {}
    for rule in rules:
        if rule.action.kind is ActionKind.ERRNO:
            found.setdefault(rule.syscall, set()).add(rule.action.value)
    return {name: next(iter(values)) for name, values in found.items() if len(values) == 1}


def _kernel_status() -> dict[str, int] | None:
    """AUDIT_GET's answer (None when it cannot be asked)."""
    from stockade.host.audit import audit_get

    try:
        return audit_get()
    except (OSError, TimeoutError):
        return None


def _kernel_lost() -> int | None:
    """The kernel's count of audit messages it dropped (AUDIT_GET `lost`), None if unknown."""
    status = _kernel_status()
    return None if status is None else status.get("lost")


def _launcher_task(pid: int) -> bool:
    """Whether `pid` is this launcher or one of its threads: a Landlock domain it created is
    the supervisor thread's, which performs the program's emulated calls (open, connect) in
    the plan's ruleset, so its refusals are the program's denials (red team 14)."""
    return pid == os.getpid() or os.path.exists(f"/proc/self/task/{pid}")


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return int(data[data.rindex(b")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


class DenialCollector:
    """Reads kernel audit records during a run and hands over those of the confined tree."""

    def __init__(self, profile: str, sink: Callable[[AuditRecord], None],
                 errnos: dict[str, int] | None = None) -> None:
        self.profile = profile
        self.sink = sink
        # syscall → the errno the plan's filter answers it with (the kernel's SECCOMP record
        # names the action only; see audit/readers/interpret.py seccomp())
        self.errnos = errnos or {}
        self.reader = AuditMulticast()  # raises StockadeError without CAP_AUDIT_READ
        self.correlator = Correlator(max_age=0.2)
        self.pids: set[int] = set()
        self.not_ours: set[int] = set()
        self.domains: set[str] = set()
        self.count = 0
        #: domain -> its denial records received; its count from the deallocation record
        self.received: dict[str, int] = {}
        self.counted: dict[str, int] = {}
        self.kernel_lost = 0
        self.backlog_limit = 0
        self.cut_short = False
        self._lost_at_start = _kernel_lost()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fork_thread: threading.Thread | None = None
        # bound now, before the program exists: none of its forks is missed
        self.forks = open_events()

    # -- attribution --------------------------------------------------------------------
    def ours_pid(self, pid: int) -> bool:
        """Whether `pid` is the confined child or a descendant of it."""
        if not pid:
            return False
        if pid in self.pids:
            return True
        if self.forks is not None:  # its fork event is queued before it could be denied
            self.forks.follow(self.pids)
            if pid in self.pids:
                return True
        if pid in self.not_ours:
            return False
        chain = []
        cur = pid
        for _ in range(64):
            chain.append(cur)
            cur = _parent(cur)
            if cur in self.pids:
                self.pids.update(chain)
                return True
            if cur <= 1:
                break
        self.not_ours.add(pid)
        return False

    def ours(self, rec: AuditRecord) -> bool:
        """Whether a record belongs to the confined process tree."""
        if rec.module == "landlock":
            domain = rec.fields.get("domain", "")
            creator = int(rec.fields.get("domain_pid", "0") or 0)
            if rec.operation == "domain_allocated":
                creator = rec.pid
            if domain and creator and (self.ours_pid(creator) or _launcher_task(creator)):
                self.domains.add(domain)
            if (domain and domain not in self.domains and rec.operation != "domain_allocated"
                    and rec.record_type == 1423 and self.ours_pid(rec.pid or 0)):
                self.domains.add(domain)  # its domain record was lost: the task is ours
            return bool(domain) and domain in self.domains
        if rec.module == "seccomp":
            return self.ours_pid(rec.pid)
        return False

    def handle(self, records: list[AuditRecord]) -> None:
        """Attribute and pass on the denials (domain bookkeeping records are kept too)."""
        for rec in records:
            if not self.ours(rec):
                continue
            rec.profile = self.profile
            rec.fields["stockade_profile"] = self.profile
            if rec.module == "seccomp" and rec.result == "DENIED" and not rec.errno \
                    and rec.fields.get("action") == "errno" and rec.object in self.errnos:
                rec.errno = self.errnos[rec.object]
                rec.denied = errno_action(rec.errno)
            self.count += 1
            if rec.module == "landlock":
                self._tally(rec)
            self.sink(rec)

    def _tally(self, rec: AuditRecord) -> None:
        domain = rec.fields.get("domain", "")
        if rec.record_type == 1423:
            self.received[domain] = self.received.get(domain, 0) + 1
        elif rec.operation == "domain_deallocated":
            denials = rec.fields.get("denials", "")
            if denials.isdigit():
                self.counted[domain] = int(denials)

    @property
    def missing(self) -> int:
        """Denials the program's Landlock domains made (their deallocation records' count)
        that no record received shows."""
        return sum(max(0, n - self.received.get(d, 0)) for d, n in self.counted.items())

    def loss_line(self) -> str:
        """One line saying which denial records were lost, and how it is known ("" if none)."""
        parts = []
        if self.missing:
            made = sum(self.counted.values())
            parts.append(f"the kernel counted {made} Landlock denials of the program, "
                         f"{made - self.missing} were recorded")
        if self.kernel_lost:
            parts.append(f"the kernel dropped {self.kernel_lost} audit messages during the run "
                         f"(backlog limit {self.backlog_limit}; host-wide)")
        if self.lost:
            parts.append(f"{self.lost} were lost by the reader (too slow)")
        if self.cut_short and (parts or self.domains - set(self.counted)):
            parts.append(f"reading stopped {DRAIN_MAX_SECONDS:g} s after the program ended "
                         "with records still arriving")
        if not parts:
            return ""
        what = "denial records of the program were lost" if self.missing else \
            "kernel audit messages were dropped during the run, the program's denials among them?"
        return f"{what}: " + "; ".join(parts)

    # -- the reading thread -------------------------------------------------------------
    def start(self, pid: int) -> None:
        """Begin attributing to `pid` (the confined child) and read in a thread."""
        self.pids.add(pid)
        self._thread = threading.Thread(target=self._loop, name="stockade-audit", daemon=True)
        self._thread.start()
        if self.forks is not None:  # keep the fork event queue short (the whole machine's)
            self.forks.roots.add(pid)
            self._fork_thread = threading.Thread(target=self._follow, name="stockade-forks",
                                                 daemon=True)
            self._fork_thread.start()

    def _follow(self) -> None:
        assert self.forks is not None
        while not self._stop.is_set():
            self.forks.follow(self.pids)
            self.forks.wait(0.05)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._read(0.1)

    def _read(self, timeout: float) -> int:
        now = time.monotonic()
        got = 0
        for raw in self.reader.read(timeout):
            got += 1
            self.handle(self.correlator.add(raw, now))
        self.handle(self.correlator.expire(time.monotonic()))
        return got

    def stop(self) -> None:
        """Drain what the kernel still sends until it goes quiet, flush, close."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._fork_thread is not None:
            self._fork_thread.join()
        start = time.monotonic()
        quiet_until = start + DRAIN_QUIET_SECONDS
        while (now := time.monotonic()) < min(quiet_until, start + DRAIN_MAX_SECONDS):
            if self._read(max(0.0, min(quiet_until, start + DRAIN_MAX_SECONDS) - now)):
                quiet_until = time.monotonic() + DRAIN_QUIET_SECONDS
        # still arriving at the cap (a flood the reader is behind on, or a busy host): what
        # the program made last may be among what is left unread
        self.cut_short = quiet_until > start + DRAIN_MAX_SECONDS
        self.handle(self.correlator.flush())
        self.reader.close()
        status = _kernel_status()
        if status is not None and self._lost_at_start is not None:
            self.kernel_lost = (status.get("lost", 0) - self._lost_at_start) % (1 << 32)
            self.backlog_limit = status.get("backlog_limit", 0)
        if self.forks is not None:
            self.forks.close()

    @property
    def lost(self) -> int:
        """Datagrams the kernel dropped because the reader was too slow."""
        return self.reader.lost

    @property
    def attribution_note(self) -> str:
        """Why denial records of the program's descendants may be missing ("" if none is)."""
        if self.forks is None:
            return ("kernel fork events are not available: denials of processes the program "
                    "started that exited or were re-parented may be missing")
        if self.forks.lost:
            return (f"kernel fork events were lost ({self.forks.lost} times, the reader was too "
                    f"slow): denials of processes the program started may be missing")
        if self.forks.full:
            return ("the program started too many processes to follow: denials of the later "
                    "ones may be missing")
        return ""
