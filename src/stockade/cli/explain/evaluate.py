"""What `stockade explain` computes for one question: the stack and plan a configuration names
(built once, reused by `--batch`), the subject, the requests, every layer's verdict, the answer."""

from __future__ import annotations

import argparse
import os
import signal as signals
import sys
from dataclasses import dataclass
from typing import Any

from stockade.audit.formats import kernel_line
from stockade.audit.record import record_from_event
from stockade.cli._stack_args import spec_from_args
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
from stockade.modules.yama import host_ptrace_scope
from stockade.slotted import replace


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


def requests_of(args: argparse.Namespace, subject: Subject) -> list[Request]:
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


#: the options that decide the stack and plan (a batch reuses both while these stay equal)
CONFIG_OPTIONS = ("lsm", "module_option", "module_file", "profile", "include_dirs",
                  "profile_name", "yama_scope", "lockdown", "loadpin_root", "host_policy")


def config_key(args: argparse.Namespace) -> tuple[Any, ...]:
    """A hashable key of the options that decide the stack and plan."""
    return tuple(tuple(v) if isinstance(v := getattr(args, name), list) else v
                 for name in CONFIG_OPTIONS)


@dataclass
class Configured:
    """The stack (and with --profile the plan) one configuration names."""

    stack: Stack
    plan: Any
    apparmor_label: str | None
    host_policy: Any  # HostPolicy | None: the host's SELinux policy, when the stack uses it
    note: str  # a line for people about the host policy ("" when there is nothing to say)
    model: Any = None  # the plan's Landlock model (landlock_model), built once


def _host_settings(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Yama, Lockdown and LoadPin as this host has them (explain asks offline)."""
    scope = args.yama_scope if args.yama_scope is not None else host_ptrace_scope()
    level = args.lockdown or host_lockdown_level() or "none"
    pin_path = args.loadpin_root or ("/lib/modules" if os.path.isdir("/lib/modules") else "/")
    try:
        pinned = os.stat(pin_path).st_dev
    except OSError:
        raise UsageError(f"--loadpin-root: no such path {pin_path}") from None
    return {"yama": {"scope": 1 if scope is None else scope}, "lockdown": {"level": level},
            "loadpin": {"pinned_dev": pinned}}


def configure(args: argparse.Namespace) -> Configured:
    """The stack of --lsm/--module-option/--module-file (as `run --mode` builds it from the
    same flags, plus DAC and this host's Yama/Lockdown/LoadPin settings), with --profile's
    AppArmor module and plan. Without --lsm the host's SELinux policy joins (unless
    --no-host-policy, or --profile makes AppArmor the major module). Any error is a
    UsageError (exit 2: 1 means "denied"); a plan that cannot compile is a note on stderr."""
    try:
        return _configure(args)
    except StockadeError as err:
        raise UsageError(str(err)) from None


def _configure(args: argparse.Namespace) -> Configured:
    from stockade.modules.selinux.hostconfig import host_policy

    found = host_policy() if args.host_policy else None
    note = ""
    if args.lsm is None and args.profile and found is not None:
        note = f"{found.describe()} not used: --profile makes apparmor the major module"
        found = None
    spec = spec_from_args(args, host_policy=found, base_settings=_host_settings(args))
    extra: dict[str, Any] = {}
    label = None
    if args.profile:
        extra["apparmor"], label = _apparmor(args)
        if "apparmor" not in spec.names():
            spec.lsm = f"{spec.lsm},apparmor"
    if spec.host_policy is not None:
        note = f"{spec.host_policy.describe()}" + (
            "; --no-host-policy leaves it out" if args.lsm is None else "")
    from stockade.cli import progress

    with progress.activity("loading the SELinux policy", show="selinux" in spec.names()):
        stack = spec.build(extra=extra)
    plan = _plan(args, label, extra["apparmor"].policy.get(label)) if args.profile else None
    model = landlock_model(plan) if plan is not None else None
    return Configured(stack, plan, label, spec.host_policy, note, model)


def _apparmor(args: argparse.Namespace) -> tuple[Any, str]:
    """The AppArmor module loaded from --profile, and the profile the subject runs under."""
    from stockade.modules.apparmor import AppArmor

    if not os.path.exists(args.profile):
        from stockade.cli._profile_inputs import not_learned

        raise UsageError(f"--profile: no such file {args.profile}{not_learned(args.profile)}")
    module = AppArmor(profiles=[args.profile], include_dirs=args.include_dirs)
    if not module.policy.top:
        raise UsageError(f"--profile: {args.profile} defines no profile")
    if args.profile_name:
        name = args.profile_name
    else:  # the profile `compile` and `run -p` take from a file of several
        from stockade.enforce.plan.select import select_profile

        try:
            name = select_profile(module.policy.top, None, args.profile).name
        except StockadeError as err:
            raise UsageError(f"--profile: {err}") from None
    if name not in module.policy:
        known = ", ".join(module.policy.names())
        raise UsageError(f"--profile-name: {args.profile} has no profile {name!r} (has: {known})")
    return module, name


def _plan(args: argparse.Namespace, label: str | None, profile: Any) -> Any:
    """The enforcement plan of --profile (same include dirs and profile) as `run -p` of the
    program the profile attaches to enforces it, or None (why not goes to stderr)."""
    from stockade.enforce.plan.profile import compile_file
    from stockade.enforce.plan.select import grant_attached_program

    try:
        pp = compile_file(args.profile, args.include_dirs, label)
    except (StockadeError, OSError) as err:
        sys.stderr.write(f"stockade explain: no plan rows: cannot compile the plan: {err}\n")
        return None
    attached = getattr(profile, "attachment", "") or ""
    if attached.startswith("/") and not set(attached) & set("*?[]{}@"):
        grant_attached_program(pp, profile, attached)  # `run -p -- PROGRAM` may run it again
    return pp.plan


def _plan_rows(plan: Any, req: Request, model: Any) -> list[Any]:
    if plan is None:
        return []
    from stockade.enforce.plan.explain import explain_plan

    return explain_plan(plan, req, model=model)


def landlock_model(plan: Any) -> Any:
    """The plan's Landlock model on this kernel (built once, asked for every request)."""
    from stockade.enforce import landlock as ll
    from stockade.enforce.plan.explain import LandlockModel

    return LandlockModel(plan, ll.abi_version(), os.getpid())  # the subject plays the program


def plan_verdict_text(row: Any) -> str:
    return f"deny {row.errno}" if row.verdict == "deny" and row.errno else row.verdict


def subject_of(args: argparse.Namespace, label: str | None) -> Subject:
    """The subject: --as/--groups/--caps, the --context labels, the --profile's label."""
    from stockade.modules.labels import parse_contexts, with_context

    subject = _subject(args)
    for module, value in parse_contexts(args.context):
        subject = with_context(subject, module, value)
    if label is None:
        return subject
    contexts = (*(c for c in subject.contexts if c[0] != "apparmor"), ("apparmor", label))
    return replace(subject, contexts=contexts)


def verdict_text(verdict: Any, module_mode: str) -> str:
    if verdict is None:
        return "allow (no opinion)"
    if verdict.errno:
        complain = (module_mode == "complain" or verdict.complain) and not verdict.hard
        suffix = " (complain: allowed)" if complain else ""
        return f"deny {verdict.errno_name}{suffix}"
    return "allow+audit" if verdict.audit else "allow"


def reason_text(verdict: Any) -> str:
    """The reason, with the deciding rule when the reason does not already quote it."""
    if verdict is None:
        return ""
    if verdict.rule and verdict.rule not in verdict.reason:
        return f"{verdict.reason} [{verdict.rule}]"
    return verdict.reason


def describe(req: Request) -> str:
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


def evaluate(stack: Stack, plan: Any, requests: list[Request], model: Any = None
             ) -> tuple[list[tuple[Request, Decision]], list[list[Any]], Outcome | None]:
    """Each check of an operation through the stack and the plan's rows, up to the first
    denial: the steps, their plan rows, and the final denial (None: allowed). `model`: the
    plan's `landlock_model` when it is kept for many questions."""
    if plan is not None and model is None:
        model = landlock_model(plan)
    modes = {m.name: m.mode for m in stack.modules}
    steps: list[tuple[Request, Decision]] = []
    plan_rows: list[list[Any]] = []
    final: Outcome | None = None
    for req in requests:
        decision = stack.explain(req)
        steps.append((req, decision))
        plan_rows.append(_plan_rows(plan, req, model))
        final = _outcome(decision, plan_rows[-1], modes, enforced_plan=plan is not None)
        if final is not None:
            break
    return steps, plan_rows, final




@dataclass
class Answer:
    """One question's answer: the checks asked, their plan rows, the final denial, records."""

    requests: list[Request]
    steps: list[tuple[Request, Decision]]
    plan_rows: list[list[Any]]
    final: Outcome | None
    records: list[Any]

    @property
    def status(self) -> int:
        """The exit status: 0 allowed, 1 denied."""
        return 0 if self.final is None else 1


def subject_key(args: argparse.Namespace, conf: Configured) -> tuple[Any, ...]:
    """A hashable key of what decides the subject (a batch reuses subjects while it holds)."""
    return (args.as_user, args.groups, args.caps, tuple(args.context), conf.apparmor_label)


def answer(conf: Configured, args: argparse.Namespace, subject: Subject | None = None) -> Answer:
    """Ask the configured stack (and plan) about the operation `args` names (`subject`:
    `subject_of(args, ...)` when the caller keeps it)."""
    try:
        if subject is None:
            subject = subject_of(args, conf.apparmor_label)
        requests = requests_of(args, subject)
    except StockadeError as err:
        # 1 means "denied": a bad user, pid or path must not look like a denial
        raise UsageError(str(err)) from None
    steps, plan_rows, final = evaluate(conf.stack, conf.plan, requests, conf.model)
    records = [record_from_event(e) for _, d in steps for e in d.events]
    return Answer(requests, steps, plan_rows, final, records)


def answer_json(conf: Configured, ans: Answer) -> dict[str, Any]:
    """The `explain --json` object of one answer."""
    layers: list[dict[str, Any]] = []
    for (req, d), extra in zip(ans.steps, ans.plan_rows, strict=True):
        layers += [
            {"hook": req.hook, "request": describe(req), "module": name,
             "verdict": "none" if v is None else ("deny" if v.errno else "allow"),
             "errno": v.errno_name if v is not None and v.errno else None,
             "reason": v.reason if v is not None else "", "rule": v.rule if v else "",
             "profile": dict(v.fields).get("profile", "") if v is not None else ""}
            for name, v in zip(d.modules, d.layers, strict=True)]
        layers += [
            {"hook": req.hook, "request": describe(req), "module": f"plan:{r.layer}",
             "verdict": r.verdict, "errno": r.errno, "reason": r.reason, "rule": r.rule,
             "profile": conf.plan.name, "plan": True} for r in extra]
    hp = conf.host_policy
    return {
        "decision": "allow" if ans.final is None else "deny",
        "errno": ans.final.errno if ans.final is not None else None,
        "decided_by": ans.final.by if ans.final is not None else None,
        "layers": layers,
        "audit": [kernel_line(r) for r in ans.records],
        "records": [r.to_dict() for r in ans.records],
        "host_policy": None if hp is None else {"name": hp.name, "path": hp.path,
                                                "enforcing": hp.enforcing},
    }
