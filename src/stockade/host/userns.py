"""Whether unprivileged users may create user namespaces (and so gain capabilities inside one)."""

from __future__ import annotations

from typing import Any

from stockade.host._sys import read_int

SYSCTLS = {
    "kernel.unprivileged_userns_clone": "/proc/sys/kernel/unprivileged_userns_clone",
    "user.max_user_namespaces": "/proc/sys/user/max_user_namespaces",
    "kernel.apparmor_restrict_unprivileged_userns":
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
}


def userns_status() -> tuple[bool, dict[str, Any]]:
    """(allowed, the sysctls that decided it; absent ones are null)."""
    values = {name: read_int(path) for name, path in SYSCTLS.items()}
    allowed = True
    if values["kernel.unprivileged_userns_clone"] == 0:  # Debian's and linux-hardened's knob
        allowed = False
    if values["user.max_user_namespaces"] == 0:
        allowed = False
    if values["kernel.apparmor_restrict_unprivileged_userns"] == 1:  # Ubuntu 23.10+
        allowed = False
    return allowed, values
