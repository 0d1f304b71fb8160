"""Biba: strict integrity (no read down, no write up, no invoke up) and low-water-mark."""

import errno

import pytest
from label_helpers import Sink, fobj, stack_of, subj, task

from stockade.audit.formats import kernel_line
from stockade.audit.record import record_from_event
from stockade.errors import StockadeError
from stockade.lsm.caps import cap_number
from stockade.lsm.types import MAY_EXEC, MAY_OPEN, MAY_READ, MAY_WRITE, Object, Request
from stockade.modules.biba import Biba


def open_req(s, obj, mask):
    return Request("file_open", s, obj, mask | MAY_OPEN)


def f(label: str | None, path: str = "/f"):
    return fobj(path, "biba", label)


MEDIUM = subj(biba="medium")


@pytest.mark.parametrize(("obj_level", "read_ok", "write_ok"), [
    ("high", True, False),    # may read up, may not write up
    ("medium", True, True),
    ("low", False, True),     # may not read down, may write down
])
def test_strict_integrity_for_a_medium_subject(obj_level, read_ok, write_ok) -> None:
    stack = stack_of(Biba())
    assert stack.decide(open_req(MEDIUM, f(obj_level), MAY_READ)).allowed is read_ok
    assert stack.decide(open_req(MEDIUM, f(obj_level), MAY_WRITE)).allowed is write_ok


def test_denials_name_the_rule_and_are_audited() -> None:
    sink = Sink()
    stack = stack_of(Biba(), sink=sink)
    d = stack.decide(open_req(MEDIUM, f("low", "/tmp/x"), MAY_READ))
    assert d.errno == errno.EACCES and "no read down" in d.decider.reason
    d = stack.decide(open_req(MEDIUM, f("high", "/etc/x"), MAY_WRITE))
    assert "no write up" in d.decider.reason
    line = sink.lines()[-1]
    assert line.startswith("type=USER_AVC")
    assert ('stockade="DENIED" module="biba" operation="file_open" model="strict" '
            'subject_level="medium" object_level="high" name="/etc/x"') in line


def test_executing_a_lower_program_is_reading_down() -> None:
    stack = stack_of(Biba())
    d = stack.decide(Request("bprm_check_security", subj(biba="high"), f("medium"), MAY_EXEC))
    assert not d.allowed
    assert stack.decide(Request("bprm_check_security", subj(biba="low"), f("medium"), MAY_EXEC)).allowed


def test_no_invoke_up_for_signals_and_ptrace() -> None:
    stack = stack_of(Biba())
    high_task, low_task = task(subj(pid=5, biba="high")), task(subj(pid=6, biba="low"))
    d = stack.decide(Request("task_kill", MEDIUM, high_task, signal=9))
    assert d.errno == errno.EPERM and "no invoke up" in d.decider.reason
    assert stack.decide(Request("task_kill", MEDIUM, low_task, signal=9)).allowed
    assert stack.decide(Request("task_kill", MEDIUM, high_task, signal=0)).allowed
    assert not stack.decide(Request("ptrace_access_check", MEDIUM, high_task, flags=2)).allowed


def test_creating_in_a_directory_writes_it() -> None:
    stack = stack_of(Biba())
    high_dir = fobj("/etc", "biba", "high", is_dir=True)
    new = fobj("/etc/new", parent=high_dir, exists=False)
    assert not stack.decide(Request("inode_create", MEDIUM, new, MAY_WRITE)).allowed
    assert stack.decide(Request("inode_create", subj(biba="high"), new, MAY_WRITE)).allowed
    assert Biba().new_object_label(MEDIUM) == "medium"


def test_categories_need_a_superset() -> None:
    biba = Biba()
    stack = stack_of(biba)
    s = subj(biba="medium:build")
    assert stack.decide(open_req(s, f("medium:build,net"), MAY_READ)).allowed
    assert not stack.decide(open_req(s, f("medium:net"), MAY_READ)).allowed
    assert not stack.decide(open_req(s, f("low:net"), MAY_WRITE)).allowed
    assert stack.decide(open_req(s, f("low"), MAY_WRITE)).allowed
    assert biba.parse("high:b,a").text == "high:a,b"


def test_unlabelled_defaults_and_configured_levels() -> None:
    stack = stack_of(Biba())  # unlabelled subjects and objects: the lowest level
    assert stack.decide(open_req(subj(), f(None), MAY_READ | MAY_WRITE)).allowed
    assert not stack.decide(open_req(subj(), f("high"), MAY_WRITE)).allowed
    custom = Biba(levels=("untrusted", "user", "system"), default_level="system",
                  default_subject="user")
    stack = stack_of(custom)
    assert stack.decide(open_req(subj(), f(None), MAY_READ)).allowed
    assert not stack.decide(open_req(subj(), f(None), MAY_WRITE)).allowed
    with pytest.raises(StockadeError, match="unknown biba level 'high'"):
        Biba(levels=("a", "b"), default_level="high")
    with pytest.raises(StockadeError, match="model"):
        Biba(model="lomac")


def test_a_garbled_object_label_counts_as_the_lowest_level() -> None:
    stack = stack_of(Biba())
    assert not stack.decide(open_req(MEDIUM, f("bogus"), MAY_READ)).allowed


def test_relabelling_cannot_raise_above_the_subject_without_cap_mac_admin() -> None:
    stack = stack_of(Biba())
    name = "user.stockade.biba"
    obj = f("low")
    up = Object(xattrs=((name, b"high"),))
    d = stack.decide(Request("inode_setxattr", MEDIUM, obj, what=name, target=up))
    assert d.errno == errno.EPERM and "CAP_MAC_ADMIN" in d.decider.reason
    assert stack.decide(Request("inode_setxattr", MEDIUM, obj, what=name,
                                target=Object(xattrs=((name, b"low"),)))).allowed
    admin = subj(biba="medium", caps=1 << cap_number("mac_admin"))
    assert stack.decide(Request("inode_setxattr", admin, obj, what=name, target=up)).allowed


# -- low-water-mark ---------------------------------------------------------------------------

def test_low_water_mark_lowers_instead_of_denying() -> None:
    biba = Biba(model="lwm")
    stack = stack_of(biba)
    s = subj(pid=42, biba="high")
    assert stack.decide(open_req(s, f("high"), MAY_WRITE)).allowed
    d = stack.decide(open_req(s, f("low"), MAY_READ))
    assert d.allowed and not d.cached
    assert biba.subject_label(s) == "low"
    d = stack.decide(open_req(s, f("high"), MAY_WRITE))  # same request as before, now denied
    assert not d.allowed and not d.cached and "low" in d.decider.reason
    assert stack.decide(open_req(s, f("low"), MAY_WRITE)).allowed
    assert biba.subject_label(subj(pid=43, biba="high")) == "high"  # per pid
    biba.forget(42)
    assert biba.subject_label(s) == "high"


def test_low_water_mark_meet_keeps_common_categories() -> None:
    biba = Biba(model="lwm")
    stack = stack_of(biba)
    s = subj(pid=7, biba="high:a,b")
    assert stack.decide(open_req(s, f("medium:b,c"), MAY_READ)).allowed
    assert biba.subject_label(s) == "medium:b"


def test_low_water_mark_table_is_bounded_and_fails_closed() -> None:
    biba = Biba(model="lwm", max_tracked=2)
    stack = stack_of(biba)
    for pid in (1, 2):
        assert stack.decide(open_req(subj(pid=pid, biba="high"), f("low"), MAY_READ)).allowed
    d = stack.decide(open_req(subj(pid=3, biba="high"), f("low"), MAY_READ))
    assert not d.allowed and "table full" in d.decider.reason
    assert biba.tracked() == 2 and biba.overflows == 1
    assert biba.subject_label(subj(pid=1, biba="high")) == "low"  # nobody was forgotten
    biba.forget(1)
    assert stack.decide(open_req(subj(pid=3, biba="high"), f("low"), MAY_READ)).allowed


def test_transitions_on_exec() -> None:
    assert Biba().transition("high", "low") == "high"  # strict: a lower program is refused
    lwm = Biba(model="lwm")
    assert lwm.transition("high", "medium") == "medium"
    assert lwm.transition("medium", "high") == "medium"
    assert lwm.transition("medium", None) == "medium"
    assert lwm.exec_label(f("high")) == "high"


def test_lwm_record_format() -> None:
    sink = Sink()
    stack = stack_of(Biba(model="lwm", max_tracked=1), sink=sink)
    stack.decide(open_req(subj(pid=1, biba="high"), f("low"), MAY_READ))
    stack.decide(open_req(subj(pid=2, biba="high"), f("low"), MAY_READ))
    demotion = record_from_event(sink.events[0])
    assert demotion.result == "AUDIT" and "lowered to low" in demotion.reason
    record = record_from_event(sink.events[-1])
    assert record.result == "DENIED" and record.fields["model"] == "lwm"
    assert 'model="lwm" subject_level="high" object_level="low"' in kernel_line(record)
