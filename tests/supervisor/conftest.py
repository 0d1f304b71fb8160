"""Real supervised children: needs Landlock, and root (the tests switch to nobody)."""

import sys
from pathlib import Path

import pytest
from confine_helpers import skip_unless_confinable

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `from sv_helpers import ...`


def pytest_collection_modifyitems(config, items) -> None:
    skip_unless_confinable(items, Path(__file__).resolve().parent)


@pytest.fixture(params=["c", "python"])
def mechanics(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The supervisor's mechanics for this test: the C extension, or pure Python
    (STOCKADE_SUPERVISOR_PURE=1); the forked helpers of sv_helpers inherit the environment."""
    from stockade.enforce.supervisor import fast

    if request.param == "python":
        monkeypatch.setenv(fast.ENV_PURE, "1")
    else:
        monkeypatch.delenv(fast.ENV_PURE, raising=False)
        if fast.load() is None:
            pytest.skip("the C extension is not built (no compiler when installed)")
    return request.param
