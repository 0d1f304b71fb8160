"""`stockade run --lsm ...,tomoyo`: the kernel layer (Landlock) a TOMOYO policy needs, so that
no --ro/--rx flags are needed for what the reachable domains allow (modules/tomoyo/
kernel_grants.py says how coarse that layer is)."""

from __future__ import annotations

import functools
import operator
import os
from collections.abc import Iterable

from stockade.errors import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse

    from stockade.enforce.plan.types import EnforcementPlan


def wants_tomoyo(args: argparse.Namespace) -> bool:
    """Whether `run` puts tomoyo on the supervisor's stack."""
    lsm = getattr(args, "lsm", None) or ""
    return bool(getattr(args, "mode", None)) and "tomoyo" in [n.strip() for n in lsm.split(",")]


def program_name(command: list[str]) -> str:
    """The program as TOMOYO names an exec of it: found on PATH, directories resolved, the
    last component not followed (tomoyo_realpath_nofollow)."""
    import shutil

    found = shutil.which(command[0]) if "/" not in command[0] else command[0]
    if not found:
        raise UsageError(f"{command[0]}: command not found")
    directory, base = os.path.split(os.path.abspath(found))
    return os.path.join(os.path.realpath(directory), base)


def add_kernel_grants(args: argparse.Namespace, plan: EnforcementPlan,
                      command: list[str]) -> list[str]:
    """Add the TOMOYO policy's Landlock grants to `plan`; the notes to print."""
    from stockade.enforce import landlock as ll
    from stockade.enforce.grant_path import resolve_grant
    from stockade.enforce.plan.types import FsRule, NetRule
    from stockade.modules.labels import parse_contexts
    from stockade.modules.stack_spec import parse_options
    from stockade.modules.tomoyo.kernel_grants import EMULATED, first_domain, kernel_grants
    from stockade.modules.tomoyo.policy import load_policy
    from stockade.modules.tomoyo.words import encode_name

    options = parse_options(args.module_option).get("tomoyo", {})
    policy_dir = options.get("policy_dir")
    if not policy_dir:
        raise UsageError("--lsm tomoyo needs --module-option tomoyo.policy_dir=DIR")
    policy = load_policy(str(policy_dir))
    program = program_name(command)
    given = dict(parse_contexts(args.context)).get("tomoyo")
    first = given or first_domain(policy, encode_name(program))
    grants = kernel_grants(policy, first, program)
    notes = [f"tomoyo: the program's first domain is {first}"]
    if args.mode != "enforce":  # learning and complaining allow what the policy lacks
        grants.everything = True
        notes.append(f"tomoyo: --mode {args.mode}: the kernel layer grants everything")
    def access(rights: Iterable[str]) -> ll.AccessFs:
        return functools.reduce(operator.or_, (ll.AccessFs[r] for r in rights), ll.AccessFs(0))

    plan.fs_rules.append(FsRule("/", access(EMULATED),
                                "tomoyo: performed and decided by the supervisor",
                                supervised=True))
    plan.supervised_changes += list(dict.fromkeys(grants.changes))
    if grants.everything:
        plan.fs_rules.append(FsRule("/", ll.AccessFs(sum(ll.AccessFs)), "tomoyo: everything"))
        plan.handled_net = ll.NO_NET
    for path, rights, source in grants.rules:
        if os.path.exists(path):  # resolved now: prepare follows no link (grant_path.py)
            plan.fs_rules.append(FsRule(resolve_grant(path, f"tomoyo: {source}:"),
                                        access(rights), f"tomoyo: {source}"))
    for port in sorted(grants.connect_tcp):
        plan.net_rules.append(NetRule(port, ll.AccessNet.CONNECT_TCP, "tomoyo"))
    for port in sorted(grants.bind_tcp):
        plan.net_rules.append(NetRule(port, ll.AccessNet.BIND_TCP, "tomoyo"))
    return notes + [f"tomoyo: {n}" for n in grants.notes]
