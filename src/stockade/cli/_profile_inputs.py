"""Usage errors for a profile path, include directories and an ABI (compile, run, export).

A module of its own so that `run -p` checks its inputs without importing `cli.compile`
(argparse, typing: ~3 ms of a plan cache hit's start-up).
"""

from __future__ import annotations

import os

from stockade.errors import UsageError


def check_inputs(profile: str, include_dirs: list[str], abi: int | None = None) -> None:
    """Usage errors for a profile path, include directories and an ABI (shared with run)."""
    if os.path.isdir(profile):
        raise UsageError(f"{profile}: a directory, not a profile file (name one of its files; "
                         f"`stockade check {profile}` checks them all)")
    if not os.path.isfile(profile):
        raise UsageError(f"{profile}: " + ("not a regular file" if os.path.exists(profile)
                                           else "no such file" + not_learned(profile)))
    for d in include_dirs:
        if not os.path.isdir(d):
            raise UsageError(f"-I {d}: not a directory")
    if abi is not None:
        from stockade.enforce import landlock as ll

        if not 0 <= abi <= ll.LATEST_KNOWN_ABI:
            raise UsageError(f"--abi {abi}: stockade knows Landlock ABI 0 to "
                             f"{ll.LATEST_KNOWN_ABI}")


def not_learned(name: str) -> str:
    """Where else a bare name was looked for (cache_home.find_profile)."""
    from stockade.cache_home import profiles_dir

    directory = profiles_dir() if "/" not in name else None
    return f" (nor a learned profile of that name in {directory})" if directory else ""
