"""`stockade compile`: the enforcement plan of a profile and how well a kernel enforces it."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

from stockade.cli._profile_inputs import check_inputs
from stockade.cli._strict import add_strict, check_strict
from stockade.errors import UsageError

if TYPE_CHECKING:
    from stockade.enforce.plan.profile import ProfilePlan
    from stockade.enforce.plan.types import CoverageEntry
    from stockade.enforce.prepare import Prepared
    from stockade.enforce.timings import PhaseTimer

COMMAND = "compile"
#: arguments naming profile files: a learned profile may be named by its file name
PROFILE_FILES = ("profile",)
STRICT_EXIT = 3  # as `run --strict`
HELP = "compile a profile to Landlock, seccomp and capability rules, with a coverage report"

_EPILOG = """\
Every rule of the profile gets one status: exact, approximated (wider or narrower, and how),
supervisor (needs the seccomp user-notification supervisor) or not-enforced (why, and which
kernel would). Globs are expanded against the filesystem as it is now. --abi N reports as for
a kernel with Landlock ABI N (0-7) instead of the running one. By default the paths and
seccomp rules are counted and only the profile's own weakened rules are listed (rules of
shared abstractions are counted); --full prints everything. --strict exits 3 as
`run --strict` refuses: same rules judged.
example: stockade compile --abi 4 /etc/apparmor.d/usr.bin.man"""

_COLOURS = {"exact": "green", "approximated": "yellow", "supervisor": "cyan",
            "not-enforced": "red"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `stockade compile`."""
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--abi", type=int, metavar="N",
                        help="compile as for a kernel with Landlock ABI N (0 = no Landlock)")
    parser.add_argument("-I", "--include", dest="include_dirs", action="append", default=[],
                        metavar="DIR", help="add DIR to the include search path (repeatable)")
    parser.add_argument("--profile-name", metavar="NAME",
                        help="the profile to compile when the file has several")
    parser.add_argument("--syscalls", nargs="?", const="all", metavar="VIA",
                        help="print who mediates every system call under `run` (only VIA: "
                        "landlock, seccomp, supervisor, refused, harmless, unmediated)")
    parser.add_argument("--full", action="store_true",
                        help="list every expanded path, seccomp rule and coverage entry "
                        "(default: counts and the weakened rules of the profile itself)")
    add_strict(parser, "exit 3")
    parser.add_argument("--timings", action="store_true",
                        help="print the seconds of each phase (parse, includes, compile, plan, "
                        "ruleset) on stderr, or as \"timings\" in --json")
    parser.add_argument("profile", metavar="PROFILE", nargs="?")


def _kernel_entries(prep: Prepared) -> tuple[list[CoverageEntry], int]:
    """The kernel's entries without the per-grant 'allow ...' lines (counted instead)."""
    grants = 0
    out = []
    for entry in prep.coverage.entries:
        if entry.rule.startswith("allow ") and entry.status.value == "exact":
            grants += 1
        else:
            out.append(entry)
    return out, grants


def build(args: argparse.Namespace, timings: PhaseTimer | None = None
          ) -> tuple[ProfilePlan, Prepared]:
    """Compile the profile and prepare it (report only) for the chosen ABI."""
    from stockade.enforce import prepare
    from stockade.enforce.plan import profile as planmod
    from stockade.enforce.timings import PhaseTimer

    timer = timings if timings is not None else PhaseTimer()
    check_inputs(args.profile, args.include_dirs, args.abi)
    pp = planmod.compile_file(args.profile, args.include_dirs, args.profile_name, abi=args.abi,
                              timings=timer)
    with timer.phase("ruleset"):
        return pp, prepare.prepare(pp.plan, abi=pp.abi, dry_run=True,
                                   supervised=bool(pp.plan.notify_rules()))  # as `run -p`


def to_json(pp: ProfilePlan, prep: Prepared) -> dict[str, Any]:
    """The stable JSON document of `compile --json`."""
    kernel, grants = _kernel_entries(prep)
    return {
        "profile": pp.profile,
        "mode": pp.mode,
        "landlock_abi": pp.abi,
        "plan": pp.plan.to_json(),
        "rlimits": {str(k): v for k, v in sorted(pp.plan.rlimits.items())},
        "coverage": pp.coverage.to_json(),
        "kernel": [{"rule": e.rule, "source": e.source, "status": e.status.value,
                    "detail": e.detail, "enforced_by": e.enforced_by} for e in kernel],
        "kernel_grants": grants,
        "summary": dict(Counter(e.status.value for e in pp.coverage.entries)),
        "exact": pp.coverage.exact and prep.coverage.exact,
        "notes": pp.notes + prep.notes,
    }


def _entry_lines(entries: list[CoverageEntry], full: bool,
                 include_dirs: list[str]) -> list[str]:
    """Coverage lines: every entry with --full; else the weakened ones of the profile itself
    and one count line for those of shared abstractions."""
    from stockade.cli.output import paint
    from stockade.enforce.coverage_scope import split_own, status_counts

    def line(entry: CoverageEntry) -> str:
        return ("  " + paint(entry.status.value, _COLOURS[entry.status.value])
                + entry.line()[len(entry.status.value):])

    if full:
        return [line(e) for e in entries]
    own, shared = split_own([e for e in entries if e.status.value != "exact"], include_dirs)
    out = [line(e) for e in own]
    if shared:
        out.append(f"  and {len(shared)} from shared abstractions ({status_counts(shared)}): "
                   "--full lists them")
    return out


def _print(pp: ProfilePlan, prep: Prepared, full: bool, include_dirs: list[str]) -> None:
    from stockade.enforce.landlock import flag_names

    plan, out = pp.plan, sys.stdout
    more = "" if full else " (--full lists them)"
    out.write(f"profile {pp.profile}  mode {pp.mode}  Landlock ABI {pp.abi}\n\n")
    out.write("Landlock\n")
    out.write(f"  handled fs:  {','.join(flag_names(plan.handled_fs)) or 'none'}\n")
    out.write(f"  handled net: {','.join(flag_names(plan.handled_net)) or 'none'}\n")
    out.write(f"  scopes:      {','.join(flag_names(plan.scopes)) or 'none'}\n")
    out.write(f"  path rules ({len(plan.fs_rules)}){':' if full else more}\n")
    for rule in plan.fs_rules if full else ():
        out.write(f"    {rule.path}  {','.join(flag_names(rule.access))}  ({rule.source})\n")
    ports = ", ".join(f"{r.port}:{'|'.join(flag_names(r.access))}" for r in plan.net_rules)
    out.write(f"  TCP ports ({len(plan.net_rules)}): {ports or 'none'}\n")
    out.write(f"\nseccomp  default {plan.seccomp_default}, other arches/x32 "
              f"{plan.seccomp_bad_arch}, log {'on' if plan.seccomp_log else 'off'}, "
              f"{len(plan.seccomp_rules)} rules{more}\n")
    for sr in plan.seccomp_rules if full else ():
        out.write(f"  {sr}  # {sr.reason}\n")
    from stockade.enforce.caps import cap_name

    kept = ",".join(sorted(cap_name(c) for c in plan.keep_caps)) or "none"
    out.write(f"\ncapabilities kept: {kept}\nno_new_privs: yes\n")
    if plan.rlimits:
        out.write("rlimits (hard): " + ", ".join(f"{k}={v}" for k, v in
                                                 sorted(plan.rlimits.items())) + "\n")
    counts = Counter(e.status.value for e in pp.coverage.entries)
    out.write("\ncoverage of the profile's rules: "
              + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + "\n")
    for text in _entry_lines(pp.coverage.entries, full, include_dirs):
        out.write(text + "\n")
    kernel, grants = _kernel_entries(prep)
    out.write(f"\nkernel (Landlock ABI {pp.abi}): {grants} path/port grants exact\n")
    for text in _entry_lines(kernel, full, include_dirs):
        out.write(text + "\n")
    for note in pp.notes + prep.notes:
        out.write(f"note: {note}\n")


def run(args: argparse.Namespace) -> int:
    """Compile and print the plan and its coverage."""
    from stockade.cli.output import print_json

    check_strict(args, "profile")
    if args.syscalls:
        return _print_syscalls(args.syscalls, args.json)
    if not args.profile:
        raise UsageError("compile needs a PROFILE (or --syscalls)")
    from stockade.enforce.timings import PhaseTimer

    timer = PhaseTimer()
    pp, prep = build(args, timer)
    with prep:
        if args.json:
            doc = to_json(pp, prep)
            if args.timings:
                doc["timings"] = timer.to_json()
            print_json(doc)
        else:
            _print(pp, prep, args.full, args.include_dirs)
        status = _strict_status(args, pp, prep)
    if args.timings and not args.json:
        sys.stderr.write("".join(f"timing: {line}\n" for line in timer.lines()))
    return status


def _strict_status(args: argparse.Namespace, pp: ProfilePlan, prep: Prepared) -> int:
    """0, or 3 when --strict judges a rule not enforced exactly (as `run --strict`)."""
    from stockade.cli._strict import strict_judge
    from stockade.enforce.coverage_scope import strict_refusal, weakened

    judge = strict_judge(args.strict, args.include_dirs)
    if judge is None:
        return 0
    entries = pp.coverage.entries + prep.coverage.entries  # the compiler's and the kernel's
    weak = judge(weakened(entries, supervised=bool(prep.plan.notify_rules())))
    if weak:
        sys.stderr.write(f"stockade compile: {strict_refusal(weak)}\n")
        return STRICT_EXIT
    return 0


def _print_syscalls(via: str, as_json: bool) -> int:
    """The mediation table (enforce/mediation) as lines or JSON."""
    from stockade.cli.output import print_json
    from stockade.enforce.mediation.render import lines
    from stockade.enforce.mediation.table import MEDIATION, Via

    kinds = [v.value for v in Via]
    if via != "all" and via not in kinds:
        raise UsageError(f"--syscalls {via}: one of {', '.join(kinds)}")
    chosen = None if via == "all" else via
    if as_json:
        print_json({name: {"via": med.via.value, "detail": med.detail}
                    for name, med in sorted(MEDIATION.items())
                    if chosen is None or med.via.value == chosen})
    else:
        sys.stdout.write("\n".join(lines(chosen)) + "\n")
    return 0
