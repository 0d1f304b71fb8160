"""`stockade status`: the host security layer at a glance, layer by layer, and one process."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from stockade.cli.output import paint, print_json, printable, table
from stockade.errors import UsageError
from stockade.host.posture import host_posture
from stockade.lsm.caps import CAP_NAMES

COMMAND = "status"
HELP = "show the host's security layers (LSMs, Landlock, seccomp, audit, firewall) and a process"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--json`, `--clear-stale`, `--pid PID`."""
    parser.add_argument("--json", action="store_true", help="JSON output (stable keys)")
    parser.add_argument("--clear-stale", action="store_true",
                        help="remove the plan cache's keyring marks whose launcher is gone "
                        "and whose programs provably are too (a launcher killed by SIGKILL "
                        "leaves its mark, and the cache stays off); exit 1 if a mark stays")
    parser.add_argument("--pid", type=int, metavar="PID",
                        help="the process to describe (default: this stockade process, which "
                             "inherits its caller's credentials, seccomp and Landlock domains)")


def _err(value: Any) -> str | None:
    return value.get("error") if isinstance(value, dict) and "error" in value else None


def _on(flag: bool | None, yes: str = "yes", no: str = "no") -> str:
    if flag is None:
        return paint("unknown", "yellow")
    return paint(yes, "green") if flag else paint(no, "yellow")


def _caps(names: list[str]) -> str:
    if not names:
        return "none"
    missing = [n for n in CAP_NAMES if n not in names]
    if len(missing) <= 3:
        return f"all ({len(names)})" + (f" except {', '.join(missing)}" if missing else "")
    return ", ".join(names)


def _lsm_rows(doc: dict[str, Any], details: dict[str, Any]) -> list[tuple[str, str, str]]:
    lsms = doc["lsms"]
    rows = [("LSMs", "active, in order", f"{','.join(lsms) or 'unknown'} "
             f"({paint('from ' + details.get('lsm_source', '?'), 'dim')})")]
    rows.append(("", "major (MAC)", doc["major"] or paint("none (no AppArmor/SELinux/Smack/TOMOYO)",
                                                          "yellow")))
    abi = doc["landlock_abi"]
    note = details.get("landlock_note")
    rows.append(("", "landlock", paint(f"ABI {abi}", "green") if abi else
                 paint(f"unavailable{': ' + note if note else ''}", "yellow")))
    rows.append(("", "lockdown", str(doc["lockdown"])))
    scope = doc["yama_ptrace_scope"]
    scopes = {0: "classic", 1: "restricted (descendants only)", 2: "admin-only", 3: "no attach"}
    rows.append(("", "yama ptrace_scope",
                 "not running" if scope is None else f"{scope} ({scopes.get(scope, '?')})"
                 if isinstance(scope, int) else str(scope)))
    rows.append(("", "bpf LSM", _on(doc["bpf_lsm"], "active", "inactive")))
    aa = doc["apparmor"]
    if aa is not None:
        text = _err(aa) or ", ".join(f"{n} {m}" for m, n in sorted(aa.get("modes", {}).items()))
        rows.append(("", "apparmor profiles", text or "none loaded"))
    se = doc["selinux"]
    if se is not None:
        rows.append(("", "selinux", _err(se) or f"{se.get('mode')} ({se.get('policy', '?')})"))
    return rows


def _host_rows(doc: dict[str, Any], details: dict[str, Any]) -> list[tuple[str, str, str]]:
    proc = doc["process"]
    rows: list[tuple[str, str, str]] = []
    net = doc["network"]
    if _err(net):
        rows.append(("network", "firewall", _err(net) or ""))
    else:
        for tool in ("nftables", "iptables"):
            info = net[tool]
            extra = f", {info['rules']} rules" if "rules" in info else ""
            reason = f" ({info['reason']})" if "reason" in info else ""
            rows.append(("network" if tool == "nftables" else "", tool,
                         f"{info['state']}{extra}{reason}"))
    rows.append(("host/OS", "DAC", f"always on; process runs as uid {proc['uid'].get('effective')}"
                 f" gid {proc['gid'].get('effective')}"))
    rows.append(("", "capabilities", "capability LSM first in the stack; process effective: "
                 + _caps(proc["capabilities"].get("effective", []))))
    sc = doc["seccomp"]
    if _err(sc) and not sc.get("actions"):
        rows.append(("", "seccomp", _err(sc) or ""))
    else:
        flags = [k for k, v in sc.get("filter_flags", {}).items() if v]
        rows.append(("", "seccomp", f"actions: {' '.join(sc.get('actions') or [])}; "
                     f"filter flags: {' '.join(flags) or 'none'}"))
    userns = doc["unprivileged_userns"]
    rows.append(("", "unprivileged userns", _on(userns, "allowed", "restricted")
                 if isinstance(userns, bool) else str(userns)))
    rows.extend(_lsm_rows(doc, details))
    audit = doc["audit"]
    if _err(audit):
        rows.append(("audit", "kernel audit", _err(audit) or ""))
    else:
        rows.append(("audit", "kernel audit", f"{_on(audit.get('enabled'), 'enabled', 'disabled')} "
                     f"({paint(audit.get('method', ''), 'dim')})"))
        pid = audit.get("auditd_pid")
        rows.append(("", "auditd", f"running (pid {pid})" if audit.get("auditd_running")
                     else paint("not running", "yellow")))
    return rows


def _process_rows(proc: dict[str, Any]) -> list[tuple[str, str, str]]:
    uid, gid = proc["uid"], proc["gid"]
    rows = [("process", "pid", f"{proc['pid']} {proc['comm']} ({proc.get('exe') or '?'})"),
            ("", "uids (r/e/s/fs)", "/".join(str(v) for v in uid.values())),
            ("", "gids (r/e/s/fs)", "/".join(str(v) for v in gid.values())
             + (f"; groups {','.join(map(str, proc['groups']))}" if proc["groups"] else ""))]
    for name, names in proc["capabilities"].items():
        rows.append(("", f"caps {name}", _caps(names)))
    rows.append(("", "no_new_privs", _on(proc["no_new_privs"], "set", "not set")))
    sc = proc["seccomp"]
    rows.append(("", "seccomp", f"{sc['mode']}"
                 + (f", {sc['filters']} filter(s)" if sc.get("filters") else "")))
    labels = {k: v for k, v in proc["lsm_labels"].items() if v}
    rows.append(("", "LSM labels", ", ".join(f"{k}={v}" for k, v in labels.items()) or "none"))
    st = proc["stockade"]
    if st.get("confined") and st.get("mode") == "complain":  # `run --complain`: asked only
        text = paint(f"NOT confined: profile {st.get('profile')} in complain mode (what it "
                     "would deny is allowed and recorded)", "yellow")
    elif st.get("confined"):
        how = f" (inherited from pid {st['confined_pid']})" if st.get("inherited") else ""
        how += " (left running by its run: --keep-running)" if st.get("kept") else ""
        text = paint(f"confined by profile {st.get('profile')} [{st.get('mode')}]", "green") + how
    elif st.get("confined") is None and st.get("profile"):
        text = paint(f"STOCKADE_PROFILE={st['profile']} but no launcher record", "yellow")
    else:
        text = "not confined by stockade"
    rows.append(("", "stockade", text))
    return rows


def _confined_text(confined: Any, shown: int = 8) -> str:
    """`N: PID PROFILE [mode], ...`: the programs `stockade run` confines now (records this
    user can read)."""
    if isinstance(confined, dict):
        return str(confined.get("error"))
    if not confined:
        return "none (that this user can see)"
    items = [f"{c['pid']} {printable(c['profile'])} [{c['mode']}]"
             + (" (left running by its run)" if c.get("kept") else "") for c in confined[:shown]]
    more = f" and {len(confined) - shown} more (--json lists them)" if len(confined) > shown else ""
    return f"{len(confined)}: " + ", ".join(items) + more


def _marks_text(marks: list[dict[str, Any]]) -> str:
    """The keyring marks row: each mark's launcher and whether it is stale."""
    lines = [printable(m["state"]) for m in marks]
    hint = ("; `stockade status --clear-stale` removes the stale"
            if any(m["stale"] for m in marks) else "")
    return f"{len(marks)}: " + "; ".join(lines) + hint


def clear_stale(as_json: bool) -> int:
    """`status --clear-stale`: remove the stale keyring marks, say what stays and why."""
    from stockade.enforce.plan.cache.stale_marks import clear_stale as clear

    removed, kept, why = clear()
    if as_json:
        print_json({"removed": [m.as_json() for m in removed],
                    "kept": [m.as_json() for m in kept], "error": why})
    else:
        for m in removed:
            print(f"removed {printable(m.path)} (launcher {m.launcher_pid} gone, none of its "
                  "programs live)")
        for m in kept:
            print(f"kept {printable(m.path)}: {printable(m.describe())}")
        if why:
            print(f"stockade status: {why}", file=sys.stderr)
        if not removed and not kept:
            from stockade.enforce.plan.cache.marks import directory

            print("no keyring marks: the plan cache's key is not held off by any"
                  if directory() else "no runtime directory (XDG_RUNTIME_DIR) for keyring "
                  "marks: no run of this user trusts the plan cache's key")
    return 1 if kept else 0


def run(args: argparse.Namespace) -> int:
    """Probe and print."""
    if args.clear_stale:
        if args.pid is not None:
            raise UsageError("--clear-stale takes no --pid")
        return clear_stale(args.json)
    pid = args.pid if args.pid is not None else os.getpid()
    if pid <= 0:
        raise UsageError(f"not a process id: {pid}")
    doc, details = host_posture(pid)
    if args.json:
        print_json(doc)
        return 0
    cache = doc["plan_cache"]
    where = (f"{cache['directory']} ({cache['entries']} entries)"
             if cache.get("directory") else "none")
    if cache.get("error"):
        where = cache["error"]
    elif cache.get("off"):
        where = f"off: {cache['off']}"
    table(("layer", "mechanism", "state"), _host_rows(doc, details) + _process_rows(doc["process"])
          + [("stockade", "plan cache (run -p)", where)]
          + ([("", "keyring marks", _marks_text(cache["marks"]))] if cache.get("marks") else [])
          + [("", "confined now", _confined_text(doc["confined"]))])
    return 0

