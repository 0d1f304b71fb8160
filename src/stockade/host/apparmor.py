"""AppArmor's loaded profiles and their modes, where AppArmor runs."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from stockade.host._sys import read_text

PROFILES = "/sys/kernel/security/apparmor/profiles"
ENABLED = "/sys/module/apparmor/parameters/enabled"
_LINE = re.compile(r"^(.*) \((\w+)\)$")


def parse_profiles(text: str) -> list[dict[str, str]]:
    """`name (mode)` lines of apparmorfs → [{"name", "mode"}]."""
    out = []
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if match:
            out.append({"name": match.group(1), "mode": match.group(2)})
    return out


def apparmor_status(lsms: list[str]) -> dict[str, Any] | None:
    """None when AppArmor does not run; else its profiles and modes (or why they are unknown)."""
    if "apparmor" not in lsms:
        return None
    out: dict[str, Any] = {"enabled": (read_text(ENABLED) or "").strip() == "Y"}
    text = read_text(PROFILES)
    if text is None:
        out["error"] = f"{PROFILES} unreadable (securityfs not mounted, or not root)"
        return out
    profiles = parse_profiles(text)
    out["profiles"] = profiles
    out["modes"] = dict(Counter(p["mode"] for p in profiles))
    return out
