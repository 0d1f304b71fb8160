"""`systemd`: a `[Service]` drop-in with the sandboxing directives of systemd.exec(5).

From the same plan `stockade run` enforces:
  * seccomp: unconditional rules -> SystemCallFilter= (`~name:ERRNO` deny entries, or an
    allow list with SystemCallErrorNumber= when the plan's default refuses); the argument
    rules stockade's baseline uses have dedicated directives: socket families ->
    RestrictAddressFamilies=, CLONE_NEWUSER/CLONE_NEWNS -> RestrictNamespaces=, setuid/setgid
    modes -> RestrictSUIDSGID=; SystemCallArchitectures=native refuses other ABIs;
  * files: ProtectSystem=strict + ReadWritePaths= for write grants, ProtectHome= by what is
    granted under /home, /root and /run/user, NoExecPaths=/ + ExecPaths= for execute grants,
    InaccessiblePaths= / ReadOnlyPaths= for literal deny rules;
  * TCP: SocketBindDeny=tcp + SocketBindAllow=tcp:PORT for bind grants;
  * CapabilityBoundingSet= / AmbientCapabilities=, NoNewPrivileges=yes, LimitXXX=.
What has no directive (reads outside the grants, TCP connect ports, Landlock scopes, other
argument rules, the supervisor) is in the coverage.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

from stockade.enforce import defaults
from stockade.enforce import landlock as ll
from stockade.enforce import seccomp as sc
from stockade.enforce.caps import cap_name
from stockade.enforce.plan.types import CoverageStatus, EnforcementPlan, SeccompRule
from stockade.export import ExportInput, ExportResult, Losses, register
from stockade.export._files import WRITE_RIGHTS, denied_literals, granted, under
from stockade.export.oci import RLIMIT_NAMES
from stockade.export.oci_seccomp import (
    effective_rules,
    libseccomp_cannot_name,
    table_bound_loss,
    unnamed_loss,
)

TARGET = "systemd"
HOMES = ("/home", "/root", "/run/user")
#: Calls systemd allow-lists implicitly in every SystemCallFilter= allow list.
SYSTEMD_IMPLICIT = ("execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn",
                    "clock_gettime", "clock_getres", "clock_nanosleep", "gettimeofday",
                    "nanosleep", "time")
_FAMILY_NAMES = {v: ("AF_DECnet" if k == "decnet" else f"AF_{k.upper()}")
                 for k, v in defaults.SOCKET_FAMILIES.items()}
_MAX_FAMILY = 46
NAMESPACE_FLAGS = {"user": "CLONE_NEWUSER", "mnt": "CLONE_NEWNS"}  # AF_MAX on Linux 6.x


def _errno_name(value: int) -> str:
    return errno.errorcode.get(value, str(value))


def _native(name: str) -> bool:
    try:
        return sc.resolve_syscall(name) >= 0
    except KeyError:
        return False


def _is_family_rule(rule: SeccompRule) -> bool:
    return rule.syscall == "socket" and len(rule.conditions) == 1 \
        and rule.conditions[0].arg == 0 and rule.action.value == errno.EAFNOSUPPORT


def _is_family_allow(rule: SeccompRule) -> bool:
    """`socket if arg0 == FAMILY [&& type/protocol] -> allow` (an allow list's per-family
    socket rule; RestrictAddressFamilies= allows the whole family: the type/protocol refusals
    it leaves out are reported by `_untested_loss`)."""
    cond = rule.conditions[0]
    return rule.syscall == "socket" and cond.arg == 0 and cond.op is sc.Cmp.EQ \
        and rule.action.kind is sc.ActionKind.ALLOW


def _untested_loss(rule: SeccompRule, action: sc.Action, allow_list: bool, allowed: bool,
                   losses: Losses) -> None:
    """An argument rule with no directive: SystemCallFilter= decides the call as a whole."""
    refuses = action.kind not in (sc.ActionKind.ALLOW, sc.ActionKind.LOG)
    if not allow_list or (refuses and allowed):
        losses.add(str(rule), CoverageStatus.NOT_ENFORCED, "SystemCallFilter= cannot test "
                   "arguments: the unit allows the call", source=rule.source,
                   enforced_by="stockade run (seccomp)")
    else:
        losses.add(str(rule), CoverageStatus.APPROXIMATED, "SystemCallFilter= cannot test "
                   "arguments: the unit refuses the call whatever the arguments"
                   + (" (narrower)" if not refuses else " with its default"),
                   source=rule.source, enforced_by="stockade run (seccomp)")


def _namespace_flag(rule: SeccompRule) -> str:
    """'user' / 'mnt' for a baseline CLONE_NEWUSER / CLONE_NEWNS rule, else ''."""
    if rule.syscall not in ("unshare", "clone") or len(rule.conditions) != 1:
        return ""
    cond = rule.conditions[0]
    if cond.arg != 0 or cond.op is not sc.Cmp.MASKED_EQ or cond.datum_a != cond.datum_b:
        return ""
    return {defaults.CLONE_NEWUSER: "user", defaults.CLONE_NEWNS: "mnt"}.get(cond.datum_a, "")


def _is_setid_rule(rule: SeccompRule) -> bool:
    arg = defaults.MODE_ARGUMENT.get(rule.syscall)
    return arg is not None and len(rule.conditions) == 1 and rule.conditions[0].arg == arg \
        and rule.conditions[0].op is sc.Cmp.MASKED_EQ \
        and rule.conditions[0].datum_a in (defaults.S_ISUID, defaults.S_ISGID)


def _unit_covers(plan: EnforcementPlan, losses: Losses) -> Callable[[SeccompRule], bool]:
    """Which calls `run` leaves to its supervisor the unit checks another way (allowed by
    its filter), each loss recorded; the others are refused with EPERM (`effective_rules`)."""

    def covers(rule: SeccompRule) -> bool:
        by = "stockade run (seccomp user notification + supervisor)"
        if rule.syscall in defaults.HYBRID_WRITE and plan.handled_fs:
            losses.add(str(rule), CoverageStatus.APPROXIMATED, "allowed by the filter: the "
                       "unit's read-only mounts (ProtectSystem=strict, ReadWritePaths=) refuse "
                       "it outside the write grants with EROFS; /dev, /proc and /sys stay "
                       "writable", source=rule.source, enforced_by=by)
            return True
        if rule.syscall in defaults.HYBRID_READ:
            losses.add(str(rule), CoverageStatus.NOT_ENFORCED, "allowed: extended attributes "
                       "are readable beyond the read grants (systemd has no read allow-list)",
                       source=rule.source, enforced_by=by)
            return True
        if rule.syscall == "listen":
            losses.add(str(rule), CoverageStatus.NOT_ENFORCED, "allowed: listen() on an "
                       "unbound socket takes an ephemeral port, and SocketBindDeny= acts on "
                       "bind() only", source=rule.source, enforced_by=by)
            return True
        return False

    return covers


def _seccomp(plan: EnforcementPlan, losses: Losses) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = [("SystemCallArchitectures", "native")]
    losses.add(f"refuse other architectures and the x32 ABI -> {plan.seccomp_bad_arch}",
               CoverageStatus.APPROXIMATED, "stricter: systemd kills the process (SIGSYS)")
    allow_list = plan.seccomp_default.kind is not sc.ActionKind.ALLOW
    allowed: list[str] = []
    denied: list[str] = []
    family_rules: list[SeccompRule] = []
    family_allows: list[int] = []
    namespaces: set[str] = set()
    setid = False
    untested: list[tuple[SeccompRule, sc.Action]] = []
    for rule, action in effective_rules(plan, losses, "the unit", _unit_covers(plan, losses)):
        if libseccomp_cannot_name(rule.syscall):
            # systemd would warn "Failed to parse system call" and ignore it
            unnamed_loss(losses, rule, action, plan.seccomp_default, "systemd (libseccomp 2.5)")
            continue
        if rule.conditions:
            if _is_family_rule(rule):
                family_rules.append(rule)
            elif allow_list and _is_family_allow(rule):
                family_allows.append(rule.conditions[0].datum_a)
            elif not allow_list and _namespace_flag(rule) and action.value == errno.EPERM:
                namespaces.add(_namespace_flag(rule))
            elif not allow_list and _is_setid_rule(rule) and action.value == errno.EPERM:
                setid = True
            else:
                untested.append((rule, action))
            continue
        if action.kind is sc.ActionKind.ALLOW:
            allowed.append(rule.syscall)
        elif action.kind is sc.ActionKind.ERRNO:
            denied.append(f"{rule.syscall}:{_errno_name(action.value)}")
        else:
            denied.append(f"{rule.syscall}:kill")
            if action.kind is not sc.ActionKind.KILL_PROCESS:
                losses.add(str(rule), CoverageStatus.APPROXIMATED, f"{action} becomes kill",
                           source=rule.source)
    if family_allows:
        allowed.append("socket")
    for rule, action in untested:
        _untested_loss(rule, action, allow_list, rule.syscall in allowed, losses)
    if allow_list:
        out.append(("SystemCallFilter", " ".join(dict.fromkeys(allowed))))
        default = plan.seccomp_default
        if default.kind is sc.ActionKind.ERRNO:
            out.append(("SystemCallErrorNumber", _errno_name(default.value)))
        implicit = [n for n in SYSTEMD_IMPLICIT if n not in allowed and _native(n)]
        if implicit:
            losses.add(f"default {default} for " + ", ".join(implicit),
                       CoverageStatus.APPROXIMATED, "wider: systemd always allows these")
        for entry in denied:
            losses.add(f"{entry.split(':')[0]} -> {entry.split(':')[1]}",
                       CoverageStatus.APPROXIMATED, f"fails with the default {default} instead")
    elif denied:
        out.append(("SystemCallFilter", "~" + " ".join(dict.fromkeys(denied))))
    if family_rules or family_allows:
        names = [_FAMILY_NAMES[f] for f in range(_MAX_FAMILY) if f in _FAMILY_NAMES
                 and not any(r.conditions[0].holds(f) for r in family_rules)
                 and (f in family_allows or not allow_list)]
        out.append(("RestrictAddressFamilies", " ".join(names) or "none"))
    if namespaces:
        out.append(("RestrictNamespaces", "~" + " ".join(sorted(namespaces))))
        flags = "|".join(NAMESPACE_FLAGS[n] for n in sorted(namespaces))
        losses.add(f"unshare/clone({flags}) -> EPERM",
                   CoverageStatus.APPROXIMATED, "stricter: RestrictNamespaces= also refuses "
                   "setns() into them")
    if setid:
        out.append(("RestrictSUIDSGID", "yes"))
    table_bound_loss(plan, losses, "SystemCallFilter=")
    return out


def _files(inp: ExportInput, losses: Losses) -> list[tuple[str, str]]:
    plan = inp.planned.plan
    out: list[tuple[str, str]] = []
    if not plan.handled_fs:
        return out
    read_denied, write_denied = denied_literals(inp.profile, losses)
    writable = granted(plan, WRITE_RIGHTS, "write", losses)
    executable = granted(plan, ll.AccessFs.EXECUTE, "execute", losses)
    out.append(("ProtectSystem", "strict"))
    # A home is reachable when a grant is at, beneath or above it (Landlock: path beneath).
    reachable = [h for h in HOMES if any(under(r.path, h) or under(h, r.path)
                                         for r in plan.fs_rules)
                 and not any(under(h, d) for d in read_denied)]
    if not reachable:
        out.append(("ProtectHome", "yes"))
        read_denied = [d for d in read_denied if not any(under(d, h) for h in HOMES)]
    if writable:
        out.append(("ReadWritePaths", " ".join(f"-{p}" for p in writable)))
    if write_denied:
        out.append(("ReadOnlyPaths", " ".join(f"-{p}" for p in write_denied)))
    if read_denied:
        out.append(("InaccessiblePaths", " ".join(f"-{p}" for p in read_denied)))
    out.append(("NoExecPaths", "/"))
    if executable:
        out.append(("ExecPaths", " ".join(f"-{p}" for p in executable)))
    losses.add("deny reading files not granted", CoverageStatus.NOT_ENFORCED,
               "systemd has no read allow-list: only InaccessiblePaths= and ProtectHome= hide "
               "files", enforced_by="stockade run (Landlock)")
    losses.add("Landlock rights finer than read/write/execute (make_*, remove_*, refer, "
               "truncate, ioctl_dev)", CoverageStatus.APPROXIMATED,
               "a writable path allows every kind of change", enforced_by="stockade run "
               "(Landlock)")
    return out


def _network(plan: EnforcementPlan, losses: Losses) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if plan.handled_net & ll.AccessNet.BIND_TCP:
        out.append(("SocketBindDeny", "tcp"))
        ports = sorted({r.port for r in plan.net_rules if r.access & ll.AccessNet.BIND_TCP})
        out += [("SocketBindAllow", f"tcp:{span}") for span in port_spans(ports)]
    if plan.handled_net & ll.AccessNet.CONNECT_TCP:
        losses.add("deny TCP connect on ports not granted", CoverageStatus.NOT_ENFORCED,
                   "systemd filters connections by address (IPAddressDeny=), not by port",
                   enforced_by="stockade run (Landlock ABI 4)")
    if plan.scopes:
        losses.add("scope " + ",".join(ll.flag_names(plan.scopes)) + " to the sandbox",
                   CoverageStatus.NOT_ENFORCED, "no directive scopes abstract unix sockets "
                   "or signals", enforced_by="stockade run (Landlock ABI 6)")
    return out


def port_spans(ports: list[int]) -> list[str]:
    """`8080`, `9000-9002` for sorted ports [8080, 9000, 9001, 9002]."""
    spans: list[list[int]] = []
    for port in ports:
        if spans and port == spans[-1][1] + 1:
            spans[-1][1] = port
        else:
            spans.append([port, port])
    return [str(a) if a == b else f"{a}-{b}" for a, b in spans]


def _process(plan: EnforcementPlan) -> list[tuple[str, str]]:
    caps = " ".join(sorted(cap_name(c).upper() for c in plan.keep_caps))
    out = [("CapabilityBoundingSet", caps), ("AmbientCapabilities", caps),
           ("NoNewPrivileges", "yes")]
    for number, value in sorted(plan.rlimits.items()):
        name = RLIMIT_NAMES.get(number)
        if name:
            key = "Limit" + name.removeprefix("RLIMIT_")
            out.append((key, "infinity" if value < 0 else str(value)))
    out.append(("Environment", f"STOCKADE_PROFILE={plan.name}"))
    return out


def dropin(inp: ExportInput, losses: Losses) -> list[tuple[str, str]]:
    """The [Service] directives, in order."""
    plan = inp.planned.plan
    return _process(plan) + _files(inp, losses) + _network(plan, losses) + \
        _seccomp(plan, losses)


def render(profile: str, directives: list[tuple[str, Any]]) -> str:
    """The drop-in file text."""
    lines = [f"# stockade export --format systemd: profile {profile}",
             "# install as /etc/systemd/system/UNIT.service.d/stockade.conf", "[Service]"]
    lines += [f"{key}={value}" for key, value in directives]
    return "\n".join(lines) + "\n"


@register(TARGET, "a [Service] drop-in with systemd.exec(5) sandboxing directives")
def export_systemd(inp: ExportInput) -> ExportResult:
    """Format `systemd`."""
    losses = Losses(TARGET)
    directives = dropin(inp, losses)
    return ExportResult(render(inp.planned.profile, directives), losses.entries)
