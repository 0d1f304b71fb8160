"""Exec transitions (ix/px/cx/ux, fallbacks, scrubbing), attachment, exec_transition()."""

from __future__ import annotations

import errno

import pytest

from stockade.lsm.types import MAY_EXEC, Request
from stockade.modules.apparmor import ExecDenied, ExecTransition
from tests.apparmor.aa_helpers import fields, fobj, module, stack, subject

POLICY = """
profile p /usr/bin/p {
  /bin/inherit ix,
  /bin/named px -> target,
  /bin/Named Px -> target,
  /bin/attached px,
  /bin/missing px,
  /bin/pix pix,
  /bin/Pix Pix,
  /bin/pux PUx,
  /bin/child cx -> kid,
  /bin/kid2 Cx,
  /bin/unconf ux,
  /bin/Unconf Ux,
  deny /bin/never x,

  profile kid { }
  profile /bin/kid2 { }
  ^hat { }
}
profile target { }
profile glob /opt/*/bin/tool { }
profile exact /opt/a/bin/tool { }
profile longer /opt/a/** { }
profile /bin/attached { }
profile c1 /usr/lib/{x,y}/* { }
profile c2 /usr/lib/?/* { }
profile learner flags=(complain) { }
"""


@pytest.fixture(scope="module")
def aa():
    return module(POLICY)


@pytest.mark.parametrize(("exe", "new", "scrub"), [
    ("/bin/inherit", "p", False),
    ("/bin/named", "target", False),
    ("/bin/Named", "target", True),
    ("/bin/attached", "/bin/attached", False),
    ("/bin/pix", "p", False),  # no profile attaches: ix fallback
    ("/bin/Pix", "p", False),  # the ix fallback never scrubs
    ("/bin/pux", "unconfined", True),  # ux fallback, uppercase scrubs
    ("/bin/child", "p//kid", False),
    ("/bin/kid2", "p///bin/kid2", True),  # cx without target: the child named by the path
    ("/bin/unconf", "unconfined", False),
    ("/bin/Unconf", "unconfined", True),
])
def test_transitions(aa, exe: str, new: str, scrub: bool) -> None:
    t = aa.exec_transition("p", exe)
    assert isinstance(t, ExecTransition)
    assert (t.profile, t.scrub_env) == (new, scrub)
    assert t.rule.startswith("<text>:")


def test_missing_target_profile_is_eacces(aa) -> None:
    with pytest.raises(ExecDenied) as info:
        aa.exec_transition("p", "/bin/missing")
    assert info.value.errno == errno.EACCES
    assert "profile transition not found" in info.value.reason
    d = stack(aa).decide(Request("bprm_check_security", subject("p"), fobj("/bin/missing"), MAY_EXEC))
    assert d.errno == errno.EACCES
    assert fields(d)["info"] == "profile transition not found" and fields(d)["denied"] == "x"


def test_no_x_and_deny_x(aa) -> None:
    for exe in ("/bin/elsewhere", "/bin/never"):
        with pytest.raises(ExecDenied):
            aa.exec_transition("p", exe)
    d = stack(aa).decide(Request("bprm_check_security", subject("p"), fobj("/bin/never"), MAY_EXEC))
    assert d.decider is not None and d.decider.hard


def test_bprm_hook_records_the_target(aa) -> None:
    st = stack(aa)
    d = st.explain(Request("bprm_check_security", subject("p"), fobj("/bin/Named"), MAY_EXEC))
    verdict = d.layers[-1]
    assert verdict is not None and dict(verdict.fields)["target"] == "target"
    assert aa.explain_exec(subject("p"), fobj("/bin/Named")).scrub_env is True


@pytest.mark.parametrize(("exe", "name"), [
    ("/opt/a/bin/tool", "exact"),  # exact beats every glob
    ("/opt/b/bin/tool", "glob"),
    ("/opt/a/lib/x", "longer"),
    ("/usr/bin/p", "p"),
    ("/bin/attached", "/bin/attached"),
    ("/nothing", None),
])
def test_find_attachment(aa, exe: str, name: str | None) -> None:
    assert aa.find_attachment(exe) == name


def test_longest_literal_lead_wins_and_ties_conflict() -> None:
    aa = module("profile short /usr/* { }\nprofile long /usr/bin/* { }\n")
    assert aa.find_attachment("/usr/bin/x") == "long"
    assert aa.find_attachment("/usr/x") == "short"
    tie = module("profile a /srv/*/x { }\nprofile b /srv/*/* { }\n")
    found = tie.policy.find_attachment("/srv/q/x")
    assert found.profile is None and found.info == "conflicting profile attachments"


def test_unconfined_exec_attaches_without_audit(aa) -> None:
    st = stack(aa)
    d = st.decide(Request("bprm_check_security", subject(None), fobj("/usr/bin/p"), MAY_EXEC))
    assert d.allowed and not d.events
    assert aa.exec_transition("unconfined", "/usr/bin/p") == ("p", False, "")
    assert aa.exec_transition("unconfined", "/bin/zzz").profile == "unconfined"


def test_complain_profile_learns_in_a_null_profile(aa) -> None:
    st = stack(aa)
    d = st.decide(Request("bprm_check_security", subject("learner"), fobj("/bin/ls"), MAY_EXEC))
    assert d.allowed and d.events[0].result == "ALLOWED"
    assert fields(d)["target"] == "learner//null-/bin/ls"
    assert aa.exec_transition("learner", "/bin/ls").profile == "learner//null-/bin/ls"
    # the null profile is itself in complain mode: everything allowed and recorded
    req = Request("file_open", subject("learner//null-/bin/ls"), fobj("/etc/shadow"), 0x4 | 0x20)
    d = st.decide(req)
    assert d.allowed and d.events[0].result == "ALLOWED"


def test_no_new_privs_forbids_leaving_the_profile(aa) -> None:
    with pytest.raises(ExecDenied) as info:
        aa.exec_transition("p", "/bin/named", no_new_privs=True)
    assert info.value.errno == errno.EPERM and "no new privs" in info.value.reason
    assert aa.exec_transition("p", "/bin/inherit", no_new_privs=True).profile == "p"


def test_hats_never_attach(aa) -> None:
    assert aa.find_attachment("hat") is None
    assert "p//hat" in aa.policy


def test_exec_conflict_exact_beats_glob() -> None:
    aa = module("profile p { /usr/bin/* ix, /usr/bin/special Ux, }")
    special = aa.exec_transition("p", "/usr/bin/special")
    assert special == ("unconfined", True, "<text>:1: /usr/bin/special Ux,")
    assert aa.exec_transition("p", "/usr/bin/other").profile == "p"
