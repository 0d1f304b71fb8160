"""What `run` refuses before anything starts: a plan whose writes reach what later runs read
or run (the launcher's own code, the profile's inputs, the module stack's policy, the profile
store learn writes to)."""

from __future__ import annotations

import os

from stockade.cli.run.args import SETUP_FAILED
from stockade.errors import StockadeError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse

    from stockade.enforce.landlock import AccessFs


def refuse_code_exposure(grants: list[tuple[str, AccessFs]] | None,
                          inputs: list[str], module_files: list[str],
                          module_inputs: list[str]) -> None:
    """Refuse (exit 125) a plan whose writes (`grants`; None: a run that protects nothing of
    the launcher's) reach the code the unconfined launcher runs later (stockade's modules, the
    interpreter, sys.path, --module-file: enforce/own_code.py), what its profile was read
    from (`inputs`: ProfilePlan.inputs) or its module stack's policy (`module_inputs`:
    modules/policy_inputs.py), which every later run reads again, or the profile store
    learn writes to (cache_home.profiles_dir: what later `run -p NAME` read)."""
    if grants is None:
        return
    from stockade.enforce import own_code

    known: dict[str, object] = {}  # one look at the file system for both checks
    why = own_code.exposure(grants, module_files, known)
    if why is not None:
        raise StockadeError(f"the launcher's own code {why}: the program could change what "
                            "the unconfined launcher runs (narrow the grant)", SETUP_FAILED)
    if own_code.writes_anywhere(grants):
        return
    why = own_code.paths_exposure(inputs, grants, known)
    if why is not None:
        raise StockadeError(f"the profile's input {why}: the program could rewrite the policy "
                            "of every later run (keep the profile where the program cannot write, or "
                            "narrow the grant)", SETUP_FAILED)
    why = own_code.paths_exposure(module_inputs, grants, known)
    if why is not None:
        raise StockadeError(f"the module policy's input {why}: the program could rewrite the "
                            "policy of every later run with these --module-option values (keep "
                            "the policy where the program cannot write, or narrow the grant)",
                            SETUP_FAILED)
    linked = own_code.hard_linked([*inputs, *module_inputs], grants)
    if linked is not None:
        whose = "the profile's input" if linked[0] in inputs else "the module policy's input"
        raise StockadeError(f"{whose} {linked[0]} has {linked[1]} hard links on the file system "
                            "of a writable grant: the program could rewrite it through one inside "
                            "the grant (keep the file with one link, or narrow the grant)",
                            SETUP_FAILED)
    _refuse_store_exposure(grants, known)


def module_inputs(args: argparse.Namespace) -> list[str]:
    """What the run's module stack reads its policy from (none when it builds no stack: no
    --mode, no --module-file)."""
    if not (getattr(args, "mode", None) or getattr(args, "module_file", None)):
        return []
    from stockade.modules.policy_inputs import run_inputs

    return run_inputs(args.lsm, list(args.module_option or []))


def _refuse_store_exposure(grants: list[tuple[str, AccessFs]], known: dict[str, object]
                           ) -> None:
    """Refuse (exit 125) a plan that may write the profile store `learn` writes to
    (cache_home.profiles_dir), a link on the way to it or a second link of a profile in it:
    later `run -p` enforce what the program left there (red team 13)."""
    from stockade.cache_home import profiles_dir
    from stockade.enforce import own_code

    store = profiles_dir()
    if store is None:
        return
    why = own_code.paths_exposure([store], grants, known)
    if why is None:
        try:
            names = os.listdir(store)
        except OSError:
            names = []
        linked = own_code.hard_linked([os.path.join(store, n) for n in names], grants)
        if linked is not None:
            why = f"holds {linked[0]} with {linked[1]} hard links on the file system of a " \
                  "writable grant"
    if why is not None:
        raise StockadeError(f"stockade's profile store {why}: the program could rewrite the "
                            "profiles `learn` writes there, which later `run -p` enforce "
                            f"(narrow the grant to leave out {store})", SETUP_FAILED)
