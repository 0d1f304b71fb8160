"""Real confined children: needs Landlock, and root (the tests switch to nobody)."""

import socket
from pathlib import Path

import pytest
from confine_helpers import skip_unless_confinable


def pytest_collection_modifyitems(config, items) -> None:
    skip_unless_confinable(items, Path(__file__).resolve().parent)


@pytest.fixture
def listeners():
    """The ports of two listening TCP sockets on 127.0.0.1."""
    socks = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        socks.append(s)
    yield [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()


@pytest.fixture(params=["c", "python"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The batched filesystem loops of a plan cache hit (enforce/fsbatch): the C extension,
    or pure Python (STOCKADE_SUPERVISOR_PURE=1)."""
    from stockade.enforce import fsbatch

    if request.param == "python":
        monkeypatch.setenv(fsbatch.ENV_PURE, "1")
    else:
        monkeypatch.delenv(fsbatch.ENV_PURE, raising=False)
        if fsbatch._backend() is None:
            pytest.skip("the C extension is not built (no compiler when installed)")
    assert fsbatch.name() == request.param
    return request.param
