"""The one mapping from an `AuditRecord` to shipped fields, used by every shipping format.

Field names are the Elastic Common Schema's (ECS 8.x, dotted): `ecs` nests them, `otlp` makes
them log-record attributes, `syslog` structured-data parameters and `journal` journal fields.
A field a record has no value for is left out, never sent empty.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stockade.audit.formats import kernel_line
from stockade.audit.record import AuditRecord

ECS_VERSION = "8.11.0"
#: ECS event.outcome per stockade result (ALLOWED: complain mode let a denial through).
OUTCOMES = {"DENIED": "failure", "ALLOWED": "success", "AUDIT": "success"}
#: ECS event.type per result (allowed values of the ECS event field set).
EVENT_TYPES = {"DENIED": "denied", "ALLOWED": "allowed", "AUDIT": "allowed"}
#: Syslog severities (RFC 5424 section 6.2.1): a denial is a warning, the rest notices/info.
SEVERITIES = {"DENIED": 4, "ALLOWED": 5, "AUDIT": 6}
_NETWORK_OPS = ("socket", "connect", "bind", "listen", "accept", "sendmsg", "recvmsg",
                "create", "net.", "network")
_PROCESS_OPS = ("ptrace", "signal", "exec", "bprm", "capable", "task_", "kill", "scope.",
                "domain_")


@dataclass(frozen=True)
class Shipped:
    """A record ready to ship: its time, severity, message and ECS fields (flat, dotted)."""

    time_ns: int
    severity: int
    message: str
    fields: dict[str, Any]


def iso_utc(seconds: float) -> str:
    """RFC 3339 / ISO 8601 in UTC with milliseconds: 2026-12-04T19:28:12.123Z."""
    stamp = datetime.fromtimestamp(seconds, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def host_name() -> str:
    """This host's name as shipped in host.name."""
    return socket.gethostname()


def _category(record: AuditRecord) -> str:
    op = record.operation.lower()
    obj = record.object
    if obj.startswith("/") and not op.startswith(_PROCESS_OPS):
        return "file"
    if op.startswith(_NETWORK_OPS) or record.fields.get("family") or _destination(obj):
        return "network"
    return "process"


def _destination(obj: str) -> dict[str, Any]:
    host, _, port = obj.rpartition(":")
    if host and port.isdigit():
        return {"destination.address": host.strip("[]"), "destination.port": int(port)}
    return {}


def ship_fields(record: AuditRecord, host: str | None = None) -> Shipped:
    """The shipped form of one record (host defaults to this machine's name)."""
    category = _category(record)
    fields: dict[str, Any] = {
        "@timestamp": iso_utc(record.time),
        "ecs.version": ECS_VERSION,
        "event.kind": "event",
        "event.category": [category],
        "event.type": ([EVENT_TYPES[record.result]] if record.result in EVENT_TYPES else [])
        + (["access"] if category == "file" else []),
        "event.action": record.operation,
        "event.outcome": OUTCOMES.get(record.result, "unknown"),
        "event.module": "stockade",
        "event.dataset": "stockade.audit",
        "event.provider": record.module,
        "event.sequence": record.serial,
        "host.name": host if host is not None else host_name(),
        "log.level": {4: "warning", 5: "notice", 6: "info"}[SEVERITIES.get(record.result, 6)],
    }
    optional: dict[str, Any] = {
        "event.code": str(record.record_type) if record.record_type else "",
        "event.reason": record.reason,
        "process.pid": record.pid or None,
        "process.name": record.comm,
        "process.executable": record.exe,
        "user.id": str(record.uid) if record.uid is not None else "",
        "rule.name": record.profile or (record.subject if record.module in
                                        ("apparmor", "selinux", "smack") else ""),
        "rule.ruleset": record.module,
        "file.path": record.object if category == "file" else "",
    }
    fields.update({k: v for k, v in optional.items() if v not in ("", None)})
    if category == "network":
        fields.update(_destination(record.object))
    extra = {"stockade.result": record.result, "stockade.mode": record.mode,
             "stockade.requested": record.requested, "stockade.denied": record.denied,
             "stockade.object": record.object, "stockade.subject": record.subject}
    fields.update({k: v for k, v in extra.items() if v})
    message = kernel_line(record)
    fields["message"] = message
    return Shipped(round(record.time * 1e6) * 1000, SEVERITIES.get(record.result, 6), message,
                   fields)
