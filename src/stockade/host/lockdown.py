"""Kernel lockdown: none, integrity or confidentiality."""

from __future__ import annotations

import re

from stockade.host._sys import read_text

SECURITYFS_LOCKDOWN = "/sys/kernel/security/lockdown"


def lockdown_level(lsms: list[str], path: str = SECURITYFS_LOCKDOWN) -> str:
    """The level in brackets in securityfs (`none [integrity] confidentiality`).

    Without securityfs: `unknown (lockdown LSM active)` when lockdown is in the LSM list,
    `inactive` when it is not.
    """
    text = read_text(path)
    if text is not None:
        match = re.search(r"\[(\w+)\]", text)
        if match:
            return match.group(1)
    if "lockdown" in lsms:
        return "unknown (lockdown LSM active; securityfs not mounted)"
    return "inactive"
