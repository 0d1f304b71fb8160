"""`stockade run --complain -p PROFILE`: the profile is asked, not enforced (docs/enforce.md).

The program runs under the observe plan (files, TCP ports, abstract unix sockets and signals
are not confined by the profile) in one Landlock domain that grants every filesystem right on
/. Being in a domain keeps the program from ptrace-reading any process outside it (a concurrent
launcher's memory holds the plan cache key). stockade's own state is not kept from it: that
takes a split of every directory above it (no new entry in /, /tmp, $HOME, ...), which blocks
ordinary programs (gcc's temporary files in /tmp), and complain mode must let accesses through;
the plan cache stays sound, its key is in the kernel keyring, which the baseline seccomp
refusals keep from the program (docs/enforce.md). Everything that is not
about the profile's accesses stays: no_new_privs, the baseline seccomp refusals the profile
itself keeps (kernel modules, kexec, bpf, mount, ptrace, new user namespaces, ...), the
capabilities the profile keeps (the kernel checks capabilities without asking the supervisor;
not a boundary for root, who may write /proc/sys), the environment and resource limits. The
supervisor asks the profile's plan about every access it sees (supervisor/complain.py) and
records the would-be denials as ALLOWED.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from stockade.enforce.landlock import ALL_FS
from stockade.errors import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from stockade.enforce.plan.types import EnforcementPlan
    from stockade.enforce.supervisor.complain import ProfileJudge

#: what complain mode does not confine, for the summary line, the audit file and docs
NOT_CONFINED = ("files, TCP ports, abstract unix sockets and signals are not confined by the "
                "profile: what it would deny is allowed and recorded")
STILL_ENFORCED = ("no_new_privs, the baseline seccomp refusals, the profile's capability set, "
                  "environment and resource limits, and no access to other processes' memory; "
                  "stockade's status records and the audit file are NOT protected from it")
#: without capabilities the capability set holds; with any, the program's DAC rights are the
#: system's (a root program may write /proc/sys, e.g. core_pattern, and so regain every one)
STILL_ENFORCED_PRIVILEGED = ("no_new_privs, the baseline seccomp refusals, environment and "
                             "resource limits, and no access to other processes' memory; "
                             "stockade's status records and the audit file are NOT protected "
                             "from it")
PRIVILEGED_WARNING = ("NOT a boundary as root or with capabilities: the program can change the "
                      "system (e.g. /proc/sys) and regain every capability")
#: the source of the domain's one Landlock rule (kept out of the --audit coverage record)
DOMAIN_SOURCE = "complain mode: every right on /"


def complain_requested(args: argparse.Namespace) -> bool:
    """Whether this run is in complain mode (`--complain` is `--mode complain`)."""
    if getattr(args, "complain", False):
        if getattr(args, "mode", None) not in (None, "complain"):
            raise UsageError(f"--complain contradicts --mode {args.mode}")
        args.mode = "complain"
    return getattr(args, "mode", None) == "complain"


def complain_plan(judged: EnforcementPlan) -> EnforcementPlan:
    """The plan the program runs under while `judged` (the profile's plan) is only asked."""
    from stockade.enforce.defaults import observe_plan
    from stockade.enforce.plan.types import FsRule

    plan = observe_plan()
    plan.name = judged.name
    plan.handled_fs = ALL_FS  # every right the ABI has: prepare narrows it to the kernel's
    plan.fs_rules = [FsRule("/", ALL_FS, DOMAIN_SOURCE, optional=True)]
    # a baseline refusal the profile unlocks (e.g. `userns,`) stays unlocked: only the
    # refusals the profile's own plan keeps are kept
    plan.seccomp_rules = [r for r in plan.seccomp_rules if r in judged.seccomp_rules]
    plan.keep_caps = judged.keep_caps
    plan.clear_env, plan.env_keep = judged.clear_env, judged.env_keep
    plan.env_set = dict(judged.env_set)
    plan.rlimits = dict(judged.rlimits)
    return plan


def privileged(keep_caps: Iterable[int]) -> bool:
    """Whether the program runs as root or keeps a capability it really has (one the launcher
    holds: a profile's capability rules give an ordinary user none): then complain mode is no
    boundary."""
    if os.geteuid() == 0:
        return True
    from stockade.enforce.caps import capget, mask_of

    return bool(mask_of(keep_caps) & capget().permitted)


def still_enforced(keep_caps: Iterable[int]) -> str:
    """What complain mode still enforces for a program that keeps `keep_caps`."""
    return STILL_ENFORCED_PRIVILEGED if privileged(keep_caps) else STILL_ENFORCED


def start_lines(profile: str, keep_caps: Iterable[int]) -> list[str]:
    """The lines `run` prints in complain mode (never a claim of confinement)."""
    caps = list(keep_caps)
    out = [f"complain mode: profile {profile} is NOT enforced: {NOT_CONFINED}; still "
           f"enforced: {still_enforced(caps)}"]
    if privileged(caps):
        out.append(f"complain mode: {PRIVILEGED_WARNING}")
    return out


def audit_record(rec: dict[str, Any], keep_caps: Iterable[int]) -> dict[str, Any]:
    """An --audit record written before the program starts, for complain mode: the coverage
    record says the profile is not enforced, and lists none of the domain's own rule."""
    if rec.get("event") == "coverage":
        rules = [r for r in rec.get("rules", []) if r.get("source") != DOMAIN_SOURCE]
        return rec | {"rules": rules, "exact": False, "complain": NOT_CONFINED,
                      "still_enforced": still_enforced(keep_caps)}
    return rec


def end_line(judge: ProfileJudge, audit: str | None) -> str:
    """How many accesses the profile would have denied, and where they are recorded."""
    where = f"recorded in {audit}" if audit else "not recorded (no --audit FILE)"
    return (f"complain mode: {judge.recorded} distinct access(es) the profile would deny were "
            f"allowed ({judge.allowed} in all); {where}")
