"""Shared fixtures: a stack with DAC and a minimal capability module."""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest

from stockade.lsm.caps import cap_name
from stockade.lsm.module import SecurityModule, Verdict
from stockade.lsm.stack import Stack
from stockade.lsm.types import Request
from stockade.modules.dac import Dac


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
