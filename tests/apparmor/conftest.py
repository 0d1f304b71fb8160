from __future__ import annotations

import importlib.util

import pytest

import stockade.modules.registry as registry
from stockade.lsm.module import SecurityModule


class _NoDac(SecurityModule):
    """Stands in for the dac module until it is merged: it has no hooks, so no opinion."""

    name = "dac"


@pytest.fixture
def cli_without_dac(monkeypatch: pytest.MonkeyPatch) -> None:
    """`stockade explain` builds a DAC layer; without modules/dac.py give it an empty one."""
    if importlib.util.find_spec("stockade.modules.dac") is None:
        monkeypatch.setitem(registry.FACTORIES, "dac", _NoDac)
