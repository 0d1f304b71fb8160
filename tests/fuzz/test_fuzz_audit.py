"""Fuzzing the audit reader (issue 10, "Done when"): random bytes, random text and mutations of
the audit lines the tests quote go through the line reader (audit.log, dmesg and journal text)
and the JSON lines reader, and every record they make is formatted and stored. The readers
skip what is not a record and never raise; the store refuses (counts) a record it cannot hold
and never raises; no case takes more than a second."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.audit.formats import kernel_line
from stockade.audit.readers import records_from_lines
from stockade.audit.readers.sources import records_from_jsonl
from stockade.audit.record import AuditRecord
from stockade.audit.store import AuditStore

from .corpus import LOG_TOKENS, as_text, examples, log_seeds, mutated

FUZZ = settings(deadline=timedelta(seconds=1), suppress_health_check=list(HealthCheck),
                database=None, max_examples=examples(450))


def _read(lines: list[str], store: AuditStore) -> list[AuditRecord]:
    stats: dict[str, int] = {}
    records = list(records_from_lines(lines, stats=stats))
    for record in records:
        kernel_line(record)
        AuditRecord.from_dict(json.loads(record.to_json()))
    writer = store.writer(batch=10_000)
    with writer:
        writer.extend(records)
    assert writer.seen + writer.rejected == len(records)
    for stored in store.query(since=min((r.time for r in records), default=0), limit=20):
        kernel_line(stored)  # what was stored reads back
    return records


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes(data: bytes, store: AuditStore) -> None:
    _read(as_text(data).split("\n"), store)


@FUZZ
@given(lines=st.lists(st.lists(st.sampled_from(LOG_TOKENS) | st.text(max_size=4), max_size=30)
                      .map("".join), max_size=8))
def test_token_soup(lines: list[str], store: AuditStore) -> None:
    _read(lines, store)


@settings(FUZZ, max_examples=examples(1200))
@given(lines=st.lists(mutated(log_seeds(), LOG_TOKENS), min_size=1, max_size=6))
def test_mutated_real_lines(lines: list[str], store: AuditStore) -> None:
    _read([line for text in lines for line in text.split("\n")], store)


def _record_dicts() -> st.SearchStrategy[dict[str, object]]:
    base = AuditRecord(time=1.0, serial=1, operation="open", module="apparmor",
                       result="DENIED").to_dict()
    values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
                       st.lists(st.integers(), max_size=2), st.dictionaries(
                           st.text(max_size=4), st.text(max_size=4), max_size=2))
    return st.fixed_dictionaries({}, optional={k: values for k in [*base, "extra"]}).map(
        lambda d: {**base, **d})


@FUZZ
@given(lines=st.lists(st.one_of(_record_dicts().map(json.dumps), st.text(max_size=40)),
                      max_size=6))
def test_jsonl_reader(lines: list[str], store: AuditStore) -> None:
    stats: dict[str, int] = {}
    records = list(records_from_jsonl(lines, stats))
    writer = store.writer(batch=10_000)
    with writer:
        writer.extend(records)
    assert writer.seen + writer.rejected == len(records)
