"""The launcher's own files, which the supervisor never changes for the program.

A module's policy may let the supervisor perform file operations the program's Landlock
domain does not grant it (TOMOYO's `file unlink/create/rename/write`: a supervised rule on
`/`). Whatever the modules answer, the supervisor refuses (EACCES, one audit record by
module=supervisor) every change it would make to:

* a file the launcher writes while the program runs (`--audit`, `--learn`), by device and
  inode: a write or truncating open, a new name for it (link), removing or renaming it, or
  replacing it (a rename or create over it), and chmod/chown/xattr changes;
* a directory of the launcher's (the status record and keyring mark directory, the plan
  cache): the directory itself, and every entry in it (the records and marks of other runs
  included): creating, removing, renaming or opening one for writing.

The up-front checks (status_record.exposure, asked with status_record.write_grants) refuse a
run whose plan lets the program change these where they can see it; this is the supervisor's
own fail-closed answer for whatever they cannot.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable

from stockade.lsm.types import MAY_APPEND, MAY_WRITE, Object, ObjectKind, Request
from stockade.suppress import suppress

ERRNO = errno.EACCES
_CHANGE = MAY_WRITE | MAY_APPEND


class Protected:
    """Files (device, inode) and directories ((device, inode) -> real path) of the launcher.
    (A plain class: a dataclass costs half a millisecond to define at every launch.)"""

    def __init__(self, files: set[tuple[int, int]] | None = None) -> None:
        self.files: set[tuple[int, int]] = files or set()
        self.dirs: dict[tuple[int, int], str] = {}

    def add_dir(self, path: str) -> None:
        """Protect the directory `path` and its entries (nothing when it does not exist)."""
        real = os.path.realpath(path)
        with suppress(OSError):
            st = os.stat(real)
            self.dirs[(st.st_dev, st.st_ino)] = real

    def add_dir_fd(self, fd: int, path: str) -> None:
        """Protect the directory open at `fd` (named `path`) and its entries."""
        st = os.fstat(fd)
        self.dirs[(st.st_dev, st.st_ino)] = os.path.realpath(path)

    def __bool__(self) -> bool:
        return bool(self.files or self.dirs)

    def refusal(self, requests: Iterable[Request]) -> tuple[Request, str] | None:
        """The first request that would change a protected file or directory, and why."""
        for req in requests:
            if not req.access & _CHANGE:
                continue
            for obj in (req.obj, req.target):
                if isinstance(obj, Object) and obj.kind == ObjectKind.FILE:
                    why = self._object(obj)
                    if why is not None:
                        return req, why
        return None

    def open_refusal(self, st: os.stat_result, path: str, access: int) -> str | None:
        """Why an open with `access` of the file `st` (named `path`) is refused, or None."""
        if not access & _CHANGE:
            return None
        ident = (st.st_dev, st.st_ino)
        if ident in self.files:
            return f"{path} is a file the launcher writes (--audit/--learn)"
        return self._inside(st.st_dev, path)

    def _object(self, obj: Object) -> str | None:
        ident = (obj.dev, obj.ino)
        if obj.exists and ident in self.files:
            return f"{obj.path} is a file the launcher writes (--audit/--learn)"
        if obj.exists and ident in self.dirs:
            return f"{obj.path} is a directory of the launcher's (status records, marks, cache)"
        parent = obj.parent
        if parent is not None and (parent.dev, parent.ino) in self.dirs:
            return (f"{obj.path} is an entry of {self.dirs[(parent.dev, parent.ino)]}, a "
                    "directory of the launcher's (status records, marks, cache)")
        return self._inside(obj.dev, obj.path) if obj.exists else None

    def _inside(self, dev: int, path: str) -> str | None:
        """An existing file named `path` whose directory is a protected one (by name and
        device: an open's descriptor does not say which directory it was found in)."""
        where = os.path.dirname(path)
        for (ddev, _), real in self.dirs.items():
            if ddev == dev and where == real:
                return (f"{path} is an entry of {real}, a directory of the launcher's "
                        "(status records, marks, cache)")
        return None


def for_launch(outputs: Iterable[os.stat_result]) -> Protected:
    """What `stockade run` protects: the files of `outputs` (the fstat of --audit and --learn,
    taken on the launcher's descriptors), the status record and keyring mark directory (made
    now if missing, as the launcher would make it) and the plan cache directory."""
    from stockade.cache_home import cache_dir  # the plan cache's: without its package
    from stockade.enforce import status_record

    prot = Protected(files={(st.st_dev, st.st_ino) for st in outputs})
    cache = cache_dir()
    if cache:
        prot.add_dir(cache)
    where = status_record.record_dir()
    if where is not None:
        with suppress(OSError):  # not ours: no record or mark goes there either
            fd = status_record.open_dir(where)
            try:
                prot.add_dir_fd(fd, where)
            finally:
                os.close(fd)
    return prot
