"""Profile modes and records: complain, audit, quiet deny, kill, unconfined, reload/AVC."""

from __future__ import annotations

import errno

from stockade.audit.formats import kernel_line
from stockade.audit.record import record_from_event
from stockade.lsm import operations as ops
from stockade.lsm.module import Mode
from stockade.lsm.stack import ALLOWED, AUDIT, DENIED
from tests.apparmor.aa_helpers import fobj, module, stack, subject

POLICY = """
profile enf { /ok r, deny /no r, audit /loud r, audit deny /loud-deny r, quiet /shh r, }
profile comp flags=(complain) { /ok r, deny /no r, }
profile killer flags=(kill) { /ok r, }
profile free flags=(unconfined) { }
profile noisy flags=(audit) { /ok r, }
profile dflt flags=(default_allow) { deny /no r, }
"""


def read(profile: str, path: str):
    return ops.file_requests("read", subject(profile), fobj(path))[0]


def test_complain_allows_and_records_allowed_but_deny_rules_still_deny() -> None:
    st = stack(module(POLICY))
    d = st.decide(read("comp", "/elsewhere"))
    assert d.allowed
    assert [e.result for e in d.events] == [ALLOWED]
    assert d.events[0].mode is Mode.COMPLAIN
    record = record_from_event(d.events[0])
    assert record.mode == "complain" and 'apparmor="ALLOWED"' in kernel_line(record)
    d = st.decide(read("comp", "/no"))
    assert d.errno == errno.EACCES and d.events[0].result == DENIED
    assert st.decide(read("comp", "/ok")).events == ()


def test_set_profile_mode_overrides_flags_and_flushes_the_avc() -> None:
    aa = module(POLICY)
    st = stack(aa)
    assert st.decide(read("enf", "/elsewhere")).errno == errno.EACCES
    aa.set_profile_mode("enf", "complain")
    d = st.decide(read("enf", "/elsewhere"))
    assert d.allowed and not d.cached and d.events[0].result == ALLOWED


def test_audit_qualifier_records_audit() -> None:
    st = stack(module(POLICY))
    d = st.decide(read("enf", "/loud"))
    assert d.allowed and [e.result for e in d.events] == [AUDIT]
    line = kernel_line(record_from_event(d.events[0]))
    assert 'apparmor="AUDIT"' in line and 'requested_mask="r"' in line and "denied_mask" not in line


def test_profile_audit_flag_records_every_access() -> None:
    st = stack(module(POLICY))
    assert [e.result for e in st.decide(read("noisy", "/ok")).events] == [AUDIT]


def test_plain_deny_is_quiet_audit_deny_is_loud() -> None:
    st = stack(module(POLICY))
    quiet = st.decide(read("enf", "/no"))
    assert quiet.errno == errno.EACCES and quiet.events[0].verdict.quiet
    assert record_from_event(quiet.events[0]).quiet
    loud = st.decide(read("enf", "/loud-deny"))
    assert loud.errno == errno.EACCES and not loud.events[0].verdict.quiet
    unmatched = st.decide(read("enf", "/elsewhere"))
    assert not unmatched.events[0].verdict.quiet and not unmatched.events[0].verdict.hard


def test_kill_mode_denies_and_marks_the_kill() -> None:
    st = stack(module(POLICY))
    d = st.decide(read("killer", "/elsewhere"))
    assert d.errno == errno.EACCES
    assert dict(d.decider.fields)["kill"] == "SIGKILL"
    assert "SIGKILL" in d.decider.reason
    assert "kill=SIGKILL" in kernel_line(record_from_event(d.events[0]))


def test_unconfined_flag_is_not_mediated() -> None:
    st = stack(module(POLICY))
    d = st.decide(read("free", "/etc/shadow"))
    assert d.allowed and d.layers[-1] is None


def test_default_allow_allows_all_but_explicit_denies() -> None:
    st = stack(module(POLICY))
    assert st.decide(read("dflt", "/anything")).allowed
    assert not st.decide(read("dflt", "/anything")).events
    assert st.decide(read("dflt", "/no")).errno == errno.EACCES


def test_verdicts_are_cached_until_a_profile_is_replaced() -> None:
    aa = module(POLICY)
    st = stack(aa)
    first = st.decide(read("enf", "/new"))
    again = st.decide(read("enf", "/new"))
    assert first.errno == errno.EACCES and again.cached
    assert again.events and again.events[0].serial != first.events[0].serial
    aa.replace_profile("profile enf { /new r, }")
    d = st.decide(read("enf", "/new"))
    assert d.allowed and not d.cached


def test_load_and_remove_profiles() -> None:
    aa = module("profile a { }")
    assert aa.load_profiles("profile b { /x r, profile kid { } }") == ["b"]
    assert {"a", "b", "b//kid"} <= set(aa.policy.names())
    aa.remove_profile("b")
    assert "b//kid" not in aa.policy


def test_registry_builds_apparmor_by_name(tmp_path) -> None:
    from stockade.modules.registry import build_stack

    prof = tmp_path / "p"
    prof.write_text("profile p { /ok r, }\n")
    st = build_stack("capability,apparmor", dac=False,
                     settings={"apparmor": {"profiles": [str(prof)], "system_includes": False,
                                            "profile_modes": {"p": "complain"}}})
    aa = st.module("apparmor")
    assert aa.exclusive and aa.profile("p").name == "p"
    d = st.decide(read("p", "/elsewhere"))
    assert d.allowed and d.events[0].result == ALLOWED
