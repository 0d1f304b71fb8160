"""SELinux's mode, where SELinux runs."""

from __future__ import annotations

from typing import Any

from stockade.host._sys import read_int, read_text

SELINUXFS = "/sys/fs/selinux"


def selinux_status(lsms: list[str], root: str = SELINUXFS) -> dict[str, Any] | None:
    """None when SELinux does not run; else enforcing/permissive, policy version and type."""
    if "selinux" not in lsms:
        return None
    enforce = read_int(f"{root}/enforce")
    out: dict[str, Any] = {
        "mode": {1: "enforcing", 0: "permissive"}.get(enforce) if enforce is not None else None,
        "policy_version": read_int(f"{root}/policyvers"),
        "mls": read_int(f"{root}/mls") == 1 if read_int(f"{root}/mls") is not None else None,
    }
    config = read_text("/etc/selinux/config") or ""
    for line in config.splitlines():
        if line.startswith("SELINUXTYPE="):
            out["policy"] = line.split("=", 1)[1].strip()
    if enforce is None:
        out["error"] = f"{root} not mounted or unreadable"
    return out
