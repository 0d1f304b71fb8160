"""The stack's ordering, exclusivity, first-denial and complain semantics, and the AVC."""

import errno

import pytest

from stockade.errors import StockadeError
from stockade.lsm.module import Mode, SecurityModule, Verdict
from stockade.lsm.stack import ALLOWED, AUDIT, DENIED, Stack
from stockade.lsm.types import MAY_READ, Object, ObjectKind, Request, Subject
from stockade.modules.registry import build_stack


class Recorder(SecurityModule):
    """A test module that denies what it is told to and records the order of calls."""

    name = "recorder"

    def __init__(self, name: str, calls: list[str], deny: int = 0, *, exclusive: bool = False,
                 audit: bool = False, hard: bool = False, cacheable: bool = True) -> None:
        super().__init__()
        self.name = name  # type: ignore[misc]
        self.exclusive = exclusive  # type: ignore[misc]
        self.calls = calls
        self.errno = deny
        self.audit_it = audit
        self.hard = hard
        self.cache_ok = cacheable

    def hook_file_open(self, req: Request) -> Verdict | None:
        self.calls.append(self.name)
        if self.errno:
            return self.deny(self.errno, f"{self.name} says no", hard=self.hard,
                             cacheable=self.cache_ok)
        if self.audit_it:
            return self.allow("audited", audit=True)
        return None


def req(path: str = "/etc/passwd", uid: int = 1000) -> Request:
    subject = Subject(pid=42, comm="cat", uid=uid, euid=uid, suid=uid, fsuid=uid)
    return Request("file_open", subject, Object(kind=ObjectKind.FILE, path=path), MAY_READ)


def test_first_denial_wins_and_stops_the_walk() -> None:
    calls: list[str] = []
    events = []
    stack = Stack([Recorder("a", calls), Recorder("b", calls, errno.EACCES),
                   Recorder("c", calls, errno.EPERM)], audit_sink=events.append)
    d = stack.decide(req())
    assert d.errno == errno.EACCES
    assert d.decider is not None and d.decider.module == "b"
    assert calls == ["a", "b"]
    assert [(e.verdict.module, e.result) for e in events] == [("b", DENIED)]


def test_explain_evaluates_every_layer_but_reports_enforce_outcome() -> None:
    calls: list[str] = []
    stack = Stack([Recorder("a", calls), Recorder("b", calls, errno.EACCES),
                   Recorder("c", calls, errno.EPERM)])
    d = stack.explain(req())
    assert calls == ["a", "b", "c"]
    assert d.modules == ("a", "b", "c")
    assert [v.errno if v else 0 for v in d.layers] == [0, errno.EACCES, errno.EPERM]
    assert d.errno == errno.EACCES
    assert [e.result for e in d.events] == [DENIED]


def test_complain_mode_allows_and_records_but_hard_deny_still_denies() -> None:
    calls: list[str] = []
    events = []
    soft = Recorder("soft", calls, errno.EACCES)
    soft.mode = Mode.COMPLAIN
    stack = Stack([soft, Recorder("ok", calls)], audit_sink=events.append)
    assert stack.decide(req()).allowed
    assert [e.result for e in events] == [ALLOWED]
    hard = Recorder("hard", calls, errno.EACCES, hard=True)
    hard.mode = Mode.COMPLAIN
    assert Stack([hard]).decide(req()).errno == errno.EACCES


def test_disabled_module_is_not_called() -> None:
    calls: list[str] = []
    off = Recorder("off", calls, errno.EACCES)
    off.mode = Mode.DISABLED
    assert Stack([off]).decide(req()).allowed
    assert calls == []


def test_audit_qualifier_records_allowed_access() -> None:
    events = []
    stack = Stack([Recorder("a", [], audit=True)], audit_sink=events.append)
    assert stack.decide(req()).allowed
    assert [e.result for e in events] == [AUDIT]


def test_two_exclusive_modules_is_an_error_naming_both() -> None:
    with pytest.raises(StockadeError, match="apparmor and selinux"):
        Stack([Recorder("apparmor", [], exclusive=True), Recorder("selinux", [], exclusive=True)])


def test_lsm_string_puts_capability_first_and_rejects_unknown() -> None:
    stack = build_stack("lockdown,yama,capability", dac=False)
    assert [m.name for m in stack.modules] == ["capability", "lockdown", "yama"]
    stack = build_stack("yama", dac=False)
    assert [m.name for m in stack.modules] == ["capability", "yama"]
    with pytest.raises(StockadeError, match="unknown security module 'nosuchlsm'"):
        build_stack("capability,nosuchlsm", dac=False)


def test_avc_caches_and_replays_denial_records() -> None:
    calls: list[str] = []
    events = []
    stack = Stack([Recorder("b", calls, errno.EACCES)], audit_sink=events.append)
    first, second = stack.decide(req()), stack.decide(req())
    assert calls == ["b"]  # the second came from the AVC
    assert second.cached and second.errno == first.errno
    assert len(events) == 2 and events[0].serial != events[1].serial
    stats = stack.avc.stats()
    assert (stats.lookups, stats.hits, stats.misses) == (2, 1, 1)


def test_uncacheable_verdicts_are_not_cached() -> None:
    calls: list[str] = []
    stack = Stack([Recorder("b", calls, errno.EACCES, cacheable=False)])
    stack.decide(req())
    stack.decide(req())
    assert calls == ["b", "b"]


def test_reload_flushes_the_avc() -> None:
    calls: list[str] = []
    stack = Stack([Recorder("a", calls)])
    stack.decide(req())
    stack.reload()
    stack.decide(req())
    assert calls == ["a", "a"]
    assert stack.avc.stats().frees == 1


def test_avc_is_bounded_and_reclaims() -> None:
    stack = Stack([Recorder("a", [])], avc_threshold=32)
    for i in range(200):
        stack.decide(req(path=f"/f{i}"))
    assert len(stack.avc) <= 32
    assert stack.avc.stats().reclaims > 0


def test_avc_ignores_decisions_from_an_older_policy() -> None:
    stack = Stack([Recorder("a", [])])
    stack.avc.reset(5)
    stack.avc.insert(("k",), object(), seqno=4)
    assert len(stack.avc) == 0


def test_avc_threshold_zero_disables_caching() -> None:
    calls: list[str] = []
    stack = Stack([Recorder("a", calls)], avc_threshold=0)
    stack.decide(req())
    stack.decide(req())
    assert calls == ["a", "a"] and len(stack.avc) == 0


def test_a_module_reload_flushes_its_stacks_avc() -> None:
    calls: list[str] = []
    module = Recorder("a", calls)
    stack = Stack([module])
    stack.decide(req())
    module.reload()
    stack.decide(req())
    assert calls == ["a", "a"]


def test_every_hook_names_one_of_the_hook_classes() -> None:
    from stockade.lsm.hooks import HOOK_LIST, HookClass

    classes = {v for k, v in vars(HookClass).items() if k.isupper()}
    assert classes == {"file", "socket", "task", "capability", "mount", "kernel"}
    assert {h.hook_class for h in HOOK_LIST} <= classes
    assert len({h.name for h in HOOK_LIST}) == len(HOOK_LIST) > 30
