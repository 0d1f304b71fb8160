"""Elastic Common Schema: one JSON document per record, ECS field names nested as objects."""

from __future__ import annotations

import json
from typing import Any

from stockade.audit.record import AuditRecord
from stockade.audit.ship.fields import ship_fields


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{"event.kind": "event"} -> {"event": {"kind": "event"}} (`@timestamp` stays flat)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def ecs_document(record: AuditRecord, host: str | None = None) -> dict[str, Any]:
    """The ECS document of one record."""
    return nest(ship_fields(record, host).fields)


def ecs_json(record: AuditRecord, host: str | None = None) -> str:
    """The ECS document as one JSON line."""
    return json.dumps(ecs_document(record, host), sort_keys=True, separators=(",", ":"))
