"""`stockade run`: run a command confined by Landlock, seccomp and capability sets."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable

from stockade.cli._args import trailing_command
from stockade.cli._strict import check_strict, strict_judge
from stockade.cli.run import report as tell
from stockade.cli.run.args import OPTIONS as OPTIONS  # the command protocol (main.py)
from stockade.cli.run.args import SETUP_FAILED as SETUP_FAILED
from stockade.cli.run.args import add_arguments as add_arguments
from stockade.cli.run.complain import complain_requested
from stockade.cli.run.exposure import module_inputs, refuse_code_exposure
from stockade.cli.run.refusals import Refusals, end_line, unreadable_line, unreadable_only
from stockade.cli.run.supervision import protect_launcher_files, supervision_for, watch_refusals
from stockade.cli.run.tomoyo import add_kernel_grants, wants_tomoyo
from stockade.errors import StockadeError, UnsupportedError, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:  # the enforce package is imported only when `run` runs
    import argparse

    from stockade.audit.record import AuditRecord
    from stockade.enforce.denials import DenialCollector
    from stockade.enforce.landlock import AccessFs
    from stockade.enforce.leftovers import AfterExit
    from stockade.enforce.output_file import RecordFile
    from stockade.enforce.plan.cache.marks import Mark
    from stockade.enforce.plan.types import (
        CoverageReport,
        EnforcementPlan,
        ProfilePlan,
    )
    from stockade.enforce.prepare import Prepared
    from stockade.enforce.status_record import Keeper

COMMAND = "run"
#: arguments naming profile files: a learned profile may be named by its file name
PROFILE_FILES = ("profile",)
USAGE_EXIT = SETUP_FAILED  # cli/main.py: argument errors of `run` exit 125
#: cli/main.py leaves the cyclic garbage collector off until `_run` turns it on: before the
#: program starts, or first thing when the run loads input-sized policy (`_loads_policy`)
COLLECTS_GARBAGE = True
#: the finally blocks of `_run` close and remove all it made: the console script may end the
#: process without the interpreter's finalization (cli/main.py `entry`)
EXIT_AT_ONCE = True
HELP = "run a command confined (Landlock, seccomp, capabilities, no_new_privs)"

def _records_unprotected(args: argparse.Namespace, plan: EnforcementPlan) -> bool:
    """An observing run (complain, learn) whose sandbox may write wherever its user may
    (`status_record.writes_anywhere`: complain with -p, learn without -p): no file of the
    launcher's can be kept from the program, and such a run is documented to record without
    that protection (docs/enforce.md, "Files the launcher writes"), so the exposure checks do
    not apply. Decided by the plan: complain without -p keeps the flags' Landlock grants and
    is checked; an enforcing run that writes anywhere (a `flags=(unconfined)` profile) is
    checked too, and refused."""
    from stockade.enforce.status_record import writes_anywhere

    return getattr(args, "mode", None) in ("complain", "learn") and writes_anywhere(plan)


def _open_outputs(args: argparse.Namespace, grants: list[tuple[str, AccessFs]] | None
                  ) -> tuple[RecordFile | None, int | None]:
    """Open --audit FILE and --learn FILE before anything runs: never through a symbolic link,
    only a regular file, and not a file the program may write (status_record.exposure). The
    supervisor gets these descriptors (never the paths again: they could name another file
    by then)."""
    learn_fd = getattr(args, "learn_fd", None)
    if learn_fd is not None:
        if getattr(args, "learn", None) or grants is not None:
            raise UsageError("--learn-fd is stockade learn's (its run writes anywhere): give "
                             "--learn FILE")
        args.learn = "learn's observations"  # the name in messages: the file has none
    if not args.audit and not getattr(args, "learn", None):
        return None, None
    from stockade.enforce import output_file

    audit = None
    if args.audit:
        fd = (output_file.open_output(args.audit, "audit file") if grants is None else
              output_file.open_unexposed(args.audit, "audit records", "--audit", grants))
        audit = output_file.RecordFile(fd, args.audit)
    learn = None
    if getattr(args, "learn", None):
        try:
            if learn_fd is not None:
                learn = output_file.adopt(learn_fd, "--learn-fd")
            else:
                learn = (output_file.open_output(args.learn, "--learn file") if grants is None
                         else output_file.open_unexposed(args.learn, "observations", "--learn",
                                                         grants))
        except BaseException:
            if audit:
                audit.close()
            raise
    return audit, learn


def _profile_plan(args: argparse.Namespace, adhoc: EnforcementPlan, command: str
                  ) -> tuple[EnforcementPlan, CoverageReport, list[str], str, list[str]]:
    """The profile's plan plus the grants of the ad-hoc flags, the compiler's coverage, notes,
    the profile's mode as the compiler says it (`ProfilePlan.mode`: "unconfined" for
    `flags=(unconfined)`) and what the profile was read from (`ProfilePlan.inputs`).

    The ad-hoc flags only add grants (paths, ports, capabilities, clear-env): the profile's
    plan already carries the baseline, and what it unlocks (userns, all TCP ports, ...) stays
    unlocked.
    """
    from stockade.cli._profile_inputs import check_inputs
    from stockade.enforce import landlock as ll
    from stockade.enforce.plan import cache as plan_cache
    from stockade.enforce.plan.types import EnforcementPlan as Plan

    check_inputs(args.profile, args.include_dirs)
    grants = Plan(name="adhoc", fs_rules=adhoc.fs_rules, handled_fs=ll.NO_FS,
                  net_rules=adhoc.net_rules, handled_net=ll.NO_NET, scopes=ll.NO_SCOPE,
                  keep_caps=adhoc.keep_caps, clear_env=adhoc.clear_env)

    def exposed(pp: ProfilePlan) -> str | None:
        """Why the program could tamper with the plan cache (then it is not used)."""
        plan = pp.plan.merged(grants)
        if args.allow_keyring or plan_cache.keyring_reachable(plan):
            return "the program may use the kernel keyring that holds its key"
        directory = plan_cache.cache_dir()
        return plan_cache.exposure(directory, plan) if directory else None

    # a file of several profiles: the one that attaches to the program (find_attach)
    from stockade.enforce.launcher import which

    program = which(command) or command
    compiled: list[bool] = []
    pp, how = plan_cache.compile_file(args.profile, args.include_dirs, args.profile_name,
                                      program=program, use_cache=args.cache, exposed=exposed,
                                      compiling=lambda: compiled.append(True),
                                      prebuild=True)  # prepare takes the hit's rulesets
    if compiled and not gc.isenabled():
        # on for the input-sized work that follows a compile, but not over what the build
        # left (the plan, its coverage): a build makes no reference cycles
        # (tests/enforce/test_plan_scale.py), and the first pass over it found nothing (0.05 s
        # of a 100,000-rule run); the launch freezes start-up's objects the same way
        gc.freeze()
        gc.enable()
    if args.verbose:
        tell.say(f"plan cache: {how}")
    plan = pp.plan.merged(grants)
    if pp.transitions and not args.inherit_transitions and getattr(args, "mode", None) != "learn":
        # learning observes what a profile would do; the refusal names the record problem too
        from stockade.enforce.landlock import abi_version
        from stockade.enforce.plan.select import refuse_transitions

        landlock = abi_version() > 0 and not complain_requested(args)
        refuse_transitions(pp, _record_conflict(args, plan) if landlock else None)
    return plan, pp.coverage, pp.notes, pp.mode, pp.inputs


def _observe_only(adhoc: EnforcementPlan, quiet: bool) -> EnforcementPlan:
    """`--mode learn` without a profile: the observe plan (no Landlock limit), keeping the ad-hoc
    flags' capabilities and environment; their path and port grants add nothing to it."""
    from stockade.enforce.defaults import observe_plan

    plan = observe_plan()
    plan.keep_caps, plan.clear_env = adhoc.keep_caps, adhoc.clear_env
    if (adhoc.fs_rules or adhoc.net_rules) and not quiet:
        tell.say("note: --mode learn without -p applies no Landlock limit: the path and port flags "
             "grant nothing more")
    return plan


def _audit_enabled() -> bool | None:
    """Whether the kernel's audit is enabled (AUDIT_GET, root); None when unknown."""
    from stockade.host.audit import audit_get

    try:
        return bool(audit_get().get("enabled"))
    except (OSError, TimeoutError):
        return None


def _collector(name: str, audit: RecordFile | None,
               also: Callable[[AuditRecord], None],
               plan: EnforcementPlan | None = None) -> DenialCollector | None:
    """A reader of the kernel's denial records for `--audit` (root only), or None with a note."""
    import os

    if audit is None:
        return None
    if os.geteuid() != 0:
        tell.say("kernel denials of the program are not recorded: reading them needs root "
             "(without root, `stockade run --complain -p PROFILE --audit FILE` records what "
             "the profile would deny, unconfined)")
        return None
    enabled = _audit_enabled()
    if enabled is False:
        tell.say("denials are not being logged by the kernel: audit is disabled "
             "(enable it with auditctl -e 1)")
        return None
    from stockade.enforce.denials import DenialCollector, plan_errnos

    lock = threading.Lock()

    def sink(rec: AuditRecord) -> None:
        with lock:
            audit.write(rec.to_json() + "\n")
            audit.flush()
        also(rec)

    try:
        return DenialCollector(name, sink, plan_errnos(plan.seccomp_rules) if plan else None)
    except StockadeError as err:
        tell.say(f"kernel denials of the program are not recorded: {err}")
        return None


def _record_keeper(args: argparse.Namespace, prep: Prepared, name: str,
                   layers: list[str], mode: str = "enforce") -> Keeper | None:
    """What writes the status record before the program runs (None: no record).

    Refuses (exit 125) when the record directory lies inside a writable grant of the sandbox:
    the program could replace or forge the records there.
    """
    from stockade.enforce import status_record

    if not args.status_record:
        return None
    directory = status_record.record_dir()
    if directory is None:  # no runtime directory for this user: quietly no record
        return None
    if prep.landlock_active and not _records_unprotected(args, prep.plan):
        conflict = _record_conflict(args, prep.plan)
        if conflict is not None:
            raise StockadeError(conflict, SETUP_FAILED)
    return status_record.Keeper(directory, name, landlock_abi=prep.landlock_abi, layers=layers,
                                warn=tell.say, mode=mode)


def _record_conflict(args: argparse.Namespace, plan: EnforcementPlan) -> str | None:
    """Why the status record cannot be kept under `plan` (a writable grant covers its directory
    or lies inside it: the program could replace or forge the records there); None when it
    can."""
    from stockade.enforce import status_record

    directory = status_record.record_dir() if args.status_record else None
    if directory is None:
        return None
    why = status_record.exposure(directory, status_record.write_grants(plan))
    if why is None:
        return None
    return (f"the status record directory {directory} {why}: the program could replace its "
            "records (narrow the grant, or pass --no-status-record)")


def run(args: argparse.Namespace) -> int:
    """`stockade run`; exit status: the program's, 128+N after signal N, 125 when it did not run
    (bad profile, flags or input, confinement failed), 126/127 as the shell, 3 for --strict."""
    from stockade.enforce.launcher import LaunchError

    try:
        return _run(args)
    except LaunchError:
        raise
    except UnsupportedError as err:
        if args.strict:  # --strict refuses with 3 (the rule or feature it cannot enforce)
            raise
        raise StockadeError(str(err), SETUP_FAILED) from None
    except StockadeError as err:
        raise StockadeError(str(err), SETUP_FAILED) from None
    except Exception as err:
        if os.environ.get("STOCKADE_DEBUG"):
            raise
        raise StockadeError(f"internal error: {type(err).__name__}: {err} (set "
                            "STOCKADE_DEBUG=1 for a traceback)", SETUP_FAILED) from None
    finally:
        gc.unfreeze()  # (frozen after a compile or at the launch) a caller in the same
        # process (tests) collects as before, also when the run stopped before the launch


def _loads_policy(args: argparse.Namespace) -> bool:
    """Whether the run builds a module stack or reads a policy of any size besides its profile
    (the profile turns the collector on only when it is compiled: a plan cache hit decodes an
    entry into objects without cycles), not only the plan of its flags."""
    return bool(getattr(args, "mode", None) or getattr(args, "module_file", None)
                or getattr(args, "complain", False) or wants_tomoyo(args))


def _run(args: argparse.Namespace) -> int:
    """Build the plan, prepare it for this kernel, report weakened rules, launch."""
    command = trailing_command(args.argv, "stockade run [FLAGS] -- CMD ARGS...")
    check_strict(args)
    if _loads_policy(args):
        gc.enable()
    from stockade.enforce import caps, defaults, launcher, prctl, prepare
    from stockade.enforce.plan.types import CoverageReport
    from stockade.enforce.tcp_refusals import TcpRefusals

    # The launcher stays unconfined while the program runs: non-dumpable before anything
    # secret (the plan cache key) is in its memory, so that no same-user process (a program
    # run by another `stockade run` included) can read its memory or ptrace it.
    prctl.set_dumpable(False)
    if args.net == "none" and (args.connect_tcp or args.bind_tcp):
        raise UsageError("--net none opens no socket: --connect-tcp/--bind-tcp grant nothing "
                         "(use --net tcp)")
    try:
        keep = [caps.cap_number(c) for c in args.keep_cap]
    except ValueError as err:
        raise UsageError(str(err)) from None
    plan = defaults.adhoc_plan(args.ro, args.rw, args.rx, args.connect_tcp, args.bind_tcp,
                               keep_caps=keep, clear_env=args.clear_env)
    complain = complain_requested(args)
    if getattr(args, "mode", None) == "learn" and not args.profile:
        plan = _observe_only(plan, args.quiet)  # learning watches, it does not block
    coverage = CoverageReport()
    notes: list[str] = []
    profile_mode = "enforce"
    inputs: list[str] = []
    if args.profile:  # the ad-hoc flags add to the profile's plan
        plan, coverage, notes, profile_mode, inputs = _profile_plan(args, plan, command[0])
    if args.allow_keyring:
        plan.seccomp_rules = defaults.without_keyring(plan.seccomp_rules)
    if args.net:
        from stockade.enforce import net_mode
        from stockade.enforce.landlock import abi_version

        net_mode.narrow(plan, args.net, coverage, abi_version())
    if wants_tomoyo(args):  # its policy is the file policy: its grants join the plan
        notes += add_kernel_grants(args, plan, command)
    judged: EnforcementPlan | None = None
    if complain and args.profile:  # the profile is asked (supervisor), not enforced
        from stockade.cli.run import complain as _run_complain

        judged = plan
        plan = _run_complain.complain_plan(judged)
        coverage, notes = CoverageReport(), []
    plan.env_set.setdefault("STOCKADE_PROFILE", plan.name)
    # a program that may call keyctl could read the plan cache's key and forge entries: mark
    # the key as exposed (no run trusts it meanwhile) and drop it before the program starts;
    # after it ends, end what it left behind, drop the key again and only then clear the mark
    # (the plan cache's package is loaded only then: a plain run does not need it)
    keyring_key = defaults.keyring_reachable(plan)
    if keyring_key and args.keep_running:
        raise UsageError("--keep-running: the program may use the kernel keyring (it may know "
                         "the plan cache's key): what it leaves is ended when it exits")
    # the program's writes, asked once for the launcher's code and files (None: a run that
    # protects nothing of the launcher's, _records_unprotected)
    from stockade.cli.run import kept as keeping
    from stockade.enforce.status_record import write_grants

    grants = None if _records_unprotected(args, plan) else write_grants(plan)
    module_files = list(getattr(args, "module_file", None) or [])
    policy_files = module_inputs(args)
    refuse_code_exposure(grants, inputs, module_files, policy_files)
    keeping.check_can_keep(args)
    # sandboxes left running by earlier runs (--keep-running) may write here too
    kept = None if grants is None else keeping.refuse_exposure(args, inputs + policy_files,
                                                                module_files)
    audit, learn = _open_outputs(args, None if grants is None else grants + (kept or []))
    try:
        outputs = [os.fstat(fd) for fd in (audit.fd if audit else None, learn) if fd is not None]
        supervision = supervision_for(args, plan, audit, learn, judged)
    except BaseException:
        if audit:
            audit.close()
        raise
    if supervision is not None:
        notes += supervision.notes
        protect_launcher_files(supervision, outputs)
    if audit:
        from stockade.enforce import report
    collector: DenialCollector | None = None
    keeper: Keeper | None = None
    mark: Mark | None = None
    left: AfterExit | None = None
    try:
        if keyring_key:
            from stockade.enforce.plan import cache as plan_cache

            try:
                mark = plan_cache.mark_exposed(plan, protected=judged is None)
            except OSError as err:
                raise StockadeError(f"cannot mark the plan cache key as exposed: "
                                    f"{err.strerror or err}", SETUP_FAILED) from None
            plan_cache.forget_key()
        prep = prepare.prepare(plan, strict=bool(args.strict), coverage=coverage,
                               judge=strict_judge(args.strict, args.include_dirs),
                               supervised=supervision is not None)
        if not args.quiet:
            if judged is not None:
                for line in _run_complain.start_lines(judged.name, plan.keep_caps):
                    tell.say(line)
            else:
                tell.report_weakened(args, prep.coverage, supervised=supervision is not None)
            if (not args.profile and not args.net and (args.connect_tcp or args.bind_tcp)
                    and prep.plan.handled_net and prep.landlock_abi >= 4):
                tell.say("warning: only TCP is restricted; UDP datagrams may go to any address and "
                     "port (Landlock has no UDP rights up to ABI 7): add --net tcp to refuse "
                     "UDP, raw and netlink sockets")
            for note in notes:
                tell.say(f"note: {note}")
            tell.venv_hint(command, prep)
        if audit:
            for rec in report.applied_records(prep, command, strict=args.strict):
                if judged is not None:
                    rec = _run_complain.audit_record(rec, plan.keep_caps)
                report.write_record(audit, rec)
        tcp, refused = TcpRefusals(), Refusals()
        if supervision is not None:
            watch_refusals(supervision, tcp, refused)

        def kernel_record(rec: AuditRecord) -> None:
            tcp.kernel_record(rec)
            refused.kernel_record(rec)

        # complain mode has no kernel denials to read: the supervisor records them
        collector = (_collector(plan.name, audit, kernel_record, prep.plan)
                     if judged is None else None)
        kernel_visible = collector is not None
        layers = [name for name, on in (("landlock", prep.landlock_active),
                                        ("seccomp", prep.bpf is not None),
                                        ("capabilities", True), ("no_new_privs", True)) if on]

        keeper = _record_keeper(args, prep, plan.name, layers,
                                "complain" if judged is not None else
                                "unconfined" if profile_mode == "unconfined" else "enforce")

        def started(pid: int) -> None:
            if collector is not None:
                collector.start(pid)
            if audit:
                report.write_record(audit, {"event": "start", "pid": pid, "argv": command,
                                            "profile": plan.name})

        # the supervisor may run as long as the program: collect from here on, but not through
        # what start-up made (modules, classes, the plan: they live as long; the collections
        # that scanned them on a plan cache hit cost ~10 ms, for ~170 objects of garbage)
        gc.freeze()
        gc.enable()
        # what the program leaves running is ended when it exits (a keyring run's always)
        from stockade.enforce import leftovers

        leftovers.adopt()
        left = leftovers.AfterExit(args.keep_running and not keyring_key, keyring_key)
        try:
            if supervision is not None:
                from stockade.enforce.supervisor.session import supervised_launch

                status = supervised_launch(prep, supervision.supervisor, supervision.routed,
                                           command, on_started=started, before_exec=keeper,
                                           after_exit=left)
                tell.report_supervisor_failure(supervision.supervisor.fatal, args.verbose)
            else:
                status = launcher.launch(prep, command, on_started=started,
                                         before_exec=keeper, after_exit=left)
            if left.running:  # --keep-running: the record names them, or they are ended
                keeping.keep(keeper, left, grants)
        except launcher.LaunchError as err:
            if audit:
                report.write_record(audit, {"event": "error", "error": str(err),
                                            "exit": err.exit_code})
            if args.profile and "no Landlock execute right" in str(err):
                raise launcher.LaunchError(tell.profile_exec_hint(str(err), args.profile, command),
                                           err.exit_code) from None
            raise
        if collector is not None:
            collector.stop()
            lost = collector.loss_line()
            if lost:
                tell.say(lost)
                if audit:  # the file says it too: it lacks denials
                    report.write_record(audit, {"event": "lost", "note": lost,
                                                "kernel_lost": collector.kernel_lost,
                                                "reader_lost": collector.lost,
                                                "denials_missing": collector.missing})
            if collector.attribution_note:
                tell.say(collector.attribution_note)
                if audit:  # the file says it too: its SECCOMP records may be incomplete
                    report.write_record(audit, {"event": "attribution",
                                                "note": collector.attribution_note})
            collector = None
        tell.leftovers(left, audit, args.quiet)  # before the exit record: that one is last
        if audit:
            report.write_record(audit, {"event": "exit", "status": status})
        if (judged is not None and supervision is not None and supervision.supervisor.judge
                and not args.quiet):
            tell.say(_run_complain.end_line(supervision.supervisor.judge, args.audit))
        unreadable = unreadable_line(refused, command)
        if unreadable and not args.quiet:
            tell.say(unreadable)
        hint = tcp.hint()
        if hint and not args.quiet:
            tell.say(hint)
        elif judged is None and not args.quiet and not unreadable_only(refused):
            line = end_line(args, command, status, refused, kernel_visible)
            if line:
                tell.say(line)
        return status
    finally:
        if left is not None and not left.keep:  # the program may not have exited (^C)
            leftovers.end(left.others)
        if keyring_key:
            from stockade.enforce.plan import cache as plan_cache

            ended, dropped = plan_cache.end_exposure(mark)
            if ended and args.verbose:
                tell.say(f"ended {ended} processes the program left (it may use the keyring)")
            if not dropped:
                tell.say("warning: the plan cache key could not be dropped: the cache stays off")
        if keeper is not None:
            keeper.remove()
        if collector is not None:
            collector.stop()
        if supervision is not None:
            supervision.close()  # closes the files it shares with us or was handed
        if audit:
            audit.close()
        _say_lost(audit, supervision.learn_file if supervision is not None else None)
        if left is not None:  # a caller in the same process (tests) adopts no orphans after
            leftovers.release()
        gc.unfreeze()  # a caller in the same process (tests) collects as before


def _say_lost(*outs: object) -> None:
    """One line per file with records that could not be written (the launcher's and the
    supervisor's: they share the RecordFile of --audit)."""
    if all(out is None for out in outs):  # no --audit, no --learn: output_file is not loaded
        return
    from stockade.enforce.output_file import RecordFile

    for out in outs:
        lost = out.lost_line() if isinstance(out, RecordFile) else None
        if lost:
            tell.say(lost)
