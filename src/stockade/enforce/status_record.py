"""The "confined by stockade" record of docs/status.md: `<pid>.json` in /run/stockade (root)
or $XDG_RUNTIME_DIR/stockade, written atomically when the program starts, removed when it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any

ROOT_DIR = "/run/stockade"


def record_dir() -> str | None:
    """Where records go for this user; None when a non-root user has no XDG_RUNTIME_DIR."""
    if os.geteuid() == 0:
        return ROOT_DIR
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return os.path.join(runtime, "stockade") if runtime else None


def start_time(pid: int) -> int:
    """Field 22 of /proc/PID/stat: start time in clock ticks since boot."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    # comm (field 2) may contain spaces and parentheses: split after the last ')'
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[19])


def write(pid: int, profile: str, *, mode: str = "enforce", landlock_abi: int = 0,
          layers: list[str] | None = None) -> str:
    """Write the record of `pid`; returns its path. Raises OSError when it cannot."""
    directory = record_dir()
    if directory is None:
        raise OSError("XDG_RUNTIME_DIR is not set")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    record: dict[str, Any] = {
        "pid": pid, "profile": profile, "mode": mode, "start_time": start_time(pid),
        "started": round(time.time(), 3), "launcher_pid": os.getpid(),
        "landlock_abi": landlock_abi, "layers": layers or [],
    }
    path = os.path.join(directory, f"{pid}.json")
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(record, f, sort_keys=True)
    os.rename(tmp, path)
    return path


def remove(path: str | None) -> None:
    """Remove a record written by `write` (gone already is fine)."""
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
