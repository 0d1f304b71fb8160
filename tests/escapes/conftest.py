"""Real confined children: needs Landlock, and root (the tests switch to nobody)."""

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import skip_unless_confinable, uid_of


def pytest_collection_modifyitems(config, items) -> None:
    skip_unless_confinable(items, Path(__file__).resolve().parent)


@pytest.fixture
def xdg(area, user, monkeypatch) -> Path:
    """A private runtime directory of `user`, named by XDG_RUNTIME_DIR (root ignores it)."""
    d = area.root / "xdg"
    d.mkdir()
    os.chown(d, uid_of(user), uid_of(user))
    os.chmod(d, 0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(d))
    return d


def _audit_enabled() -> int | None:
    res = subprocess.run(["auditctl", "-s"], capture_output=True, text=True, check=False)
    for line in res.stdout.splitlines():
        if line.startswith("enabled "):
            return int(line.split()[1])
    return None


@pytest.fixture
def audit_on() -> Iterator[None]:
    """Kernel audit on (Landlock's records), restored afterwards."""
    if os.geteuid() != 0 or shutil.which("auditctl") is None:
        pytest.skip("kernel audit needs root and auditctl")
    before = _audit_enabled()
    if before is None or before == 2:
        pytest.skip("kernel audit state unknown or locked")
    if before == 0:
        subprocess.run(["auditctl", "-e", "1"], check=True, capture_output=True)
    try:
        yield
    finally:
        if before == 0:
            subprocess.run(["auditctl", "-e", "0"], check=True, capture_output=True)
