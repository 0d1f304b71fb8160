"""A Python virtual environment the program runs from but the plan does not let it read.

`stockade run -- python3` in an activated venv runs `$VIRTUAL_ENV/bin/python3`, a symbolic
link to the system interpreter: the execve succeeds (Landlock checks the file it resolves
to), then Python reads `pyvenv.cfg` next to its executable or one directory up, gets EACCES
and dies with a traceback about it. `run` says instead, in one line, which venv to grant.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from stockade.enforce import landlock as ll
from stockade.enforce.plan.landlock_model import LandlockModel
from stockade.enforce.plan.types import EnforcementPlan

PYVENV_CFG = "pyvenv.cfg"


def _program(command: str, env: Mapping[str, str]) -> str | None:
    """The program's path as execvp(3) finds it (symbolic links not resolved: Python looks
    for pyvenv.cfg next to the path it was started as)."""
    if "/" in command:
        return os.path.abspath(command)
    from stockade.enforce.launcher import which

    found = which(command, path=env.get("PATH") or os.defpath)
    return os.path.abspath(found) if found else None


def _readable(plan: EnforcementPlan, path: str) -> bool:
    if not plan.handled_fs & ll.AccessFs.READ_FILE:
        return True
    rights, _ = LandlockModel(plan, ll.LATEST_KNOWN_ABI).granted(os.path.realpath(path))
    return bool(rights & ll.AccessFs.READ_FILE)


def ungranted_venv(command: str, plan: EnforcementPlan, env: Mapping[str, str]) -> str | None:
    """The venv directory whose pyvenv.cfg the program would fail to read, or None.

    A venv is `$VIRTUAL_ENV` when the program lies inside it, or a directory holding
    pyvenv.cfg next to the program or one level up (where Python looks).
    """
    program = _program(command, env)
    if program is None:
        return None
    places = [os.path.dirname(program), os.path.dirname(os.path.dirname(program))]
    venv = env.get("VIRTUAL_ENV")
    if venv and program.startswith(os.path.abspath(venv).rstrip("/") + "/"):
        places.insert(0, os.path.abspath(venv))
    for place in dict.fromkeys(places):
        cfg = os.path.join(place, PYVENV_CFG)
        if os.path.isfile(cfg) and not _readable(plan, cfg):
            return place
    return None
