"""Verdict.complain: one answer in complain mode while the module enforces (per-profile)."""

from __future__ import annotations

import errno

from stockade.lsm.module import Mode, SecurityModule, Verdict
from stockade.lsm.stack import ALLOWED, DENIED, Stack
from stockade.lsm.types import Request, Subject


class _Module(SecurityModule):
    name = "perprofile"
    hard = False

    def hook_capable(self, req: Request) -> Verdict | None:
        return Verdict(self.name, errno.EPERM, "no", complain=True, hard=self.hard)


def test_complain_verdict_is_allowed_and_recorded() -> None:
    st = Stack([_Module()])
    d = st.decide(Request("capable", Subject(), cap=21))
    assert d.allowed and [e.result for e in d.events] == [ALLOWED]
    assert d.events[0].mode is Mode.COMPLAIN
    assert st.capable(Request("capable", Subject()), 21)


def test_hard_complain_verdict_still_denies() -> None:
    module = _Module()
    module.hard = True
    st = Stack([module])
    d = st.decide(Request("capable", Subject(), cap=21))
    assert d.errno == errno.EPERM and d.events[0].result == DENIED
    assert not st.capable(Request("capable", Subject()), 21)
