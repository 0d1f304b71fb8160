"""Turn an `EnforcementPlan` into kernel objects for the running kernel, before fork.

`prepare` negotiates the Landlock ABI (rights the kernel lacks are dropped and reported),
builds the Landlock ruleset fd with every path opened O_PATH now, compiles the seccomp filter
to BPF, works out the capability masks and the environment, and returns a `Prepared` whose
child side (`launcher`) is a handful of system calls. The `CoverageReport` says rule by rule
what this kernel enforces; in strict mode anything short of exact refuses the launch.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

from stockade.enforce import caps as capmod
from stockade.enforce import coverage_scope, fsbatch, launcher_guard
from stockade.enforce import landlock as ll
from stockade.enforce import seccomp as sc
from stockade.enforce._libc import MACHINE
from stockade.enforce.plan.types import (
    CoverageEntry,
    CoverageReport,
    CoverageStatus,
    EnforcementPlan,
    FsRule,
    SeccompRule,
)
from stockade.errors import StockadeError, UnsupportedError
from stockade.slotted import Slotted, from_columns

#: what a rule left to the supervisor gets where no supervisor runs (plain launcher, containers)
NOTIFY_FALLBACK = sc.errno_action(errno.EPERM)

EXACT = CoverageStatus.EXACT
APPROX = CoverageStatus.APPROXIMATED
NOT_ENFORCED = CoverageStatus.NOT_ENFORCED

#: Exit status of `stockade run` when confinement itself fails (as `env`/`chroot` use 125).
SETUP_FAILED_EXIT = 125


class Prepared(Slotted):
    """A plan made concrete for this kernel; `close()` releases the ruleset fd."""

    FIELDS = ("plan", "coverage", "landlock_abi", "landlock_errata", "ruleset_fd",
              "landlock_active", "restrict_flags", "bpf", "seccomp_flags", "keep_caps",
              "trim_bounding", "lock_securebits", "raise_ambient", "env", "notes",
              "abi_override", "dry_run", "handled_fs", "supervisor_ruleset_fd", "real_paths")
    __slots__ = FIELDS

    def __init__(self, plan: EnforcementPlan, coverage: CoverageReport, *,
                 abi_override: int | None = None, dry_run: bool = False) -> None:
        self.plan = plan
        self.coverage = coverage
        self.landlock_abi = 0
        self.landlock_errata = 0
        self.ruleset_fd = -1
        self.landlock_active = False
        self.restrict_flags = 0
        self.bpf: sc.BpfProgram | None = None
        self.seccomp_flags = 0
        self.keep_caps = 0
        self.trim_bounding = False
        self.lock_securebits = False
        self.raise_ambient = False
        self.env: dict[str, str] = {}
        self.notes: list[str] = []
        self.abi_override = abi_override  # compile for this Landlock ABI, not the running one
        self.dry_run = dry_run  # report only: no Landlock ruleset is created
        self.handled_fs = ll.NO_FS  # what the ruleset handles on this kernel
        #: the supervisor thread's ruleset when it differs (own /proc rules, plan_proc)
        self.supervisor_ruleset_fd = -1
        #: the grants' paths opened with no link on the way: their own real paths, which the
        #: rules are on (the supervisor's plan model need not resolve them again)
        self.real_paths: frozenset[str] = frozenset()

    def grant_own_proc(self, pid: int) -> None:
        """Add the plan's rules on the program's own /proc/`pid` to the ruleset (after fork,
        before the child restricts itself: the ruleset is shared). Entries gone meanwhile
        are skipped, as the plan's other optional rules."""
        if self.ruleset_fd < 0 or not self.plan.own_proc:
            return
        from stockade.enforce.plan.proc import own_proc_rules

        for rule in own_proc_rules(self.plan, pid):
            rights = rule.access & self.handled_fs
            try:
                fd = os.open(rule.path, os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError as err:
                if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    continue
                raise StockadeError(f"{rule.source or rule.path}: {err.strerror}") from None
            _add_path_rules(fd, rights, [self.ruleset_fd])

    def close(self) -> None:
        """Close the Landlock ruleset fds held for the child (and the supervisor)."""
        if self.ruleset_fd >= 0:
            os.close(self.ruleset_fd)
            self.ruleset_fd = -1
        if self.supervisor_ruleset_fd >= 0:
            os.close(self.supervisor_ruleset_fd)
            self.supervisor_ruleset_fd = -1

    def __enter__(self) -> Prepared:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _by(abi: int) -> str:
    return f"Landlock ABI {abi} (Linux {ll.ABI_KERNEL[abi]})"


def _handled(plan: EnforcementPlan, abi: int) -> tuple[ll.AccessFs, ll.AccessNet, ll.Scope]:
    """The file rights, TCP rights and scopes of `plan` that Landlock ABI `abi` handles."""
    return (plan.handled_fs & ll.rights_for_abi(ll.AccessFs, abi),
            plan.handled_net & ll.rights_for_abi(ll.AccessNet, abi),
            plan.scopes & ll.rights_for_abi(ll.Scope, abi))


def _landlock(plan: EnforcementPlan, out: Prepared, supervised: bool = False) -> None:
    cov = out.coverage
    st = ll.status()
    if out.abi_override is not None:
        st = ll.LandlockStatus(out.abi_override, 0, "" if out.abi_override else
                               "--abi 0: as a kernel without Landlock")
    out.landlock_abi, out.landlock_errata = st.abi, st.errata
    wants_landlock = plan.handled_fs or plan.handled_net or plan.scopes
    if not wants_landlock:
        return
    if st.abi < 1:
        cov.add("Landlock sandbox (filesystem, TCP, scopes)", NOT_ENFORCED, st.reason,
                enforced_by=_by(1))
        return
    handled_fs, handled_net, scopes = _handled(plan, st.abi)
    log_flags = plan.landlock_log & ll.rights_for_abi(ll.RestrictFlag, st.abi)

    if handled_fs:
        cov.add("deny filesystem access not granted: " + ",".join(ll.flag_names(handled_fs)),
                EXACT, enforced_by=_by(st.abi))
    for right in ll.AccessFs:
        if right in plan.handled_fs and right not in handled_fs:
            if right is ll.AccessFs.REFER:
                cov.add("restrict reparenting (fs.refer)", APPROX,
                        "ABI 1 denies every cross-directory rename and link (stricter)",
                        enforced_by=_by(2))
            else:
                cov.add(f"deny fs.{ll.flag_name(right)} not granted", NOT_ENFORCED,
                        f"this kernel has Landlock ABI {st.abi}",
                        enforced_by=_by(ll.min_abi(right)))
    if plan.handled_net:
        if handled_net:
            cov.add("deny TCP " + ",".join(ll.flag_names(handled_net)) + " on ports not granted",
                    EXACT, "run --bind-tcp PORT / --connect-tcp PORT grants one",
                    enforced_by=_by(st.abi))
        else:
            cov.add("deny TCP bind/connect on ports not granted", NOT_ENFORCED,
                    f"this kernel has Landlock ABI {st.abi}", enforced_by=_by(4))
    for scope in ll.Scope:
        if scope in plan.scopes:
            label = f"scope {ll.flag_name(scope)} to the sandbox"
            if scope in scopes:
                cov.add(label, EXACT, enforced_by=_by(st.abi))
            else:
                cov.add(label, NOT_ENFORCED, f"this kernel has Landlock ABI {st.abi}",
                        enforced_by=_by(6))
    dropped_log = plan.landlock_log & ~log_flags
    if dropped_log:  # logging is not an access rule: a note, not a coverage entry
        out.notes.append(f"Landlock log flags {','.join(ll.flag_names(dropped_log))} dropped "
                         f"(they need {_by(7)})")

    if not (handled_fs or handled_net or scopes):
        return
    if out.dry_run:
        _report_rules(plan, out, handled_fs, handled_net, st.abi)
        return
    built = _take_offer(plan, (st.abi, handled_fs, handled_net, scopes),
                        _supervisor_rights(plan, handled_fs) if supervised else ll.NO_FS)
    if built is None:
        built = _rulesets(plan, st.abi, handled_fs, handled_net, scopes, supervised)
    rulesets = [each for each in (built.inner, built.outer) if each is not None]
    try:
        todo, opened = built.todo, built.opened
        out.real_paths = frozenset(rule.path for (rule, _), result in zip(todo, opened,
                                                                        strict=True)
                                   if result == fsbatch.OPENED_REAL)
        by = _by(st.abi)
        _grant_entries(cov, todo, opened, by)
        for net in plan.net_rules:
            net_rights = net.access & handled_net
            if net_rights:
                for each in rulesets:
                    each.add_port(net.port, net_rights)
                cov.add(f"allow {net}", EXACT, source=net.source, enforced_by=_by(st.abi))
    except BaseException:
        built.close()
        raise
    if built.outer is not None:
        out.supervisor_ruleset_fd = built.outer.fd
    out.ruleset_fd = built.inner.fd
    out.handled_fs = handled_fs
    out.landlock_active = True
    out.restrict_flags = int(log_flags)


def _grant_entries(cov: CoverageReport, todo: list[tuple[FsRule, int]], opened: list[int],
                   by: str) -> None:
    """One coverage entry per grant of `todo` (`allow RULE`), by what opening it gave
    (`opened`: fsbatch.add_path_rules): exact, enforced `by`; a grant of a glob gone since,
    approximated; any other error refuses the launch, after the entries before it. Made
    column by column (slotted.from_columns: 1.6 -> 0.8 ms for a hit's ~1,800 grants)."""
    rules = [rule for rule, _ in todo]
    n = len(rules)
    statuses, details, bys = [EXACT] * n, [""] * n, [by] * n
    refused = None
    for i in [i for i, result in enumerate(opened) if result < 0]:
        rule, err = rules[i], -opened[i]
        if err == errno.ELOOP:
            refused = StockadeError(f"{rule.source or rule.path}: {rule.path} has a symbolic "
                                    "link on its path now (none when the plan was made): "
                                    "refused, a sandbox may have swapped it in",
                                    SETUP_FAILED_EXIT)
        elif rule.optional and err in (errno.ENOENT, errno.ENOTDIR):
            statuses[i], details[i], bys[i] = APPROX, "gone before launch: not granted", ""
            continue
        else:
            refused = StockadeError(f"{rule.source or rule.path}: {os.strerror(err)}")
        del rules[i:]
        break
    k = len(rules)
    cov.add_entries(from_columns(CoverageEntry, [[f"allow {rule}" for rule in rules],
                                                 [rule.source for rule in rules], statuses[:k],
                                                 details[:k], bys[:k]]))
    if refused is not None:
        raise refused


class Rulesets(Slotted):
    """The Landlock rulesets of a plan's file grants: the program's (`inner`) and, for a
    supervised launch, the supervisor thread's (`outer`, see `_supervisor_ruleset`; None when
    the program's serves), with each grant's path opened and added: `todo` (rule, rights
    added) and what opening each gave (`opened`: fsbatch.add_path_rules). `key` is what they
    were built for: (Landlock ABI, handled fs, handled net, scopes); `outer_rights` the /proc
    rights of the outer one."""

    FIELDS = ("key", "inner", "outer", "outer_rights", "todo", "opened")
    __slots__ = FIELDS

    def __init__(self, key: tuple[int, ll.AccessFs, ll.AccessNet, ll.Scope],
                 inner: ll.Ruleset, outer: ll.Ruleset | None, outer_rights: ll.AccessFs,
                 todo: list[tuple[FsRule, int]] | None = None,
                 opened: list[int] | None = None) -> None:
        self.key, self.inner, self.outer, self.outer_rights = key, inner, outer, outer_rights
        self.todo: list[tuple[FsRule, int]] = [] if todo is None else todo
        self.opened: list[int] = [] if opened is None else opened

    def add(self, rules: list[FsRule]) -> None:
        """Open `rules`' paths and add them with the rights `key` handles (one call: C when
        built, enforce/fsbatch.py; an open error is recorded in `opened`, judged by
        `_landlock`). OSError when adding a rule failed."""
        todo = _todo(rules, self.key[1])
        self.opened += fsbatch.add_path_rules(
            [rule.path for rule, _ in todo], [rights for _, rights in todo],
            int(ll.FILE_RIGHTS), [each.fd for each in (self.inner, self.outer) if each])
        self.todo += todo

    def close(self) -> None:
        """Close both rulesets."""
        for each in (self.inner, self.outer):
            if each is not None:
                each.close()


def _todo(rules: list[FsRule], handled_fs: ll.AccessFs) -> list[tuple[FsRule, int]]:
    """The rules that grant some of the handled rights, with those rights."""
    handled = int(handled_fs)
    todo = [(rule, int(rule.access) & handled) for rule in rules]
    return [(rule, rights) for rule, rights in todo if rights]


def _rulesets(plan: EnforcementPlan, abi: int, handled_fs: ll.AccessFs,
              handled_net: ll.AccessNet, scopes: ll.Scope, supervised: bool) -> Rulesets:
    """New rulesets with `plan`'s file grants (see `Rulesets`)."""
    # The supervisor thread restricts itself before it forks the program, whose own /proc/PID
    # is granted only after fork: its domain must leave /proc to the program's (nested) one.
    outer_rights = _supervisor_rights(plan, handled_fs) if supervised else ll.NO_FS
    inner = ll.Ruleset(handled_fs, handled_net, scopes, abi=abi)
    try:
        outer = _supervisor_ruleset(handled_fs, handled_net, scopes, abi, outer_rights)
    except BaseException:
        inner.close()
        raise
    built = Rulesets((abi, handled_fs, handled_net, scopes), inner, outer, outer_rights)
    try:
        built.add(plan.fs_rules)
    except BaseException:
        built.close()
        raise
    return built


#: rulesets built ahead for `prepare` to take (`prebuild`): at most one set, its fds open
_offered: list[Rulesets] = []


def prebuild(plan: EnforcementPlan) -> None:
    """Build the rulesets of `plan`'s file grants now, for `prepare` to take when it prepares
    this plan, or one that adds grants after its own (a profile's plan merged with ad-hoc
    flags). A plan cache hit calls this while its directory re-check runs on another CPU, so
    that the kernel's opens and rules (~7 ms for abstractions/base) overlap the stats (~8
    ms): nothing is enforced before the program restricts itself, so a plan found stale
    meanwhile costs only the work (`withdraw`). Built for a supervised launch (the outer
    ruleset is dropped when the launch is not). An error offers nothing: `prepare` builds
    again and reports it."""
    withdraw()
    st = ll.status()
    if st.abi < 1:
        return
    handled_fs, handled_net, scopes = _handled(plan, st.abi)
    if not (handled_fs or handled_net or scopes):
        return
    try:
        built = _rulesets(plan, st.abi, handled_fs, handled_net, scopes, supervised=True)
    except (OSError, StockadeError):
        return
    _offered.append(built)


def withdraw() -> None:
    """Close the rulesets `prebuild` offered and `prepare` did not take."""
    while _offered:
        _offered.pop().close()


def _take_offer(plan: EnforcementPlan, key: tuple[int, ll.AccessFs, ll.AccessNet, ll.Scope],
                outer_rights: ll.AccessFs) -> Rulesets | None:
    """The offered rulesets when they hold what `_rulesets` would build for `plan`: built for
    the same key, for the very rule objects (and rights) that begin `plan`'s grants (the rest
    are added now), and with the outer ruleset the launch needs (dropped when it needs
    none); else None (and they are closed)."""
    if not _offered:
        return None
    built = _offered.pop()
    done = len(built.todo)
    todo = _todo(plan.fs_rules, key[1])
    if (built.key != key or len(todo) < done
            or not all(a is b and ra == rb for (a, ra), (b, rb)
                       in zip(todo[:done], built.todo, strict=True))
            or (outer_rights and built.outer_rights != outer_rights)):
        built.close()
        return None
    if not outer_rights and built.outer is not None:
        built.outer.close()
        built.outer, built.outer_rights = None, ll.NO_FS
    try:
        built.add([rule for rule, _ in todo[done:]])
    except BaseException:
        built.close()
        raise
    return built


def _add_path_rules(fd: int, rights: ll.AccessFs, ruleset_fds: list[int]) -> None:
    """Grant `rights` beneath the file open (O_PATH) as `fd` in each ruleset (only the rights
    a file can have when it is not a directory), then close `fd`."""
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= ll.FILE_RIGHTS
        if rights:
            for ruleset_fd in ruleset_fds:
                ll.add_path_rule(ruleset_fd, fd, rights)
    finally:
        os.close(fd)


def _supervisor_rights(plan: EnforcementPlan, handled_fs: ll.AccessFs) -> ll.AccessFs:
    """For a supervised launch: the rights on /proc that the supervisor thread's own ruleset
    grants (those the plan's own-/proc rules may grant: the program's nested domain narrows
    them to its own entries); none when the plan's own ruleset serves."""
    rights = ll.AccessFs(0)
    for rule in plan.own_proc:
        if not rule.deny:
            for _kind, access in rule.rights:
                rights |= access
    return rights & handled_fs


def _supervisor_ruleset(handled_fs: ll.AccessFs, handled_net: ll.AccessNet, scopes: ll.Scope,
                        abi: int, rights: ll.AccessFs) -> ll.Ruleset | None:
    """The supervisor thread's ruleset, granting /proc with `rights` (see
    `_supervisor_rights`; None when there are none)."""
    if not rights:
        return None
    outer = ll.Ruleset(handled_fs, handled_net, scopes, abi=abi)
    try:
        outer.add_path("/proc", rights)
    except BaseException:
        outer.close()
        raise
    return outer


def _report_rules(plan: EnforcementPlan, out: Prepared, handled_fs: ll.AccessFs,
                  handled_net: ll.AccessNet, abi: int) -> None:
    """The coverage of the grants without building a ruleset (`dry_run`)."""
    for rule in plan.fs_rules:
        if rule.access & handled_fs:
            if not os.path.lexists(rule.path):
                if rule.optional:
                    out.coverage.add(f"allow {rule}", APPROX, "gone before launch: not granted",
                                     source=rule.source)
                    continue
                raise StockadeError(f"{rule.source or rule.path}: No such file or directory")
            out.coverage.add(f"allow {rule}", EXACT, source=rule.source, enforced_by=_by(abi))
    for net in plan.net_rules:
        if net.access & handled_net:
            out.coverage.add(f"allow {net}", EXACT, source=net.source, enforced_by=_by(abi))


def _launcher_guard(plan: EnforcementPlan, out: Prepared) -> list[SeccompRule]:
    """Rules keeping the program from signalling this process (the launcher) when Landlock's
    signal scope is not in force; none for `compile` (no launcher: it reports the scope)."""
    if out.dry_run or not launcher_guard.needed(plan.scopes, out.landlock_abi):
        return []
    tids = tuple(int(t) for t in os.listdir("/proc/self/task"))
    return launcher_guard.launcher_rules(os.getpid(), os.getpgrp(), tids)


def _seccomp(plan: EnforcementPlan, out: Prepared, supervised: bool = False) -> None:
    cov = out.coverage
    guard = _launcher_guard(plan, out)
    if not plan.seccomp_rules and plan.seccomp_default.kind is sc.ActionKind.ALLOW \
            and not guard:
        return
    allows = (sc.ActionKind.ALLOW, sc.ActionKind.LOG)
    rules = [*plan.seccomp_rules, *guard]
    guarded = {r.syscall for r in guard}
    for rule in plan.seccomp_rules:
        # libseccomp lets an unconditional rule win over the conditional ones of its call
        if rule.syscall in guarded and not rule.conditions and rule.action.kind in allows \
                and rule.action != plan.seccomp_default:
            rules.remove(rule)
            cov.add(str(rule), APPROX, f"narrower: dropped so that the launcher guard holds; "
                    f"{rule.syscall} falls to the default {plan.seccomp_default}",
                    source=rule.source)
    if plan.seccomp_default.kind not in allows and not any(
            r.syscall == "execve" and r.action.kind in allows and not r.conditions
            for r in plan.seccomp_rules):
        raise StockadeError("the seccomp allow-list does not allow execve, so the command could "
                            "never start (the filter is loaded just before exec)")
    try:
        filt = sc.SeccompFilter(plan.seccomp_default, plan.seccomp_bad_arch)
    except UnsupportedError as err:
        for rule in rules:
            cov.add(str(rule), NOT_ENFORCED, str(err), source=rule.source,
                    enforced_by="libseccomp 2.5")
        return
    with filt:
        try:  # libseccomp 2.5: a binary tree of system calls instead of a linear list
            filt.set_attr(sc.FilterAttr.CTL_OPTIMIZE, 2)
        except OSError:
            out.notes.append("libseccomp cannot build a binary-tree filter: linear filter")
        for rule in rules:
            action, status, detail = rule.action, EXACT, rule.reason
            if action.kind is sc.ActionKind.NOTIFY and supervised:
                # the supervisor's own filter notifies it (enforce/supervisor/session.py)
                cov.add(str(rule), EXACT, rule.reason, source=rule.source,
                        enforced_by="seccomp user notification + supervisor")
                continue
            if action.kind is sc.ActionKind.NOTIFY:
                action, status = NOTIFY_FALLBACK, APPROX
                detail = "refused with EPERM: no supervisor to decide case by case"
            if action == plan.seccomp_default:
                cov.add(str(rule), EXACT, "same as the default action", source=rule.source)
                continue
            try:
                nr = sc.resolve_syscall(rule.syscall)
            except KeyError:
                raise StockadeError(f"unknown system call {rule.syscall!r}"
                                    f"{' in ' + rule.source if rule.source else ''}") from None
            if nr < 0:
                cov.add(str(rule), EXACT, f"no such system call on {MACHINE}",
                        source=rule.source)
                continue
            try:
                filt.add_rule(action, nr, rule.conditions)
            except OSError as err:
                raise StockadeError(f"seccomp rule {rule}: {err.strerror}") from None
            cov.add(str(rule), status, detail, source=rule.source, enforced_by="seccomp-bpf")
        cov.add("refuse other architectures and the x32 ABI", EXACT,
                f"-> {plan.seccomp_bad_arch}", enforced_by="seccomp-bpf")
        from stockade.enforce.mediation.kernel import syscall_limit

        limit = syscall_limit()
        cov.add("refuse system calls newer than the mediation table", EXACT if limit else APPROX,
                f"numbers >= {limit} -> {plan.seccomp_bad_arch}" if limit else
                f"no mediation table for {MACHINE}: numbers are not bounded",
                enforced_by="seccomp-bpf")
        out.bpf = sc.BpfProgram(sc.guard_arch(filt.export_bpf(), plan.seccomp_bad_arch,
                                              limit=limit))
        if plan.seccomp_log:  # Linux 4.14: audit every action but allow (type 1326)
            out.seccomp_flags |= sc.SECCOMP_FILTER_FLAG_LOG


def _capabilities(plan: EnforcementPlan, out: Prepared) -> None:
    cov = out.coverage
    now = capmod.capget()
    capmod.last_cap()  # read /proc now, not in the child
    keep = capmod.mask_of(plan.keep_caps)
    out.keep_caps = keep
    out.trim_bounding = now.has_effective(capmod.CAP_SETPCAP)
    out.raise_ambient = os.getuid() != 0 and bool(keep & now.permitted)
    out.lock_securebits = out.trim_bounding and not keep
    kept = capmod.names_of(keep) or ["none"]
    detail = "" if out.trim_bounding else \
        "bounding set left as is (no CAP_SETPCAP); no_new_privs keeps it unreachable"
    if out.lock_securebits:
        detail = "securebits NOROOT, NO_CAP_AMBIENT_RAISE locked"
    cov.add("keep capabilities: " + ",".join(kept), EXACT, detail,
            enforced_by="capset + PR_CAPBSET_DROP")
    missing = keep & ~now.permitted
    if missing:
        cov.add("keep " + ",".join(capmod.names_of(missing)), APPROX,
                "not held by stockade, so the program cannot have it either (stricter)")
    cov.add("no_new_privs", EXACT, enforced_by="prctl(PR_SET_NO_NEW_PRIVS), Linux 3.5")


def _environment(plan: EnforcementPlan, base: dict[str, str]) -> dict[str, str]:
    if plan.clear_env:
        env = {k: v for k, v in base.items()
               if k in plan.env_keep or any(p.endswith("*") and k.startswith(p[:-1])
                                            for p in plan.env_keep)}
    else:
        env = dict(base)
    env.update(plan.env_set)
    return env


def prepare(plan: EnforcementPlan, *, strict: bool = False,
            judge: Callable[[list[CoverageEntry]], list[CoverageEntry]] | None = None,
            environ: dict[str, str] | None = None,
            coverage: CoverageReport | None = None, abi: int | None = None,
            dry_run: bool = False, supervised: bool = False) -> Prepared:
    """Build the kernel objects for `plan`; `coverage` may carry the compiler's entries.

    Strict mode raises UnsupportedError naming the first rule not enforced exactly among the
    ones `judge` keeps (enforce/coverage_scope.py: own rules or all; default all). `abi`
    reports as for a kernel with that Landlock ABI; `dry_run` builds no Landlock ruleset
    (both for `stockade compile`). `supervised`: user-notif rules are left to the
    supervisor's filter instead of EACCES, and count as enforced.
    """
    out = Prepared(plan=plan, coverage=coverage if coverage is not None else CoverageReport(),
                   abi_override=abi, dry_run=dry_run or abi is not None)
    try:
        _landlock(plan, out, supervised)
        _seccomp(plan, out, supervised)
        _capabilities(plan, out)
        out.env = _environment(plan, dict(os.environ if environ is None else environ))
        if strict:  # (a deferred report's entries stay in their file otherwise)
            weak = coverage_scope.weakened(out.coverage.entries, supervised=supervised)
            if judge is not None:
                weak = judge(weak)
            if weak:
                raise UnsupportedError(coverage_scope.strict_refusal(weak))
    except BaseException:
        out.close()
        raise
    return out
