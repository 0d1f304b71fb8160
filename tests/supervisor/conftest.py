"""Real supervised children: needs Landlock, and root (the tests switch to nobody)."""

import sys
from pathlib import Path

from confine_helpers import skip_unless_confinable

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `from sv_helpers import ...`


def pytest_collection_modifyitems(config, items) -> None:
    skip_unless_confinable(items, Path(__file__).resolve().parent)
