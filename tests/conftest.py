"""Shared fixtures: a stack with DAC and a minimal capability module; the user and the
scratch area of the tests that run real confined children (enforce/, escapes/, supervisor/)."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stockade.lsm.caps import cap_name
from stockade.lsm.module import SecurityModule, Verdict
from stockade.lsm.stack import Stack
from stockade.lsm.types import Request
from stockade.modules.dac import Dac

# `explain` uses the host's SELinux policy by default (/etc/selinux/config): the tests do not
# depend on this machine's config; the ones about that default name a config themselves.
os.environ.setdefault("STOCKADE_SELINUX_CONFIG", "/nonexistent/selinux/config")

# `from confine_helpers import ...` in the test directories that are not packages.
sys.path.insert(0, str(Path(__file__).resolve().parent))


class EffectiveCaps(SecurityModule):
    """commoncap's capable() reduced to its core: the capability must be in the effective set."""

    name = "capability"

    def hook_capable(self, req: Request) -> Verdict | None:
        if req.subject.cap_effective >> req.cap & 1:
            return None
        return self.deny(errno.EPERM, f"CAP_{cap_name(req.cap).upper()} not effective")


@pytest.fixture
def make_stack() -> Callable[..., Stack]:
    """`make_stack(Dac(...))`: a Stack of that DAC (default Dac()) and EffectiveCaps."""

    def build(dac: Dac | None = None) -> Stack:
        return Stack([dac if dac is not None else Dac(), EffectiveCaps()])

    return build


@pytest.fixture(params=["root", "nobody"])
def user(request: pytest.FixtureRequest) -> str:
    """Each test twice: as root and as nobody."""
    return request.param


@pytest.fixture
def area(user: str) -> Iterator[object]:
    """A confine_helpers.Area owned by `user`, removed afterwards."""
    from confine_helpers import Area

    a = Area(owner=65534 if user == "nobody" else 0)
    yield a
    a.cleanup()
