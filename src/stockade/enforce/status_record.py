"""The "confined by stockade" record of docs/status.md: `<pid>.json` in /run/stockade (root)
or $XDG_RUNTIME_DIR/stockade (else /run/user/UID/stockade), written before the program runs,
removed when it ends; under `run --keep-running`, replaced by `kept-*.json` naming the
processes left in the sandbox and its write grants (`Keeper.keep`), which outlives the run.

The launcher is unconfined while the program runs, and the program may be able to write near
the record directory, so every step works on a pinned directory descriptor: the directory is
opened O_DIRECTORY|O_NOFOLLOW and must be owned by us with mode 0700 (fstat on the descriptor),
the record is created with openat(O_CREAT|O_EXCL|O_NOFOLLOW) and renamed into place inside that
descriptor, and removed with unlinkat. Nothing there follows a link the program could plant.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Iterable

from stockade.enforce.landlock import AccessFs
from stockade.json_text import dumps
from stockade.slotted import Slotted
from stockade.suppress import suppress

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

ROOT_DIR = "/run/stockade"
#: Landlock rights that let a sandbox change entries of a directory or the files in it
WRITE_RIGHTS = (AccessFs.WRITE_FILE | AccessFs.TRUNCATE | AccessFs.MAKE_REG | AccessFs.MAKE_DIR
                | AccessFs.MAKE_SYM | AccessFs.MAKE_FIFO | AccessFs.MAKE_SOCK
                | AccessFs.MAKE_CHAR | AccessFs.MAKE_BLOCK | AccessFs.REMOVE_FILE
                | AccessFs.REMOVE_DIR | AccessFs.REFER)
_WRITE_BITS = int(WRITE_RIGHTS)  # int arithmetic: IntFlag's & costs microseconds per call


class RecordDirError(OSError):
    """The record directory is not a private directory of ours (or cannot be made one)."""


def record_dir() -> str | None:
    """Where records go for this user: /run/stockade for root, else `stockade` in the first of
    $XDG_RUNTIME_DIR and /run/user/UID that is a directory of ours; None (no record, quietly)
    when neither is (`sudo -u` keeps another user's XDG_RUNTIME_DIR, for one)."""
    uid = os.geteuid()
    if uid == 0:
        return ROOT_DIR
    for base in (os.environ.get("XDG_RUNTIME_DIR") or "", f"/run/user/{uid}"):
        if not os.path.isabs(base):
            continue
        try:
            st = os.stat(base)
        except OSError:
            continue
        if st.st_uid == uid and stat.S_ISDIR(st.st_mode):
            return os.path.join(base, "stockade")
    return None


class _Place:
    """What the exposure checks compare grants with: the physical path of `path` (of what
    descriptor `fd` refers to, when given: the file opened, not the name), the (device,
    inode) of it and of its ancestors on that path, and the positions inside their file
    systems that a walk to it can pass (mount_position: every mount that shows it)."""

    def __init__(self, path: str, fd: int | None, table: dict[int, Any] | None = None,
                 positions: dict[str, Any] | None = None, real: str | None = None) -> None:
        from stockade.enforce import mount_position

        #: the module, kept: an import in each method cost ~1 us, asked hundreds of times
        self.mp = mount_position
        self.table = mount_position.mounts() if table is None else table
        #: grant -> its mount position, kept by a caller that asks about many paths
        self.positions = positions
        self.opened = os.fstat(fd) if fd is not None else None
        if fd is not None:
            self.here = mount_position.of_fd(fd, self.table)
            self.real = os.readlink(f"/proc/self/fd/{fd}")
        elif real is not None and real == path:
            self.here, self.real = self._at(real), real
        else:
            self.here = mount_position.of_path(path, self.table)
            self.real = os.path.realpath(path) if real is None else real
        self.walked = mount_position.passed(self.here, self.table) if self.here else set()
        self.devs = {dev for dev, _ in self.walked}
        self.known = {m.dev for m in self.table.values()}
        self.ancestors: set[tuple[int, int]] = set(self.up(self.real))
        if self.opened is not None:
            self.ancestors.add((self.opened.st_dev, self.opened.st_ino))

    def _at(self, path: str) -> Any:
        """mount_position.of_path(`path`) for a physical path (absolute, normal, no link on it:
        name_chain.walk's end), kept in `positions`: a path that is no mount point lies on
        its directory's mount, at the directory's position joined with its name, so the
        kernel is asked (of_path: six system calls) only at the mount points on the way."""
        positions = self.positions
        if positions is None:
            return self.mp.of_path(path, self.table)
        table, points = positions.get("\0points", (None, frozenset()))
        if table is not self.table:  # the mount points of this table (the caller's one)
            points = frozenset(m.point for m in self.table.values())
            positions["\0points"] = (self.table, points)
        chain = []  # from `path` up to one known or asked (a loop: paths may be deep)
        here = path
        while True:
            key = "\0at " + here  # no path holds a NUL
            if key in positions:
                found = positions[key]
                break
            parent, _, name = here.rpartition("/")
            if here == "/" or here in points or not name:
                found = positions[key] = self.mp.of_path(here, self.table)
                break
            chain.append((here, name))
            here = parent or "/"
        for here, name in reversed(chain):
            found = None if found is None else (found[0], self.mp.join(found[1], name))
            positions["\0at " + here] = found
        return found

    def up(self, path: str) -> frozenset[tuple[int, int]]:
        """The (device, inode) of `path` and of each of its ancestors; kept in `positions`
        when the caller shares one (many of its paths have their ancestors in common)."""
        chain = []  # from `path` up to the first one known (or the top), then down again
        ids: frozenset[tuple[int, int]] = frozenset()
        here = path
        while True:
            key = "\0up " + here  # no path holds a NUL
            if self.positions is not None and key in self.positions:
                ids = self.positions[key]
                break
            chain.append(here)
            if here == "/" or not here.startswith("/"):
                break
            here = os.path.dirname(here)
        for here in reversed(chain):
            found = self.stat(here)
            if found is not None:
                ids = ids | {(found.st_dev, found.st_ino)}
            if self.positions is not None:
                self.positions["\0up " + here] = ids
        return ids

    def stat(self, path: str) -> os.stat_result | None:
        """os.stat(path), None when it fails; kept in `positions` when the caller shares one
        (the ancestors and grants that many of its paths have in common: stat'ed once)."""
        key = "\0stat " + path  # no path holds a NUL
        if self.positions is not None and key in self.positions:
            return self.positions[key]
        try:
            found: os.stat_result | None = os.stat(path)
        except OSError:
            found = None
        if self.positions is not None:
            self.positions[key] = found
        return found

    def real_of(self, grant: str) -> str:
        """os.path.realpath(grant), kept in `positions` when the caller shares one."""
        if self.positions is None:
            return os.path.realpath(grant)
        key = "\0real " + grant  # no path holds a NUL
        if key not in self.positions:
            self.positions[key] = os.path.realpath(grant)
        return self.positions[key]

    def position_of(self, grant: str, st: os.stat_result) -> tuple[str, str] | None:
        """The position of `grant` when it may share a file system with this place (st_dev is
        mountinfo's device, except on file systems such as btrfs: those are always looked up)."""
        dev = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
        if dev in self.known and dev not in self.devs:
            return None
        if self.positions is None:
            return self.mp.of_path(grant, self.table)
        if grant not in self.positions:
            self.positions[grant] = self.mp.of_path(grant, self.table)
        return self.positions[grant]

    def covered_by(self, grant: str) -> bool:
        """Whether a grant on `grant` lets a walk to this place pass it."""
        top = self.real_of(grant)
        if self.real == top or self.real.startswith(top.rstrip("/") + "/"):
            return True
        st = self.stat(grant)
        if st is None:
            return False
        if (st.st_dev, st.st_ino) in self.ancestors:
            return True
        where = self.position_of(grant, st)
        return where is not None and self.mp.covers(where, self.walked)

    def holds(self, grant: str) -> bool:
        """Whether `grant` lies below this place (a directory), by path or inside its file
        system (through another mount of it)."""
        if self.real_of(grant).startswith(self.real.rstrip("/") + "/"):
            return True
        if self.here is None:
            return False
        st = self.stat(grant)
        if st is None:
            return False
        where = self.position_of(grant, st)
        return (where is not None and where[0] == self.here[0]
                and where[1].startswith(self.here[1].rstrip("/") + "/"))


def writable_grant(path: str, grants: Iterable[tuple[str, AccessFs]], *,
                   fd: int | None = None, place: _Place | None = None,
                   table: dict[int, Any] | None = None,
                   positions: dict[str, Any] | None = None) -> str | None:
    """The first grant whose rights let a sandbox change `path`: a grant on `path` itself (a
    file: its contents) or on a directory at or above it (what is in it); None if no grant
    does. `fd` is a descriptor the caller holds on `path`: what it refers to is judged.

    Landlock rules belong to inodes, not names: a grant on another path to the same file or
    directory or to one of its ancestors (a hard link, a bind mount of /run or of a directory
    below the grant, say) covers it too, so the grants are compared by (device, inode) with
    `path` and each of its ancestors, and by position inside the file system through every
    mount that shows it (mount_position), besides by path. `table` (mount_position.mounts())
    and `positions` (grant -> position, filled as asked): for a caller that asks about many
    paths."""
    place = place or _Place(path, fd, table, positions)
    for grant, rights in grants:
        if int(rights) & _WRITE_BITS and place.covered_by(grant):
            return grant
    return None


def exposure(path: str, grants: Iterable[tuple[str, AccessFs]], *,
             fd: int | None = None, table: dict[int, Any] | None = None,
             positions: dict[str, Any] | None = None, real: str | None = None) -> str | None:
    """Why a sandbox holding `grants` could change `path`, a file or directory the launcher owns
    (the status record directory, --audit and --learn files, the plan cache), as a phrase
    following the path ("lies inside the writable grant /run"); None when it cannot.
    `fd` is the caller's descriptor on `path`: the file it opened is judged, not the name
    (a file: its hard links count).

    Besides `writable_grant`: a writable grant inside a directory, and a file with more than
    one link while any grant is writable (the other name may lie inside it). `real`: the
    physical path of `path` when the caller has just resolved it (name_chain.walk), instead
    of resolving it again."""
    grants = [(g, r) for g, r in grants if int(r) & _WRITE_BITS]
    if not grants:
        return None
    place = _Place(path, fd, table, positions, real)
    if fd is not None and (place.here is None or not place.real.startswith("/")):
        return "could not be located once opened (removed or moved meanwhile)"
    grant = writable_grant(path, grants, place=place)
    if grant is not None:
        if os.path.realpath(grant) == place.real or _same_file(grant, path, place.opened):
            return f"is writable through the grant {grant}"
        return f"lies inside the writable grant {grant}"
    for grant, _ in grants:
        if place.holds(grant):
            return f"holds the writable grant {grant}"
    if place.opened is not None and place.opened.st_nlink > 1:
        return (f"has {place.opened.st_nlink} hard links: the program could write it through "
                "one inside a writable grant")
    return None


def _same_file(one: str, other: str, other_st: os.stat_result | None) -> bool:
    """Whether `one` names the file `other` (of fstat `other_st` when given)."""
    try:
        here = os.stat(one)
        there = other_st or os.stat(other)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def sandbox_grants(plan: Any, only: AccessFs | None = None) -> list[tuple[str, AccessFs]]:
    """The (path, Landlock rights) the sandbox itself holds under `plan` (an EnforcementPlan):
    the rights a supervisor exercises on the program's behalf are left out; with `only`, the
    grants that carry none of those rights too."""
    if only is not None:  # int arithmetic: a plan has thousands of grants
        mask = int(only) & int(plan.handled_fs)
        return [(r.path, r.access & plan.handled_fs) for r in plan.fs_rules
                if not r.supervised and int(r.access) & mask]
    return [(r.path, r.access & plan.handled_fs) for r in plan.fs_rules if not r.supervised]


def writes_confined(plan: Any) -> bool:
    """Whether Landlock restricts where a sandbox under `plan` (an EnforcementPlan) may write
    files."""
    from stockade.enforce import landlock as ll

    abi = ll.abi_version()
    handled = plan.handled_fs & ll.rights_for_abi(ll.AccessFs, abi)
    core = ll.AccessFs.WRITE_FILE | ll.AccessFs.MAKE_REG | ll.AccessFs.REMOVE_FILE
    return abi >= 1 and not core & ~handled


def writes_anywhere(plan: Any) -> bool:
    """Whether a sandbox under `plan` may write wherever its user may (no Landlock limit on
    writing, or every write right granted on /): then no file of the launcher's can be kept
    from it (complain mode with -p, --mode learn without -p, a `flags=(unconfined)` profile).
    The one answer `run` (which files it may record to) and the plan cache ask."""
    return not writes_confined(plan) or any(
        os.path.realpath(path) == "/" and rights & WRITE_RIGHTS == WRITE_RIGHTS & plan.handled_fs
        for path, rights in sandbox_grants(plan, only=WRITE_RIGHTS))


def write_grants(plan: Any) -> list[tuple[str, AccessFs]]:
    """Every (path, rights) through which the program may change files under `plan`, the one
    answer for the checks that protect the launcher's files (`exposure`): the sandbox's own
    writable Landlock grants, and the rights a supervisor exercises on its behalf (supervised
    rules: TOMOYO's file policy) beneath each directory where the module's policy changes
    names (`plan.supervised_changes`). What a supervised right could still reach elsewhere
    (a write open of an existing file) the supervisor refuses itself for the launcher's files
    (supervisor/protect.py).

    Write rights the plan leaves unhandled (a `flags=(unconfined)` profile handles none)
    Landlock allows on every path: they count as a grant on /."""
    from stockade.enforce.landlock import abi_version, rights_for_abi

    grants = sandbox_grants(plan, only=WRITE_RIGHTS)
    unhandled = WRITE_RIGHTS & rights_for_abi(AccessFs, abi_version()) & ~plan.handled_fs
    if unhandled:
        grants.append(("/", unhandled))
    for rule in plan.fs_rules:
        if not rule.supervised:  # first: a plan has thousands of grants, flag arithmetic is slow
            continue
        rights = rule.access & plan.handled_fs & WRITE_RIGHTS
        if not rights:
            continue
        top = os.path.realpath(rule.path).rstrip("/") + "/"
        for changed in dict.fromkeys(plan.supervised_changes):
            real = os.path.realpath(changed)
            if (real.rstrip("/") + "/").startswith(top):
                grants.append((changed, rights))
            elif top.startswith(real.rstrip("/") + "/"):
                grants.append((rule.path, rights))
    return grants


def start_time(pid: int) -> int:
    """Field 22 of /proc/PID/stat: start time in clock ticks since boot."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    # comm (field 2) may contain spaces and parentheses: split after the last ')'
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[19])


def open_dir(directory: str, *, dir_fd: int | None = None, name: str | None = None) -> int:
    """An O_DIRECTORY|O_NOFOLLOW descriptor of `directory` (made 0700 if missing), checked to
    be owned by us with no access for group or others. Raises RecordDirError otherwise.
    With `dir_fd`, the directory is `name` in that directory (`directory` names it in errors)."""
    where = directory if dir_fd is None else name or os.path.basename(directory)
    with suppress(FileExistsError):
        os.mkdir(where, 0o700, dir_fd=dir_fd)
    try:
        fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except OSError as err:
        why = "it is a symbolic link" if err.errno in (errno.ELOOP, errno.ENOTDIR) \
            else err.strerror
        raise RecordDirError(err.errno, f"{directory}: {why}") from None
    st = os.fstat(fd)
    uid = os.geteuid()
    if st.st_uid != uid or stat.S_IMODE(st.st_mode) & 0o077 or not stat.S_ISDIR(st.st_mode):
        os.close(fd)
        raise RecordDirError(errno.EPERM, f"{directory} is not a private directory of uid {uid} "
                             f"(owner {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o})")
    return fd


class Record(Slotted):
    """A written record: the pinned directory and the record's name in it."""

    FIELDS = ("dir_fd", "name", "path")
    __slots__ = FIELDS

    def __init__(self, dir_fd: int, name: str, path: str) -> None:
        self.dir_fd = dir_fd
        self.name = name
        self.path = path

    def remove(self) -> None:
        """Unlink the record (gone already is fine) and release the directory."""
        if self.dir_fd < 0:
            return
        with suppress(FileNotFoundError):
            os.unlink(self.name, dir_fd=self.dir_fd)
        os.close(self.dir_fd)
        self.dir_fd = -1


def _create(dir_fd: int, name: str) -> int:
    """openat(O_CREAT|O_EXCL|O_NOFOLLOW); a leftover of that name is unlinked once first."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, 0o644, dir_fd=dir_fd)
    except FileExistsError:
        os.unlink(name, dir_fd=dir_fd)  # removes the name only, whatever it points to
        return os.open(name, flags, 0o644, dir_fd=dir_fd)


def write(pid: int, profile: str, *, directory: str, mode: str = "enforce",
          landlock_abi: int = 0, layers: list[str] | None = None) -> Record:
    """Write the record of `pid` into `directory`. Raises OSError (RecordDirError included)."""
    dir_fd = open_dir(directory)
    try:
        record: dict[str, Any] = {
            "pid": pid, "profile": profile, "mode": mode, "start_time": start_time(pid),
            "started": round(time.time(), 3), "launcher_pid": os.getpid(),
            "landlock_abi": landlock_abi, "layers": layers or [],
        }
        name = f"{pid}.json"
        _put(dir_fd, name, record)
    except BaseException:
        os.close(dir_fd)
        raise
    return Record(dir_fd, name, os.path.join(directory, name))


def _put(dir_fd: int, name: str, record: dict[str, Any]) -> None:
    """Write `record` as `name` in `dir_fd`: a new file renamed into place."""
    tmp = name + ".tmp"
    try:
        with os.fdopen(_create(dir_fd, tmp), "w", encoding="utf-8") as f:
            f.write(dumps(record, sort_keys=True))  # json.dump's text, without json
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise


def remove_stale_kept(paths: Iterable[str]) -> None:
    """Unlink the stale `run --keep-running` records among `paths` that lie in this user's
    record directory (host.confinement.survey_kept: none of their survivors runs)."""
    directory = record_dir()
    if directory is None:
        return
    names = [os.path.basename(p) for p in paths if os.path.dirname(p) == directory]
    if not names:
        return
    try:
        dir_fd = open_dir(directory)
    except OSError:
        return
    try:
        for name in names:
            with suppress(OSError):
                os.unlink(name, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


class Keeper:
    """The record of one launch: written by calling it with the pid (the launcher's
    `before_exec`), removed by `remove()` on every way out. A record that cannot be written is
    reported through `warn` and the program runs without one (it claims nothing)."""

    def __init__(self, directory: str, profile: str, *, landlock_abi: int, layers: list[str],
                 warn: Callable[[str], None], mode: str = "enforce") -> None:
        self.directory = directory
        self.mode = mode
        self.profile = profile
        self.landlock_abi = landlock_abi
        self.layers = layers
        self.warn = warn
        self.record: Record | None = None

    def __call__(self, pid: int) -> None:
        try:
            self.record = write(pid, self.profile, directory=self.directory, mode=self.mode,
                                landlock_abi=self.landlock_abi, layers=self.layers)
        except OSError as err:
            self.warn(f"no status record for pid {pid}: {err.strerror or err}")

    def remove(self) -> None:
        """Remove the record, if one was written."""
        if self.record is not None:
            self.record.remove()
            self.record = None

    def keep(self, survivors: list[tuple[int, int]], grants: Iterable[tuple[str, AccessFs]]
             ) -> str | None:
        """`run --keep-running` left `survivors` (pid, start time) in the sandbox: replace the
        record by `kept-<launcher pid>-<its start>-<program pid>.json`, naming them and the
        sandbox's write `grants`, which stays when the launcher exits
        (host.confinement.kept_records believes it while one of them lives). None when kept,
        else why not (no record was written, or the kept one could not be)."""
        record = self.record
        if record is None:
            return "no status record was written"
        me, program = os.getpid(), int(record.name.split(".")[0])
        data: dict[str, Any] = {
            "pid": program, "profile": self.profile, "mode": self.mode,
            "launcher_pid": me, "kept": round(time.time(), 3), "landlock_abi": self.landlock_abi,
            "layers": self.layers, "survivors": [[pid, start] for pid, start in survivors],
            "grants": [[path, int(rights)] for path, rights in grants]}
        try:
            _put(record.dir_fd, f"kept-{me}-{start_time(me)}-{program}.json", data)
        except OSError as err:
            return f"cannot write the kept record: {err.strerror or err}"
        self.remove()
        return None
