"""seccomp rules that keep a confined program from signalling its launcher.

Needed when Landlock's signal scope is not in force (a `signal send,` rule lifted it, or the
kernel has no Landlock ABI 6): a SIGKILL or SIGSTOP to the launcher would leave the program
unwatched, without its exit record, and its status record behind in /run/stockade. The rules
need the launcher's pid and process group, so they are built per run (never cached in a plan).

Refused with EPERM: kill(2) of the launcher's pid, of its process group (-pgrp), of the
caller's own group (0: the program starts in the launcher's group) and of every process (-1);
tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo and pidfd_open of the launcher's pid; tkill
entirely (the launcher's threads, e.g. the supervisor's, have ids not known beforehand; libc
uses tgkill); fcntl(F_SETOWN) to the launcher or its group and F_SETOWN_EX, FIOSETOWN and
SIOCSPGRP entirely (their owner is in memory seccomp cannot read), so SIGIO/F_SETSIG cannot
carry a signal there. Not covered: a pidfd made from an open /proc/PID directory of the
launcher (the Landlock file rules decide whether /proc/PID can be opened) or received from
another process.
"""

from __future__ import annotations

import errno

from stockade.enforce.plan.types import SeccompRule
from stockade.enforce.seccomp import ArgCmp, Cmp, errno_action

SOURCE = "launcher guard"
_MASK32 = 0xFFFFFFFF  # pid_t and int arguments: the kernel reads only the low 32 bits
F_SETOWN, F_SETOWN_EX = 8, 15
FIOSETOWN, SIOCSPGRP = 0x8901, 0x8902


def _is(arg: int, value: int) -> ArgCmp:
    return ArgCmp(arg, Cmp.MASKED_EQ, _MASK32, value & _MASK32)


def launcher_rules(pid: int, pgrp: int) -> list[SeccompRule]:
    """The rules refusing every signal path to launcher `pid` (process group `pgrp`)."""
    deny = errno_action(errno.EPERM)
    why = "the program may not signal its launcher"

    def rule(syscall: str, *conds: ArgCmp, reason: str = why) -> SeccompRule:
        return SeccompRule(syscall, deny, conds, reason, SOURCE)

    rules = [rule("kill", _is(0, pid)),
             rule("kill", _is(0, 0), reason=why + " (its process group)"),
             rule("kill", _is(0, -1), reason=why + " (kill(-1) reaches every process)"),
             rule("tgkill", _is(0, pid)),
             rule("tkill", reason=why + " (the launcher's thread ids are not known)"),
             rule("rt_sigqueueinfo", _is(0, pid)),
             rule("rt_tgsigqueueinfo", _is(0, pid)),
             rule("pidfd_open", _is(0, pid)),
             rule("fcntl", _is(1, F_SETOWN), _is(2, pid), reason=why + " (SIGIO)"),
             rule("fcntl", _is(1, F_SETOWN_EX), reason=why + " (SIGIO: owner in memory)"),
             rule("ioctl", _is(1, FIOSETOWN), reason=why + " (SIGIO: owner in memory)"),
             rule("ioctl", _is(1, SIOCSPGRP), reason=why + " (SIGIO: owner in memory)")]
    if pgrp > 0:
        rules += [rule("kill", _is(0, -pgrp), reason=why + " (its process group)"),
                  rule("fcntl", _is(1, F_SETOWN), _is(2, -pgrp), reason=why + " (SIGIO)")]
    return rules
