"""Reach a directory the unconfined launcher writes in without following a symbolic link.

A sandboxed program may plant a link at any name it may write (a directory of an --audit
file, ~/.cache/stockade); the launcher, following it, would write wherever the link points.
`open_walked` walks a path one component at a time from / (or the working directory) with
O_NOFOLLOW, `..` taken physically (the parent of the directory reached: `LINK/..` meets
LINK), and refuses every link it meets (`LinkInPath`, naming it): the caller names the real
path instead. With `make`, missing directories are made (0700) on the way, each relative to
its parent's descriptor. Used for --audit/--learn files (output_file) and, from the user's
cache base, the cache directories (plan cache, SELinux policy dumps: plan/cache/store.py) and
`status`'s view of them.
"""

from __future__ import annotations

import errno
import os


class LinkInPath(OSError):
    """A component of the path is a symbolic link (`where`: the path up to it)."""

    def __init__(self, where: str) -> None:
        try:
            target = os.readlink(where)
        except OSError:
            target = "?"
        super().__init__(errno.ELOOP, f"{where} is a symbolic link to {target}")
        self.where = where


def open_walked(path: str, *, make: bool = False, start: str | None = None) -> int:
    """An O_PATH|O_DIRECTORY descriptor of directory `path`, reached without following a
    link (LinkInPath); other failures raise OSError with the component in its filename.
    `start`: a directory, opened as the user names it, that a relative `path` is walked from
    (the cache base: links above it are the user's own)."""
    first = start if start is not None else "/" if path.startswith("/") else "."
    fd = os.open(first, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    here = start if start is not None else "/" if path.startswith("/") else ""
    try:
        for part in path.split("/"):
            if part in ("", "."):
                continue
            here = os.path.join(here, part)
            nxt = _step(fd, part, here, make)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _step(fd: int, part: str, here: str, make: bool) -> int:
    """Open `part` in `fd` (made first when missing and `make`); `here` names it in errors."""
    flags = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    if make:
        try:
            os.mkdir(part, 0o700, dir_fd=fd)
        except FileExistsError:
            pass  # there already: the open below judges what it is
        except OSError as err:
            if err.errno not in (errno.EACCES, errno.EROFS, errno.EPERM):
                raise OSError(err.errno, err.strerror, here) from None
    try:
        return os.open(part, flags, dir_fd=fd)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(here):
            raise LinkInPath(here) from None
        raise OSError(err.errno, err.strerror, here) from None
