"""Marks of runs whose sandbox may use the kernel keyring, and so knows or replaces the plan
cache's key: while any mark exists, no run trusts the key (it neither reads nor writes the
cache, and drops the key).

A mark is `keyring-PID-START.mark` (the launcher's pid and start time) in the status record
directory (status_record.record_dir: /run/stockade for root, else the user's runtime
directory), which no sandbox may write: `stockade run` refuses a keyring run whose sandbox
could (`exposure`), and a run that keeps a status record refuses any sandbox that could. The
launcher writes its mark before the program starts and removes it only after it has ended
every process left of the sandbox (it is their child subreaper: enforce/leftovers.py) and
dropped every key: a mark whose launcher died stays, so the cache stays off until it is
removed by hand (the directory is on tmpfs: a reboot clears it).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stockade.enforce.status_record import Record

PREFIX = "keyring-"
SUFFIX = ".mark"


def directory() -> str | None:
    """Where marks go (the status record directory); None when this user has none."""
    from stockade.enforce.status_record import record_dir

    return record_dir()


def present() -> str | None:
    """Why the key cannot be trusted now (a mark, or no place for marks); None if it can."""
    from stockade.enforce.status_record import RecordDirError, open_dir

    where = directory()
    if where is None:
        return "no runtime directory to learn whether a sandbox may hold its key"
    try:
        fd = open_dir(where)
    except RecordDirError as err:
        return str(err.strerror or err)
    try:
        with os.scandir(fd) as it:
            names = sorted(e.name for e in it
                           if e.name.startswith(PREFIX) and e.name.endswith(SUFFIX))
    finally:
        os.close(fd)
    if not names:
        return None
    live = _launcher_alive(names[0])
    state = "runs" if live else "ended without clearing it (remove it once its programs are gone)"
    return f"a run whose program may use the keyring {state}: {os.path.join(where, names[0])}"


def _launcher_alive(name: str) -> bool:
    from stockade.enforce.status_record import start_time

    try:
        pid, start = (int(x) for x in name[len(PREFIX):-len(SUFFIX)].split("-"))
        return start_time(pid) == start
    except (ValueError, OSError):
        return False


class Mark:
    """This launcher's mark: `place()` before the program starts, `clear()` when no process
    of its sandbox is left and the key is dropped."""

    def __init__(self) -> None:
        self.record: Record | None = None

    def place(self) -> None:
        """Write the mark. Raises OSError (RecordDirError included) when it cannot be."""
        from stockade.enforce.status_record import Record, open_dir, start_time

        where = directory()
        if where is None:  # no run of this user can find a place for marks: none uses the cache
            return
        pid = os.getpid()
        name = f"{PREFIX}{pid}-{start_time(pid)}{SUFFIX}"
        dir_fd = open_dir(where)
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o644, dir_fd=dir_fd))
        except OSError:
            os.close(dir_fd)
            raise
        self.record = Record(dir_fd, name, os.path.join(where, name))

    def clear(self) -> None:
        """Remove the mark (status_record.Record.remove: gone already is fine)."""
        if self.record is not None:
            self.record.remove()
