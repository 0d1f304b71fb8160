"""Is a process confined by stockade, and by which profile? (The launcher's convention.)

When the launcher confines a process it
  1. sets `STOCKADE_PROFILE=<profile name>` in the confined program's environment, and
  2. writes `<pid>.json` into `/run/stockade/` (root) or `$XDG_RUNTIME_DIR/stockade/`
     (everyone else; `/run/user/<uid>/stockade/`), removing it when the process exits.
The record (docs/status.md) holds at least {"pid", "profile", "start_time"}; `start_time` is
field 22 of /proc/<pid>/stat, so a record left behind by a dead process never describes a new
process that reused its pid. Confinement is inherited: a child of a confined process is
confined by the same record (found by walking up the parents).

A record is believed only for a process of its writer: the file (opened without following a
link, a regular file) must belong to root or to the process's real or effective uid, and its
start time must be the live process's. Root's `status` reads every user's runtime directory,
and a user writes what it likes there: about its own processes only (red team 12).

`run --keep-running` leaves processes of the program running in its sandbox after it returns:
their launcher replaces the record by `kept-<pid>-<start>-<program pid>.json`, which names them
(pid and start time: every process of the program's tree when `run` returned) and the write
grants of their sandbox. It is believed, under the same owner rule, only while one of them
lives (`kept_records`); their children are confined by it through the parent walk. Later
runs count those grants in their exposure checks (cli/run/kept.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from stockade.host._sys import read_text
from stockade.host.record_dirs import KEPT_PREFIX as KEPT_PREFIX
from stockade.host.record_dirs import RUN_DIR as HOST_RUN_DIR
from stockade.host.record_dirs import kept_names
from stockade.host.record_dirs import record_dirs as host_record_dirs

RUN_DIR = Path(HOST_RUN_DIR)
#: a record is a few hundred bytes; a larger file is not one
MAX_RECORD_BYTES = 1 << 16
ENV_VAR = "STOCKADE_PROFILE"


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (clock ticks after boot), or None."""
    text = read_text(f"/proc/{pid}/stat")
    if text is None:
        return None
    try:
        return int(text[text.rindex(")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None


def _running_since(pid: int) -> int | None:
    """The start time of `pid` while it runs (a zombie holds no rights: None)."""
    text = read_text(f"/proc/{pid}/stat")
    if text is None:
        return None
    try:
        fields = text[text.rindex(")") + 2:].split()
        return None if fields[0] in ("Z", "X") else int(fields[19])
    except (ValueError, IndexError):
        return None


def parent_of(pid: int) -> int | None:
    """The parent pid from /proc/<pid>/stat."""
    text = read_text(f"/proc/{pid}/stat")
    if text is None:
        return None
    try:
        return int(text[text.rindex(")") + 2:].split()[1])
    except (ValueError, IndexError):
        return None


def record_dirs(uid: int) -> list[Path]:
    """Where the launcher writes records for a process of `uid`."""
    return [Path(d) for d in host_record_dirs(uid)]


def _environ_profile(pid: int) -> str | None:
    try:
        data = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    prefix = ENV_VAR.encode() + b"="
    for item in data.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix):].decode("utf-8", "replace")
    return None


def process_uids(pid: int) -> tuple[int, ...]:
    """The real and effective uid of `pid` (the `Uid:` line of /proc/PID/status); () when
    it cannot be read."""
    text = read_text(f"/proc/{pid}/status")
    for line in (text or "").splitlines():
        if line.startswith("Uid:"):
            try:
                return tuple(int(x) for x in line.split()[1:3])
            except ValueError:
                return ()
    return ()


def _read_record(path: Path) -> tuple[Any, int] | None:
    """The JSON value of record file `path` and its owner's uid: opened without following a
    link (a link to root's record is not root's word about this process), a regular file
    only; None when it is not one or does not parse."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_RECORD_BYTES:
            return None
        text = os.read(fd, MAX_RECORD_BYTES).decode("utf-8", "replace")
        return json.loads(text), st.st_uid
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def _record(pid: int, uid: int, dirs: list[Path] | None
            ) -> tuple[dict[str, Any], Path, int] | None:
    """The record about live process `pid` that its writer may make: a file of root's or of
    the process's uid, naming `pid` and its start time (see the module's docstring); with the
    uid that wrote it (whose run it is)."""
    for directory in dirs or record_dirs(uid):
        path = directory / f"{pid}.json"
        found = _read_record(path)
        if found is None:
            continue
        data, owner = found
        started = start_time(pid)
        if (isinstance(data, dict) and data.get("pid") == pid and started is not None
                and data.get("start_time") == started
                and (owner == 0 or owner in process_uids(pid))):
            return data, path, owner
    return None


def _survivors(data: dict[str, Any]) -> list[tuple[int, int]] | None:
    """The (pid, start time) pairs a kept record names; None when it is not one."""
    named = data.get("survivors")
    if not isinstance(named, list):
        return None
    out = []
    for item in named:
        if (not isinstance(item, list) or len(item) != 2
                or not all(type(x) is int for x in item)):
            return None
        out.append((item[0], item[1]))
    return out


def kept_records(uid: int, dirs: list[Path] | None = None) -> list[dict[str, Any]]:
    """The `run --keep-running` records believed now, from the directories of `record_dirs`
    (root: every user's too): {"path", "profile", "mode", "live": [pids of the survivors it
    names that live], "owner": the file's uid, "grants": [[path, Landlock rights], ...]} for
    each whose file belongs
    to root or to the uid of a survivor that lives with the recorded start time. A record
    none of whose survivors runs is stale: left out (`survey_kept` lists it)."""
    return survey_kept(uid, dirs)[0]


def survey_kept(uid: int, dirs: list[Path] | None = None
                ) -> tuple[list[dict[str, Any]], list[str]]:
    """The kept records believed now (`kept_records`), and the paths of the stale ones (none
    of the survivors they name runs: removable)."""
    if dirs is None:
        dirs = [Path(d) for d in host_record_dirs(uid, every_user=uid == 0)]
    believed: list[dict[str, Any]] = []
    stale: list[str] = []
    for directory in dict.fromkeys(dirs):
        for name in kept_names(str(directory)):
            path = directory / name
            found = _read_record(path)
            if found is None:
                continue
            data, owner = found
            named = _survivors(data) if isinstance(data, dict) else None
            grants = data.get("grants") if isinstance(data, dict) else None
            if named is None or not isinstance(grants, list):
                continue
            running = [pid for pid, start in named if _running_since(pid) == start]
            if not running:
                stale.append(str(path))
            live = [pid for pid in running if owner == 0 or owner in process_uids(pid)]
            if not live:  # stale, or not its writer's word
                continue
            believed.append({"path": str(path), "profile": str(data.get("profile")),
                             "mode": str(data.get("mode", "enforce")), "live": live,
                             "owner": owner,
                             "grants": [g for g in grants if isinstance(g, list) and len(g) == 2
                                        and isinstance(g[0], str) and type(g[1]) is int]})
    return believed, stale


def confinement(pid: int, uid: int, dirs: list[Path] | None = None) -> dict[str, Any]:
    """{"confined": bool, "profile": ..., "source": ..., ...} for `pid` and its ancestors."""
    env_profile = _environ_profile(pid)
    current: int | None = pid
    hops = 0
    kept: dict[int, dict[str, Any]] | None = None  # survivor pid -> its record, once asked
    while current and current > 0 and hops < 64:
        found = _record(current, uid, dirs)
        if found is None:
            if kept is None:
                kept = {p: rec for rec in kept_records(uid, dirs) for p in rec["live"]}
            if current in kept:
                rec = kept[current]
                found = {"profile": rec["profile"], "mode": rec["mode"], "kept": True}, \
                    Path(rec["path"]), rec["owner"]
        if found is not None:
            data, path, _owner = found
            out = {"confined": True, "profile": data.get("profile"),
                   "mode": data.get("mode", "enforce"), "record": str(path),
                   "confined_pid": current, "inherited": current != pid}
            for key in ("layers", "landlock_abi", "started", "kept"):
                if key in data:
                    out[key] = data[key]
            if env_profile is not None and env_profile != data.get("profile"):
                out["env_profile"] = env_profile
            return out
        current = parent_of(current)
        hops += 1
    if env_profile is not None:
        return {"confined": None, "profile": env_profile, "source": f"{ENV_VAR} only",
                "note": "no launcher record: the variable alone does not prove confinement"}
    return {"confined": False, "profile": None}


def confined_now(uid: int, dirs: list[Path] | None = None) -> list[dict[str, Any]]:
    """The programs `stockade run` confines now whose records this user can read (as
    `aa-status` lists the processes in each mode): [{"pid", "profile", "mode"}], by pid.
    A record whose start time is not its live process's (left by a crash) is skipped; the live
    survivors of a `run --keep-running` (`kept_records`) are listed with "kept": true."""
    found: dict[int, dict[str, Any]] = {}
    if dirs is None:
        # root: every user's runs, as aa-status shows every confined process
        dirs = [Path(d) for d in host_record_dirs(uid, every_user=uid == 0)]
    for directory in dirs:
        try:
            names = os.listdir(directory)
        except OSError:  # absent, or another user's (0700)
            continue
        for name in names:
            if not name.endswith(".json") or not name[:-5].isdigit():
                continue
            pid = int(name[:-5])
            got = _record(pid, uid, [directory])
            if got is None or pid in found:
                continue
            data = got[0]  # of pid's own writer, about the live pid (_record)
            found[pid] = {"pid": pid, "profile": str(data.get("profile")),
                          "mode": str(data.get("mode", "enforce")), "uid": got[2]}
    for rec in kept_records(uid, dirs):  # left running by a `run --keep-running` that returned
        for pid in rec["live"]:
            found.setdefault(pid, {"pid": pid, "profile": rec["profile"], "mode": rec["mode"],
                                   "kept": True, "uid": rec["owner"]})
    return [found[pid] for pid in sorted(found)]


def run_profiles(uid: int) -> dict[int, str]:
    """pid -> profile of each program `stockade run` confines now, for tying the kernel's
    Landlock records to a profile by their domain's creator (logprof, notify). A run of
    `uid`'s own launcher goes by its profile's name; another user's as `[uid N] NAME`, which
    names no profile of `uid`'s: root reads every user's records, and a profile another user
    names like one of root's must not feed root's (red team 14)."""
    return {c["pid"]: c["profile"] if c["uid"] == uid else f"[uid {c['uid']}] {c['profile']}"
            for c in confined_now(uid)}
