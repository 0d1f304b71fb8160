"""Shipping audit records to log pipelines: ECS JSON, OTLP/JSON, RFC 5424 syslog, JSON lines.

Every format starts from `fields.ship_fields` (the one record -> field mapping). A format
turns a batch of records into output lines: one line per record, except `otlp`, whose line
is one OTLP `LogsData` document holding the batch (the OpenTelemetry file exporter's JSON
lines). `outputs` sends the lines to stdout, syslog or the journal (`audit follow --to`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from stockade.audit.record import AuditRecord
from stockade.audit.ship import ecs, otlp, rfc5424
from stockade.errors import UsageError

#: A format: a batch of records (and the host name to ship) -> output lines.
Encoder = Callable[[Sequence[AuditRecord], str | None], list[str]]

FORMATS: dict[str, Encoder] = {
    "jsonl": lambda records, host: [r.to_json() for r in records],
    "ecs": lambda records, host: [ecs.ecs_json(r, host) for r in records],
    "otlp": lambda records, host: [otlp.otlp_json(records, host)] if records else [],
    "syslog": lambda records, host: [rfc5424.message(r, host) for r in records],
}
#: Records per OTLP document (and per batch in `audit export`): bounds the memory a line needs.
BATCH = 1000


def encoder(name: str) -> Encoder:
    """The format called `name` (a usage error naming the known ones if there is none)."""
    try:
        return FORMATS[name]
    except KeyError:
        raise UsageError(f"--format {name}: unknown format ({', '.join(FORMATS)})") from None


def batched(records: Iterable[AuditRecord], size: int = BATCH) -> Iterator[list[AuditRecord]]:
    """`records` in lists of at most `size`."""
    batch: list[AuditRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def encode(name: str, records: Iterable[AuditRecord], host: str | None = None) -> Iterator[str]:
    """Every output line of `records` in format `name`, batch by batch."""
    enc = encoder(name)
    for batch in batched(records):
        yield from enc(batch, host)
