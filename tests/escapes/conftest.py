"""Real confined children: needs Landlock, and root (the tests switch to nobody)."""

import os
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
