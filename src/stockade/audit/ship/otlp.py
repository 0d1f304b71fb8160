"""OpenTelemetry logs in the OTLP/JSON encoding (opentelemetry-proto's `LogsData`).

The JSON mapping is protobuf's proto3 JSON with OTLP's rules: field names in lowerCamelCase,
64-bit integers (`timeUnixNano`, `intValue`) as decimal strings, enums (`severityNumber`) as
integers, attributes as `KeyValue` lists whose values are `AnyValue` objects.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from stockade import __version__
from stockade.audit.record import AuditRecord
from stockade.audit.ship.fields import ship_fields

#: SeverityNumber and its short name per syslog severity (OpenTelemetry logs data model,
#: "Mapping of SeverityNumber": WARN=13, INFO2=10, INFO=9).
SEVERITY = {4: (13, "WARN"), 5: (10, "INFO2"), 6: (9, "INFO")}
_RESOURCE_FIELDS = ("host.name",)
_NOT_ATTRIBUTES = ("@timestamp", "message", *_RESOURCE_FIELDS)


def any_value(value: Any) -> dict[str, Any]:
    """An OTLP `AnyValue` for a str, int, bool or list."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def key_values(fields: dict[str, Any]) -> list[dict[str, Any]]:
    """`KeyValue` list of `fields`, keys sorted."""
    return [{"key": k, "value": any_value(v)} for k, v in sorted(fields.items())]


def log_record(record: AuditRecord, host: str | None, observed_ns: int) -> dict[str, Any]:
    """One OTLP `LogRecord`."""
    shipped = ship_fields(record, host)
    number, text = SEVERITY[shipped.severity]
    attrs = {k: v for k, v in shipped.fields.items() if k not in _NOT_ATTRIBUTES}
    return {"timeUnixNano": str(shipped.time_ns), "observedTimeUnixNano": str(observed_ns),
            "severityNumber": number, "severityText": text,
            "body": {"stringValue": shipped.message}, "attributes": key_values(attrs)}


def logs_data(records: Sequence[AuditRecord], host: str | None = None) -> dict[str, Any]:
    """A `LogsData` with one resource (this host) and one scope holding `records`."""
    observed = time.time_ns()
    logs = [log_record(r, host, observed) for r in records]
    host_name = ship_fields(records[0], host).fields["host.name"] if records else host or ""
    resource = {"attributes": key_values({"host.name": host_name, "service.name": "stockade"})}
    scope = {"name": "stockade.audit", "version": __version__}
    return {"resourceLogs": [{"resource": resource,
                              "scopeLogs": [{"scope": scope, "logRecords": logs}]}]}


def otlp_json(records: Sequence[AuditRecord], host: str | None = None) -> str:
    """`logs_data` as one JSON line."""
    return json.dumps(logs_data(records, host), separators=(",", ":"))
