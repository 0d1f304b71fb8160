"""What `stockade run` tells its user on stderr: one-line reports and hints."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse

    from stockade.enforce.leftovers import AfterExit
    from stockade.enforce.output_file import RecordFile
    from stockade.enforce.plan.types import CoverageReport
    from stockade.enforce.prepare import Prepared


def say(text: str) -> None:
    sys.stderr.write(f"stockade run: {text}\n")


def report_supervisor_failure(fatal: BaseException | None, verbose: bool) -> None:
    """One line when the supervisor thread ended on an error: the program is not left to run
    undecided (the thread kills its first process, every routed call of any other fails).
    The traceback with -v."""
    if fatal is None:
        return
    from stockade.cli.output import printable

    say(f"the supervisor failed ({printable(type(fatal).__name__)}: {printable(str(fatal))}): "
         "the program was killed and any process it left gets ENOSYS for every call "
         "the supervisor decides (fail closed)" + ("" if verbose else "; -v shows where"))
    if verbose:
        import traceback

        sys.stderr.write("".join(traceback.format_exception(fatal)))


def profile_exec_hint(message: str, profile: str, command: list[str]) -> str:
    """With -p, the rule to add comes from the profile's own explain, not from ad-hoc flags."""
    import shutil

    path = os.path.realpath(shutil.which(command[0]) or command[0])
    return (f"{message}; with -p the profile's rules are the grants: `stockade explain "
            f"--profile {profile} exec {path}` names the rule to add")


def report_weakened(args: argparse.Namespace, coverage: CoverageReport, *,
                    supervised: bool) -> None:
    """One summary line about the profile's own rules this run weakens (`run_note`: none
    when they are only narrower or differ in what may be read or listed), or (-v) one line
    per entry not enforced exactly."""
    from stockade.enforce import coverage_scope

    if args.verbose:
        for entry in coverage_scope.weakened(coverage.entries, supervised=supervised):
            say(entry.line())
        return
    what = args.profile or "this sandbox"
    hint = (f"-v lists them, `stockade compile {args.profile}` shows how each is enforced"
            if args.profile else "-v lists each with why")
    line = coverage_scope.run_note(coverage, what, hint, args.include_dirs,
                                   supervised=supervised)
    if line:
        say(line)


def venv_hint(command: list[str], prep: Prepared) -> None:
    """One line when the program is a venv's python whose pyvenv.cfg the plan hides."""
    from stockade.cli.output import printable
    from stockade.enforce.venv_hint import ungranted_venv

    venv = ungranted_venv(command[0], prep.plan, prep.env)
    if venv:
        import shlex

        say(f"the Python venv at {printable(venv)} is not granted (Python cannot read its "
             f"pyvenv.cfg): add --ro {printable(shlex.quote(venv))}")


def leftovers(left: AfterExit, audit: RecordFile | None, quiet: bool) -> None:
    """One line (and an --audit record) about the processes the program left running: ended
    with it, or still running under --keep-running."""
    if not left.ended and not left.running:
        return
    if audit is not None:
        from stockade.enforce import report

        report.write_record(audit, {"event": "leftovers", "ended": left.ended,
                                    "running": len(left.running), "pids": left.running})
    if quiet:
        return
    count = left.ended or len(left.running)
    what = f"{count} process{'es' if count > 1 else ''} the program left"
    if left.ended:
        why = ("it may use the keyring" if left.keyring else
               f"--keep-running could not name them: {left.unkept}" if left.unkept else
               "--keep-running keeps them")
        say(f"ended {what} running ({why})")
    else:
        pids = ", ".join(map(str, left.running[:5])) + (", ..." if count > 5 else "")
        say(f"{what} still run{'' if count > 1 else 's'} in its sandbox (--keep-running; "
            f"pid {pids}; `stockade status` lists them): their later denials are not recorded")
