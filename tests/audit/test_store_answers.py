"""Every consumer of the audit store answers as main's store (the record's JSON in each row) did.

data/store_answers.json was written from main's store (before a record read from audit text
was stored as its event's text): the imports' counts, `audit query`/`stats`/`export`,
`logprof --store` and `notify --store` on the corpus of store_answers.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from .store_answers import FIXTURE, answers


def test_every_store_consumer_answers_as_before(tmp_path: Path) -> None:
    expected = json.loads(FIXTURE.read_text())
    found = answers(tmp_path)
    assert set(found) == set(expected)
    assert [name for name in sorted(expected) if found[name] != expected[name]] == []
