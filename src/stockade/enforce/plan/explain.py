"""What the kernel-enforced layers of an `EnforcementPlan` would do with one LSM request.

`stockade explain --profile` asks the reference monitor's modules; this module answers the
same request for what `stockade run -p` would enforce in the kernel: Landlock (path-beneath
rights, TCP ports, scopes), seccomp (the system calls that carry the request, against the
plan's rules) and the kept capabilities. The answer is a model, not a probe: it reads the plan,
it does not build a ruleset.
"""

from __future__ import annotations

import _socket as socket  # socket's C core: see handlers/other.py
import errno
import os
import stat

from stockade.enforce import defaults
from stockade.enforce import landlock as ll
from stockade.enforce.caps import cap_name
from stockade.enforce.landlock import AccessFs, AccessNet, Scope
from stockade.enforce.plan.landlock_model import (
    ALLOW,
    DENY,
    LANDLOCK,
    NA,
    LandlockModel,
    PlanRow,
    errname,
    names,
)
from stockade.enforce.plan.types import EnforcementPlan, SeccompRule
from stockade.enforce.seccomp import Action, ActionKind, ArgCmp, Cmp
from stockade.lsm.types import MAY_APPEND, MAY_EXEC, MAY_WRITE, Object, Request

SECCOMP, CAPABILITIES = "seccomp", "capabilities"

O_WRONLY, O_CREAT, O_APPEND = 0o1, 0o100, 0o2000
AT_REMOVEDIR = 0x200
PTRACE_ATTACH = 16
_MASK64 = (1 << 64) - 1


_MAKE_RIGHTS = {stat.S_IFDIR: AccessFs.MAKE_DIR, stat.S_IFLNK: AccessFs.MAKE_SYM,
                stat.S_IFIFO: AccessFs.MAKE_FIFO, stat.S_IFSOCK: AccessFs.MAKE_SOCK,
                stat.S_IFCHR: AccessFs.MAKE_CHAR, stat.S_IFBLK: AccessFs.MAKE_BLOCK}


def _make_right(mode: int) -> AccessFs:
    return _MAKE_RIGHTS.get(stat.S_IFMT(mode), AccessFs.MAKE_REG)


def _parent(obj: Object) -> str:
    return obj.parent.path if obj.parent is not None else os.path.dirname(obj.path) or "/"


def _open_rights(req: Request, obj: Object) -> AccessFs:
    if req.hook == "bprm_check_security" or req.access & MAY_EXEC:
        return AccessFs.EXECUTE | AccessFs.READ_FILE
    if req.access & MAY_WRITE:
        return AccessFs.WRITE_FILE
    return AccessFs.READ_DIR if obj.is_dir else AccessFs.READ_FILE


def _move(lock: LandlockModel, req: Request, src: Object, dst: Object) -> PlanRow:
    """rename/link: remove + make on the parents, refer across directories (EXDEV)."""
    sp, dp = _parent(src), _parent(dst)
    make = _make_right(src.mode)
    needs = [(dp, make)]
    if req.hook == "inode_rename":
        needs.insert(0, (sp, AccessFs.REMOVE_DIR if src.is_dir else AccessFs.REMOVE_FILE))
    row = lock.check(needs)
    if row.verdict != ALLOW or sp == dp or not AccessFs.REFER & lock.handled_fs:
        return row
    refer = lock.check([(sp, AccessFs.REFER), (dp, AccessFs.REFER)], errno.EXDEV)
    if refer.verdict != ALLOW:
        return refer
    kept = ll.FILE_RIGHTS if not src.is_dir else ll.ALL_FS
    gained = (lock.granted(dp)[0] & ~lock.granted(sp)[0]) & lock.handled_fs & kept
    if gained:
        return PlanRow(LANDLOCK, DENY, "EXDEV", f"moving from {sp} to {dp} would gain "
                       f"{names(gained)} (Landlock refuses reparenting that adds rights)",
                       refer.rule)
    return PlanRow(LANDLOCK, ALLOW, None, f"{row.reason}; {refer.reason}",
                   "; ".join(x for x in (row.rule, refer.rule) if x))


def landlock_row(lock: LandlockModel, req: Request) -> PlanRow | None:
    """The Landlock answer for `req`, or None when Landlock has nothing to do with the hook."""
    obj, hook = req.obj, req.hook
    if obj is None:
        return None
    if hook in ("file_open", "bprm_check_security"):
        return lock.check([(obj.path, _open_rights(req, obj))])
    simple = {"inode_create": None, "inode_mkdir": AccessFs.MAKE_DIR,
              "inode_unlink": AccessFs.REMOVE_FILE, "inode_rmdir": AccessFs.REMOVE_DIR}
    if hook in simple:
        right = simple[hook] or _make_right(obj.mode)
        return lock.check([(_parent(obj), right)])
    if hook in ("inode_rename", "inode_link") and req.target is not None:
        return _move(lock, req, obj, req.target)
    if hook in ("inode_setattr", "inode_setxattr"):
        why = f"Landlock does not mediate {req.what or 'this'}"
        setid = req.what == "chmod" and bool(req.flags & 0o6000)
        if any("S_ISUID" in r.reason for r in lock.plan.seccomp_rules if r.syscall == "chmod"):
            why += "; seccomp refuses set-id bits"
        hybrid = any(r.source == defaults.HYBRID_SOURCE for r in lock.plan.seccomp_rules)
        if hybrid and not setid:  # the supervisor asks this same model (plan_guard)
            row = lock.check([(obj.path, AccessFs.WRITE_FILE)])
            return PlanRow(LANDLOCK, row.verdict, row.errno, f"{why}: the supervisor requires "
                           f"the plan's write grant ({row.reason})", row.rule)
        return PlanRow(LANDLOCK, NA, reason=why)
    if hook == "sb_mount":
        if lock.exists and lock.handled_fs:
            return PlanRow(LANDLOCK, DENY, "EPERM", "a Landlock filesystem sandbox refuses "
                           "mount changes")
        return PlanRow(LANDLOCK, NA, reason=lock._no_domain())
    if hook in ("socket_connect", "socket_bind"):
        return _net_row(lock, req, obj)
    if hook == "socket_create":
        return PlanRow(LANDLOCK, NA, reason="Landlock does not restrict socket creation")
    if hook == "ptrace_access_check":
        if not lock.exists:
            return PlanRow(LANDLOCK, NA, reason=lock._no_domain())
        return PlanRow(LANDLOCK, DENY, "EPERM", f"pid {_pid(obj)} is outside the sandbox: a "
                       "Landlock domain may trace only processes in itself or nested in it")
    if hook == "task_kill":
        if lock.exists and Scope.SIGNAL & lock.scopes:
            return PlanRow(LANDLOCK, DENY, "EPERM", f"pid {_pid(obj)} is outside the sandbox: "
                           "the signal scope refuses it", "scope signal")
        why = "signal scope not set by this plan" if lock.exists else lock._no_domain()
        return PlanRow(LANDLOCK, NA, reason=why if lock.abi >= 6 else
                       ll.needs("Landlock signal scoping", 6))
    return None


def _pid(obj: Object) -> str:
    return str(obj.task.pid) if obj.task is not None else obj.path


def _net_row(lock: LandlockModel, req: Request, obj: Object) -> PlanRow:
    right = AccessNet.CONNECT_TCP if req.hook == "socket_connect" else AccessNet.BIND_TCP
    if obj.family not in (socket.AF_INET, socket.AF_INET6) or obj.sock_type != socket.SOCK_STREAM:
        return PlanRow(LANDLOCK, NA, reason="Landlock restricts TCP ports only")
    if not lock.exists or not right & lock.handled_net:
        why = ll.needs("Landlock TCP rules", 4) if lock.abi < 4 else \
            f"{names(right)} not handled by this plan/ABI"
        return PlanRow(LANDLOCK, ALLOW, reason=why)
    rules = [r for r in lock.plan.net_rules if r.port == obj.port and r.access & right]
    if rules:
        return PlanRow(LANDLOCK, ALLOW, reason=f"{names(right)} granted on port {obj.port}",
                       rule=str(rules[0]))
    ports = sorted({r.port for r in lock.plan.net_rules if r.access & right})
    return PlanRow(LANDLOCK, DENY, "EACCES", f"{names(right)} not granted on port {obj.port} "
                   f"(granted: {', '.join(map(str, ports)) or 'no port'})")


# ---- seccomp ------------------------------------------------------------------------------

#: One candidate system call and the integer arguments we know (index -> value).
Call = tuple[str, dict[int, int]]


def _calls(req: Request) -> list[Call]:
    """The system calls that would carry `req` (alternatives: any allowed one will do)."""
    obj, hook = req.obj, req.hook
    if hook == "file_open":
        if req.access & MAY_EXEC:
            return [("execve", {}), ("execveat", {})]
        flags = O_WRONLY if req.access & MAY_WRITE else 0
        flags |= O_APPEND if req.access & MAY_APPEND else 0
        return [("openat", {2: flags, 3: 0}), ("open", {1: flags, 2: 0}), ("openat2", {})]
    if hook == "bprm_check_security":
        return [("execve", {}), ("execveat", {})]
    if hook == "inode_create":
        mode = obj.mode & 0o7777 if obj is not None else 0o644
        flags = O_WRONLY | O_CREAT
        return [("openat", {2: flags, 3: mode}), ("open", {1: flags, 2: mode}), ("creat", {1: mode}),
                ("openat2", {})]
    table: dict[str, list[Call]] = {
        "inode_mkdir": [("mkdirat", {}), ("mkdir", {})],
        "inode_unlink": [("unlinkat", {2: 0}), ("unlink", {})],
        "inode_rmdir": [("unlinkat", {2: AT_REMOVEDIR}), ("rmdir", {})],
        "inode_rename": [("renameat2", {}), ("renameat", {}), ("rename", {})],
        "inode_link": [("linkat", {}), ("link", {})],
        "sb_mount": [("mount", {}), ("move_mount", {})],
        "kernel_read_file": [("finit_module", {}), ("init_module", {})]
        if req.what == "kernel-module" else [],
    }
    if hook in table:
        return table[hook]
    if hook == "inode_setattr" and req.what == "chmod":
        m = req.flags & 0o7777
        return [("fchmodat", {2: m}), ("chmod", {1: m}), ("fchmod", {1: m}), ("fchmodat2", {2: m})]
    if hook == "inode_setattr" and req.what == "chown":
        uid, gid = req.flags >> 32, req.flags & 0xFFFFFFFF
        return [("fchownat", {2: uid, 3: gid}), ("chown", {1: uid, 2: gid}),
                ("fchown", {1: uid, 2: gid})]
    if obj is not None and hook == "socket_create":
        return [("socket", {0: obj.family, 1: obj.sock_type, 2: obj.protocol})]
    if hook == "socket_connect":
        return [("connect", {})]
    if hook == "socket_bind":
        return [("bind", {})]
    if hook == "ptrace_access_check":
        pid = obj.task.pid if obj is not None and obj.task is not None else 0
        return [("ptrace", {0: PTRACE_ATTACH, 1: pid})]
    if hook == "task_kill":
        pid = obj.task.pid if obj is not None and obj.task is not None else 0
        return [("kill", {0: pid, 1: req.signal}), ("pidfd_send_signal", {1: req.signal})]
    return []


def _holds(cond: ArgCmp, args: dict[int, int]) -> bool | None:
    """Whether `cond` holds for the known arguments (None: the argument is not known here)."""
    if cond.arg not in args:
        return None
    value, a = args[cond.arg] & _MASK64, cond.datum_a & _MASK64
    if cond.op is Cmp.MASKED_EQ:
        return value & a == cond.datum_b & _MASK64
    return {Cmp.NE: value != a, Cmp.LT: value < a, Cmp.LE: value <= a, Cmp.EQ: value == a,
            Cmp.GE: value >= a, Cmp.GT: value > a}[cond.op]


def _action_errno(action: Action) -> str | None:
    if action.kind is ActionKind.ERRNO:
        return errname(action.value)
    if action.kind in (ActionKind.KILL_PROCESS, ActionKind.KILL_THREAD):
        return "SIGSYS"
    if action.kind is ActionKind.NOTIFY:
        return "EPERM"  # what prepare makes of it where no supervisor runs
    return None


def _allows(action: Action) -> bool:
    # user-notif: `stockade run` starts a supervisor for these, which decides case by case
    return action.kind in (ActionKind.ALLOW, ActionKind.LOG, ActionKind.NOTIFY)


def _syscall_verdict(plan: EnforcementPlan, call: Call) -> tuple[Action, SeccompRule | None,
                                                                 list[int]]:
    """The action for one call: the first plan rule whose conditions hold, else the default."""
    name, args = call
    unknown: list[int] = []
    for rule in plan.seccomp_rules:
        if rule.syscall != name:
            continue
        results = [_holds(c, args) for c in rule.conditions]
        if all(r is True for r in results):
            return rule.action, rule, unknown
        if None in results and False not in results and not _allows(rule.action):
            unknown += [c.arg for c, r in zip(rule.conditions, results, strict=True) if r is None]
    return plan.seccomp_default, None, unknown


def seccomp_row(plan: EnforcementPlan, req: Request) -> PlanRow | None:
    """Allowed when any system call that carries `req` passes the filter."""
    calls = _calls(req)
    if not calls:
        return None
    parts: list[str] = []
    denied: tuple[Action, SeccompRule | None] | None = None
    for call in calls:
        action, rule, unknown = _syscall_verdict(plan, call)
        more = f" (a rule depends on arg{', arg'.join(map(str, sorted(set(unknown))))}, not known " \
            "here)" if unknown else ""
        if _allows(action):
            default = f"no refusing rule matches (default {plan.seccomp_default})"
            why = f"{rule.reason} [{rule.source}]" if rule is not None and rule.reason else \
                "allowed" if rule is not None else default
            return PlanRow(SECCOMP, ALLOW, None, f"{call[0]}: {why}{more}"
                           + (f"; {'; '.join(parts)}" if parts else ""), str(rule or ""))
        parts.append(f"{call[0]}: {action}" + (f" ({rule.reason})" if rule is not None else
                                                " (default)"))
        denied = denied or (action, rule)
    assert denied is not None
    action, rule = denied
    reason = f"{rule.reason} [{rule.source}]" if rule is not None else \
        f"not allowed by the plan (default {action})"
    others = f"; {'; '.join(parts[1:])}" if len(parts) > 1 else ""
    return PlanRow(SECCOMP, DENY, _action_errno(action), f"{calls[0][0]}: {reason}{others}",
                   str(rule or ""))


def capability_row(plan: EnforcementPlan, req: Request) -> PlanRow:
    """Whether the plan keeps the capability `req.cap`."""
    name = cap_name(req.cap)
    if req.cap in plan.keep_caps:
        return PlanRow(CAPABILITIES, ALLOW, reason=f"the plan keeps {name}",
                       rule=f"capability {name}")
    kept = ", ".join(sorted(cap_name(c) for c in plan.keep_caps)) or "none"
    return PlanRow(CAPABILITIES, DENY, "EPERM", f"{name} is dropped (kept: {kept})")


def explain_plan(plan: EnforcementPlan, req: Request, *, abi: int | None = None,
                 model: LandlockModel | None = None) -> list[PlanRow]:
    """The rows of the plan's kernel layers for `req` (Landlock ABI `abi`, default the kernel's;
    `model`: the plan's LandlockModel, built once by a caller that asks many questions)."""
    if req.hook == "capable":
        return [capability_row(plan, req)]
    # the subject plays the confined program: its /proc/PID is the program's own (a caller's
    # `model` was built for the program it asks about)
    lock = model or LandlockModel(plan, ll.abi_version() if abi is None else abi,
                                  req.subject.pid or None)
    rows = [landlock_row(lock, req), seccomp_row(plan, req)]
    return [r for r in rows if r is not None]

