"""One process's place in the host layer: credentials, capabilities, seccomp, LSM labels."""

from __future__ import annotations

import os
from typing import Any

from stockade.errors import StockadeError
from stockade.host._sys import read_text
from stockade.host.confinement import confinement
from stockade.lsm.caps import ALL_CAPS, mask_names

_SECCOMP_MODES = {0: "disabled", 1: "strict", 2: "filter"}
_CAP_SETS = (("CapEff", "effective"), ("CapPrm", "permitted"), ("CapInh", "inheritable"),
             ("CapBnd", "bounding"), ("CapAmb", "ambient"))
_LSM_ATTRS = ("apparmor", "selinux", "smack")


def _status(pid: int) -> dict[str, str]:
    text = read_text(f"/proc/{pid}/status")
    if text is None:
        raise StockadeError(f"no such process: {pid}")
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def _caps(mask: int) -> list[str]:
    """Capability names in number order; bits this stockade does not know as `cap_N`."""
    names = mask_names(mask)
    extra = mask & ~ALL_CAPS
    names += [f"cap_{bit}" for bit in range(64) if extra >> bit & 1]
    return names


def _label(path: str) -> str | None:
    text = read_text(path)
    if text is None:
        return None
    return text.strip("\x00\n ") or None


def lsm_labels(pid: int) -> dict[str, str | None]:
    """`attr/current` and each `attr/<lsm>/current` that answers (None: nothing to say)."""
    out: dict[str, str | None] = {"current": _label(f"/proc/{pid}/attr/current")}
    for lsm in _LSM_ATTRS:
        if os.path.isdir(f"/proc/{pid}/attr/{lsm}"):
            out[lsm] = _label(f"/proc/{pid}/attr/{lsm}/current")
    return out


def process_status(pid: int) -> dict[str, Any]:
    """The per-process section of `stockade status`; a dead pid is a StockadeError."""
    status = _status(pid)
    uids = [int(x) for x in status.get("Uid", "0 0 0 0").split()]
    gids = [int(x) for x in status.get("Gid", "0 0 0 0").split()]
    caps: dict[str, Any] = {}
    for key, name in _CAP_SETS:
        if key in status:
            caps[name] = _caps(int(status[key], 16))
    seccomp_mode = int(status.get("Seccomp", "0") or 0)
    try:
        exe: str | None = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = None
    return {
        "pid": pid,
        "comm": status.get("Name", ""),
        "exe": exe,
        "uid": dict(zip(("real", "effective", "saved", "filesystem"), uids, strict=False)),
        "gid": dict(zip(("real", "effective", "saved", "filesystem"), gids, strict=False)),
        "groups": [int(g) for g in status.get("Groups", "").split()],
        "capabilities": caps,
        "no_new_privs": status.get("NoNewPrivs") == "1",
        "seccomp": {"mode": _SECCOMP_MODES.get(seccomp_mode, str(seccomp_mode)),
                    "filters": int(status["Seccomp_filters"]) if "Seccomp_filters" in status
                    else None},
        "lsm_labels": lsm_labels(pid),
        "stockade": confinement(pid, uids[0]),
    }
