"""Files the unconfined launcher writes for the user (`run --audit/--learn`, `learn -o`).

A sandboxed program may have planted a symbolic link (or a FIFO) at such a path in an earlier
run; the launcher is not confined, so following it would append to, or truncate, whatever the
link names. `open_output` walks the path one directory at a time without following a
symbolic link in any component (a directory link planted by an earlier sandbox is refused as
well as a link in the last component; `..` is taken physically, so `LINK/..` meets LINK),
opens the file with O_NOFOLLOW, O_NONBLOCK (a FIFO cannot block the open) and O_CLOEXEC (the
program never inherits it), then checks with fstat that it got a regular file.
`open_unexposed` refuses a file that the coming run may write (itself, another link of it, or
its directory), since the program could rewrite or replace it while it runs: judged by name
before the open and on what was opened after it.

`RecordFile` is the writer for JSON lines, the launcher's and the supervisor's (its audit sink
and --learn observer): a failed write (a full disk, a file size limit) never raises; the lines
are counted as lost so that `run` can say so and still return the program's status.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
from collections.abc import Iterable

from stockade.enforce.landlock import AccessFs
from stockade.errors import StockadeError
from stockade.suppress import suppress

SETUP_FAILED = 125


def open_output(path: str, what: str, *, truncate: bool = False) -> int:
    """An O_WRONLY descriptor of regular file `path` (created 0666 & ~umask if missing),
    appending unless `truncate`; a symbolic link or a non-regular file -> StockadeError."""
    flags = (os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
             | (0 if truncate else os.O_APPEND))
    parent, name = _open_parent(path, what)
    try:
        fd = os.open(name, flags, 0o666, dir_fd=parent)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise StockadeError(f"{what} {path} is a symbolic link: refusing to follow it "
                                "(remove it, or name the file it points to)",
                                SETUP_FAILED) from None
        raise StockadeError(f"cannot open {what} {path}: {err.strerror}", SETUP_FAILED) from None
    finally:
        os.close(parent)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StockadeError(f"{what} {path} is not a regular file", SETUP_FAILED)
        if truncate:
            os.ftruncate(fd, 0)  # only once it is known to be a regular file
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except OSError as err:
        os.close(fd)
        raise StockadeError(f"cannot open {what} {path}: {err.strerror}", SETUP_FAILED) from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_parent(path: str, what: str) -> tuple[int, str]:
    """An O_PATH descriptor of the directory holding `path`'s last component, and that name.
    The directory is reached as the kernel walks the path, one component at a time from / (or
    the working directory), `..` opened physically (the parent of the directory reached, never
    a textual shortening: `LINK/..` meets LINK), and every symbolic link refused with
    O_NOFOLLOW -> StockadeError naming it and where it points (the user names the real path
    instead). So the file opened is the file the exposure check judges (red team 11)."""
    from stockade.enforce.dir_walk import LinkInPath, open_walked

    head, name = os.path.split(path)
    try:
        fd = open_walked(head)
    except LinkInPath as err:
        raise StockadeError(f"{what} {path}: {err.strerror}: refusing to follow it (name the "
                            f"real path, {os.path.realpath(path)})", SETUP_FAILED) from None
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        raise StockadeError(f"cannot open {what} {path}: {where}{err.strerror}",
                            SETUP_FAILED) from None
    return fd, name or "."


def adopt(fd: int, flag: str) -> int:
    """`fd`, a descriptor the caller's parent handed over (`stockade learn`'s nameless
    observations file: no sandbox can open it by a name), once checked to be an open regular
    file; made close-on-exec so the program does not inherit it. StockadeError otherwise."""
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != \
                os.O_RDONLY:
            os.set_inheritable(fd, False)
            return fd
    except OSError:
        pass
    raise StockadeError(f"{flag} {fd}: not an open regular file opened for writing",
                        SETUP_FAILED)


def open_unexposed(path: str, what: str, flag: str,
                   grants: Iterable[tuple[str, AccessFs]]) -> int:
    """`open_output(path)`, refused (StockadeError, exit 125) when a sandbox holding `grants`
    could change the file: a grant on it, on another link of it or on a directory above it, or
    another link of it while the sandbox may write somewhere (status_record.exposure). Checked
    by name before the open (nothing is created then) and on the opened file after it."""
    from stockade.enforce.status_record import exposure

    grants = list(grants)
    why = exposure(path, grants)
    fd = -1
    if why is None:
        fd = open_output(path, what)
        try:
            why = exposure(path, grants, fd=fd)
        except BaseException:
            os.close(fd)
            raise
    if why is not None:
        if fd >= 0:
            os.close(fd)
        raise StockadeError(f"{flag} {path} {why}: the program could rewrite or replace the "
                            f"{what} (put it elsewhere)", SETUP_FAILED)
    return fd


class RecordFile:
    """A text stream of JSON lines on a descriptor from `open_output`: `write` never raises;
    lines that could not be written are counted in `lost` (with the last error). Unbuffered
    and thread-safe: the launcher and the supervisor's sinks share one (one count per file)."""

    def __init__(self, fd: int, path: str, what: str = "audit records") -> None:
        self.fd = fd
        self.path = path
        self.what = what
        self.lost = 0
        self.error = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        """Append `text` (whole lines); on failure count them as lost."""
        data = text.encode("utf-8", errors="replace")
        done = 0
        with self._lock:
            try:
                while done < len(data):
                    done += os.write(self.fd, data[done:])
            except OSError as err:  # EFBIG (RLIMIT_FSIZE), ENOSPC, EIO, EBADF once closed
                whole = data.rfind(b"\n", 0, done) + 1  # the lines written in full
                self.lost += max(1, data[whole:].count(b"\n"))
                self.error = err.strerror or str(err)
                self._cut(done - whole)
        return len(text)

    def _cut(self, partial: int) -> None:
        """Remove the `partial` bytes of a line cut short at the end of the file, so that the
        records after it stay one per line (only the launcher writes the file)."""
        if partial:
            with suppress(OSError):
                os.ftruncate(self.fd, os.fstat(self.fd).st_size - partial)

    def flush(self) -> None:
        """Nothing is buffered."""

    def close(self) -> None:
        """Close the descriptor (once)."""
        with self._lock:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1

    def lost_line(self) -> str | None:
        """The one-line report of lost records, or None."""
        if not self.lost:
            return None
        return f"{self.lost} {self.what} could not be written to {self.path}: {self.error}"
