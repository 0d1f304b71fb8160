"""ABAC: CEL rules over subject, object, request and environment; compile errors; cost."""

import errno
import time
from datetime import UTC, datetime

import pytest
from label_helpers import Sink, fobj, stack_of, subj

from stockade.errors import StockadeError
from stockade.lsm.types import MAY_OPEN, MAY_READ, MAY_WRITE, Request
from stockade.modules.abac import Abac
from stockade.modules.registry import build_stack
from stockade.slotted import replace

OFFICE_HOURS = """\
rules:
  - id: office-hours-writes
    effect: deny
    hooks: [file_open, inode_create]
    condition: request.write && (env.hour < 8 || env.hour >= 18)
"""


class Clock:
    def __init__(self, hour: int, weekday_day: int = 3) -> None:  # 2024-01-03 is a Wednesday
        self.now = datetime(2024, 1, weekday_day, hour, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def req(mask: int, path: str = "/srv/report", s=None, hook: str = "file_open") -> Request:
    return Request(hook, s or subj(), fobj(path), mask | MAY_OPEN)


def test_writes_outside_working_hours_are_denied() -> None:
    clock = Clock(20)
    sink = Sink()
    stack = stack_of(Abac(policy_text=OFFICE_HOURS, clock=clock), sink=sink)
    d = stack.decide(req(MAY_WRITE))
    assert d.errno == errno.EACCES and d.decider.rule == "office-hours-writes"
    assert stack.decide(req(MAY_READ)).allowed
    line = sink.lines()[-1]
    assert 'module="abac" operation="file_open" rule="office-hours-writes" effect="deny"' in line
    clock.now = clock.now.replace(hour=10)
    assert stack.decide(req(MAY_WRITE)).allowed  # the AVC did not keep the 20:00 answer
    clock.now = clock.now.replace(hour=7)
    assert not stack.decide(req(MAY_WRITE)).allowed  # nor the 10:00 one


def test_time_dependent_verdicts_are_uncacheable_and_others_cacheable() -> None:
    timed = Abac(policy_text=OFFICE_HOURS, clock=Clock(20))
    assert timed.decide(req(MAY_WRITE)).cacheable is False
    assert timed.decide(req(MAY_READ)).cacheable is False  # no opinion, but one that can change
    static = Abac(policy_text="""\
rules:
  - id: no-secrets
    effect: deny
    hooks: [file_open]
    condition: object.path.startsWith("/srv/secret/") && subject.uid != 0
""")
    stack = stack_of(static)
    assert not stack.decide(req(MAY_READ, "/srv/secret/key")).allowed
    assert stack.decide(req(MAY_READ, "/srv/secret/key")).cached
    assert stack.decide(req(MAY_READ, "/srv/secret/key", subj(uid=0))).allowed


@pytest.mark.parametrize("condition", [
    'subject.exe == "/usr/bin/cat"', 'subject.comm == "cat"', "subject.pid == 7",
    'object.comm == "cat"', 'subject["exe"] == "/usr/bin/cat"'])
def test_verdicts_on_what_the_key_leaves_out_are_uncacheable(condition: str) -> None:
    abac = Abac(policy_text=f"""\
rules:
  - id: r
    effect: deny
    hooks: [file_open]
    condition: {condition}
  - id: other-hook
    effect: deny
    hooks: [inode_create]
    condition: subject.uid == 5
""")
    for s in (subj(), replace(subj(), exe="/usr/bin/cat", comm="cat", pid=7)):
        verdict = abac.decide(req(MAY_READ, s=s))
        assert verdict is not None and verdict.cacheable is False  # a deny or an explicit allow
    assert abac.decide(req(MAY_READ, s=subj(uid=5), hook="inode_create")).cacheable


def test_only_rules_naming_the_hook_are_evaluated() -> None:
    abac = Abac(policy_text=OFFICE_HOURS, clock=Clock(20))
    assert set(abac.hooks()) == {"file_open", "inode_create"}
    abac.decide(Request("inode_unlink", subj(), fobj("/x"), MAY_WRITE))
    assert abac.evaluations == 0
    abac.decide(req(MAY_WRITE))
    assert abac.evaluations == 1
    # memoised on the attributes the rule reads (request.write, env.hour)
    abac.decide(req(MAY_WRITE, "/elsewhere"))
    assert (abac.evaluations, abac.memo_hits) == (1, 1)
    abac._clock = Clock(9)
    assert abac.decide(req(MAY_WRITE)) is not None and abac.evaluations == 2


def test_memo_is_bounded_and_skipped_for_timestamps() -> None:
    abac = Abac(policy_text="""\
rules:
  - id: by-path
    effect: deny
    hooks: [file_open]
    condition: object.path == "/x"
  - id: by-time
    effect: deny
    hooks: [file_open]
    condition: env.time < timestamp("2000-01-01T00:00:00Z")
""", memo_size=4, clock=Clock(12))
    for i in range(10):
        abac.decide(req(MAY_READ, f"/p{i}"))
    assert len(abac._memo["by-path"]) == 4 and abac._memo["by-time"] == {}
    assert abac.evaluations == 20


def test_first_match_wins_and_allow_stops() -> None:
    abac = Abac(policy_text="""\
default: deny
rules:
  - id: admins
    effect: allow
    audit: true
    hooks: [file_open]
    condition: 27 in subject.groups
  - id: weekend
    effect: deny
    hooks: [file_open]
    errno: EPERM
    condition: env.weekday in ["sat", "sun"]
  - id: labelled-public
    effect: allow
    hooks: [file_open]
    condition: has(object.labels.biba) && object.labels.biba == "public"
""", clock=Clock(12, weekday_day=6))  # a Saturday
    sink = Sink()
    stack = stack_of(abac, sink=sink)
    admin = replace(subj(), groups=frozenset({27}))
    assert stack.decide(req(MAY_READ, s=admin)).allowed
    assert sink.events[-1].result == "AUDIT"
    d = stack.decide(req(MAY_READ))
    assert d.errno == errno.EPERM and d.decider.rule == "weekend"
    abac.clock = None
    abac._clock = Clock(12, weekday_day=3)
    stack.reload()
    assert stack.decide(Request("file_open", subj(), fobj("/p", "biba", "public"), MAY_READ)).allowed
    d = stack.decide(req(MAY_READ))
    assert not d.allowed and "default: deny" in d.decider.reason


def test_attributes_of_tasks_sockets_and_requests() -> None:
    import socket

    from stockade.lsm.types import Object, ObjectKind
    abac = Abac(policy_text="""\
rules:
  - id: no-smtp
    effect: deny
    hooks: [socket_connect]
    condition: object.port == 25 && object.family == "inet" && subject.comm == "p100"
  - id: no-kill-init
    effect: deny
    hooks: [task_kill]
    condition: object.pid == 1 && request.signal == 9
""")
    stack = stack_of(abac)
    sock = Object(kind=ObjectKind.SOCKET, family=socket.AF_INET, address="192.0.2.1", port=25)
    assert not stack.decide(Request("socket_connect", subj(), sock)).allowed
    init = Object(kind=ObjectKind.TASK, task=subj(pid=1))
    assert not stack.decide(Request("task_kill", subj(), init, signal=9)).allowed
    assert stack.decide(Request("task_kill", subj(), init, signal=15)).allowed


def test_runtime_errors_fail_closed_for_deny_rules_only() -> None:
    abac = Abac(policy_text="""\
rules:
  - id: maybe
    effect: allow
    hooks: [file_open]
    condition: object.labels["smack"] == "x"
  - id: strict
    effect: deny
    hooks: [file_open]
    condition: object.labels["biba"] == "low"
""")
    d = abac.decide(req(MAY_READ))  # no labels: both lookups fail
    assert d.errno == errno.EACCES and "fail closed" in d.reason and d.rule == "strict"


@pytest.mark.parametrize(("policy", "message"), [
    ("rules:\n  - id: a\n    effect: deny\n    condition: request.write &&\n",
     r"policy.yaml:4: rule a: CEL syntax error"),
    ("rules:\n  - id: a\n    effect: deny\n    condition: |\n      request.read\n      && (\n",
     r"policy.yaml:6: rule a: CEL syntax error"),
    ("rules:\n  - id: a\n    effect: deny\n    condition: subject.colour == 1\n",
     r"policy.yaml:4: rule a: unknown attribute\(s\) subject.colour"),
    ("rules:\n  - id: a\n    effect: deny\n    condition: subject.uid\n",
     r"policy.yaml:4: rule a: the condition must be a boolean"),
    ("rules:\n  - id: a\n    effect: maybe\n    condition: true\n",
     r"policy.yaml:2: rule a: effect must be deny or allow"),
    ("rules:\n  - id: a\n    effect: deny\n    hooks: [file_opne]\n    condition: true\n",
     r"policy.yaml:2: rule a: unknown hook\(s\) file_opne"),
    ("rules:\n  - id: a\n    effect: deny\n    condition: true\n  - id: a\n    effect: deny\n"
     "    condition: true\n", r"policy.yaml:5: duplicate rule id a"),
    ("rules: [\n", r"policy.yaml:2: YAML error"),
])
def test_policy_errors_name_file_and_line(tmp_path, policy, message) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(policy)
    with pytest.raises(StockadeError, match=message):
        Abac(policy_file=str(path))


def test_registry_builds_abac_with_a_policy_file(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(OFFICE_HOURS)
    stack = build_stack("capability,abac", dac=False,
                        settings={"abac": {"policy_file": str(path), "clock": Clock(23)}})
    assert not stack.decide(req(MAY_WRITE)).allowed


def test_cel_evaluation_cost(capsys) -> None:
    """Measured, printed, and bounded loosely: cel-python is an interpreter."""
    abac = Abac(policy_text=OFFICE_HOURS, clock=Clock(20))
    request = req(MAY_WRITE)
    rule = abac.rules[0]
    activation = abac._activation(request, abac._needs["file_open"])
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        rule.program.evaluate(activation)
    per_eval = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    for i in range(n):
        abac._clock = Clock(i % 24)  # 24 distinct keys: mostly memo hits
        abac.decide(request)
    per_decide = (time.perf_counter() - start) / n * 1e6
    with capsys.disabled():
        print(f"\nCEL: {per_eval:.1f} us per evaluation; {per_decide:.1f} us per abac decision "
              f"with the memo ({abac.evaluations} evaluations for {n} decisions)")
    assert abac.evaluations <= 24
    assert per_decide < per_eval


@pytest.mark.parametrize("hook", ["task_prctl", "file_open"])
def test_no_opinion_read_off_the_key_is_not_cached_on_any_hook(hook: str) -> None:
    """Red team 6 (rt/abac_prctl_nonzero_default_cached.py): on task_prctl (default -ENOSYS)
    too, "no opinion" after reading subject.exe must not answer another program's request."""
    policy = f"""\
rules:
  - id: deny-evil
    effect: deny
    hooks: [{hook}]
    condition: subject.exe == "/tmp/evil"
"""
    good = replace(subj(), exe="/usr/bin/true", comm="true", pid=100)
    evil = replace(subj(), exe="/tmp/evil", comm="evil", pid=200)
    obj = None if hook == "task_prctl" else fobj("/srv/report")
    alone = stack_of(Abac(policy_text=policy)).decide(Request(hook, evil, obj, MAY_OPEN))
    stack = stack_of(Abac(policy_text=policy))
    first = stack.decide(Request(hook, good, obj, MAY_OPEN))
    after = stack.decide(Request(hook, evil, obj, MAY_OPEN))
    assert alone.errno == after.errno == errno.EACCES
    assert first.errno == (errno.ENOSYS if hook == "task_prctl" else 0)  # the hook's default
    assert stack.avc.stats().hits == 0
