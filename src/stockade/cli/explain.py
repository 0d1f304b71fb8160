"""`stockade explain`: ask the reference monitor about one operation and show every layer."""

from __future__ import annotations

import argparse
import os
import signal as signals
import sys
from dataclasses import dataclass, replace
from typing import Any

from stockade.audit.formats import kernel_line
from stockade.audit.record import record_from_event
from stockade.cli.output import paint, print_json, table
from stockade.errors import StockadeError, UsageError
from stockade.lsm import operations as ops
from stockade.lsm.caps import caps_mask
from stockade.lsm.module import Mode
from stockade.lsm.probe import (
    file_object,
    lookup_gid,
    lookup_uid,
    subject_for_user,
    subject_from_pid,
    task_object,
)
from stockade.lsm.stack import Decision, Stack, complains
from stockade.lsm.types import Request, Subject
from stockade.modules.lockdown import host_lockdown_level
from stockade.modules.registry import DEFAULT_LSM, build_stack
from stockade.modules.yama import host_ptrace_scope

COMMAND = "explain"
HELP = "show how each security layer decides one operation, and the audit line of a denial"

_EPILOG = """\
With --profile, the rows marked plan:landlock, plan:seccomp and plan:capabilities show what
`stockade run -p FILE` would enforce in the kernel for each check (Landlock rights and ports,
the seccomp rules of the system calls that carry it, the kept capabilities). The decision
and the exit status are then what `run -p` enforces: the host's layers and the plan's rows;
the apparmor row shows what the profile means where the plan approximates it."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `stockade explain`."""
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("operation", metavar="OPERATION", choices=ops.OPERATIONS,
                        help=", ".join(ops.OPERATIONS))
    parser.add_argument("target", metavar="TARGET", help="a path, HOST:PORT or a pid")
    parser.add_argument("--lsm", default=DEFAULT_LSM, help=f"module order (default {DEFAULT_LSM})")
    parser.add_argument("--as", dest="as_user", metavar="USER|UID",
                        help="the subject's user (default: this process's credentials)")
    parser.add_argument("--groups", help="supplementary groups, comma-separated")
    parser.add_argument("--caps", help="effective capabilities: names, 'all' or 'none'")
    subject = parser.add_argument_group("hypothetical object")
    subject.add_argument("--owner", help="owner of the target (or of a file to create)")
    subject.add_argument("--group", help="group of the target")
    subject.add_argument("--mode", help="mode bits of the target, octal")
    extra = parser.add_argument_group("operation arguments")
    extra.add_argument("--to", metavar="DEST", help="destination of rename")
    extra.add_argument("--new-mode", help="chmod: the new mode, octal")
    extra.add_argument("--new-owner", metavar="USER[:GROUP]", help="chown: the new owner")
    extra.add_argument("--signal", default="TERM", help="kill: the signal (default TERM)")
    extra.add_argument("--fstype", default="", help="mount: the filesystem type")
    mods = parser.add_argument_group("module settings")
    mods.add_argument("--yama-scope", type=int, choices=range(4), metavar="0-3",
                      help="Yama ptrace_scope (default: this host's, else 1)")
    mods.add_argument("--lockdown", choices=("none", "integrity", "confidentiality"),
                      help="Lockdown level (default: this host's, else none)")
    mods.add_argument("--loadpin-root", metavar="PATH", default=None,
                      help="LoadPin's pinned filesystem: the one holding PATH "
                           "(default /lib/modules, else /)")
    aa = parser.add_argument_group("apparmor")
    aa.add_argument("--profile", metavar="FILE",
                    help="confine the subject by an AppArmor profile file (adds apparmor to --lsm) "
                         "and show what `stockade run -p FILE` would enforce in the kernel")
    aa.add_argument("-I", "--include", dest="include_dirs", action="append", default=[],
                    metavar="DIR", help="include search directory for --profile (repeatable)")
    aa.add_argument("--profile-name", metavar="NAME",
                    help="the profile of FILE to use (default: the first one)")
    mods.add_argument("--context", action="append", default=[], metavar="MODULE=LABEL",
                      help="the subject's label for a module, e.g. "
                           "tomoyo='<kernel> /usr/bin/cat' (repeatable)")
    mods.add_argument("--module-option", action="append", default=[],
                      metavar="MODULE.KEY=VALUE",
                      help="a module setting, VALUE as JSON or text, e.g. "
                           "tomoyo.policy_dir=/etc/tomoyo (repeatable)")
    mods.add_argument("--module-file", action="append", default=[], metavar="FILE",
                      help="a programmable module: a Python file whose @hook functions join "
                           "the stack as a minor module (repeatable; runs with your privileges)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _octal(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    if not text or any(c not in "01234567" for c in text) or int(text, 8) > 0o7777:
        raise UsageError(f"{what} must be octal mode bits (0-7777), not {text!r}")
    return int(text, 8)


def _subject(args: argparse.Namespace) -> Subject:
    caps = caps_mask(args.caps.split(",")) if args.caps is not None else None
    groups = args.groups.split(",") if args.groups else None
    if args.as_user is None:
        me = subject_from_pid(os.getpid())
        if caps is None and groups is None:
            return me
        return subject_for_user(me.uid, groups=groups,
                                caps=me.cap_effective if caps is None else caps)
    return subject_for_user(args.as_user, groups=groups, caps=caps)


def _with_contexts(args: argparse.Namespace, subject: Subject) -> Subject:
    """`subject` with the --context labels."""
    from stockade.modules.labels import parse_contexts, with_context

    for module, label in parse_contexts(args.context):
        subject = with_context(subject, module, label)
    return subject


def _requests(args: argparse.Namespace, subject: Subject) -> list[Request]:
    op = args.operation
    if not args.target or "\0" in args.target:
        raise UsageError(f"{op} needs a target, not {args.target!r}")
    if op in ops.NET_OPERATIONS:
        return ops.net_requests(op, subject, ops.parse_peer(args.target))
    if op in ops.TASK_OPERATIONS:
        pid = _pid(op, args.target)
        sig = _signal_number(args.signal)
        return ops.task_requests(op, subject, task_object(pid), sig)
    owner = lookup_uid(args.owner)[0] if args.owner else None
    group = lookup_gid(args.group) if args.group else None
    follow = op not in ("unlink", "rmdir", "rename")
    obj = file_object(args.target, follow=follow, owner=owner, group=group,
                      mode=_octal(args.mode, "--mode"))
    target = file_object(args.to, follow=False) if args.to else None
    new_owner = None
    if args.new_owner:
        user, _, grp_name = args.new_owner.partition(":")
        uid = lookup_uid(user)[0] if user else obj.uid
        new_owner = (uid, lookup_gid(grp_name) if grp_name else obj.gid)
    return ops.file_requests(op, subject, obj, target=target,
                             new_mode=_octal(args.new_mode, "--new-mode"),
                             new_owner=new_owner, fstype=args.fstype)


_PID_MAX = 1 << 22  # PID_MAX_LIMIT on 64-bit kernels


def _signal_number(text: str) -> int:
    """A signal by number (0, the existence check, to SIGRTMAX) or name (TERM, SIGHUP)."""
    if text.isascii() and text.lstrip("-+").isdigit():
        number = int(text)
        if not 0 <= number <= signals.SIGRTMAX:
            raise UsageError(f"--signal out of range (0-{int(signals.SIGRTMAX)}): {text}")
        return number
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    found = getattr(signals.Signals, name, None) if name.isidentifier() else None
    if found is None:
        raise UsageError(f"unknown signal {text!r}")
    return int(found)


def _pid(op: str, text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= _PID_MAX:
        raise UsageError(f"{op} needs a pid (1-{_PID_MAX}), not {text!r}")
    return int(text)


def _stack(args: argparse.Namespace) -> Stack:
    scope = args.yama_scope if args.yama_scope is not None else host_ptrace_scope()
    level = args.lockdown or host_lockdown_level() or "none"
    pin_path = args.loadpin_root or ("/lib/modules" if os.path.isdir("/lib/modules") else "/")
    try:
        pinned = os.stat(pin_path).st_dev
    except OSError:
        raise UsageError(f"--loadpin-root: no such path {pin_path}") from None
    settings: dict[str, dict[str, Any]] = {
        "yama": {"scope": 1 if scope is None else scope},
        "lockdown": {"level": level},
        "loadpin": {"pinned_dev": pinned},
    }
    if args.module_option:
        from stockade.enforce.supervisor.setup import parse_options

        for module, values in parse_options(args.module_option).items():
            settings.setdefault(module, {}).update(values)
    lsm, extra = args.lsm, {}
    if args.module_file:
        from stockade.modules.programmable import load_module_files, lsm_with

        extra.update(load_module_files(args.module_file))
        lsm = lsm_with(lsm, extra)
    if args.profile:
        module = _apparmor(args)
        extra["apparmor"] = module
        if "apparmor" not in [n.strip() for n in lsm.split(",")]:
            lsm = f"{lsm},apparmor"
    return build_stack(lsm, settings=settings, extra=extra)


def _apparmor(args: argparse.Namespace) -> Any:
    """The AppArmor module loaded from --profile, and the profile the subject runs under."""
    from stockade.modules.apparmor import AppArmor

    if not os.path.exists(args.profile):
        raise UsageError(f"--profile: no such file {args.profile}")
    module = AppArmor(profiles=[args.profile], include_dirs=args.include_dirs)
    if not module.policy.top:
        raise UsageError(f"--profile: {args.profile} defines no profile")
    if args.profile_name:
        name = args.profile_name
    else:  # the profile `compile` and `run -p` take from a file of several
        from stockade.enforce.plan_select import select_profile

        try:
            name = select_profile(module.policy.top, None, args.profile).name
        except StockadeError as err:
            raise UsageError(f"--profile: {err}") from None
    if name not in module.policy:
        known = ", ".join(module.policy.names())
        raise UsageError(f"--profile-name: {args.profile} has no profile {name!r} (has: {known})")
    args.apparmor_label = name
    return module


def _plan(args: argparse.Namespace) -> Any:
    """The enforcement plan of --profile (same include dirs and profile), or None with a note."""
    from stockade.enforce.plan import compile_file

    try:
        return compile_file(args.profile, args.include_dirs,
                            getattr(args, "apparmor_label", None)).plan
    except (StockadeError, OSError) as err:
        print(f"stockade explain: no plan rows: cannot compile the plan: {err}", file=sys.stderr)
        return None


def _plan_rows(plan: Any, req: Request) -> list[Any]:
    if plan is None:
        return []
    from stockade.enforce.plan_explain import explain_plan

    return explain_plan(plan, req)


def _plan_verdict_text(row: Any) -> str:
    return f"deny {row.errno}" if row.verdict == "deny" and row.errno else row.verdict


def _confine(args: argparse.Namespace, subject: Subject) -> Subject:
    label = getattr(args, "apparmor_label", None)
    if label is None:
        return subject
    contexts = (*(c for c in subject.contexts if c[0] != "apparmor"), ("apparmor", label))
    return replace(subject, contexts=contexts)


def _verdict_text(verdict: Any, module_mode: str) -> str:
    if verdict is None:
        return "allow (no opinion)"
    if verdict.errno:
        complain = (module_mode == "complain" or verdict.complain) and not verdict.hard
        suffix = " (complain: allowed)" if complain else ""
        return f"deny {verdict.errno_name}{suffix}"
    return "allow+audit" if verdict.audit else "allow"


def _reason(verdict: Any) -> str:
    """The reason, with the deciding rule when the reason does not already quote it."""
    if verdict is None:
        return ""
    if verdict.rule and verdict.rule not in verdict.reason:
        return f"{verdict.reason} [{verdict.rule}]"
    return verdict.reason


def _describe(req: Request) -> str:
    if req.hook == "capable":
        from stockade.lsm.caps import cap_name
        return f"capable(CAP_{cap_name(req.cap).upper()})"
    if req.hook == "locked_down":
        return f"locked_down({req.what})"
    obj = req.obj
    if obj is None:
        return req.hook
    if obj.kind == "socket":
        return f"{req.hook} {obj.address}:{obj.port}" if obj.port or obj.address else req.hook
    if obj.kind == "task" and obj.task is not None:
        return f"{req.hook} pid {obj.task.pid} ({obj.task.comm})"
    return f"{req.hook} {obj.path}"


@dataclass(frozen=True)
class Outcome:
    """The final denial: its errno name and the layer that decided it."""

    errno: str
    by: str


def _denies(name: str, verdict: Any, modes: dict[str, Mode]) -> bool:
    """Whether a module's verdict refuses (complain mode lets a denial through)."""
    if verdict is None or not verdict.errno:
        return False
    return not complains(modes.get(name, Mode.ENFORCE), verdict)


def _outcome(decision: Decision, rows: list[Any], modes: dict[str, Mode], *,
             enforced_plan: bool) -> Outcome | None:
    """The denial of one step, or None when it is allowed.

    With --profile the answer is what `run -p` enforces: the host's own layers (capability,
    Yama, Lockdown, ...) and the plan's kernel layers (Landlock, seccomp, the supervisor's
    hybrid checks). The AppArmor module's row says what the profile means; it is not enforced
    by itself (there is no AppArmor in the kernel), the plan is, approximations included.
    """
    if not enforced_plan:
        if decision.allowed:
            return None
        assert decision.decider is not None
        return Outcome(decision.decider.errno_name, decision.decider.module)
    for name, verdict in zip(decision.modules, decision.layers, strict=True):
        if name != "apparmor" and _denies(name, verdict, modes):
            return Outcome(verdict.errno_name, name)
    for row in rows:
        if row.verdict == "deny":
            return Outcome(row.errno or "EACCES", f"plan:{row.layer}")
    return None


def evaluate(stack: Stack, plan: Any, requests: list[Request]
             ) -> tuple[list[tuple[Request, Decision]], list[list[Any]], Outcome | None]:
    """Each check of an operation through the stack and the plan's rows, up to the first
    denial: the steps, their plan rows, and the final denial (None: allowed)."""
    modes = {m.name: m.mode for m in stack.modules}
    steps: list[tuple[Request, Decision]] = []
    plan_rows: list[list[Any]] = []
    final: Outcome | None = None
    for req in requests:
        decision = stack.explain(req)
        steps.append((req, decision))
        plan_rows.append(_plan_rows(plan, req))
        final = _outcome(decision, plan_rows[-1], modes, enforced_plan=plan is not None)
        if final is not None:
            break
    return steps, plan_rows, final


def run(args: argparse.Namespace) -> int:
    """Explain one operation; exit 0 when allowed, 1 when denied, 2 for bad input."""
    try:
        stack = _stack(args)
        subject = _confine(args, _with_contexts(args, _subject(args)))
        requests = _requests(args, subject)
    except StockadeError as err:
        # 1 means "denied": a bad user, pid or path must not look like a denial
        raise UsageError(str(err)) from None
    plan = _plan(args) if args.profile else None
    modes = {m.name: m.mode.value for m in stack.modules}
    steps, plan_rows, final = evaluate(stack, plan, requests)
    records = [record_from_event(e) for _, d in steps for e in d.events]
    audit_lines = [kernel_line(r) for r in records]
    if args.json:
        layers: list[dict[str, Any]] = []
        for (req, d), extra in zip(steps, plan_rows, strict=True):
            layers += [
                {"hook": req.hook, "request": _describe(req), "module": name,
                 "verdict": "none" if v is None else ("deny" if v.errno else "allow"),
                 "errno": v.errno_name if v is not None and v.errno else None,
                 "reason": v.reason if v is not None else "", "rule": v.rule if v else "",
                 "profile": dict(v.fields).get("profile", "") if v is not None else ""}
                for name, v in zip(d.modules, d.layers, strict=True)]
            layers += [
                {"hook": req.hook, "request": _describe(req), "module": f"plan:{r.layer}",
                 "verdict": r.verdict, "errno": r.errno, "reason": r.reason, "rule": r.rule,
                 "profile": plan.name, "plan": True} for r in extra]
        print_json({
            "decision": "allow" if final is None else "deny",
            "errno": final.errno if final is not None else None,
            "decided_by": final.by if final is not None else None,
            "layers": layers,
            "audit": audit_lines,
            "records": [r.to_dict() for r in records],
        })
        return 0 if final is None else 1
    out = sys.stdout
    for (req, d), extra in zip(steps, plan_rows, strict=True):
        out.write(paint(_describe(req), "bold") + "\n")
        rows = [(name, _verdict_text(v, modes.get(name, "enforce")), _reason(v))
                for name, v in zip(d.modules, d.layers, strict=True)]
        rows += [(f"plan:{r.layer}", _plan_verdict_text(r),
                  f"{r.reason} [{r.rule}]" if r.rule and r.rule not in r.reason else r.reason)
                 for r in extra]
        if rows:
            table(("  module", "verdict", "reason"), [("  " + r[0], r[1], r[2]) for r in rows])
        else:
            out.write("  (no module implements this hook)\n")
    if len(steps) < len(requests):
        out.write(paint(f"({len(requests) - len(steps)} later check(s) not reached)", "dim") + "\n")
    enforced = " (as `run -p` enforces it)" if plan is not None else ""
    if final is None:
        out.write(paint(f"decision: allow{enforced}", "green") + "\n")
    else:
        out.write(paint(f"decision: deny ({final.errno}) by {final.by}{enforced}", "red") + "\n")
    for line in audit_lines:
        out.write(paint("audit: ", "dim") + line + "\n")
    return 0 if final is None else 1
