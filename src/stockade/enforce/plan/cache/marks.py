"""Marks of runs whose sandbox may use the kernel keyring, and so knows or replaces the plan
cache's key: while any mark exists, no run trusts the key (it neither reads nor writes the
cache, and drops the key).

A mark is `keyring-PID-START.mark` (the launcher's pid and start time) in the status record
directory (status_record.record_dir: /run/stockade for root, else the user's runtime
directory), which no sandbox may write: `stockade run` refuses a keyring run whose sandbox
could (`exposure`), and a run that keeps a status record refuses any sandbox that could. The
launcher writes its mark before the program starts and removes it only after it has ended
every process left of the sandbox (it is their child subreaper: enforce/leftovers.py) and
dropped every key: a mark whose launcher died stays, so the cache stays off until
`stockade status --clear-stale` removes it once none of its programs can live
(stale_marks.py), or a reboot (the directory is on tmpfs).

A file can be removed by whoever may write the directory (a run with `--no-status-record
--rw /run/stockade`, which no check refuses), so a keyring launcher also holds a second mark
no file write reaches: an abstract unix socket bound in its network namespace,
`@stockade-keyring-UID-PID-START`, which exists exactly as long as the launcher holds it (it
closes it when it clears the file, and the kernel when it dies). `present` reads both (the
sockets from /proc/net/unix): the key is trusted only when neither kind is there. A run in
another network namespace sees the file alone.
"""

from __future__ import annotations

import os

from stockade.suppress import suppress

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import socket

    from stockade.enforce.status_record import Record

PREFIX = "keyring-"
SUFFIX = ".mark"
#: the abstract socket names of the marks of this user's keyring launchers
SOCKET_PREFIX = "stockade-keyring-"
UNIX_TABLE = "/proc/net/unix"


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
        held = held_sockets()
        if held:
            return (f"a run whose program may use the keyring runs: launcher {held[0]} "
                    f"(its mark socket @{SOCKET_PREFIX}{os.geteuid()}-{held[0]})")
        return None
    live = _launcher_alive(names[0])
    state = "runs" if live else ("ended without clearing it (`stockade status` tells whether "
                                 "its programs are gone; `stockade status --clear-stale` then "
                                 "removes it)")
    return f"a run whose program may use the keyring {state}: {os.path.join(where, names[0])}"


def socket_name(pid: int, start: int) -> bytes:
    """The abstract socket name (leading NUL) of the mark of launcher `pid` started at `start`."""
    return f"\0{SOCKET_PREFIX}{os.geteuid()}-{pid}-{start}".encode()


def held_sockets() -> list[str]:
    """PID-START of every mark socket of this user's bound in our network namespace (the
    kernel's table of unix sockets: an abstract name is shown with a leading `@`). A table
    that cannot be read counts as a mark (fail closed)."""
    want = f"@{SOCKET_PREFIX}{os.geteuid()}-".encode()
    try:
        with open(UNIX_TABLE, "rb") as f:
            table = f.read()
    except OSError:
        return ["unknown (cannot read /proc/net/unix)"]
    if want not in table:  # the common case: one scan in C
        return []
    found = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[7].startswith(want):
            found.append(fields[7][len(want):].decode(errors="replace"))
    return sorted(found)


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
        self.socket: socket.socket | None = None

    def place(self) -> None:
        """Bind the mark socket and write the mark file. Raises OSError (RecordDirError
        included) when either cannot be (a name already bound: another process holds it)."""
        from stockade.enforce.status_record import Record, open_dir, start_time

        where = directory()
        if where is None:  # no run of this user can find a place for marks: none uses the cache
            return
        import socket  # here: a plan cache hit asks `present` only (socket: ~2 ms)

        pid = os.getpid()
        start = start_time(pid)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind(socket_name(pid, start))
        except OSError:
            sock.close()
            raise
        self.socket = sock
        name = f"{PREFIX}{pid}-{start}{SUFFIX}"
        try:
            dir_fd = open_dir(where)
        except OSError:
            self._close_socket()
            raise
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o644, dir_fd=dir_fd))
        except OSError:
            os.close(dir_fd)
            self._close_socket()
            raise
        self.record = Record(dir_fd, name, os.path.join(where, name))

    def clear(self) -> None:
        """Remove the mark file (status_record.Record.remove: gone already is fine), then
        release the socket."""
        if self.record is not None:
            self.record.remove()
        self._close_socket()

    def _close_socket(self) -> None:
        if self.socket is not None:
            with suppress(OSError):
                self.socket.close()
            self.socket = None
