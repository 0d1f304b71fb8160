"""seccomp rules that keep a confined program from signalling (or limiting) its launcher.

Needed when Landlock's signal scope is not in force (a `signal send,` rule lifted it, or the
kernel has no Landlock ABI 6): a SIGKILL or SIGSTOP to the launcher would leave the program
unwatched, without its exit record, and its status record behind in /run/stockade. The rules
need the launcher's pid, thread ids and process group, so they are built per run (never
cached in a plan).

Any thread id of the launcher names the whole launcher: kill(2), rt_sigqueueinfo and
F_SETOWN of a thread id signal its thread group, and pidfd_open(tid, PIDFD_THREAD) gives a pidfd
that does. So every call that names a task (`TARGETS`) is refused with EPERM for the launcher's
pid and each of its thread ids alive when the filter is built, and every call of `TARGETS` that
names another task is routed to the supervisor (`notify_rules`), which refuses it when the task
named is a thread of the launcher at that moment (its thread-group id read through a pidfd:
enforce/supervisor/launcher_check.py), so threads the launcher starts later (the denial
collector, the supervisor's per-request threads) are covered too; `run` starts a supervisor
for every run that needs the guard. prlimit, sched_set*, setpriority and ioprio_set of any
other process are refused by the baseline filter (defaults.other_process_rules).

Refused outright with EPERM: kill(2) of the launcher's process group (-pgrp), of the caller's
own group (0: the program starts in the launcher's group) and of every process (-1); tgkill
and rt_tgsigqueueinfo of the launcher's thread group; tkill entirely (libc uses tgkill);
F_SETOWN to the launcher's group and F_SETOWN_EX, FIOSETOWN and SIOCSPGRP entirely (their
owner is in memory seccomp cannot read), so SIGIO/F_SETSIG cannot carry a signal there. Not
covered: a pidfd made from an open /proc/PID directory of the launcher (the Landlock file rules
decide whether /proc/PID can be opened) or received from another process; the ptrace family
(ptrace, process_vm_*, kcmp, pidfd_getfd), which Landlock confines to the program's own domain
whenever it restricts the program. The supervisor decides on the task the id names when it
looks; the kernel resolves the id again when the call continues, so a launcher thread started
in between with that very id (the id freed and reused within microseconds) is not seen.
"""

from __future__ import annotations

import errno

from stockade.enforce import landlock as ll
from stockade.enforce.plan.types import SeccompRule
from stockade.enforce.seccomp import NOTIFY, ArgCmp, Cmp, errno_action
from stockade.slotted import Frozen

SOURCE = "launcher guard"
_MASK32 = 0xFFFFFFFF  # pid_t and int arguments: the kernel reads only the low 32 bits
F_SETOWN, F_SETOWN_EX = 8, 15
FIOSETOWN, SIOCSPGRP = 0x8901, 0x8902


class Target(Frozen):
    """A system call that names a task: the argument holding its id, and the (argument,
    value) that must hold for it to be a task id (fcntl's command, setpriority's `which`)."""

    FIELDS = ("syscall", "arg", "when")
    __slots__ = FIELDS
    syscall: str
    arg: int
    when: tuple[int, int] | None

    def __init__(self, syscall: str, arg: int, when: tuple[int, int] | None = None) -> None:
        put = object.__setattr__
        put(self, "syscall", syscall)
        put(self, "arg", arg)
        put(self, "when", when)


#: every call that names a task by id and can signal it (prlimit, sched_*, setpriority and
#: ioprio_set of any other process are refused by the baseline: defaults.other_process_rules)
TARGETS: tuple[Target, ...] = (
    Target("kill", 0), Target("rt_sigqueueinfo", 0), Target("pidfd_open", 0),
    Target("fcntl", 2, (1, F_SETOWN)),
)


def _is(arg: int, value: int) -> ArgCmp:
    return ArgCmp(arg, Cmp.MASKED_EQ, _MASK32, value & _MASK32)


def needed(scopes: ll.Scope, abi: int) -> bool:
    """Whether a run needs the guard: Landlock's signal scope is not in force."""
    return not (ll.Scope.SIGNAL in scopes and abi >= 6)


def launcher_rules(pid: int, pgrp: int, tids: tuple[int, ...] = ()) -> list[SeccompRule]:
    """The rules refusing every signal path to launcher `pid` (threads `tids`, process group
    `pgrp`)."""
    deny = errno_action(errno.EPERM)
    why = "the program may not signal its launcher"

    def rule(syscall: str, *conds: ArgCmp, reason: str = why) -> SeccompRule:
        return SeccompRule(syscall, deny, conds, reason, SOURCE)

    rules = [rule("kill", _is(0, 0), reason=why + " (its process group)"),
             rule("kill", _is(0, -1), reason=why + " (kill(-1) reaches every process)"),
             rule("tgkill", _is(0, pid)),
             rule("tkill", reason=why + " (the launcher's thread ids are not known)"),
             rule("rt_tgsigqueueinfo", _is(0, pid)),
             rule("fcntl", _is(1, F_SETOWN_EX), reason=why + " (SIGIO: owner in memory)"),
             rule("ioctl", _is(1, FIOSETOWN), reason=why + " (SIGIO: owner in memory)"),
             rule("ioctl", _is(1, SIOCSPGRP), reason=why + " (SIGIO: owner in memory)")]
    for task in sorted({pid, *tids}):
        for t in TARGETS:
            conds = (_is(t.when[0], t.when[1]),) if t.when else ()
            rules.append(rule(t.syscall, *conds, _is(t.arg, task)))
    if pgrp > 0:
        group = why + " (its process group)"
        rules += [rule("kill", _is(0, -pgrp), reason=group),
                  rule("fcntl", _is(1, F_SETOWN), _is(2, -pgrp), reason=group)]
    return rules


def notify_rules() -> list[SeccompRule]:
    """User-notif rules sending every call of `TARGETS` that names a task (a non-zero id) to
    the supervisor, which refuses those naming a thread of the launcher."""
    out = []
    for t in TARGETS:
        # any non-zero argument (0 is the caller itself, the hot case of prlimit and
        # sched_setaffinity): the supervisor reads its low 32 bits as the kernel does
        conds = [ArgCmp(t.arg, Cmp.GT, 0)]
        if t.when:
            conds.insert(0, _is(t.when[0], t.when[1]))
        out.append(SeccompRule(t.syscall, NOTIFY, tuple(conds),
                               "supervisor: the task named is not a thread of the launcher",
                               SOURCE))
    return out
