"""`stockade explain`: ask the reference monitor about one operation and show every layer."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from stockade.audit.formats import kernel_line
from stockade.audit.record import AuditRecord
from stockade.audit.suggest import suggest_rule
from stockade.cli import progress
from stockade.cli.explain.args import add_question_arguments
from stockade.cli.explain.evaluate import (
    answer,
    answer_json,
    configure,
    describe,
    plan_verdict_text,
    reason_text,
    verdict_text,
)
from stockade.cli.output import paint, print_json, printable, table
from stockade.errors import UsageError

if TYPE_CHECKING:
    from stockade.enforce.plan.explain import PlanRow

COMMAND = "explain"
#: arguments naming profile files: a learned profile may be named by its file name
PROFILE_FILES = ("profile",)
HELP = "show how each security layer decides one operation, and the audit line of a denial"

_EPILOG = """\
With --profile, the rows marked plan:landlock, plan:seccomp and plan:capabilities show what
`stockade run -p FILE` would enforce in the kernel for each check (Landlock rights and ports,
the seccomp rules of the system calls that carry it, the kept capabilities). The decision
and the exit status are then what `run -p` enforces: the host's layers and the plan's rows;
the apparmor row shows what the profile means where the plan approximates it.
Without --lsm the stack is capability,yama,loadpin,lockdown plus selinux with the host's
policy when /etc/selinux/config names one (in complain mode when it says permissive);
one line says which."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `stockade explain`."""
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_question_arguments(parser)
    parser.add_argument("--batch", nargs="?", const="-", default=None, metavar="FILE",
                        help="answer one question per line of FILE (default: standard input): "
                             "`OP TARGET [OPTIONS]` or a JSON object of the option names; one "
                             "JSON answer per line; the command line's options are every "
                             "question's defaults. Exit 0 if all allowed, 1 if any denied, "
                             "2 if any question was bad")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Explain one operation (or --batch); exit 0 when allowed, 1 when denied, 2 for bad input."""
    if args.json:
        progress.quiet()
    if args.batch is not None:
        from stockade.cli.explain.batch import run_batch

        return run_batch(args)
    if args.operation is None or args.target is None:
        raise UsageError("explain needs OPERATION and TARGET (or --batch)")
    conf = configure(args)
    ans = answer(conf, args)
    if args.json:
        print_json(answer_json(conf, ans))
        return ans.status
    steps, plan_rows, final, plan = ans.steps, ans.plan_rows, ans.final, conf.plan
    modes = {m.name: m.mode.value for m in conf.stack.modules}
    audit_lines = [kernel_line(r) for r in ans.records]
    out = sys.stdout
    for (req, d), extra in zip(steps, plan_rows, strict=True):
        out.write(paint(describe(req), "bold") + "\n")
        rows = [(name, verdict_text(v, modes.get(name, "enforce")), reason_text(v))
                for name, v in zip(d.modules, d.layers, strict=True)]
        rows += [(f"plan:{r.layer}", plan_verdict_text(r),
                  f"{r.reason} [{r.rule}]" if r.rule and r.rule not in r.reason else r.reason)
                 for r in extra]
        if rows:
            table(("  module", "verdict", "reason"), [("  " + r[0], r[1], r[2]) for r in rows])
        else:
            out.write("  (no module implements this hook)\n")
    if len(steps) < len(ans.requests):
        out.write(paint(f"({len(ans.requests) - len(steps)} later check(s) not reached)", "dim") + "\n")
    if conf.note:
        out.write(paint(f"policy: {conf.note}", "dim") + "\n")
    enforced = " (as `run -p` enforces it)" if plan is not None else ""
    if final is None:
        out.write(paint(f"decision: allow{enforced}", "green") + "\n")
    else:
        out.write(paint(f"decision: deny ({final.errno}) by {final.by}{enforced}", "red") + "\n")
    for line in audit_lines:
        out.write(paint("audit: ", "dim") + line + "\n")
    if final is not None and final.errno == "ENOENT" and args.operation in ("write", "append"):
        out.write(paint(f"note: {printable(args.target)} does not exist: `create` asks about "
                        "making it", "dim") + "\n")
    if final is not None and plan is not None and final.errno != "ENOENT":
        # where the profile allows and only the plan refuses, a rule would change nothing;
        # nor where the path does not exist (the kernel's lookup fails before any LSM)
        profile_allowed = any(name == "apparmor" and v is not None and not v.errno
                              for _req, d in steps
                              for name, v in zip(d.modules, d.layers, strict=True))
        rows = [] if profile_allowed else [r for extra in plan_rows for r in extra]
        for rule in allow_with(ans.records, rows):
            out.write(paint("allow with: ", "dim") + printable(rule) + paint(
                f"   (add it to {args.profile})", "dim") + "\n")
    return 0 if final is None else 1


def allow_with(records: Sequence[AuditRecord], plan_rows: Sequence[PlanRow] = ()) -> list[str]:
    """The profile rules that would allow the profile's denials among `records`, as `notify`
    words them (`audit.suggest`); DAC denials are left out: a capability, not a path rule,
    lifts them, and the profile's own capability denial says which. Without such a denial,
    a Landlock refusal of the plan (an exec the profile never reached) is worded as notify
    words the kernel's record of it."""
    rules: list[str] = []
    for rec in records:
        if rec.module in ("apparmor", "capability") and rec.result == "DENIED":
            rule = suggest_rule(rec).strip()
            if rule and rule not in rules:
                rules.append(rule)
    if not rules:
        for row in plan_rows:
            if row.missing and row.path:
                landlock = AuditRecord(time=0.0, serial=0, operation=row.missing.split(",")[0],
                                       module="landlock", result="DENIED",
                                       denied=row.missing, object=row.path)
                rule = suggest_rule(landlock).strip()
                if rule and rule not in rules:
                    rules.append(rule)
    return rules
