"""What the kernel checks on an open in /proc beyond file_open, for the emulated open.

Two checks the supervisor thread's own domain would not make for the target:

* The plan (`plan_refusal`). The supervisor thread restricts itself before it forks the
  program, whose pid is not known yet, so its Landlock ruleset grants all of /proc with the
  rights of the plan's own-/proc rules (`@{PROC}/@{pid}/...`, prepare._supervisor_ruleset).
  An emulated open there is decided on the plan's grants plus those rules expanded for the
  calling task's own /proc/PID (`own_proc_rules`, the one answer the launcher and explain use),
  as the program's own domain would answer.
* ptrace_may_access (`ptrace_refusal`). procfs's own open (or read) of another task's mem,
  environ, auxv, maps, pagemap, stack, syscall, fd, ... asks the LSMs' ptrace_access_check
  with PTRACE_MODE_READ or _ATTACH (fs/proc/base.c); the stack is asked the same, on the task
  the entry belongs to, unless it is in the caller's own thread group (the kernel asks no
  module then). Denials are audited by the stack (one record each).

The C fast path never answers a path in /proc or a file on procfs (docs/supervisor.md), so
every such open reaches these checks.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from stockade.enforce.landlock import AccessFs
from stockade.enforce.plan.proc import own_proc_rules
from stockade.enforce.supervisor.handlers.signals import task_object
from stockade.enforce.supervisor.resolve import PROC_DEV, proc_pid
from stockade.lsm.types import (
    MAY_APPEND,
    MAY_READ,
    MAY_WRITE,
    PTRACE_MODE_ATTACH,
    PTRACE_MODE_FSCREDS,
    PTRACE_MODE_READ,
    Object,
    ObjectKind,
    Request,
)

if TYPE_CHECKING:
    from stockade.enforce.plan.types import FsRule
    from stockade.enforce.supervisor.loop import Supervisor
    from stockade.enforce.supervisor.target import TaskInfo

_CHANGES = MAY_WRITE | MAY_APPEND

#: entries of /proc/PID (and /proc/PID/task/TID) whose open or read asks ptrace_may_access:
#: (mode, the kernel's errno) from fs/proc/base.c: mm_access (mem, environ, auxv, maps, ...:
#: EACCES), lock_trace (stack, syscall, personality: EPERM, at read), proc_fd_access_allowed
#: and proc_fdinfo_access_allowed (fd, fdinfo), proc_pid_wchan, proc_pid_io_accounting, the
#: ns and map_files links. fd/ is guarded whole (the kernel guards following its links and
#: fdinfo; listing another task's fd/ is refused here too: stricter)
PTRACE_ENTRIES: dict[str, tuple[int, int]] = {
    "mem": (PTRACE_MODE_ATTACH, errno.EACCES),
    **dict.fromkeys(("stack", "syscall", "personality"), (PTRACE_MODE_ATTACH, errno.EPERM)),
    **dict.fromkeys(("environ", "auxv", "pagemap", "maps", "smaps", "smaps_rollup",
                     "numa_maps", "wchan", "io", "fd", "fdinfo", "map_files", "ns", "cwd",
                     "root", "exe"), (PTRACE_MODE_READ, errno.EACCES)),
}


def in_proc(path: str, st: os.stat_result) -> bool:
    """Whether an opened file is /proc or beneath it (by its path, as Landlock's grant on
    /proc reaches; a file on procfs whose path cannot be read counts)."""
    return (path.startswith("/proc") and path[5:6] in ("", "/")) \
        or (not path and st.st_dev == PROC_DEV)


def _object(task: TaskInfo, path: str, st: os.stat_result) -> Object:
    return Object(kind=ObjectKind.FILE, path=path, uid=st.st_uid, gid=st.st_gid,
                  mode=st.st_mode, ino=st.st_ino, dev=st.st_dev)


def plan_refusal(sup: Supervisor, task: TaskInfo, path: str, st: os.stat_result,
                 access: int) -> int:
    """The plan's answer on opening `path` in /proc (EACCES, audited as module=supervisor,
    or 0): its grants plus its own-/proc rules expanded for the task's own /proc/PID (the
    calling thread's or its group's)."""
    if sup.guard is None:
        return 0
    want = AccessFs(0)
    if access & MAY_READ:
        want |= AccessFs.READ_FILE
    if access & _CHANGES:
        want |= AccessFs.WRITE_FILE
    pid = proc_pid(path)
    plan = sup.guard.model.plan
    own: list[FsRule] = []
    if pid in (task.tgid, task.tid) and plan.own_proc:
        # /proc is walked in the helper thread: the supervisor thread's domain may not list it
        own = sup.guard.own_rules(pid, task.start,
                                  lambda: sup.helper.call(own_proc_rules, plan, pid))
    err, why = sup.guard.check_proc(path, st.st_mode, want, own)
    if err:
        sup.audit_refusal(task, "file_open", _object(task, path, st), err, why,
                          ("r" if access & MAY_READ else "") + ("w" if access & _CHANGES else ""))
    return err


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def ptrace_target(path: str) -> tuple[int, int, str] | None:
    """(the /proc/PID directory's pid, the task the entry belongs to, the entry) when `path`
    is a guarded entry of /proc/PID or /proc/PID/task/TID (see PTRACE_ENTRIES), else None."""
    parts = path.split("/")
    if len(parts) < 4 or parts[:2] != ["", "proc"] or not _number(parts[2]):
        return None
    pid = owner = int(parts[2])
    rest = parts[3:]
    if len(rest) >= 3 and rest[0] == "task" and _number(rest[1]):
        owner, rest = int(rest[1]), rest[2:]
    if rest and rest[0] in PTRACE_ENTRIES:
        return pid, owner, rest[0]
    return None


def ptrace_refusal(sup: Supervisor, task: TaskInfo, path: str, syscall: str) -> int:
    """The stack's ptrace_access_check for an open of another task's guarded /proc entry
    (the errno of its denial, audited by the stack; 0 when allowed or not guarded)."""
    hit = ptrace_target(path)
    if hit is None:
        return 0
    pid, owner, entry = hit
    if pid == task.tgid or os.path.exists(f"/proc/{task.tgid}/task/{pid}"):
        return 0  # the caller's own thread group: the kernel asks no module
    obj = task_object(sup, owner)
    if obj is None:  # gone (or unreadable): nothing to decide on, fail closed
        sup.audit_refusal(task, "ptrace_access_check", None, errno.EACCES,
                          f"{path}: the task it belongs to cannot be read")
        return errno.EACCES
    mode, kernel_errno = PTRACE_ENTRIES[entry]
    err = sup.decide(task, [Request("ptrace_access_check", task.subject, obj,
                                    flags=mode | PTRACE_MODE_FSCREDS)],
                     syscall, "ptrace", peer={"pid": owner})
    return kernel_errno if err else 0

