"""Is the kernel's audit enabled, and does auditd run?

As root: AUDIT_GET over NETLINK_AUDIT (struct audit_status: enabled, failure, pid of the audit
daemon, backlog, lost). Otherwise a heuristic: /proc/self/loginuid exists only with
CONFIG_AUDITSYSCALL, a set loginuid means a PAM session registered with audit; and auditd's pid
file names a live `auditd`. The answer says which way it was found.
"""

from __future__ import annotations

import os
import select
import socket
import struct
from typing import Any

from stockade.host._sys import read_int, read_text

NETLINK_AUDIT = 9
AUDIT_GET = 1000
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
_HDR = struct.Struct("=IHHII")
_STATUS_FIELDS = ("mask", "enabled", "failure", "pid", "rate_limit", "backlog_limit", "lost",
                  "backlog", "feature_bitmap", "backlog_wait_time")
AUDITD_PIDFILE = "/var/run/auditd.pid"


def audit_get(timeout: float = 1.0) -> dict[str, int]:
    """The kernel's audit status via AUDIT_GET (needs CAP_AUDIT_CONTROL); raises OSError."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT) as sock:
        sock.bind((0, 0))
        sock.send(_HDR.pack(_HDR.size, AUDIT_GET, NLM_F_REQUEST, 1, 0))
        if not select.select([sock], [], [], timeout)[0]:
            raise TimeoutError("no answer to AUDIT_GET")
        data = sock.recv(65536)
    _length, type_, _flags, _seq, _pid = _HDR.unpack_from(data)
    if type_ == NLMSG_ERROR:
        (code,) = struct.unpack_from("=i", data, _HDR.size)
        raise OSError(-code, os.strerror(-code))
    count = min(len(_STATUS_FIELDS), (len(data) - _HDR.size) // 4)
    values = struct.unpack_from(f"={count}I", data, _HDR.size)
    return dict(zip(_STATUS_FIELDS, values, strict=False))


def auditd_pid(pidfile: str = AUDITD_PIDFILE) -> int | None:
    """The pid of a running auditd, from its pid file, checked against /proc."""
    pid = read_int(pidfile)
    if pid is None:
        return None
    comm = read_text(f"/proc/{pid}/comm")
    return pid if comm is not None and comm.strip() == "auditd" else None


def audit_status() -> dict[str, Any]:
    """{"enabled": bool|None, "method": how it was found, "auditd_running": bool, ...}."""
    out: dict[str, Any] = {}
    try:
        status = audit_get()
    except (OSError, TimeoutError) as err:
        loginuid = read_text("/proc/self/loginuid")
        out["enabled"] = None
        if loginuid is None:
            out["method"] = "heuristic: no /proc/self/loginuid, the kernel has no syscall auditing"
            out["enabled"] = False
        elif loginuid.strip() not in ("", "4294967295"):
            out["method"] = ("heuristic: /proc/self/loginuid is set (a login session registered "
                             f"with audit); AUDIT_GET refused: {getattr(err, 'strerror', err)}")
        else:
            out["method"] = ("heuristic: audit is compiled in (/proc/self/loginuid exists, unset); "
                             f"AUDIT_GET refused: {getattr(err, 'strerror', err)}")
        pid = auditd_pid()
        out["auditd_running"] = pid is not None
        out["auditd_pid"] = pid
        if pid is not None and out["enabled"] is None:
            out["enabled"] = True
            out["method"] += "; auditd runs, so audit is on"
        return out
    out["enabled"] = status.get("enabled", 0) != 0
    out["locked"] = status.get("enabled") == 2
    out["method"] = "netlink AUDIT_GET"
    out["failure_action"] = {0: "silent", 1: "printk", 2: "panic"}.get(status.get("failure", 1))
    pid = status.get("pid", 0)
    out["auditd_running"] = pid != 0
    out["auditd_pid"] = pid or None
    for key in ("backlog", "backlog_limit", "lost", "rate_limit"):
        if key in status:
            out[key] = status[key]
    return out
