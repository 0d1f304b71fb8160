"""Files named on the command line: refuse the kinds whose reading never ends or means
something else (a device: /dev/zero never ends, /dev/watchdog acts when opened; a directory;
a socket), before they are opened. A leaf module: every package may import it."""

from __future__ import annotations

import os
import stat

from stockade.errors import StockadeError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISFIFO, "a FIFO"))


def file_kind(mode: int) -> str:
    """What a file of this st_mode is, in words ("a regular file", "a FIFO", ...)."""
    return next((name for test, name in _KINDS if test(mode)), "a regular file")


def require_input(path: str | os.PathLike[str], what: str, *, fifo: bool = False) -> None:
    """Raise a StockadeError naming `path` unless it is a regular file (or, with `fifo`, a
    pipe, such as bash's `<(command)`). A path that does not exist passes: opening it says so."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return
    if stat.S_ISREG(mode) or (fifo and stat.S_ISFIFO(mode)):
        return
    raise StockadeError(f"{what} {os.fspath(path)}: not a regular file ({file_kind(mode)})")


#: paths just shown to be their own real paths (see `vouch_real`); bounded
_vouched: set[str] = set()
MAX_VOUCHED = 65536


def vouch_real(paths: list[str]) -> None:
    """Note that each of `paths` is its own real path now, as the plan cache's re-checked
    answers showed (enforce/plan/cache: every component was seen not to be a link, in answers
    that were all the same a moment ago), so that `realpaths` need not lstat them again in
    this run. Replaces what an earlier call noted (answers checked then may have changed);
    past MAX_VOUCHED paths nothing more is noted."""
    _vouched.clear()
    _vouched.update(paths[:MAX_VOUCHED])


def plain_path(path: str) -> bool:
    """Whether `path` is absolute and already normal (no `//`, `.` or `..` component, no
    trailing `/`): then, when no component is a link, it is its own real path."""
    return (path.startswith("/") and path != "/" and not path.endswith("/")
            and path.count("/") < 256
            and "//" not in path and "/./" not in path and "/../" not in path
            and not path.endswith(("/.", "/..")))


def realpaths(paths: list[str], known: frozenset[str] = frozenset(), *,
              vouched: bool = True) -> list[str]:
    """os.path.realpath of each path, sharing the work on common parent directories (a plan
    has thousands of grants under a few directories: one lstat per new component, not one per
    component per path). Paths that are not plain absolute paths take os.path.realpath.
    `known`: plain paths the caller has just seen to be their own real paths (as vouched
    ones: prepare opened them with no link on the way). `vouched=False`: the paths noted by
    `vouch_real` are looked at too (the plan cache's re-check, which such notes come from)."""
    memo: dict[str, str] = {"/": "/"}
    vouch = _vouched if vouched else frozenset()

    def real(path: str) -> str:
        found = memo.get(path)
        if found is not None:
            return found
        if path in vouch or path in known:
            return path
        parent, base = path.rsplit("/", 1)
        full = (real(parent) if parent else "").rstrip("/") + "/" + base
        try:
            link = stat.S_ISLNK(os.lstat(full).st_mode)
        except OSError:  # missing (or unreadable): kept as it is, as realpath does
            link = False
        out = os.path.realpath(full) if link else full
        if len(memo) < 65536:
            memo[path] = out
        return out

    out = []
    for path in paths:
        if path in vouch or path in known:  # its own real path (see vouch_real, `known`)
            out.append(path)
            continue
        out.append(real(path) if plain_path(path) else os.path.realpath(path))
    return out
