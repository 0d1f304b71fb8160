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
    """Where `stockade run -p` caches compiled plans for this user, and how many."""
    from stockade.enforce.plan.cache import cache_dir

    directory = cache_dir()
    entries = 0
    if directory:
        with contextlib.suppress(OSError):
            entries = sum(1 for n in os.listdir(directory) if n.endswith(".json"))
    return {"directory": directory, "entries": entries}
