"""Real confined children: needs Landlock, and root (the tests switch to nobody)."""

from pathlib import Path

from confine_helpers import skip_unless_confinable


def pytest_collection_modifyitems(config, items) -> None:
    skip_unless_confinable(items, Path(__file__).resolve().parent)
