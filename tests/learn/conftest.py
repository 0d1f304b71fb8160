"""Fixtures shared by the learn tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest


def _audit_state() -> int | None:
    from stockade.host.audit import audit_get
    try:
        return int(audit_get()["enabled"])
    except Exception:
        return None


@pytest.fixture(scope="module")
def kernel_audit() -> Iterator[bool]:
    """Kernel audit on for the module's tests (Landlock records), restored afterwards."""
    before = _audit_state() if os.geteuid() == 0 else None
    if before is None or not shutil.which("auditctl"):
        yield False
        return
    if before == 0:
        subprocess.run(["auditctl", "-e", "1"], check=True, capture_output=True)
    try:
        yield True
    finally:
        if before == 0:
            subprocess.run(["auditctl", "-e", "0"], check=True, capture_output=True)
