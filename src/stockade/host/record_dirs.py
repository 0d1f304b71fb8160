"""Where `stockade run` keeps its status records (docs/status.md), for their readers: light
enough for every run to ask (no pathlib, no json) whether any `run --keep-running` record
exists before the full reader (host.confinement) is loaded."""

from __future__ import annotations

import os

RUN_DIR = "/run/stockade"
#: the name of a `run --keep-running` record starts with this (then `<pid>-<start>-...json`)
KEPT_PREFIX = "kept-"


def record_dirs(uid: int, every_user: bool = False) -> list[str]:
    """Where the launcher writes records for a process of `uid`: /run/stockade, then
    $XDG_RUNTIME_DIR/stockade and /run/user/UID/stockade; with `every_user` (root's view)
    every /run/user/*/stockade too."""
    dirs = [RUN_DIR]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        dirs.append(os.path.join(runtime, "stockade"))
    dirs.append(f"/run/user/{uid}/stockade")
    if every_user:
        try:
            users = sorted(os.listdir("/run/user"))
        except OSError:
            users = []
        dirs += [f"/run/user/{u}/stockade" for u in users]
    return list(dict.fromkeys(dirs))


def kept_names(directory: str) -> list[str]:
    """The names of the `run --keep-running` records in `directory` ([] when unreadable)."""
    try:
        names = os.listdir(directory)
    except OSError:  # absent, or another user's (0700)
        return []
    return sorted(n for n in names if n.startswith(KEPT_PREFIX) and n.endswith(".json"))
