"""`oci-seccomp`: the `linux.seccomp` object of the OCI runtime spec (config-linux.md).

Built from the same `EnforcementPlan` that `stockade run` loads, rule for rule, with the same
choices as `stockade run`: user-notification rules the main filter does not already refuse
become EPERM (there is no supervisor in a container; `effective_rules`), rules whose action
is the default are left out (libseccomp refuses them), names that do not exist on this
machine's architecture are left out. Runtimes (runc, crun) hand the object to libseccomp,
so the filter they build is the one `run` builds.

Architectures: only the native one is listed; runtimes give every other architecture, and
the x32 ABI on x86_64 (libseccomp adds the x32 check when SCMP_ARCH_X32 is not listed), the
filter's bad-architecture action, so i386 and x32 calls do not reach the rules. The OCI spec has
no field for that action: runc kills the caller with SIGSYS where `run` answers ENOSYS
(measured with runc 1.1.5; recorded as a loss, stricter).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from stockade.enforce import defaults
from stockade.enforce import landlock as ll
from stockade.enforce import seccomp as sc
from stockade.enforce._libc import MACHINE
from stockade.enforce.landlock import flag_names
from stockade.enforce.mediation.kernel import newer_syscalls, syscall_limit
from stockade.enforce.plan.net import UNIX_PEER_SYSCALLS
from stockade.enforce.plan.types import CoverageStatus, EnforcementPlan, FsRule, SeccompRule
from stockade.enforce.prepare import NOTIFY_FALLBACK
from stockade.errors import StockadeError
from stockade.export import ExportInput, ExportResult, Losses, register

TARGET = "oci-seccomp"
ARCHITECTURES = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}
OPS = {sc.Cmp.NE: "SCMP_CMP_NE", sc.Cmp.LT: "SCMP_CMP_LT", sc.Cmp.LE: "SCMP_CMP_LE",
       sc.Cmp.EQ: "SCMP_CMP_EQ", sc.Cmp.GE: "SCMP_CMP_GE", sc.Cmp.GT: "SCMP_CMP_GT",
       sc.Cmp.MASKED_EQ: "SCMP_CMP_MASKED_EQ"}
ACTIONS = {sc.ActionKind.ALLOW: "SCMP_ACT_ALLOW", sc.ActionKind.ERRNO: "SCMP_ACT_ERRNO",
           sc.ActionKind.KILL_PROCESS: "SCMP_ACT_KILL_PROCESS",
           sc.ActionKind.KILL_THREAD: "SCMP_ACT_KILL_THREAD", sc.ActionKind.TRAP: "SCMP_ACT_TRAP",
           sc.ActionKind.LOG: "SCMP_ACT_LOG", sc.ActionKind.TRACE: "SCMP_ACT_TRACE",
           sc.ActionKind.NOTIFY: "SCMP_ACT_NOTIFY"}


def native_architectures() -> list[str]:
    """The SCMP_ARCH_* list for this machine (only the native ABI)."""
    arch = ARCHITECTURES.get(MACHINE)
    if arch is None:
        raise StockadeError(f"no OCI seccomp architecture for machine {MACHINE}")
    return [arch]


def action_fields(action: sc.Action) -> dict[str, Any]:
    """{"action": ..., "errnoRet": ...} for one action."""
    out: dict[str, Any] = {"action": ACTIONS[action.kind]}
    if action.kind in (sc.ActionKind.ERRNO, sc.ActionKind.TRACE):
        out["errnoRet"] = action.value
    return out


def arg_fields(cond: sc.ArgCmp) -> dict[str, Any]:
    """One OCI `args` entry (MASKED_EQ: value is the mask, valueTwo the expected bits)."""
    return {"index": cond.arg, "value": cond.datum_a, "valueTwo": cond.datum_b,
            "op": OPS[cond.op]}


def effective_action(rule: SeccompRule) -> sc.Action:
    """The action a container gets for `rule` (user notification has no supervisor there)."""
    return NOTIFY_FALLBACK if rule.action.kind is sc.ActionKind.NOTIFY else rule.action


def _exists_here(rule: SeccompRule) -> bool:
    try:
        return sc.resolve_syscall(rule.syscall) >= 0
    except KeyError:
        where = f" in {rule.source}" if rule.source else ""
        raise StockadeError(f"unknown system call {rule.syscall!r}{where}") from None


_ALLOWS = (sc.ActionKind.ALLOW, sc.ActionKind.LOG)


def _granted_everywhere(plan: EnforcementPlan, rights: ll.AccessFs) -> bool:
    """Whether the plan grants `rights` on the whole tree (`/`): the supervisor's path check
    (enforce/supervisor/plan_guard.py) then passes every path."""
    return any(r.path == "/" and r.access & rights == rights for r in plan.fs_rules)


def supervisor_allows_all(plan: EnforcementPlan, syscall: str) -> bool:
    """Whether `stockade run`'s supervisor allows `syscall` whatever its target, as
    `PlanGuard` decides it (writes need write_file, xattr reads read_file and read_dir on the
    path; listen needs the ephemeral port: bind on port 0)."""
    if syscall in defaults.HYBRID_WRITE:
        return _granted_everywhere(plan, ll.AccessFs.WRITE_FILE)
    if syscall in defaults.HYBRID_READ:
        return _granted_everywhere(plan, ll.AccessFs.READ_FILE | ll.AccessFs.READ_DIR)
    if syscall == "listen":
        return not plan.handled_net & ll.AccessNet.BIND_TCP or any(
            r.port == 0 and r.access & ll.AccessNet.BIND_TCP for r in plan.net_rules)
    return False


def _refused_before_supervisor(plan: EnforcementPlan, syscall: str) -> bool:
    """Whether `run`'s main filter refuses `syscall` whatever its arguments.

    `run` loads the user-notif rules in a filter of their own, and the kernel takes the
    strictest answer of the stacked filters (errno, trap and kill outrank user notification):
    the supervisor is never asked for a call the main filter already refuses. The main filter
    holds the rules `prepare` loads (not those equal to the default) and answers a call with
    its first unconditional rule, else with the default where no argument rule allows."""
    main = [r for r in plan.seccomp_rules if r.syscall == syscall
            and r.action.kind is not sc.ActionKind.NOTIFY and r.action != plan.seccomp_default]
    first = next((r.action for r in main if not r.conditions), None)
    if first is not None:
        return first.kind not in _ALLOWS
    return plan.seccomp_default.kind not in _ALLOWS and not any(
        r.action.kind in _ALLOWS for r in main)


def _peer_loss(plan: EnforcementPlan, losses: Losses, where: str) -> None:
    """`run` also routes connect and the send calls to its supervisor when the plan restricts
    writes (pathname unix sockets need the write grant on the socket: Landlock has no connect
    right for them; enforce/plan/net.py UNIX_PEER_SYSCALLS): without a supervisor that is lost."""
    if not plan.handled_fs & ll.AccessFs.WRITE_FILE or \
            _granted_everywhere(plan, ll.AccessFs.WRITE_FILE):
        return
    calls = [c for c in (*UNIX_PEER_SYSCALLS, "sendto")
             if not _refused_before_supervisor(plan, c)]
    if calls:
        losses.add(f"{'/'.join(calls)} to a pathname unix socket -> needs the write grant on "
                   "the socket's path", CoverageStatus.SUPERVISOR, f"no seccomp supervisor in "
                   f"{where}: not checked against the grants (any socket file it can reach)",
                   enforced_by="stockade run (seccomp user notification + supervisor)")


def effective_rules(plan: EnforcementPlan, losses: Losses | None, where: str,
                    covered: Callable[[SeccompRule], bool] | None = None,
                    ) -> list[tuple[SeccompRule, sc.Action]]:
    """The rules of `plan` that decide something, with their actions, as `run` decides.

    As `enforce.prepare`: rules equal to the default and names absent on this architecture are
    not loaded. User notification: `run` asks its supervisor only where the main filter does
    not refuse (`_refused_before_supervisor`); there, where the supervisor allows every target
    the main filter's answer stands, else the call is refused with EPERM
    (`prepare.NOTIFY_FALLBACK`: no supervisor in `where`) whatever the other rules of the
    call say, unless `covered(rule)` says the target checks it another way (it then records
    the loss itself and the main answer stands). As libseccomp builds a filter (measured):
    the first unconditional rule for a call decides, and it wins over every conditional rule
    of that call, whatever the order.
    """
    loaded: list[tuple[SeccompRule, sc.Action]] = []
    fallback: dict[str, sc.Action] = {}
    for rule in plan.seccomp_rules:
        action = rule.action
        if action.kind is sc.ActionKind.NOTIFY:
            if _refused_before_supervisor(plan, rule.syscall) \
                    or supervisor_allows_all(plan, rule.syscall) \
                    or (covered is not None and covered(rule)):
                continue
            action = NOTIFY_FALLBACK
            if losses is not None:
                losses.add(str(rule), CoverageStatus.SUPERVISOR,
                           f"no seccomp supervisor in {where}: refused with EPERM instead of "
                           "decided call by call on the plan's grants", source=rule.source,
                           enforced_by="stockade run (seccomp user notification + supervisor)")
            if not rule.conditions:
                fallback.setdefault(rule.syscall, action)
        if action != plan.seccomp_default and _exists_here(rule):
            loaded.append((rule, action))
    if losses is not None:
        _peer_loss(plan, losses, where)
    unconditional: dict[str, sc.Action] = dict(fallback)
    for rule, action in loaded:
        if not rule.conditions:
            unconditional.setdefault(rule.syscall, action)
    out = []
    for rule, action in loaded:
        decided = unconditional.get(rule.syscall)
        if decided is None or (not rule.conditions and action == decided):
            out.append((rule, action))
    return out


def libseccomp_cannot_name(syscall: str) -> bool:
    """Whether `syscall` is newer than the libseccomp stockade runs with (Debian 12: 2.5.4),
    so runtimes and systemd built on that libseccomp cannot name it (`run` filters it by its
    number: enforce/mediation/kernel.py)."""
    return syscall in newer_syscalls()


def unnamed_loss(losses: Losses, rule: SeccompRule, action: sc.Action, default: sc.Action,
                 who: str) -> None:
    """Record what `who` does with a rule for a call its libseccomp cannot name."""
    if action.kind in _ALLOWS:
        losses.add(f"{rule.syscall} -> {action}", CoverageStatus.APPROXIMATED,
                   f"narrower: {who} cannot name the call, so it gets the default {default}",
                   source=rule.source, enforced_by="stockade run (by number)")
    else:
        losses.add(f"{rule.syscall} -> {action}", CoverageStatus.NOT_ENFORCED,
                   f"not refused: {who} cannot name the call (it is left out or ignored), so "
                   "the call is allowed", source=rule.source, enforced_by="stockade run (by number)")


def table_bound_loss(plan: EnforcementPlan, losses: Losses, target: str) -> None:
    """Record that `target` does not bound system call numbers as `run` does (numbers above
    the mediation table -> the bad-architecture action)."""
    limit = syscall_limit()
    if limit is None or plan.seccomp_default == plan.seccomp_bad_arch:
        return
    rule = f"refuse system calls newer than the mediation table (numbers >= {limit}) -> " \
           f"{plan.seccomp_bad_arch}"
    if plan.seccomp_default.kind in _ALLOWS:
        losses.add(rule, CoverageStatus.NOT_ENFORCED, f"{target} filters by name: a call a "
                   "newer kernel adds is allowed", enforced_by="stockade run (seccomp-bpf)")
    else:
        losses.add(rule, CoverageStatus.APPROXIMATED, f"{target} filters by name: such a "
                   f"call gets the default {plan.seccomp_default}",
                   enforced_by="stockade run (seccomp-bpf)")


def oci_seccomp(plan: EnforcementPlan, losses: Losses | None = None) -> dict[str, Any]:
    """The OCI `linux.seccomp` object of `plan`; what it cannot express goes to `losses`."""
    obj: dict[str, Any] = {}
    default = action_fields(plan.seccomp_default)
    obj["defaultAction"] = default["action"]
    if "errnoRet" in default:
        obj["defaultErrnoRet"] = default["errnoRet"]
    obj["architectures"] = native_architectures()
    if plan.seccomp_log and losses is not None:
        # runc 1.1 (Debian 12) refuses any `flags` ("seccomp flags are not yet supported")
        losses.add("audit every refused system call (SECCOMP_FILTER_FLAG_LOG)",
                   CoverageStatus.APPROXIMATED, "the flag is not written (runc before 1.2 "
                   "refuses the whole config for it): errno denials are not logged",
                   enforced_by="stockade run, or flags [\"SECCOMP_FILTER_FLAG_LOG\"] on "
                   "runc 1.2+/crun")
    if losses is not None and plan.seccomp_bad_arch.kind is not sc.ActionKind.KILL_PROCESS:
        losses.add(f"refuse other architectures and the x32 ABI -> {plan.seccomp_bad_arch}",
                   CoverageStatus.APPROXIMATED, "stricter: runtimes have no bad-architecture "
                   "action, libseccomp's default kills the process (SIGSYS)")
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for rule, action in effective_rules(plan, losses, "the container"):
        if losses is not None and libseccomp_cannot_name(rule.syscall):
            # still written: runtimes on libseccomp 2.6+ know the name
            unnamed_loss(losses, rule, action, plan.seccomp_default, "a runtime on "
                         "libseccomp 2.5 (Debian 12: runc 1.1.5, measured)")
        key = (action, rule.conditions)
        entry = groups.get(key)
        if entry is None:
            entry = {"names": [], **action_fields(action)}
            if rule.conditions:
                entry["args"] = [arg_fields(c) for c in rule.conditions]
            groups[key] = entry
        if rule.syscall not in entry["names"]:
            entry["names"].append(rule.syscall)
    obj["syscalls"] = list(groups.values())
    if losses is not None:
        table_bound_loss(plan, losses, "the runtime")
    return obj


def landlock_losses(plan: EnforcementPlan, losses: Losses, *, files: bool = True,
                    network: bool = True, scopes: bool = True) -> None:
    """Record the Landlock part of `plan` (file and TCP rules, scopes) as not expressed."""
    by = "stockade run (Landlock)"
    if files and plan.handled_fs:
        losses.add("deny filesystem access not granted: " + ",".join(flag_names(plan.handled_fs)),
                   CoverageStatus.NOT_ENFORCED, "no Landlock in the target: the program gets "
                   "the file permissions of its environment", enforced_by=by)
        for source, rules in group_by_source(plan.fs_rules).items():
            more = f" (and {len(rules) - 1} more paths)" if len(rules) > 1 else ""
            losses.add(f"allow {rules[0]}{more}", CoverageStatus.APPROXIMATED,
                       "wider: not limited to these rights", source=source, enforced_by=by)
    if network and plan.handled_net:
        losses.add("deny TCP " + ",".join(flag_names(plan.handled_net)) + " on ports not granted",
                   CoverageStatus.NOT_ENFORCED, "no per-port TCP rules in the target",
                   enforced_by=by)
        for net in plan.net_rules:
            losses.add(f"allow {net}", CoverageStatus.APPROXIMATED, "wider: every port",
                       source=net.source, enforced_by=by)
    if scopes and plan.scopes:
        losses.add("scope " + ",".join(flag_names(plan.scopes)) + " to the sandbox",
                   CoverageStatus.APPROXIMATED, "not scoped by Landlock: a container's own "
                   "IPC and PID namespaces limit the reach instead", enforced_by=by)


def group_by_source(rules: Sequence[FsRule]) -> dict[str, list[FsRule]]:
    """Plan file rules by the profile rule they come from (a glob expands to many)."""
    out: dict[str, list[FsRule]] = {}
    for rule in rules:
        out.setdefault(rule.source, []).append(rule)
    return out


@register(TARGET, "the linux.seccomp object of an OCI runtime config (runc, crun, Podman, "
          "Docker --security-opt seccomp=FILE)")
def export_oci_seccomp(inp: ExportInput) -> ExportResult:
    """Format `oci-seccomp`: JSON of `linux.seccomp`; everything outside seccomp is lost."""
    plan = inp.planned.plan
    losses = Losses(TARGET)
    obj = oci_seccomp(plan, losses)
    landlock_losses(plan, losses)
    losses.add("keep capabilities only as the profile allows", CoverageStatus.NOT_ENFORCED,
               "capabilities are not part of linux.seccomp", enforced_by="the `oci` format "
               "(process.capabilities)")
    if plan.rlimits:
        losses.add("set rlimit", CoverageStatus.NOT_ENFORCED, "rlimits are not part of "
                   "linux.seccomp", enforced_by="the `oci` format (process.rlimits)")
    return ExportResult(json.dumps(obj, indent=2) + "\n", losses.entries)
