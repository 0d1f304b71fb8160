"""The filesystem as the profile loader and the plan compiler see it, recorded for the plan cache.

Every filesystem question that compiling a profile asks (does this include exist, what does
this file say, what is in this directory for a glob, is this a link) goes through the
functions here. Outside `recording()` they are the `os` calls they wrap; inside, each answer
is also noted as an `Observation` (what was asked, a fingerprint of the answer), and
`still_valid` later asks every question again and says whether all answers are the same, so
that a cached plan is used only when compiling afresh would read the same filesystem.

Directories: a directory's fingerprint is its identity and timestamps
(`m:dev:ino:mtime_ns:ctime_ns`) when it lies on a filesystem that updates them on every change
of its entries (ext2/3/4, xfs, btrfs, tmpfs, f2fs) and its ctime is not within the last
2 seconds (a change in the same timestamp tick would go unseen: "racy" timestamps, as git
calls them); ctime cannot be set back by anybody, so a program cannot hide an added entry by
restoring the mtime. Otherwise (procfs, sysfs, overlays, a recent change) the fingerprint is a
hash of the sorted entry names and kinds, and validating re-lists the directory. In /proc,
the process entries (all-digit names) are left out of that hash and nothing below /proc/PID
(nor /proc/self, which names the compiling process) is recorded: processes come and go
between any two launches, a cached plan's grants to /proc/PID paths of processes that have
exited are skipped at launch as for a fresh plan (optional
rules), and processes started since the plan was cached are not covered, as processes started
after a fresh plan's launch are not (the coverage report says so for every /proc glob).
One answer below /proc/PID is recorded: who owns a process whose entries an `owner` (or
`other`) rule kept or left out (`process_owned`). On a hit a process that has exited is no
change, but one whose pid now has the other kind of owner is (pid reuse must not carry a grant
to another user's process into a later run).
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import time

from stockade.digest import hasher, hexdigest

#: statfs f_type of the filesystems whose directory mtime/ctime change with every entry change
TRUSTED_FS = frozenset({0xEF53, 0x58465342, 0x9123683E, 0x01021994, 0xF2F52010})
RACY_NS = 2_000_000_000
MAX_CONTENT = 16 << 20  # a policy file larger than this is refused by the loader anyway

Observation = tuple[str, str, str]  # (question, path, fingerprint of the answer)

_log: list[Observation] | None = None
_seen: dict[tuple[str, str], str] = {}
_unstable: list[str] = []  # questions answered differently within one recording
_fs_type: dict[int, int] = {}


class recording:
    """`with recording() as log:` records every question asked through this module while the
    block runs (not nested) in `log`. A class, not contextlib's decorator: a plan cache hit
    imports this module and need not load contextlib."""

    __slots__ = ()

    def __enter__(self) -> list[Observation]:
        global _log
        if _log is not None:
            raise RuntimeError("fsview.recording() is not reentrant")
        _log = []
        _seen.clear()
        _unstable.clear()
        return _log

    def __exit__(self, *exc: object) -> None:
        global _log
        _log = None
        _seen.clear()


def unstable() -> str | None:
    """After `recording()`: a question that got two answers while it ran (the filesystem
    changed under the compiler: its result matches no one state, so it is not cached)."""
    return _unstable[0] if _unstable else None


def process_owned(path: str, uid: int) -> bool:
    """Whether the /proc/PID entry `path` is owned by `uid` (OSError when the process is
    gone). Recorded although below /proc/PID: a plan that kept the entry for this answer (an
    `owner` or `other` rule) must not be reused once the pid belongs to someone else."""
    owned = os.lstat(path).st_uid == uid
    if _log is not None:
        _note_always("o", path, "T" if owned else "F")
    return owned


def _note(question: str, path: str, answer: str) -> None:
    if _log is None or volatile(path):
        return
    _note_always(question, path, answer)


def _note_always(question: str, path: str, answer: str) -> None:
    assert _log is not None
    first = _seen.get((question, path))
    if first is None:
        _seen[(question, path)] = answer
        _log.append((question, path, answer))
    elif first != answer and not _unstable:
        _unstable.append(f"changed while compiling: {question} {path}")


def volatile(path: str) -> bool:
    """Below /proc/PID, /proc/self and /proc/thread-self (which name the compiling process):
    left out (see the module docstring)."""
    if not path.startswith("/proc/"):
        return False
    first = path[6:].split("/", 1)[0]
    return first.isdigit() or first in ("self", "thread-self")


def _err(err: OSError) -> str:
    return f"E{err.errno}"


def _kind(mode: int) -> str:
    return f"T{stat.S_IFMT(mode):o}"


# -- the questions -------------------------------------------------------------------------

def lstat(path: str) -> os.stat_result:
    """os.lstat, noting the file type (or the error)."""
    try:
        st = os.lstat(path)
    except OSError as err:
        _note("l", path, _err(err))
        raise
    _note("l", path, _kind(st.st_mode))
    return st


def stat_mode(path: str) -> int | None:
    """os.stat's st_mode (None when it fails), noting the file type (or the error)."""
    try:
        st = os.stat(path)
    except OSError as err:
        _note("s", path, _err(err))
        return None
    except ValueError:  # an embedded NUL: no such file, whatever the filesystem holds
        return None
    _note("s", path, _kind(st.st_mode))
    return st.st_mode


def lexists(path: str) -> bool:
    """os.path.lexists."""
    try:
        lstat(path)
    except (OSError, ValueError):  # ValueError: an embedded NUL, as os.path.lexists
        return False
    return True


def exists(path: str) -> bool:
    """os.path.exists."""
    return stat_mode(path) is not None


def isdir(path: str) -> bool:
    """os.path.isdir."""
    mode = stat_mode(path)
    return mode is not None and stat.S_ISDIR(mode)


def isfile(path: str) -> bool:
    """os.path.isfile."""
    mode = stat_mode(path)
    return mode is not None and stat.S_ISREG(mode)


def realpath(path: str) -> str:
    """os.path.realpath, noting the result."""
    real = os.path.realpath(path)
    _note("r", str(path), real)
    return real


def scandir(path: str) -> os.ScandirIterator[str]:
    """os.scandir; the directory's fingerprint is taken before it is read, so a change while
    it is read makes the recorded fingerprint stale (a miss), never a wrong hit."""
    if _log is not None:
        _note("d", path, dir_print(path))
    return os.scandir(path)


def listdir(path: str) -> list[str]:
    """os.listdir (fingerprinted as scandir)."""
    if _log is not None:
        _note("d", path, dir_print(path))
    return os.listdir(path)


def note_content(path: str, data: bytes) -> None:
    """Note the bytes a policy file held when it was read."""
    if _log is not None:
        _note("f", path, hexdigest(data))


# -- fingerprints --------------------------------------------------------------------------

def _statfs_type(path: str) -> int | None:
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(256)  # struct statfs: f_type is the first word
    if libc.statfs(os.fsencode(path), buf) != 0:
        return None
    return int.from_bytes(buf.raw[:ctypes.sizeof(ctypes.c_long)], "little", signed=True)


def _trusted(path: str, dev: int) -> bool:
    if dev not in _fs_type:
        if len(_fs_type) > 256:
            _fs_type.clear()
        kind = _statfs_type(path)
        if kind is None:
            return False
        _fs_type[dev] = kind & 0xFFFFFFFF
    return _fs_type[dev] in TRUSTED_FS


def _listing(path: str) -> str:
    skip_pids = os.path.normpath(path) == "/proc"
    names = []
    with os.scandir(path) as it:
        for entry in it:
            if skip_pids and entry.name.isdigit():
                continue
            try:
                kind = "l" if entry.is_symlink() else "d" if entry.is_dir() else "o"
            except OSError:
                kind = "?"
            names.append(f"{entry.name}\0{kind}")
    names.sort()
    return "h" + hexdigest("\n".join(names).encode("utf-8", "surrogateescape"))


def _id_print(st: os.stat_result) -> str:
    """A directory's identity-and-timestamps fingerprint (see the module docstring; the C
    check in enforce/fsbatch formats the same)."""
    return f"m{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def dir_print(path: str) -> str:
    """The fingerprint of a directory (see the module docstring)."""
    try:
        st = os.stat(path)
        if (_trusted(path, st.st_dev) and stat.S_ISDIR(st.st_mode)
                and time.time_ns() - st.st_ctime_ns > RACY_NS):
            return _id_print(st)
        return _listing(path)
    except OSError as err:
        return _err(err)


def _recorded_print(path: str, recorded: str) -> str:
    """The directory's fingerprint now, in the form it was recorded in."""
    if not recorded.startswith("m"):
        try:
            return _listing(path)
        except OSError as err:
            return _err(err)
    try:
        st = os.stat(path)
    except OSError as err:
        return _err(err)
    return _id_print(st)


def _content_print(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        return _err(err)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return _err(OSError(errno.EINVAL, "not a regular file"))
        digest = hasher()
        size = 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > MAX_CONTENT:
                return "too large"
            digest.update(chunk)
        return digest.hexdigest()
    except OSError as err:
        return _err(err)
    finally:
        os.close(fd)


def answer_now(question: str, path: str, recorded: str) -> str:
    """The fingerprint of the same question asked now."""
    if question == "l":
        try:
            return _kind(os.lstat(path).st_mode)
        except OSError as err:
            return _err(err)
    if question == "s":
        try:
            return _kind(os.stat(path).st_mode)
        except OSError as err:
            return _err(err)
    if question == "r":
        return os.path.realpath(path)
    if question == "d":
        return _recorded_print(path, recorded)
    if question == "f":
        return _content_print(path)
    if question == "o":
        return _owner_now(path, recorded)
    return "unknown question"


def _owner_now(path: str, recorded: str) -> str:
    """A kept /proc/PID entry's ownership now: a process that has exited does not count as a
    change (its grant is optional and skipped at launch, as with a fresh plan's); one whose
    pid now belongs to the other side of the `owner` test does."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, ProcessLookupError):
        return recorded
    except OSError as err:
        return _err(err)
    return "T" if st.st_uid == os.geteuid() else "F"


def split_dirs(observations: list[Observation]) -> tuple[list[Observation], str]:
    """The answers other than directory fingerprints of the `m` form, and those packed into
    one string (enforce.fsbatch.pack_dirs: thousands of them parse and check faster so)."""
    from stockade.enforce import fsbatch

    dirs = [(path, recorded) for question, path, recorded in observations
            if question == "d" and recorded[:1] == "m"]
    rest = [o for o in observations if not (o[0] == "d" and o[2][:1] == "m")]
    return rest, fsbatch.pack_dirs(dirs)


def still_valid(observations: list[Observation], dirs: str | bytes = "") -> str | None:
    """None when every recorded answer (and every directory in `dirs`, from `split_dirs`) is
    the same now, else the first that changed. ValueError when `dirs` is malformed."""
    from stockade.enforce import fsbatch

    rest, packed = split_dirs(observations)
    kinds = [o for o in rest if o[0] in fsbatch.KIND_QUESTIONS]  # one call (C when built)
    changed_kind = fsbatch.check_kinds(kinds)
    if changed_kind is not None:
        return f"{kinds[changed_kind][0]} {kinds[changed_kind][1]}"
    # the real paths at once, sharing their parents' lstats (~60 paths under a few
    # directories for a profile with abstractions/base), as os.path.realpath gives them
    from stockade.files import realpaths

    asked = [path for question, path, _ in rest if question == "r"]
    real = dict(zip(asked, realpaths(asked, vouched=False), strict=True))
    for question, path, recorded in rest:
        if question == "r":
            if real[path] != recorded:
                return f"{question} {path}"
        elif question not in fsbatch.KIND_QUESTIONS and answer_now(question, path,
                                                                    recorded) != recorded:
            return f"{question} {path}"
    for each in (dirs, packed):  # one stat each, in one call (C when built)
        changed = fsbatch.check_dirs(each)
        if changed is not None:
            return f"d {changed}"
    return None
