"""The plan compiler: a `CompiledProfile` -> `EnforcementPlan` + `CoverageReport`.

Every rule of the profile gets exactly one coverage entry (exact, approximated, supervisor or
not-enforced, with why and what would enforce it); `prepare` then adds what the running
kernel (or the ABI given with `--abi`) makes of the plan. The mechanisms:

| rule | mechanism | module |
|---|---|---|
| file, link | Landlock path-beneath rules; deny by splitting directories | plan_files |
| network | seccomp on socket(2) family/type; Landlock TCP ports | plan_net |
| signal, unix (abstract) | Landlock scopes (ABI 6) | plan_net |
| ptrace | seccomp (ptrace, process_vm_*, pidfd_getfd) + Landlock's ptrace rule | plan_net |
| capability | capability sets; unlocks the kernel-modifying calls they are for | plan_syscalls |
| mount, pivot_root, userns, io_uring | seccomp (baseline refuses them) | plan_syscalls |
| set rlimit | setrlimit(2) in the child | plan_syscalls |
| dbus, mqueue, change_profile | not enforceable by the kernel alone | plan_syscalls |
| syscall (stockade extension) | seccomp rules; default action | plan_syscall_rules |
"""

from __future__ import annotations

import errno
from collections.abc import Sequence

from stockade.enforce import defaults
from stockade.enforce import landlock as ll
from stockade.enforce.plan.common import (
    APPROX,
    EXACT,
    NOT_ENFORCED,
    SUPERVISOR,
    Context,
)
from stockade.enforce.plan.files import FileCompiler
from stockade.enforce.plan.glob import TREE
from stockade.enforce.plan.net import (
    PTRACE_SYSCALLS,
    compile_network,
    compile_ptrace,
    compile_signals,
    compile_unix,
)
from stockade.enforce.plan.select import (
    grant_attached_program,
    select_profile,
    transitions,
)
from stockade.enforce.plan.syscall_rules import compile_syscall_rules
from stockade.enforce.plan.syscalls import (
    compile_capabilities,
    compile_misc,
    compile_mount,
    compile_rlimits,
    kept_capabilities,
)
from stockade.enforce.plan.types import (  # ProfilePlan: re-exported, it lived here
    CoverageReport,
    EnforcementPlan,
    ProfilePlan,
    SeccompRule,
)
from stockade.enforce.seccomp import errno_action
from stockade.enforce.timings import PhaseTimer
from stockade.lsm.caps import CAP_LAST_CAP
from stockade.policy import CompiledProfile

#: Profile flags that change how paths are resolved by AppArmor: Landlock works on inodes.
PATH_FLAGS = frozenset({"attach_disconnected", "no_attach_disconnected", "mediate_deleted",
                        "delegate_deleted", "chroot_relative", "namespace_relative",
                        "chroot_attach", "chroot_no_attach"})




def _flags(ctx: Context) -> str:
    """Coverage entries for the profile's flags; returns the mode the plan runs in."""
    prof = ctx.profile
    src = f"{prof.pos.file}:{prof.pos.line}"
    mode = "enforce"
    for flag in prof.flags:
        word = flag.split("=", 1)[0]
        text = f"flags=({flag})"
        if word == "enforce":
            ctx.coverage.add(text, EXACT, source=src)
        elif word in ("complain", "prompt"):
            ctx.coverage.add(text, SUPERVISOR, f"{word} mode (the kernel cannot allow-and-log "
                             "or ask) needs the supervisor: enforcing instead", source=src,
                             enforced_by="supervisor (stockade run --mode complain)")
            ctx.notes.append(f"profile is in {word} mode: enforced here (the kernel alone "
                             "cannot allow and log)")
        elif word == "kill":
            ctx.coverage.add(text, APPROX, "denials fail with EACCES/EPERM; the process is not "
                             "killed", source=src, enforced_by="supervisor")
        elif word == "default_allow":
            ctx.coverage.add(text, APPROX, "narrower: compiled as enforce (what is not allowed "
                             "is denied)", source=src)
        elif word == "audit":
            ctx.coverage.add(text, APPROX, "allowed accesses are not logged (the kernel logs "
                             "denials only)", source=src)
        elif word in PATH_FLAGS or word.startswith("attach_disconnected"):
            ctx.coverage.add(text, EXACT, "path-resolution flag: no effect (Landlock works on "
                             "inodes, not path names)", source=src)
        elif word != "unconfined":
            ctx.coverage.add(text, EXACT, "no effect on enforcement", source=src)
    return mode


def _unconfined(ctx: Context) -> ProfilePlan:
    prof = ctx.profile
    plan = EnforcementPlan(name=prof.name, handled_fs=ll.NO_FS, handled_net=ll.NO_NET,
                           scopes=ll.NO_SCOPE, keep_caps=frozenset(range(CAP_LAST_CAP + 1)),
                           env_set={"STOCKADE_PROFILE": prof.name})
    cov = CoverageReport()
    cov.add("flags=(unconfined)", EXACT, "the profile is unconfined: nothing is restricted "
            "(no_new_privs is still set)", source=f"{prof.pos.file}:{prof.pos.line}")
    ctx.coverage = cov
    for rule in prof.rules:
        ctx.record_part(rule, NOT_ENFORCED, "the profile is unconfined: its rules are not enforced")
    ctx.sort_report()
    return ProfilePlan(prof.name, ctx.abi, plan, cov,
                       [f"profile {prof.name} is unconfined: the program runs unrestricted"],
                       "unconfined")


def _baseline(unlock: set[str]) -> list[SeccompRule]:
    rules = []
    for rule in defaults.baseline_seccomp_rules():
        if rule.syscall in unlock:
            continue
        if ("userns" in unlock and rule.syscall in ("unshare", "clone")
                and "CLONE_NEWUSER" in rule.reason):
            continue
        rules.append(rule)
    if "pidfd_getfd" not in unlock:
        rules.append(SeccompRule("pidfd_getfd", errno_action(errno.EPERM), (),
                                 "takes a file descriptor of another process (no ptrace "
                                 "rule)", "profile: no ptrace trace rule"))
    return rules


def _all_rules(ctx: Context, files: FileCompiler) -> set[str]:
    unlock: set[str] = set()
    for rule in ctx.profile.all_rules:
        ctx.allow_all = True
        files.grant("/", ll.ALL_FS, TREE, f"{rule.pos.file}:{rule.pos.line}")
        ctx.plan.scopes = ll.NO_SCOPE
        unlock.update(PTRACE_SYSCALLS)
        unlock.update({"userns", "io_uring_setup", "io_uring_enter", "io_uring_register"})
        unlock.update(defaults.KEYRING_SYSCALLS)
        ctx.record_part(rule, EXACT, "every file right, socket family, TCP port, signal and ptrace "
                        "allowed; capabilities and deny rules still apply")
    return unlock


def compile_plan(profile: CompiledProfile, *, abi: int | None = None) -> ProfilePlan:
    """Compile `profile` for Landlock ABI `abi` (default: the running kernel's)."""
    abi = ll.abi_version() if abi is None else abi
    plan = EnforcementPlan(name=profile.name, landlock_log=ll.RestrictFlag.LOG_NEW_EXEC_ON,
                           env_set={"STOCKADE_PROFILE": profile.name})
    ctx = Context(profile, abi, plan)
    if "unconfined" in profile.flags:
        return _unconfined(ctx)
    mode = _flags(ctx)
    ctx.kept_caps = kept_capabilities(ctx)
    files = FileCompiler(ctx)
    unlock = _all_rules(ctx, files)
    for rule in profile.file_rules + profile.link_rules:
        files.add(rule)
    plan.fs_rules = files.finish()
    compile_network(ctx)
    compile_signals(ctx)
    compile_unix(ctx)
    unlock |= compile_ptrace(ctx)
    unlock |= compile_capabilities(ctx)
    unlock |= compile_mount(ctx)
    unlock |= compile_misc(ctx)
    compile_rlimits(ctx)
    unlock |= compile_syscall_rules(ctx)
    plan.seccomp_rules = _baseline(unlock) + plan.seccomp_rules
    plan.seccomp_rules += defaults.hybrid_rules(plan.handled_fs, plan.handled_net)
    ctx.sort_report()
    for child in profile.children:
        kind = "hat" if child.is_hat else "child profile"
        refused = " (`run` refuses to start unless --inherit-transitions)" if child.is_hat \
            else ""
        ctx.notes.append(f"{kind} {child.name} is not compiled: without AppArmor there is no "
                         f"transition into it (exec stays in this sandbox){refused}")
    if abi < 1:
        ctx.notes.append("no Landlock: file rules, TCP ports and scopes are not enforced")
    return ProfilePlan(profile.name, abi, plan, ctx.coverage, ctx.notes, mode,
                       transitions(profile))


def compile_file(path: str, include_dirs: Sequence[str] = (), name: str | None = None, *,
                 abi: int | None = None, timings: PhaseTimer | None = None,
                 program: str | None = None) -> ProfilePlan:
    """Parse, compile and plan one profile of the file at `path` (`select_profile`: by name,
    else the one attaching to `program`; `timings`: gets the seconds of the parse, includes,
    compile and plan phases)."""
    from stockade.policy import collector

    timer = timings if timings is not None else PhaseTimer()
    with collector.paused():
        # the build's objects are freed (by their counts) when _build returns: the collector
        # resumes with the plan alone to look at (its first pass had walked the parsed and
        # compiled profile too: 0.23-0.25 s of a 100,000-rule run)
        return _build(path, include_dirs, name, abi, timer, program)


def _build(path: str, include_dirs: Sequence[str], name: str | None, abi: int | None,
           timer: PhaseTimer, program: str | None) -> ProfilePlan:
    from stockade.policy import Loader, compile_profiles
    from stockade.policy.includes import load

    loader = Loader(include_dirs)
    with timer.phase("parse"):
        pf = load(path, loader=loader)
    timer.add("parse", -loader.include_seconds)
    timer.add("includes", loader.include_seconds)
    with timer.phase("compile"):
        profiles = compile_profiles(pf)
    with timer.phase("plan"):
        profile = select_profile(profiles, name, path, program)
        pp = compile_plan(profile, abi=abi)
        pp.inputs = list(loader.inputs)
        if program is not None:
            grant_attached_program(pp, profile, program)
        return pp
