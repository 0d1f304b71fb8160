"""The cache directory and its entries: one authenticated JSON file per cache key.

Directory: $XDG_CACHE_HOME/stockade/plans, else ~/.cache/stockade/plans (root: /root/.cache/...),
made 0700 and opened O_DIRECTORY|O_NOFOLLOW, then checked on the descriptor to be ours and
private (status_record.open_dir). Entry: a header line `stockade-plan-cache 3 MAC`, a JSON
object, and optionally a NUL byte and a blob of bytes (the directory fingerprints, handed to C
as they are: no JSON string to unescape; JSON text holds no raw NUL); MAC: keyed BLAKE2b-256 of
everything after the header line under the keyring key (keyring.py, stockade.digest).
Entries are opened with O_NOFOLLOW relative to the pinned directory, must be regular files of ours, at most
MAX_ENTRY_BYTES; at most MAX_ENTRIES are kept (the oldest go first).

An entry may have side files `NAME-SUFFIX.side` (a plan's coverage entries: cache/deferred.py),
bytes authenticated by their digest in the entry: written before the entry, opened like it,
and removed with it.
"""

from __future__ import annotations

import errno
import os
import stat

from stockade.cache_home import cache_dir as cache_dir  # where it is: a plain run's question
from stockade.cache_home import stockade_base
from stockade.suppress import suppress

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

HEADER = b"stockade-plan-cache 3 "
MAX_ENTRY_BYTES = 64 << 20
MAX_ENTRIES = 64


def entry_name(key: dict[str, Any]) -> str:
    """The file name of the entry for `key`."""
    from stockade.json_text import dumps  # json imports re (~2 ms of a hit's start-up)

    text = dumps(key, sort_keys=True, compact=True)
    from stockade.digest import hexdigest

    return hexdigest(text.encode("utf-8", "surrogateescape"))[:40] + ".json"


class Store:
    """An open cache directory and the key that authenticates its entries."""

    def __init__(self, directory: str, dir_fd: int, secret: bytes) -> None:
        self.directory = directory
        self.dir_fd = dir_fd
        self._secret = secret

    @classmethod
    def open(cls, directory: str, secret: bytes) -> Store:
        """Open (making what is missing) `directory`, one of `cache_dir`'s: below the user's
        base, every component is made and opened with no link followed; OSError when one is
        a link or the last is not private to us (owned by us, mode 0700)."""
        trusted = stockade_base()
        if trusted is None or os.path.dirname(directory) != os.path.join(trusted[0],
                                                                         *trusted[1]):
            raise OSError(errno.EINVAL, f"{directory} is not a cache directory of this user")
        try:  # the base as the user names it (XDG_CACHE_HOME may not exist yet)
            os.makedirs(trusted[0], 0o700, exist_ok=True)
        except OSError as err:
            raise OSError(err.errno, f"cannot make {trusted[0]}: {err.strerror}") from None
        from stockade.enforce.dir_walk import open_walked

        walked = open_walked(os.path.join(*trusted[1], os.path.basename(directory)), make=True,
                             start=trusted[0])  # LinkInPath names a planted link
        try:  # the same directory, readable (scandir), by the descriptor just walked
            fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=walked)
        finally:
            os.close(walked)
        try:
            st = os.fstat(fd)
            if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o077:
                raise OSError(errno.EPERM, f"{directory} is not a private directory of uid "
                              f"{os.geteuid()} (owner {st.st_uid}, mode "
                              f"{stat.S_IMODE(st.st_mode):04o})")
        except BaseException:
            os.close(fd)
            raise
        return cls(directory, fd, secret)

    def close(self) -> None:
        """Release the directory."""
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1

    def _mac(self, body: bytes | memoryview) -> bytes:
        from stockade.digest import mac

        return mac(self._secret, body)

    def read(self, name: str) -> tuple[dict[str, Any], bytes] | None:
        """The authenticated JSON object and blob of entry `name`; None when missing;
        ValueError when it is there but not authentic or not ours."""
        fd = self.open_file(name)
        if fd is None:
            return None
        try:
            chunks, size = [], 0
            while chunk := os.read(fd, 1 << 20):
                size += len(chunk)
                if size > MAX_ENTRY_BYTES:
                    raise ValueError("too large")
                chunks.append(chunk)
        finally:
            os.close(fd)
        data = b"".join(chunks)  # one chunk: no copy
        from stockade.digest import equal

        start = data.find(b"\n") + 1  # the body: authenticated in place (no copy of 1 MB)
        body = memoryview(data)[start:]
        if (not start or not data.startswith(HEADER)
                or not equal(data[len(HEADER):start - 1], self._mac(body))):
            raise ValueError("not authenticated by this user's key")
        end = data.find(b"\0", start)
        text, blob = (data[start:], b"") if end < 0 else (data[start:end], data[end + 1:])
        from stockade.json_text import loads  # json.loads without importing json (start-up)

        try:
            out = loads(text.decode("utf-8", "surrogatepass"))  # as json.loads decodes bytes
        except ValueError:
            raise ValueError("not JSON") from None
        if not isinstance(out, dict):
            raise ValueError("not an entry")
        return out, blob

    def write(self, name: str, body: dict[str, Any], blob: bytes = b"") -> None:
        """Write entry `name`: `body` as JSON, then `blob` (atomically: a private temporary
        file renamed over it)."""
        import json

        raw = json.dumps(body, separators=(",", ":")).encode("utf-8", "surrogateescape")
        if 0 in raw:  # ensure_ascii escapes every control character: cannot happen
            raise ValueError("a NUL byte in the JSON text")
        if blob:
            raw += b"\0" + blob
        if len(raw) > MAX_ENTRY_BYTES - 128:  # it could not be read back
            raise OSError(errno.EFBIG, f"entry larger than {MAX_ENTRY_BYTES} bytes")
        self._replace(name, HEADER + self._mac(raw) + b"\n" + raw)
        self._evict(keep=name)

    def _replace(self, name: str, data: bytes) -> None:
        """Write file `name` atomically: a private temporary file renamed over it."""
        tmp = f".{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=self.dir_fd)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.rename(tmp, name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp, dir_fd=self.dir_fd)
            raise

    def write_side(self, name: str, data: bytes) -> None:
        """Write side file `name` (before its entry names it; atomically)."""
        if len(data) > MAX_ENTRY_BYTES:
            raise OSError(errno.EFBIG, f"side file larger than {MAX_ENTRY_BYTES} bytes")
        self._replace(name, data)

    def open_file(self, name: str) -> int | None:
        """A descriptor of entry or side file `name` (None when missing); ValueError when it
        is not a regular file of ours or too large (a side file's bytes are checked against
        its entry's digest when read)."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=self.dir_fd)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise ValueError(f"cannot open: {err.strerror}") from None
        st = os.fstat(fd)
        why = ("not a regular file of ours" if not stat.S_ISREG(st.st_mode)
               or st.st_uid != os.geteuid() else "too large" if st.st_size > MAX_ENTRY_BYTES
               else None)
        if why:
            os.close(fd)
            raise ValueError(why)
        return fd

    def remove(self, name: str) -> None:
        """Drop entry `name` (a refused one) and its side files."""
        with suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self.dir_fd)
        self.drop_sides(name)

    def drop_sides(self, name: str, keep: str = "") -> None:
        """Remove the side files of entry `name` but `keep`."""
        prefix = name.removesuffix(".json") + "-"
        with os.scandir(self.dir_fd) as it:
            sides = [e.name for e in it if e.name.startswith(prefix)
                     and e.name.endswith(".side") and e.name != keep]
        for side in sides:
            with suppress(FileNotFoundError):
                os.unlink(side, dir_fd=self.dir_fd)

    def _evict(self, keep: str) -> None:
        """Keep at most MAX_ENTRIES entries: the least recently written go, and side files
        of no entry (a run that ended between writing them and its entry)."""
        with os.scandir(self.dir_fd) as it:
            found = [(e.stat(follow_symlinks=False).st_mtime_ns, e.name) for e in it]
        entries = sorted((t, n) for t, n in found if n.endswith(".json") and n != keep)
        for _, name in entries[:max(0, len(entries) + 1 - MAX_ENTRIES)]:
            self.remove(name)
        names = {n for _, n in found if n.endswith(".json")}
        for _, name in found:
            if name.endswith(".side") and f"{name.rpartition('-')[0]}.json" not in names:
                with suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=self.dir_fd)
