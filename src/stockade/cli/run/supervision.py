"""The supervisor a `run` needs: for --mode, for a plan's user-notif rules, or for what
Landlock cannot mediate (the hybrid); what it protects and whose refusals it reports."""

from __future__ import annotations

import os
from collections.abc import Callable

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse

    from stockade.cli.run.refusals import Refusals
    from stockade.enforce.output_file import RecordFile
    from stockade.enforce.plan.types import EnforcementPlan
    from stockade.enforce.supervisor.setup import SupervisorSetup
    from stockade.enforce.tcp_refusals import TcpRefusals
    from stockade.lsm.stack import AuditEvent


def protect_launcher_files(supervision: SupervisorSetup, outputs: list[os.stat_result]) -> None:
    """The supervisor refuses to change the --audit/--learn files (`outputs`: their fstat),
    the status record and mark directory and the plan cache, whatever the modules answer."""
    from stockade.enforce.supervisor.protect import for_launch

    supervision.supervisor.protect = for_launch(outputs)


def watch_refusals(supervision: SupervisorSetup, tcp: TcpRefusals, refused: Refusals) -> None:
    """Let `tcp` and `refused` see the supervisor's refusals and its modules' denials too
    (the audit sinks, if any, still get them)."""
    sup = supervision.supervisor

    def tee(before: Callable[[AuditEvent], None] | None) -> Callable[[AuditEvent], None]:
        def both(event: AuditEvent) -> None:
            tcp.event(event)
            refused.event(event)
            if before is not None:
                before(event)
        return both

    sup.audit_sink = tee(sup.audit_sink)
    sup.stack.audit_sink = tee(sup.stack.audit_sink)


def supervision_for(args: argparse.Namespace, plan: EnforcementPlan, audit: RecordFile | None,
                 learn: int | None,
                 judged: EnforcementPlan | None = None) -> SupervisorSetup | None:
    """The supervisor for --mode, or for a plan with user-notif rules (enforce mode); it
    writes to the files `run` opened (`learn` is handed over, `audit` shared: one count of
    lost records).
    `judged`: the profile's plan in complain mode."""
    mode = getattr(args, "mode", None)
    if mode is None and args.module_file:
        mode = "enforce"
    if mode is None:
        if learn is not None:
            os.close(learn)  # --learn without a supervisor: nothing to observe
        if not plan.notify_rules() and not _guard_needs_supervisor(plan):
            return None
        from stockade.enforce.supervisor.setup import build_hybrid

        # only what Landlock cannot mediate
        setup = build_hybrid(audit)
        if setup.auditor is not None and args.profile:  # its refusals are the profile's plan's
            setup.auditor.profile = plan.name
        return setup
    from stockade.enforce.output_file import RecordFile
    from stockade.enforce.supervisor.setup import build
    from stockade.modules.selinux.hostconfig import host_policy

    observations = RecordFile(learn, args.learn, "observations") if learn is not None else None
    return build(mode, args.lsm, args.context, args.module_option, audit, observations,
                 args.module_file, judged=judged, host_policy=host_policy())


def _guard_needs_supervisor(plan: EnforcementPlan) -> bool:
    """Whether the launcher guard needs a supervisor (Landlock's signal scope lifted): the
    launcher's thread ids are known only while the program runs (enforce/launcher_guard.py)."""
    from stockade.enforce import landlock as ll
    from stockade.enforce import launcher_guard

    return launcher_guard.needed(plan.scopes, ll.abi_version())
