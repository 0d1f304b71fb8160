"""What `stockade run` says at the end when the program failed and the sandbox may be why.

AppArmor leaves a kernel log line for every denial; a Landlock refusal with the kernel's audit
off leaves nothing, and the program only sees EACCES. `run` counts the refusals it does see
(the supervisor's, and the kernel's records that `--audit` reads as root) and, when the
program exits non-zero, says so in one line; when it could see none of the kernel's, the line
says how to make them visible instead (docs/enforce.md, "When the program fails").
"""

from __future__ import annotations

import os
import threading

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse

    from stockade.audit.record import AuditRecord
    from stockade.lsm.stack import AuditEvent

#: exits the user caused: 128 + SIGHUP, SIGINT (Ctrl-C), SIGKILL, SIGPIPE, SIGTERM: no hint
_USER_SIGNALS = {128 + 1, 128 + 2, 128 + 9, 128 + 13, 128 + 15}


class Refusals:
    """The refusals a run saw: how many, and the first one (thread-safe, constant memory).

    The sinks run on the supervisor's and the collector's threads, which may no longer read
    stockade's own files (the supervisor restricts itself): they import nothing, and the
    first refusal is described at the end, on the main thread (`first_text`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.first: AuditEvent | AuditRecord | None = None
        #: refusals of calls the supervisor could not read: the task is not dumpable
        self.unreadable = 0
        self.unreadable_first: AuditEvent | None = None

    def event(self, ev: AuditEvent) -> None:
        """A supervisor or module verdict: counted when it denied."""
        if ev.result == "DENIED":
            self._add(ev)
            # the supervisor's own ptrace_access_check refusal: it could not read the call
            if ev.verdict.module == "supervisor" and ev.request.hook == "ptrace_access_check":
                with self._lock:
                    self.unreadable += 1
                    if self.unreadable_first is None:
                        self.unreadable_first = ev

    def kernel_record(self, rec: AuditRecord) -> None:
        """A kernel record of the program (Landlock, seccomp): counted when it denied."""
        if rec.result == "DENIED":
            self._add(rec)

    def _add(self, what: AuditEvent | AuditRecord) -> None:
        with self._lock:
            self.count += 1
            if self.first is None:
                self.first = what

    def first_text(self) -> str:
        """'OPERATION OBJECT (LAYER)' of the first refusal; 'OPERATION (LAYER: REASON)' when it
        names no object (a supervisor that could not read the call)."""
        from stockade.audit.record import AuditRecord, record_from_event

        first = self.first
        if first is None:
            return ""
        rec = first if isinstance(first, AuditRecord) else record_from_event(first)
        op = rec.denied if rec.record_type is not None and rec.denied else rec.operation
        if rec.object:
            return f"{op} {rec.object} ({rec.module})"
        return f"{op} ({rec.module}: {rec.reason})" if rec.reason else f"{op} ({rec.module})"


def unreadable_line(seen: Refusals, command: list[str]) -> str | None:
    """One line, whatever the program's status and mode (learn too: those calls were neither
    allowed nor learned), when the supervisor refused calls it could not read."""
    first = seen.unreadable_first
    if first is None:
        return None
    from stockade.cli.output import printable

    n = seen.unreadable
    who = f"{first.request.subject.comm or command[0]} (pid {first.request.subject.pid})"
    return (f"{n} call{'s' * (n != 1)} of {printable(who)} refused (EACCES): it made itself "
            "undumpable (prctl(PR_SET_DUMPABLE, 0), or it changed its user or group ids), and "
            "the supervisor cannot read such a task's calls without CAP_SYS_PTRACE: run "
            "stockade as root, or keep the program dumpable (its option or configuration "
            "for core dumps or privilege dropping)")


def unreadable_only(seen: Refusals) -> bool:
    """Whether every refusal seen is one `unreadable_line` already tells."""
    return seen.count > 0 and seen.count == seen.unreadable


def end_line(args: argparse.Namespace, command: list[str], status: int, seen: Refusals,
             kernel_visible: bool) -> str | None:
    """The one line for a program that exited `status` (None: nothing to say).

    `kernel_visible`: the kernel's denial records of the program were read (root, audit on,
    --audit); otherwise a Landlock or seccomp refusal left no trace this run could see.
    """
    if status == 0 or status in _USER_SIGNALS or getattr(args, "mode", None) == "learn":
        return None
    import shlex  # only now: it imports re, which a plain run does not need

    from stockade.cli.output import printable

    if seen.count:
        where = (f"recorded in {printable(args.audit)}" if args.audit
                 else "--audit FILE records each")
        nth = "operation" if seen.count == 1 else "operations"
        line = (f"the sandbox refused {seen.count} {nth} of the program (first: "
                f"{printable(seen.first_text())}); {where}")
        if args.profile and args.audit:
            line += (f"; `stockade logprof -p {printable(shlex.quote(args.profile))} --log "
                     f"{printable(shlex.quote(args.audit))}` proposes rules")
        return line
    if kernel_visible:
        return None  # the kernel recorded no refusal of the program
    return (f"{printable(command[0])} exited with status {status}; any refusal by the sandbox "
            f"(EACCES, EPERM) left no record this run can read ({_why_unseen(args)}): "
            f"{_how_to_see(args, command)}")


def _why_unseen(args: argparse.Namespace) -> str:
    """Why this run could not see the kernel's refusals."""
    if os.geteuid() != 0:
        return "the kernel's records need root"
    if args.audit:
        return "the kernel's records were not read: the note above says why"
    return "no --audit FILE"


def _how_to_see(args: argparse.Namespace, command: list[str]) -> str:
    """The command that shows what the sandbox refuses."""
    import shlex

    from stockade.cli.output import printable

    if args.profile:
        cmd = printable(shlex.join(command))
        profile = printable(shlex.quote(args.profile))
        return (f"`stockade run --complain -p {profile} --audit FILE -- {cmd}` records what it "
                f"refuses (any user), `stockade logprof -p {profile} --log FILE` proposes rules")
    if os.geteuid() != 0:
        return ("as root with the kernel's audit on (auditctl -e 1), --audit FILE records "
                "Landlock's refusals")
    if args.audit:
        return "once they can be read (auditctl -e 1: audit on), --audit FILE records them"
    return "--audit FILE records Landlock's refusals when the kernel's audit is on"
