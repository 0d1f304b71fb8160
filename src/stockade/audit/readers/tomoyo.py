"""TOMOYO's audit log (/sys/kernel/security/tomoyo/audit, tomoyo-auditd's files, and the
records stockade's tomoyo module writes): three lines per record, header, domain, ACL.

  #2026/12/04 19:40:00# profile=3 mode=enforcing granted=no (global-pid=1234) task={ ... }
  <kernel> /usr/bin/cat
  file read /etc/passwd
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterable, Iterator

from stockade.audit.record import AuditRecord

_HEADER = re.compile(r"^#(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2})# profile=(\d+) mode=(\w+) "
                     r"granted=(yes|no) \(global-pid=(\d+)\)(.*)$")
_TASK = re.compile(r"task=\{ ([^}]*) \}")


def is_tomoyo_header(line: str) -> bool:
    """Whether `line` is the first line of a TOMOYO record."""
    return line.startswith("#") and _HEADER.match(line.rstrip("\n")) is not None


def _task_fields(rest: str) -> dict[str, str]:
    found = _TASK.search(rest)
    if found is None:
        return {}
    return dict(part.split("=", 1) for part in found.group(1).split() if "=" in part)


def parse_record(header: str, domain: str, acl: str, serial: int = 0) -> AuditRecord | None:
    """One record from its three lines; None when the header is not TOMOYO's."""
    m = _HEADER.match(header)
    if m is None:
        return None
    stamp, profile, mode, granted, pid, rest = m.groups()
    when = float(calendar.timegm(time.strptime(stamp, "%Y/%m/%d %H:%M:%S")))
    task = _task_fields(rest)
    words = acl.split(" ")
    operation = " ".join(words[:2])
    target = words[2] if len(words) > 2 else ""
    if words[0] == "network" and len(words) > 4:
        operation = " ".join(words[:4])
        target = " ".join(words[4:])
    result = "AUDIT" if granted == "yes" else "DENIED" if mode == "enforcing" else "ALLOWED"
    uid = int(task["uid"]) if task.get("uid", "").isdigit() else None
    return AuditRecord(
        time=when, serial=serial, operation=operation, module="tomoyo", result=result,
        pid=int(pid), uid=uid, subject=domain, object=target, requested=words[1] if
        len(words) > 1 else "", denied=words[1] if result != "AUDIT" and len(words) > 1 else "",
        mode="enforce" if mode == "enforcing" else "complain", errno=1 if result == "DENIED"
        else 0,
        fields={"domain": domain, "acl": acl, "tomoyo_profile": profile, "tomoyo_mode": mode},
        raw="\n".join((header, domain, acl)),
    )


def read_records(lines: Iterable[str]) -> Iterator[AuditRecord]:
    """Records from TOMOYO audit text (blank lines between records are allowed)."""
    pending: list[str] = []
    serial = 0
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if is_tomoyo_header(line):
            pending = [line]
            continue
        if not pending:
            continue
        pending.append(line)
        if len(pending) == 3:
            serial += 1
            record = parse_record(*pending, serial=serial)
            pending = []
            if record is not None:
                yield record
