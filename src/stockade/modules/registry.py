"""Module factories by kernel name, for `Stack.from_lsm`; DAC is built in, not an `lsm=` entry."""

from __future__ import annotations

from collections.abc import Callable

from stockade.lsm.module import SecurityModule
from stockade.modules.dac import Dac

# name -> factory, as the kernel's lsm= list names modules (capability, yama, lockdown, ...)
FACTORIES: dict[str, Callable[[], SecurityModule]] = {}

# The DAC layer, passed to `Stack.from_lsm(..., dac=DAC())`.
DAC = Dac
