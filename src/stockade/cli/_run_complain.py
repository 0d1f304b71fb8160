"""`stockade run --complain -p PROFILE`: the profile is asked, not enforced (docs/enforce.md).

The program runs under the observe plan (files, TCP ports, abstract unix sockets and signals
are not confined by the profile) in one Landlock domain, `state_guard`, that grants every
filesystem right on / (`protected_state` is empty: see there why). Being in a domain keeps the
program from ptrace-reading any process outside it (a concurrent launcher's memory holds the
plan cache key). Everything that is not
about the profile's accesses stays: no_new_privs, the baseline seccomp refusals the profile
itself keeps (kernel modules, kexec, bpf, mount, ptrace, new user namespaces, ...), the
capabilities the profile keeps (the kernel checks capabilities without asking the supervisor;
not a boundary for root, who may write /proc/sys), the environment and resource limits. The
supervisor asks the profile's plan about every access it sees (supervisor/complain.py) and
records the would-be denials as ALLOWED.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stockade.enforce.landlock import ALL_FS, AccessFs, flag_names
from stockade.enforce.status_record import WRITE_RIGHTS
from stockade.errors import UsageError

if TYPE_CHECKING:
    from stockade.enforce.plan.types import EnforcementPlan, FsRule
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
#: the rights taken from stockade's state (one meaning with the status record's check)
STATE_DENY = WRITE_RIGHTS
#: the source of the state guard's Landlock rules (folded into one line of the --audit records)
STATE_SOURCE = "complain mode: all but stockade's state"


def complain_requested(args: argparse.Namespace) -> bool:
    """Whether this run is in complain mode (`--complain` is `--mode complain`)."""
    if getattr(args, "complain", False):
        if getattr(args, "mode", None) not in (None, "complain"):
            raise UsageError(f"--complain contradicts --mode {args.mode}")
        args.mode = "complain"
    return getattr(args, "mode", None) == "complain"


@dataclass
class StateGuard:
    """What the complain-mode domain keeps from the program, and the directories split for it."""

    protected: list[str] = field(default_factory=list)
    split: list[str] = field(default_factory=list)


def protected_state(args: argparse.Namespace) -> list[str]:
    """stockade's own state a complain-mode program is kept from changing: none.

    Keeping the status records, the plan cache and the --audit file out of reach takes a split
    of every directory above them (no new entry in /, /tmp, $HOME, ...), which blocks ordinary
    programs (gcc's temporary files in /tmp), and complain mode must let accesses through. The
    program runs with your file permissions and can change what you can (docs/enforce.md); the
    plan cache stays sound: its key is in the kernel keyring, which the baseline seccomp
    refusals keep from the program, and the Landlock domain keeps it from the memory of other
    processes (a launcher holding the key)."""
    del args
    return []


def state_guard(protected: Iterable[str]) -> tuple[list[FsRule], list[str]]:
    """Landlock rules granting every right on / except STATE_DENY on each protected path, by
    the plan compiler's deny-inside-a-tree split; the rules and the directories split (entries
    made in those later get only the reduced rights: fail closed)."""
    from stockade.enforce.plan.files import Grant, deny_beneath
    from stockade.enforce.plan.glob import FILE, TREE, Target
    from stockade.enforce.plan.types import FsRule

    grants = [Grant("/", ALL_FS, TREE, "complain mode")]
    split: set[str] = set()
    for path in protected:
        kind = FILE if os.path.lexists(path) and not os.path.isdir(path) else TREE
        grants, _ = deny_beneath(grants, Target(path, kind), STATE_DENY, split)
    merged: dict[str, AccessFs] = {}
    for g in grants:
        merged[g.path] = merged.get(g.path, AccessFs(0)) | g.rights
    rules = [FsRule(path, rights, STATE_SOURCE, optional=True) for path, rights in merged.items()]
    return rules, sorted(split)


def complain_plan(judged: EnforcementPlan, protected: Iterable[str] = ()
                  ) -> tuple[EnforcementPlan, StateGuard]:
    """The plan the program runs under while `judged` (the profile's plan) is only asked, and
    the directories split to keep `protected` (stockade's state) out of its reach."""
    from stockade.enforce.defaults import observe_plan

    plan = observe_plan()
    plan.name = judged.name
    plan.handled_fs = ALL_FS  # every right the ABI has: prepare narrows it to the kernel's
    protected = list(protected)
    plan.fs_rules, split = state_guard(protected)
    # a baseline refusal the profile unlocks (e.g. `userns,`) stays unlocked: only the
    # refusals the profile's own plan keeps are kept
    plan.seccomp_rules = [r for r in plan.seccomp_rules if r in judged.seccomp_rules]
    plan.keep_caps = judged.keep_caps
    plan.clear_env, plan.env_keep = judged.clear_env, judged.env_keep
    plan.env_set = dict(judged.env_set)
    plan.rlimits = dict(judged.rlimits)
    return plan, StateGuard(protected, split)


def privileged(keep_caps: Iterable[int]) -> bool:
    """Whether the program runs as root or keeps a capability: complain mode is no boundary."""
    return os.geteuid() == 0 or bool(list(keep_caps))


def still_enforced(keep_caps: Iterable[int]) -> str:
    """What complain mode still enforces for a program that keeps `keep_caps`."""
    return STILL_ENFORCED_PRIVILEGED if privileged(keep_caps) else STILL_ENFORCED


def start_lines(profile: str, keep_caps: Iterable[int], guard: StateGuard) -> list[str]:
    """The lines `run` prints in complain mode (never a claim of confinement)."""
    caps = list(keep_caps)
    out = [f"complain mode: profile {profile} is NOT enforced: {NOT_CONFINED}; still "
           f"enforced: {still_enforced(caps)}"]
    if privileged(caps):
        out.append(f"complain mode: {PRIVILEGED_WARNING}")
    if guard.split:
        out.append("complain mode: to keep stockade's state out of reach, no entry can be "
                   f"created, removed or renamed directly in {', '.join(guard.split)} (EACCES; "
                   "entries made there by others during the run are read-only)")
    return out


def audit_record(rec: dict[str, Any], keep_caps: Iterable[int], guard: StateGuard
                 ) -> dict[str, Any]:
    """An --audit record written before the program starts, for complain mode: the coverage
    record says the profile is not enforced, and the state guard's rules (one per entry of
    every split directory) are folded into one summary instead of being listed."""
    summary = {"state_guard": {"protected": guard.protected, "split": guard.split,
                               "denied": "|".join(flag_names(STATE_DENY)),
                               "source": STATE_SOURCE}}
    if rec.get("event") == "plan" and isinstance(rec.get("landlock"), dict):
        landlock = {k: v for k, v in rec["landlock"].items() if k != "fs_rules"}
        kept = [r for r in rec["landlock"].get("fs_rules", [])
                if r.get("source") != STATE_SOURCE]
        return rec | {"landlock": landlock | {"fs_rules": kept} | summary}
    if rec.get("event") == "coverage":
        rules = [r for r in rec.get("rules", []) if r.get("source") != STATE_SOURCE]
        return rec | {"rules": rules, "exact": False, "complain": NOT_CONFINED,
                      "still_enforced": still_enforced(keep_caps)} | summary
    return rec


def end_line(judge: ProfileJudge, audit: str | None) -> str:
    """How many accesses the profile would have denied, and where they are recorded."""
    where = f"recorded in {audit}" if audit else "not recorded (no --audit FILE)"
    return (f"complain mode: {judge.recorded} distinct access(es) the profile would deny were "
            f"allowed ({judge.allowed} in all); {where}")
