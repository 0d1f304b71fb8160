"""Real confined children: needs Landlock, and root (the tests switch to nobody)."""

import socket

import pytest
from confine_helpers import skip_unless_confinable

skip_unless_confinable()


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
