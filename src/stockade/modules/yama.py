"""`yama`: ptrace scoping (security/yama/yama_lsm.c).

kernel.yama.ptrace_scope: 0 classic (DAC and commoncap only), 1 restricted (only an ancestor,
or a tracer the target named with PR_SET_PTRACER, or CAP_SYS_PTRACE), 2 admin-only
(CAP_SYS_PTRACE), 3 no attach at all. Only PTRACE_MODE_ATTACH requests are restricted;
reading /proc/PID files (PTRACE_MODE_READ) is not. Decisions depend on the process tree, so
they are never cached.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

from stockade.lsm.caps import CAP_SYS_PTRACE
from stockade.lsm.module import SecurityModule, Verdict
from stockade.lsm.types import PTRACE_MODE_ATTACH, Request, Subject

SCOPE_DISABLED, SCOPE_RELATIONAL, SCOPE_CAPABILITY, SCOPE_NO_ATTACH = 0, 1, 2, 3
SCOPE_NAMES = {0: "classic", 1: "restricted", 2: "admin-only", 3: "no attach"}
PR_SET_PTRACER_ANY = -1


def host_ptrace_scope() -> int | None:
    """The running kernel's kernel.yama.ptrace_scope, or None without Yama."""
    try:
        return int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text())
    except (OSError, ValueError):
        return None


def is_descendant(ancestor_pid: int, task: Subject) -> bool:
    """task_is_descendant(): `ancestor_pid` is `task` itself or one of its ancestors."""
    return ancestor_pid == task.pid or ancestor_pid in task.ancestors


@dataclass
class Yama(SecurityModule):
    """Yama's ptrace restrictions; `scope` defaults to 1, Ubuntu's and Debian's choice."""

    name = "yama"
    scope: int = SCOPE_RELATIONAL

    def __post_init__(self) -> None:
        if self.scope not in SCOPE_NAMES:
            raise ValueError(f"ptrace_scope must be 0 to 3, not {self.scope}")

    def _deny(self, req: Request, why: str) -> Verdict:
        target = req.obj.task if req.obj is not None and req.obj.task is not None else None
        fields = (("scope", str(self.scope)),
                  ("target_comm", target.comm if target is not None else ""))
        return self.deny(errno.EPERM, f"ptrace_scope={self.scope} ({SCOPE_NAMES[self.scope]}): {why}",
                         cacheable=False, fields=fields)

    def _exception(self, tracer: Subject, target: Subject) -> bool:
        """ptracer_exception_found(): the target named the tracer (or one of its ancestors)."""
        if target.ptracer is None:
            return False
        return target.ptracer == PR_SET_PTRACER_ANY or is_descendant(target.ptracer, tracer)

    def hook_ptrace_access_check(self, req: Request) -> Verdict | None:
        """yama_ptrace_access_check(): restrict PTRACE_MODE_ATTACH by scope."""
        if not req.flags & PTRACE_MODE_ATTACH or self.scope == SCOPE_DISABLED:
            return None
        target = req.obj.task if req.obj is not None else None
        if target is None:
            return None
        tracer = req.subject
        if self.scope == SCOPE_RELATIONAL:
            if is_descendant(tracer.pid, target) or self._exception(tracer, target):
                # pids, ancestors and PR_SET_PTRACER are not in the request key
                return self.no_opinion_uncached(req.hook)
            if self.capable is not None and self.capable(req, CAP_SYS_PTRACE):
                return None
            return self._deny(req, f"pid {target.pid} is not a descendant of pid {tracer.pid}, "
                                   "did not name it with PR_SET_PTRACER, and CAP_SYS_PTRACE "
                                   "is not effective")
        if self.scope == SCOPE_CAPABILITY:
            if self.capable is not None and self.capable(req, CAP_SYS_PTRACE):
                return None
            return self._deny(req, "attaching needs CAP_SYS_PTRACE")
        return self._deny(req, "no process may attach")

    def hook_ptrace_traceme(self, req: Request) -> Verdict | None:
        """yama_ptrace_traceme(): PTRACE_TRACEME needs a CAP_SYS_PTRACE parent at scope 2."""
        if self.scope == SCOPE_CAPABILITY:
            parent = req.obj.task if req.obj is not None else None
            if parent is not None and parent.cap_effective >> CAP_SYS_PTRACE & 1:
                return None
            return self._deny(req, "PTRACE_TRACEME needs a parent with CAP_SYS_PTRACE")
        if self.scope == SCOPE_NO_ATTACH:
            return self._deny(req, "no process may be traced")
        return None
