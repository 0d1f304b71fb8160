"""`stockade logprof`: propose profile changes from recorded denials (aa-logprof)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence

from stockade.audit.readers.sources import AUDIT_LOG
from stockade.audit.record import AuditRecord
from stockade.audit.store import default_store_path
from stockade.cli.output import print_json, printable
from stockade.learn.logprof import gather, logprof, write_atomically

COMMAND = "logprof"
#: arguments naming profile files: a learned profile may be named by its file name
PROFILE_FILES = ("profile",)
HELP = "propose additions to a profile from recorded denials, as a diff (--apply writes them)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `stockade logprof`."""
    parser.add_argument("-p", "--profile", required=True, metavar="FILE", help="the profile file")
    parser.add_argument("--profile-name", help="which profile of the file (default: the first)")
    parser.add_argument("-I", dest="include_dirs", action="append", default=[], metavar="DIR",
                        help="include search directory (repeatable)")
    parser.add_argument("--log", action="append", default=[], metavar="FILE",
                        help="audit.log, kernel log text or stockade JSON lines (repeatable); "
                             f"default: {AUDIT_LOG} and the audit store")
    parser.add_argument("--store", help="read the audit store at this path too")
    parser.add_argument("--any-profile", action="store_true",
                        help="also use kernel Landlock records that no run of any profile can "
                        "be found for (never another profile's records)")
    parser.add_argument("--exec-mode", default="ix", choices=("ix", "px", "Px", "cx", "Cx", "ux"),
                        help="exec mode for programs the profile could not run (default ix)")
    parser.add_argument("--glob", choices=("dir", "ext"),
                        help="propose file rules as globs: dir (`/a/b/*`, aa-logprof's Glob) or "
                        "ext (`/a/b/*.ext`, Glob with Extension)")
    parser.add_argument("--apply", action="store_true", help="write the changes to the profile")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _run_owners() -> dict[int, str]:
    """pid -> profile of the programs `stockade run` confines now (their status records,
    docs/status.md): ties the kernel's Landlock records to a profile by the domain's creator;
    another user's runs are named `[uid N] NAME` and never match this user's profile."""
    from stockade.host.confinement import run_profiles

    return run_profiles(os.getuid())


def _other_users_records(records: Sequence[AuditRecord], owners: dict[int, str],
                         name: str) -> int:
    """How many Landlock records are of another user's run of a profile named `name`
    (`[uid N] NAME` in `owners`): said, never used."""
    from stockade.learn.logprof import domain_owners

    theirs = {d for d, owner in domain_owners(records, owners).items()
              if owner.startswith("[uid ") and owner.endswith("] " + name)}
    return sum(1 for r in records if r.module == "landlock" and r.result == "DENIED"
               and r.fields.get("domain", "") in theirs) if theirs else 0


def _complain_runs(log: str) -> int:
    """How many `stockade run --complain --audit` runs `log` records (their coverage record
    says the profile was asked, not enforced)."""
    runs = 0
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.startswith('{"') or '"event": "coverage"' not in line:
                    continue
                try:
                    runs += "complain" in json.loads(line)
                except ValueError:
                    continue
    except OSError:
        pass
    return runs


def _nothing_read(args: argparse.Namespace, logs: Sequence[str], store: str | None) -> str:
    """Why no record was found, when the generic hint would mislead: nothing was read at all,
    or the logs are `run --complain` files of runs the profile would deny nothing in."""
    if not logs and store is None:
        return (f"nothing was read: no --log given, no readable {AUDIT_LOG} and no audit "
                f"store ({default_store_path()}); name the file with --log FILE (the --audit "
                "FILE of `stockade run`)")
    complain_logs = [log for log in logs if _complain_runs(log)]
    if complain_logs and len(complain_logs) == len(logs) and store is None:
        return (f"{', '.join(printable(log) for log in complain_logs)}: complain-mode runs in "
                f"which the profile would deny nothing: {args.profile} already allows what "
                "the program did (a denial seen under `stockade run -p` is then the kernel's "
                f"approximation of a rule: `stockade explain --profile {args.profile} OP PATH`"
                " shows it)")
    return ""


def _why_unenforced(path: str) -> str:
    """Why the kernel refuses what the profile allows, where it is known."""
    if re.fullmatch(r"/proc/[0-9]+(/.*)?", path):
        return (" (a process started after launch, such as one the program ran: Landlock "
                "grants /proc/PID entries only of processes alive at launch and of the program "
                "itself; `@{PROC}/** r,` reaches it, and every other process's entries too)")
    return ""


def run(args: argparse.Namespace) -> int:
    """Print the proposed diff; with --apply, write it."""
    logs = list(args.log)
    store = args.store
    if not logs and store is None:
        logs = [str(AUDIT_LOG)] if os.access(AUDIT_LOG, os.R_OK) else []
        if os.path.exists(AUDIT_LOG) and not logs:
            print(f"stockade logprof: {AUDIT_LOG} is not readable by you: not read",
                  file=sys.stderr)
        default = default_store_path()
        store = str(default) if os.path.exists(default) else None
    records = gather(logs, store)
    from stockade.enforce.plan.records import still_denied

    def enforced(text: str, recs: Sequence[AuditRecord]) -> list[AuditRecord]:
        return still_denied(args.profile, text, recs, include_dirs=args.include_dirs,
                            name=args.profile_name)

    owners = _run_owners()
    result = logprof(args.profile, records, include_dirs=args.include_dirs,
                     profile_name=args.profile_name, any_profile=args.any_profile,
                     exec_mode=args.exec_mode, glob=args.glob, enforced=enforced,
                     owners=owners)
    others = _other_users_records(records, owners, result.profile)
    if others:
        print(f"# not used: {others} record(s) of another user's run of a profile named "
              f"{printable(result.profile)} (a run counts only for its own user's profile)",
              file=sys.stderr)
    which = "the proposed profile" if result.proposals else "this profile"
    for denied, obj in dict.fromkeys((rec.denied, rec.object) for rec in result.unenforced):
        print(f"# still denied under {which} (no rule can grant it in Landlock): "
              f"{printable(denied)} on {printable(obj)}{_why_unenforced(obj)}", file=sys.stderr)
    if args.apply and result.proposals:
        write_atomically(args.profile, result.new_text)
    if args.json:
        print_json({"profile": result.profile, "records": result.records,
                    "relevant": result.relevant, "applied": bool(args.apply and result.proposals),
                    "rules": [p.render() for p in result.proposals], "diff": result.diff,
                    "unenforced": [{"object": r.object, "denied": r.denied}
                                   for r in result.unenforced]})
        return 0
    if not result.proposals:
        print(f"{result.profile}: no changes proposed ({result.relevant} relevant of "
              f"{result.records} records)")
        why = _nothing_read(args, logs, store) if not result.records else None
        if why:
            print(f"stockade logprof: {why}", file=sys.stderr)
        elif not result.records:
            print("stockade logprof: the logs hold no denial records; Landlock's denials reach "
                  "them only through the kernel's audit (root, audit enabled: `stockade run` "
                  "warns when it is not); without them, record what the profile would deny "
                  "and read that: stockade run --complain -p PROFILE --audit FILE -- CMD, then "
                  "stockade logprof -p PROFILE --log FILE; or learn the changed program "
                  "again: stockade learn -o PROFILE -- CMD", file=sys.stderr)
        return 0
    sys.stdout.write(result.diff)
    verb = "applied to" if args.apply else "proposed for"
    print(f"# {len(result.proposals)} rule(s) {verb} {args.profile} from {result.relevant} "
          "record(s)", file=sys.stderr)
    return 0
