"""Fixtures of the fuzz tests."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.audit.store import AuditStore


@pytest.fixture(scope="module")
def store() -> Iterator[AuditStore]:
    """An audit store in a fresh directory, one per test module."""
    with tempfile.TemporaryDirectory(prefix="stockade-fuzz-") as root:
        s = AuditStore(Path(root) / "s.sqlite")
        yield s
        s.close()
