"""Which keyring marks (marks.py) are stale, and clearing only those.

A mark says that a sandbox that may use the kernel keyring may live, so that no run trusts
the plan cache's key meanwhile. Its launcher removes it after ending every process left of
the sandbox; a launcher killed by SIGKILL cannot, and the cache stays off. A mark is stale
when all of these hold, and otherwise it is kept (fail closed):

* its launcher is gone (no process has its pid and start time) and its mark socket is not
  bound (marks.held_sockets: this network namespace);
* this process sees every process: it is in the initial PID and time namespaces (start
  times compare) and /proc is not mounted with hidepid;
* no process that may be one of its programs lives: every program the launcher started has
  no_new_privs set (launcher.py sets it before anything else; no process can unset it, and
  its children inherit it), started no earlier than the launcher, and, unless the launcher
  ran as root, has the user's uid among its uids (without privilege, and with no_new_privs
  barring set-user-ID programs, it cannot take another). A program that left the launcher's
  process tree (setsid, double fork: re-parented when the launcher died) is still one of
  those. Other such processes (another sandbox of the user's, a browser's renderers) keep
  the mark too: the scan cannot tell them apart, and `status` lists them.

The scan of /proc is taken twice in a row and both must be clean (no process vanished
between being listed and being read): a program that forks and exits while it is listed
cannot slip past both.

Clearing drops the key first (keyring.forget, as the launcher does before it clears its
mark): a program of the dead launcher's sandbox may have planted a key of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from stockade.suppress import suppress

#: include/linux/proc_ns.h: the inode numbers of the initial PID and time namespaces
PROC_PID_INIT_INO = 0xEFFFFFFC
PROC_TIME_INIT_INO = 0xEFFFFFFA
#: scans of /proc to take; each must see no process vanish between listing and reading it
CLEAN_SCANS = 2
#: scans to try before giving up (fail closed: the marks are kept)
MAX_SCANS = 20


@dataclass
class MarkFacts:
    """One mark and what decides whether it is stale."""

    path: str
    name: str
    launcher_pid: int
    start: int
    launcher_alive: bool
    socket_held: bool
    #: processes that may be programs of its sandbox (no_new_privs, started no earlier)
    survivors: list[int] = field(default_factory=list)
    #: why this process cannot tell (None: it can)
    unsure: str | None = None

    @property
    def stale(self) -> bool:
        return (not self.launcher_alive and not self.socket_held and not self.survivors
                and self.unsure is None)

    def describe(self) -> str:
        """One line for people."""
        who = f"launcher {self.launcher_pid}"
        if self.launcher_alive:
            return f"{who} runs"
        if self.socket_held:
            return f"{who} is gone but its mark socket is still bound"
        if self.unsure:
            return f"{who} is gone; kept: {self.unsure}"
        if self.survivors:
            shown = ", ".join(map(str, self.survivors[:5]))
            more = f" and {len(self.survivors) - 5} more" if len(self.survivors) > 5 else ""
            return (f"{who} is gone; kept: processes that may be its programs live "
                    f"(no_new_privs, started after it: {shown}{more})")
        return f"{who} is gone and none of its programs live: stale"

    def as_json(self) -> dict[str, object]:
        return {"path": self.path, "launcher_pid": self.launcher_pid, "start_time": self.start,
                "launcher_alive": self.launcher_alive, "socket_held": self.socket_held,
                "survivors": self.survivors, "unsure": self.unsure, "stale": self.stale,
                "state": self.describe()}


def _parse(name: str) -> tuple[int, int] | None:
    """(launcher pid, start time) of a mark file name `keyring-PID-START.mark`."""
    from stockade.enforce.plan.cache.marks import PREFIX, SUFFIX

    if not (name.startswith(PREFIX) and name.endswith(SUFFIX)):
        return None
    try:
        pid, start = (int(x) for x in name[len(PREFIX):-len(SUFFIX)].split("-"))
    except ValueError:
        return None
    return pid, start


def _mark_names(dir_fd: int) -> list[str]:
    with os.scandir(dir_fd) as it:
        return sorted(e.name for e in it if _parse(e.name) is not None)


def _alive(pid: int, start: int) -> bool:
    from stockade.enforce.status_record import start_time

    try:
        return start_time(pid) == start
    except (OSError, ValueError, IndexError):
        return False


def blind_spot() -> str | None:
    """Why this process may not see every process (then no mark is judged stale)."""
    try:
        if os.stat("/proc/self/ns/pid").st_ino != PROC_PID_INIT_INO:
            return "this process is not in the initial PID namespace"
        try:
            if os.stat("/proc/self/ns/time").st_ino != PROC_TIME_INIT_INO:
                return "this process is not in the initial time namespace"
        except FileNotFoundError:
            pass  # a kernel without time namespaces (before 5.6): start times all compare
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            nspid = next((ln.split()[1:] for ln in f if ln.startswith("NSpid:")), [])
        if len(nspid) != 1:
            return "/proc belongs to another PID namespace"
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and fields[4] == "/proc":
                    options = fields[-1].split(",")
                    if any(o.startswith("hidepid=") and o not in ("hidepid=0", "hidepid=off")
                           for o in options):
                        return "/proc is mounted with hidepid (processes may be hidden)"
    except OSError as err:
        return f"cannot read /proc/self: {err.strerror}"
    return None


def _scan(uid: int | None) -> tuple[list[tuple[int, int]], str | None] | None:
    """(pid, start time) of every process with no_new_privs set (and `uid` among its uids,
    unless None); None when a process vanished between being listed and being read (scan
    again); a reason when one cannot be read."""
    from stockade.enforce.status_record import start_time

    want = None if uid is None else str(uid).encode()
    found: list[tuple[int, int]] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            start = start_time(pid)
            with open(f"/proc/{pid}/status", "rb") as f:
                lines = {ln.split(b":")[0]: ln.split()[1:] for ln in f
                         if ln.startswith((b"NoNewPrivs:", b"Uid:"))}
        except (FileNotFoundError, ProcessLookupError):
            return None
        except OSError as err:
            return [], f"cannot read /proc/{pid}: {err.strerror}"
        if b"NoNewPrivs" not in lines or b"Uid" not in lines:
            return [], f"/proc/{pid}/status has no NoNewPrivs or Uid line"
        if lines[b"NoNewPrivs"] != [b"0"] and (want is None or want in lines[b"Uid"]):
            found.append((pid, start))
    return found, None


def no_new_privs_processes(uid: int | None) -> tuple[list[tuple[int, int]], str | None]:
    """(pid, start time) of every process with no_new_privs set (and `uid` among its uids,
    unless None), from CLEAN_SCANS scans in a row in which no process vanished (their union);
    or a reason it cannot be told."""
    why = blind_spot()
    if why:
        return [], why
    seen: set[tuple[int, int]] = set()
    clean = 0
    for _ in range(MAX_SCANS):
        result = _scan(uid)
        if result is None:
            clean = 0
            continue
        found, why = result
        if why:
            return [], why
        seen.update(found)
        clean += 1
        if clean == CLEAN_SCANS:
            return sorted(seen), None
    return [], "processes kept vanishing while /proc was read"


def survey() -> list[MarkFacts]:
    """The facts of every mark of this user (none when there is no mark directory)."""
    from stockade.enforce.plan.cache.marks import directory, held_sockets
    from stockade.enforce.status_record import RecordDirError, open_dir

    where = directory()
    if where is None or not os.path.isdir(where):
        return []
    try:
        fd = open_dir(where)
    except RecordDirError:
        return []
    try:
        names = _mark_names(fd)
    finally:
        os.close(fd)
    if not names:
        return []
    sockets = held_sockets()
    unknown_sockets = next((s for s in sockets if not s[:1].isdigit()), None)
    processes: list[tuple[int, int]] | None = None
    why: str | None = None
    facts = []
    for name in names:
        pid, start = _parse(name) or (0, 0)
        fact = MarkFacts(os.path.join(where, name), name, pid, start, _alive(pid, start),
                         f"{pid}-{start}" in sockets)
        if not fact.launcher_alive and not fact.socket_held:
            if unknown_sockets:
                fact.unsure = unknown_sockets
            else:
                if processes is None:
                    # a root launcher's sandbox may keep CAP_SETUID: any uid
                    uid = os.geteuid()
                    processes, why = no_new_privs_processes(uid or None)
                fact.unsure = why
                fact.survivors = [p for p, s in processes if s >= start]
        facts.append(fact)
    return facts


def clear_stale() -> tuple[list[MarkFacts], list[MarkFacts], str | None]:
    """Remove the stale marks: (removed, kept, why none was removed though some were stale).
    Each is judged again right before its file is removed, after the key is dropped."""
    from stockade.enforce.plan.cache import keyring
    from stockade.enforce.plan.cache.marks import directory
    from stockade.enforce.status_record import open_dir

    facts = survey()
    stale = [f for f in facts if f.stale]
    if not stale:
        return [], facts, None
    if not keyring.forget():
        return [], facts, ("the plan cache key could not be dropped (a program of the sandbox "
                           "may have planted it): the marks stay")
    where = directory()
    assert where is not None  # survey found marks there
    fd = open_dir(where)
    removed = []
    try:
        for fact in survey():  # again: the key is dropped, nothing can have changed for these
            if fact.stale:
                with suppress(FileNotFoundError):
                    os.unlink(fact.name, dir_fd=fd)
                removed.append(fact)
    finally:
        os.close(fd)
    gone = {f.name for f in removed}
    return removed, [f for f in facts if f.name not in gone], None
