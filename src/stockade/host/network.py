"""The network layer: are nftables or iptables rules loaded (where they can be read)?"""

from __future__ import annotations

import os
import subprocess
from typing import Any

from stockade.host import tools
from stockade.host._sys import read_text


def _run(argv: list[str]) -> tuple[int, str, str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return 127, "", str(err)
    return done.returncode, done.stdout, done.stderr.strip()


def nftables() -> dict[str, Any]:
    """Tables, chains and rules from `nft list ruleset` (root), or why it is unknown."""
    nft = tools.find("nft")
    if nft is None:
        return {"state": "not installed", "reason": tools.why_missing("nft")}
    if os.geteuid() != 0:
        return {"state": "unreadable", "reason": "nft list ruleset needs root"}
    rc, out, err = _run([nft, "list", "ruleset"])
    if rc != 0:
        return {"state": "unreadable", "reason": err or f"nft exited {rc}"}
    lines = [ln.strip() for ln in out.splitlines()]
    tables = sum(1 for ln in lines if ln.startswith("table "))
    chains = sum(1 for ln in lines if ln.startswith("chain "))
    rules = sum(1 for ln in lines if ln and not ln.startswith(("table ", "chain ", "type ", "}",
                                                                "policy ", "#", "set ", "elements")))
    return {"state": "loaded" if rules or tables else "empty", "tables": tables,
            "chains": chains, "rules": rules}


def iptables() -> dict[str, Any]:
    """Rules from `iptables-save` (root), or the loaded tables from /proc/net/ip_tables_names."""
    save = tools.find("iptables-save")
    if save is None:
        names = read_text("/proc/net/ip_tables_names")
        if names is not None and names.split():
            return {"state": "tables loaded (iptables-save not installed)",
                    "tables": names.split()}
        return {"state": "not installed", "reason": tools.why_missing("iptables-save")}
    if os.geteuid() != 0:
        return {"state": "unreadable", "reason": "iptables-save needs root"}
    rc, out, err = _run([save])
    if rc != 0:
        return {"state": "unreadable", "reason": err or f"iptables-save exited {rc}"}
    rules = sum(1 for ln in out.splitlines() if ln.startswith("-A "))
    tables = sum(1 for ln in out.splitlines() if ln.startswith("*"))
    return {"state": "loaded" if rules else "empty", "tables": tables, "rules": rules}


def network_status() -> dict[str, Any]:
    """{"nftables": {...}, "iptables": {...}, "rules_loaded": bool|None}."""
    nft, ipt = nftables(), iptables()
    states = {nft["state"], ipt["state"]}
    loaded: bool | None
    if "loaded" in states or any(s.startswith("tables loaded") for s in states):
        loaded = True
    elif "empty" in states and states <= {"empty", "not installed"}:
        loaded = False
    else:
        loaded = None  # unknown: nothing could read the rules
    return {"nftables": nft, "iptables": ipt, "rules_loaded": loaded}
