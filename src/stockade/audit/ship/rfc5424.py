"""RFC 5424 syslog messages with the record's fields as structured data.

`<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [stockade@32473 name="value" ...] MSG`:
facility authpriv (10), severity warning for denials; the SD-ID uses 32473, the enterprise
number RFC 5612 reserves for documentation, as stockade has none of its own. Header fields
are PRINTUSASCII cut to the RFC's lengths; parameter values escape `"`, `\\` and `]`.
"""

from __future__ import annotations

import os
from typing import Any

from stockade.audit.record import AuditRecord
from stockade.audit.ship.fields import ship_fields

FACILITY_AUTHPRIV = 10
SD_ID = "stockade@32473"
APP_NAME = "stockade"
_NOT_PARAMS = ("message", "@timestamp", "host.name")


def header_field(text: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, at most `limit` chars, or `-`."""
    clean = "".join(c if 33 <= ord(c) <= 126 else "_" for c in text)[:limit]
    return clean or "-"


def param_value(value: Any) -> str:
    """A PARAM-VALUE with `"`, `\\` and `]` escaped (lists joined by commas)."""
    text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")
    return text.replace("\n", " ")


def message(record: AuditRecord, host: str | None = None, body: str | None = None, *,
            facility: int = FACILITY_AUTHPRIV) -> str:
    """The RFC 5424 message of one record; `body` replaces the kernel-style line as MSG."""
    shipped = ship_fields(record, host)
    f = shipped.fields
    params = " ".join(f'{header_field(k, 32)}="{param_value(v)}"'
                      for k, v in f.items() if k not in _NOT_PARAMS)
    msg = (body if body is not None else shipped.message).replace("\n", " ")
    return (f"<{facility * 8 + shipped.severity}>1 {f['@timestamp']} "
            f"{header_field(f['host.name'], 255)} {APP_NAME} {os.getpid()} "
            f"{header_field(record.result, 32)} [{SD_ID} {params}] {msg}")
