"""`stockade run --complain -p PROFILE`: the profile is asked, not enforced (docs/enforce.md).

The program runs under the observe plan (no Landlock: files, TCP ports, abstract unix sockets
and signals are not confined by the profile). Everything that is not about the profile's
accesses stays: no_new_privs, the baseline seccomp refusals the profile itself keeps (kernel
modules, kexec, bpf, mount, ptrace, new user namespaces, ...), the capabilities the profile
keeps (the kernel checks capabilities without asking the supervisor), the environment and
resource limits. The supervisor asks the profile's plan about every access it sees
(supervisor/complain.py) and records the would-be denials as ALLOWED.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from stockade.errors import UsageError

if TYPE_CHECKING:
    from stockade.enforce.plan.types import EnforcementPlan
    from stockade.enforce.supervisor.complain import ProfileJudge

#: what complain mode does not confine, for the summary line, the audit file and docs
NOT_CONFINED = ("files, TCP ports, abstract unix sockets and signals are not confined by the "
                "profile: what it would deny is allowed and recorded")
STILL_ENFORCED = ("no_new_privs, the baseline seccomp refusals, the profile's capability set, "
                  "environment and resource limits")


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

    plan = observe_plan()
    plan.name = judged.name
    # a baseline refusal the profile unlocks (e.g. `userns,`) stays unlocked: only the
    # refusals the profile's own plan keeps are kept
    plan.seccomp_rules = [r for r in plan.seccomp_rules if r in judged.seccomp_rules]
    plan.keep_caps = judged.keep_caps
    plan.clear_env, plan.env_keep = judged.clear_env, judged.env_keep
    plan.env_set = dict(judged.env_set)
    plan.rlimits = dict(judged.rlimits)
    return plan


def start_line(profile: str) -> str:
    """The one line `run` prints in complain mode (never a claim of confinement)."""
    return (f"complain mode: profile {profile} is NOT enforced: {NOT_CONFINED}; still "
            f"enforced: {STILL_ENFORCED}")


def end_line(judge: ProfileJudge, audit: str | None) -> str:
    """How many accesses the profile would have denied, and where they are recorded."""
    where = f"recorded in {audit}" if audit else "not recorded (no --audit FILE)"
    return (f"complain mode: {judge.recorded} distinct access(es) the profile would deny were "
            f"allowed ({judge.allowed} in all); {where}")
