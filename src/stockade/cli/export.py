"""`stockade export`: a profile's plan in the format of an engine fleets already run."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TYPE_CHECKING

from stockade.cli.output import printable, write_text
from stockade.errors import StockadeError, UsageError

if TYPE_CHECKING:
    from stockade.enforce.plan.types import CoverageEntry

COMMAND = "export"
#: arguments naming profile files: a learned profile may be named by its file name
PROFILE_FILES = ("profile",)
HELP = "export a profile for OCI runtimes, systemd, Kubernetes or AppArmor hosts"

_EPILOG = """\
formats: oci-seccomp (linux.seccomp of an OCI config), oci (process+linux fragment of
config.json), systemd (a [Service] drop-in), k8s (Security Profiles Operator resources),
apparmor (one self-contained AppArmor profile).
The coverage report on stderr is one line counting what the target cannot express (and what
stockade run itself only approximates); -v lists them rule by rule. Exit status: 0 written;
3 with --strict when something is lost (nothing is written); 2 bad input.
example: stockade export --format oci-seccomp -o seccomp.json examples/profiles/demo-reader"""

#: Exit status of --strict when the target loses something (as `run --strict`).
LOST_EXIT = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `stockade export`."""
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--format", "-f", dest="format", required=True, metavar="FORMAT",
                        help="oci-seccomp, oci, systemd, k8s or apparmor")
    parser.add_argument("-I", "--include", dest="include_dirs", action="append", default=[],
                        metavar="DIR", help="add DIR to the include search path (repeatable)")
    parser.add_argument("--profile-name", metavar="NAME",
                        help="the profile to export when the file has several")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")
    parser.add_argument("--inherit-transitions", action="store_true",
                        help="export a profile with px/cx transitions or hats anyway: the "
                        "programs it runs keep this profile's confinement (refused by "
                        "default, as by `stockade run`; format apparmor carries them)")
    parser.add_argument("--strict", action="store_true",
                        help="write nothing and exit 3 if the target loses any rule")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="list, rule by rule, what the target loses and what stockade run "
                        "itself only approximates (default: one summary line)")
    parser.add_argument("--cil", metavar="FILE", action="append", default=[],
                        help="format k8s: also a RawSelinuxProfile of this CIL policy "
                             "(the selinux module's policy file; repeatable)")
    parser.add_argument("profile", metavar="PROFILE")


def report(fmt: str, lost: list[CoverageEntry], planned: list[CoverageEntry],
           verbose: bool) -> None:
    """The coverage report on stderr: one summary line, or (-v) one line per rule."""
    from stockade.enforce.coverage_scope import status_counts

    err = sys.stderr
    if not lost and not planned:
        err.write(f"export {fmt}: every rule is expressed\n")
        return
    # what only `stockade run`'s supervisor enforces is lost in every target
    supervised = [e for e in planned
                  if e.status.value == "supervisor" or "supervisor" in e.enforced_by]
    err.write(f"export {fmt}: {len(lost)} rule(s) not expressed exactly by the target"
              + (f", {len(planned)} already approximated by the plan ({status_counts(planned)}"
                 f"; {len(supervised)} need the supervisor)" if planned else "")
              + ("" if verbose else "; -v lists them") + "\n")
    if not verbose:
        return
    for entry in lost:
        err.write("  " + printable(entry.line()) + "\n")
    for entry in planned:
        err.write("  plan " + printable(entry.line()) + "\n")


def run(args: argparse.Namespace) -> int:
    """Export the profile; report losses on stderr."""
    from stockade import export
    from stockade.cli._profile_inputs import check_inputs

    fmt = export.exporter(args.format)
    check_inputs(args.profile, args.include_dirs)
    try:
        inp = export.load(args.profile, args.include_dirs, args.profile_name)
        if args.cil:
            if fmt.name != "k8s":
                raise UsageError("--cil goes with --format k8s")
            inp = dataclasses.replace(inp, cil=tuple(args.cil))
        result = export.run_format(fmt, inp)
        if result.from_plan and not args.inherit_transitions:
            from stockade.enforce.plan.select import refuse_transitions

            refuse_transitions(inp.planned, target=f"the {fmt.name} export",
                               instead="export it with the programs it runs under this "
                               "profile's confinement")
    except StockadeError as err:
        if err.exit_code != 1:
            raise
        # a profile error or a rule the format refuses: bad input, one line, status 2
        raise UsageError(str(err)) from None
    planned = inp.planned.coverage.weakened() if result.from_plan else []
    report(fmt.name, result.lost, planned, args.verbose)
    if args.strict and (result.lost or planned):
        sys.stderr.write(f"export {fmt.name}: --strict: not written\n")
        return LOST_EXIT
    if args.output and args.output != "-":
        write_text(args.output, result.text)
    else:
        sys.stdout.write(result.text)
    return 0
