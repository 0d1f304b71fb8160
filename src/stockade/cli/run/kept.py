"""`run --keep-running`: the processes a program leaves in its sandbox stay known for as long as
they live. The run's status record is kept, naming them and the sandbox's write grants
(status_record.Keeper.keep); `status` lists them (host.confinement.kept_records), and every
later run counts those grants where it protects the launcher's code and its --audit/--learn
files, as it counts its own program's."""

from __future__ import annotations

from stockade.errors import StockadeError, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from stockade.enforce.landlock import AccessFs
    from stockade.enforce.leftovers import AfterExit
    from stockade.enforce.status_record import Keeper

SETUP_FAILED = 125


def check_can_keep(args: argparse.Namespace) -> None:
    """Refuse --keep-running where no status record can name what it leaves (fail closed:
    nothing would know of those processes)."""
    if not args.keep_running:
        return
    from stockade.enforce.status_record import record_dir

    if not args.status_record:
        raise UsageError("--keep-running needs the status record (it names the processes left "
                         "for `status` and later runs): drop --no-status-record")
    if record_dir() is None:
        raise UsageError("--keep-running needs the status record (it names the processes left "
                         "for `status` and later runs), and this user has no runtime directory "
                         "(XDG_RUNTIME_DIR or /run/user/UID, a directory of the user's)")


def keep(keeper: Keeper | None, left: AfterExit,
         grants: list[tuple[str, AccessFs]] | None) -> None:
    """After the program exited leaving `left.running`: keep the record naming them (every
    process of their trees) and the sandbox's write `grants` (None: it may write anywhere);
    when that fails, end them (fail closed; `left.unkept` says why, `left.ended` how many)."""
    from stockade.enforce import leftovers
    from stockade.enforce.status_record import WRITE_RIGHTS

    if not left.running:
        return
    survivors = leftovers.tree(left.running)
    if survivors is None:
        why: str | None = f"more than {leftovers.MAX_NAMED} processes"
    elif not survivors:  # all gone meanwhile
        left.running = []
        return
    else:
        why = keeper.keep(survivors, [("/", WRITE_RIGHTS)] if grants is None else grants) \
            if keeper is not None else "no status record was written"
    if why is not None:
        left.unkept = why
        left.ended = leftovers.end(left.others) or len(left.running)
        left.running = []


def _sandboxes() -> list[dict[str, Any]]:
    """The kept records believed now (host.confinement.kept_records) that root or this user
    wrote: another user's sandbox writes only where that user may (DAC), and the grants its
    record claims are that user's word, which must not refuse this user's runs. Stale ones
    of this user's are removed on the way."""
    import os

    from stockade.host.record_dirs import kept_names, record_dirs

    uid = os.geteuid()
    if not any(kept_names(d) for d in record_dirs(uid, every_user=uid == 0)):
        return []  # the usual case, without loading the reader (~10 ms of imports)
    from stockade.enforce.status_record import remove_stale_kept
    from stockade.host.confinement import survey_kept

    believed, stale = survey_kept(uid)
    if stale:
        remove_stale_kept(stale)
    return [rec for rec in believed if rec["owner"] in (0, uid)]


def _who(rec: dict[str, Any]) -> str:
    pids = ", ".join(map(str, rec["live"][:5])) + (", ..." if len(rec["live"]) > 5 else "")
    return (f"processes an earlier run left in its sandbox (--keep-running, profile "
            f"{rec['profile']}, pid {pids})")


def refuse_exposure(args: argparse.Namespace, inputs: list[str],
                    module_files: list[str]) -> list[tuple[str, AccessFs]]:
    """Refuse (exit 125) a run whose launcher code, profile inputs or --audit/--learn files
    a sandbox left running by an earlier `run --keep-running` may write, judged by name as
    for the run's own program; the grants of those sandboxes, which the opened files are
    judged against too (output_file.open_unexposed)."""
    from stockade.enforce.landlock import AccessFs

    kept = _sandboxes()
    if not kept:
        return []
    from stockade.enforce import own_code
    from stockade.enforce.status_record import exposure

    every: list[tuple[str, AccessFs]] = []
    for rec in kept:
        grants = [(path, AccessFs(rights)) for path, rights in rec["grants"]]
        every += grants
        known: dict[str, object] = {}
        why = own_code.exposure(grants, module_files, known)
        if why is None and not own_code.writes_anywhere(grants):
            why = own_code.paths_exposure(inputs, grants, known)
        if why is not None:
            raise StockadeError(f"the launcher's code or profile {why} of the {_who(rec)}: they "
                                "could change what this run runs (end them first)", SETUP_FAILED)
        for flag, path in (("--audit", args.audit), ("--learn", getattr(args, "learn", None))):
            why = exposure(path, grants) if path else None
            if why is not None:
                raise StockadeError(f"{flag} {path} {why} of the {_who(rec)}: they could "
                                    "rewrite or replace it (put it elsewhere, or end them "
                                    "first)", SETUP_FAILED)
    return every
