"""The host layer at a glance: every probe, each one unable to crash the whole."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from stockade.host.apparmor import apparmor_status
from stockade.host.audit import audit_status
from stockade.host.confinement import confined_now
from stockade.host.landlock import landlock_abi
from stockade.host.lockdown import lockdown_level
from stockade.host.lsm import active_lsms, major_lsm
from stockade.host.network import network_status
from stockade.host.process import process_status
from stockade.host.seccomp import seccomp_status
from stockade.host.selinux import selinux_status
from stockade.host.userns import userns_status
from stockade.host.yama import ptrace_scope

KEYS = ("lsms", "major", "landlock_abi", "lockdown", "yama_ptrace_scope", "seccomp", "bpf_lsm",
        "unprivileged_userns", "audit", "apparmor", "selinux", "network", "process")


def _safe(probe: Callable[[], Any], details: dict[str, Any], key: str) -> Any:
    """The probe's answer, or {"error": ...} when it failed (recorded in `details`)."""
    try:
        return probe()
    except Exception as err:  # a probe must never take the command down
        details.setdefault("errors", {})[key] = f"{type(err).__name__}: {err}"
        return {"error": f"{type(err).__name__}: {err}"}


def host_posture(pid: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the stable `status --json` document, details for people: sources and notes).

    `process_status(pid)` is called first so that a dead pid fails before anything else.
    """
    process = process_status(pid)
    details: dict[str, Any] = {}
    found = _safe(active_lsms, details, "lsms")
    lsms, how = found if isinstance(found, tuple) else ([], "error")
    details["lsm_source"] = how
    abi = _safe(landlock_abi, details, "landlock_abi")
    if isinstance(abi, tuple):
        details["landlock_note"] = abi[1]
        abi = abi[0]
    userns = _safe(userns_status, details, "unprivileged_userns")
    if isinstance(userns, tuple):
        details["userns_sysctls"] = userns[1]
        userns = userns[0]
    doc = {
        "lsms": lsms,
        "major": major_lsm(lsms),
        "landlock_abi": abi,
        "lockdown": _safe(lambda: lockdown_level(lsms), details, "lockdown"),
        "yama_ptrace_scope": _safe(ptrace_scope, details, "yama"),
        "seccomp": _safe(seccomp_status, details, "seccomp"),
        "bpf_lsm": "bpf" in lsms,
        "unprivileged_userns": userns,
        "audit": _safe(audit_status, details, "audit"),
        "apparmor": _safe(lambda: apparmor_status(lsms), details, "apparmor"),
        "selinux": _safe(lambda: selinux_status(lsms), details, "selinux"),
        "network": _safe(network_status, details, "network"),
        "process": process,
        "plan_cache": _safe(plan_cache_status, details, "plan_cache"),
        "confined": _safe(lambda: confined_now(os.getuid()), details, "confined"),
    }
    return doc, details


def plan_cache_status() -> dict[str, Any]:
    """Where `stockade run -p` caches compiled plans for this user, how many, and why runs
    cannot use it (`off`; None when they can), asked without making anything: a user without
    a home of its own (nobody's /nonexistent, the caller's after `sudo -E`) has no cache
    directory (stockade.cache_home), one another user owns or opened to others is refused,
    and without a runtime directory no run trusts the cache's key."""
    from stockade.enforce.plan.cache import cache_dir
    from stockade.enforce.plan.cache.marks import directory as marks_directory

    directory = cache_dir()
    if directory is None:
        from stockade.cache_home import cache_home

        off = cache_home()[1]
    else:
        off = _unusable(directory)
    if off is None and marks_directory() is None:
        off = ("no runtime directory (XDG_RUNTIME_DIR) to learn whether a sandbox may hold "
               "the cache's key")
    from stockade.enforce.plan.cache.stale_marks import survey

    marks = survey()  # a mark left by a launcher killed by SIGKILL keeps the cache off
    if off is None and os.path.isdir(marks_directory() or ""):
        from stockade.enforce.plan.cache.marks import present

        off = present()
    entries = 0
    if directory:
        with contextlib.suppress(OSError):
            entries = sum(1 for n in os.listdir(directory) if n.endswith(".json"))
    return {"directory": directory, "entries": entries, "off": off,
            "marks": [m.as_json() for m in marks]}


def _unusable(directory: str) -> str | None:
    """Why a run could not keep its plan cache in `directory` (the checks of
    status_record.open_dir, which makes it if missing), without making it; None if it could."""
    import stat

    from stockade.cache_home import stockade_base
    from stockade.enforce.dir_walk import LinkInPath, open_walked

    trusted = stockade_base()  # the walk Store.open makes, without making anything
    if trusted is not None:
        try:
            os.close(open_walked(os.path.join(*trusted[1], os.path.basename(directory)),
                                 start=trusted[0]))
        except LinkInPath as err:
            return err.strerror
        except OSError:
            pass  # missing, or not ours: below
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        parent = os.path.dirname(directory)
        while parent != "/" and not os.path.lexists(parent):
            parent = os.path.dirname(parent)
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"{directory} cannot be made ({parent} is not writable by this user)"
        return None
    except OSError as err:
        return f"{directory}: {err.strerror}"
    uid = os.geteuid()
    if not stat.S_ISDIR(st.st_mode):
        return f"{directory} is not a directory"
    if st.st_uid != uid or stat.S_IMODE(st.st_mode) & 0o077:
        return (f"{directory} is not a private directory of uid {uid} (owner {st.st_uid}, mode "
                f"{stat.S_IMODE(st.st_mode):04o})")
    return None
