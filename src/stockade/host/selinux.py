"""SELinux's mode, where SELinux runs, and /etc/selinux/config (read here only)."""

from __future__ import annotations

from typing import Any

from stockade.host._sys import read_int

SELINUXFS = "/sys/fs/selinux"
CONFIG = "/etc/selinux/config"


def config_values(path: str = CONFIG) -> dict[str, str]:
    """The KEY=VALUE settings of an SELinux config file (blanks around both and quotes around
    the value dropped, `#` lines skipped); {} when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(1 << 16)
    except OSError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip().strip("\"'")
    return values


def selinux_status(lsms: list[str], root: str = SELINUXFS,
                   config: str = CONFIG) -> dict[str, Any] | None:
    """None when SELinux does not run; else enforcing/permissive, policy version and type."""
    if "selinux" not in lsms:
        return None
    enforce = read_int(f"{root}/enforce")
    out: dict[str, Any] = {
        "mode": {1: "enforcing", 0: "permissive"}.get(enforce) if enforce is not None else None,
        "policy_version": read_int(f"{root}/policyvers"),
        "mls": read_int(f"{root}/mls") == 1 if read_int(f"{root}/mls") is not None else None,
    }
    policy = config_values(config).get("SELINUXTYPE")
    if policy is not None:
        out["policy"] = policy
    if enforce is None:
        out["error"] = f"{root} not mounted or unreadable"
    return out
