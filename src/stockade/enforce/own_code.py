"""The code the unconfined launcher runs: stockade's package, the interpreter and the
directories it imports from.

The launcher stays unconfined while the program runs and imports parts of stockade only when a
run needs them (a supervisor handler, the JSON writer of a report), so a sandbox that may write
any of these could change what the launcher executes later in the same run, or in every later
run: a module, its cached bytecode under __pycache__, the interpreter, the console script.
`exposure` says which of them the sandbox could write, as `status_record.exposure` does for
the launcher's own files; `run` refuses such a plan.
"""

from __future__ import annotations

import os
import sys

from stockade.enforce import status_record
from stockade.enforce.landlock import AccessFs

#: the rights that change what a file holds or which file a name is
_FILE_WRITES = AccessFs.WRITE_FILE | AccessFs.MAKE_REG | AccessFs.REMOVE_FILE

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Iterable


def code_paths() -> list[str]:
    """Where the launcher's code comes from: stockade's package directory, every directory
    on sys.path (the current directory for an empty entry), the interpreter and the script."""
    import stockade

    paths = [os.path.dirname(os.path.abspath(stockade.__file__))]
    for entry in sys.path:
        path = os.path.abspath(entry or os.curdir)
        if os.path.exists(path):  # a directory, or a zip archive of modules
            paths.append(path)
    for path in (sys.executable, sys.argv[0] if sys.argv else ""):
        if path and os.path.isfile(path):
            paths.append(os.path.abspath(path))
    return list(dict.fromkeys(paths))


def exposure(grants: Iterable[tuple[str, AccessFs]]) -> str | None:
    """Why a sandbox holding `grants` could change the launcher's code (a phrase naming the
    path and the grant); None when it cannot, or when it may write files anywhere (a write
    grant on /: an unconfined profile, `/** w`, `--rw /`), which no check here can make a
    file sandbox (docs/enforce.md, "The launcher's own code")."""
    grants = list(grants)
    if not grants or any(rights & _FILE_WRITES and os.path.realpath(path) == "/"
                         for path, rights in grants):
        return None
    for path in code_paths():
        why = status_record.exposure(path, grants)
        if why is not None:
            return f"{path} {why}"
    return None
