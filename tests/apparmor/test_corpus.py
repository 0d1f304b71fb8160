"""A sweep over the Debian corpus: every profile in /etc/apparmor.d (and the extra profiles)
answers a few requests."""

from __future__ import annotations

import errno
import os
import socket

import pytest

from stockade.lsm.caps import cap_number
from stockade.lsm.types import MAY_EXEC, MAY_OPEN, MAY_READ, Object, ObjectKind, Request
from stockade.modules.apparmor import AppArmor
from stockade.policy import Loader
from stockade.policy.checker import check
from tests.apparmor.aa_helpers import fobj, stack, subject, task

CORPUS = "/etc/apparmor.d"
EXTRA = "/usr/share/apparmor/extra-profiles"
ALL_CAPS = (1 << 41) - 1

pytestmark = pytest.mark.skipif(not os.path.isdir(CORPUS), reason=f"{CORPUS} not present")


@pytest.fixture(scope="module")
def corpus() -> AppArmor:
    dirs = [CORPUS] + ([EXTRA] if os.path.isdir(EXTRA) else [])
    report = check(dirs, run_lint=False, loader=Loader())
    assert report.profiles, "the corpus compiled to no profile"
    aa = AppArmor()
    top = {id(p): p for _, p in report.profiles if "//" not in p.name}
    aa.replace_profile(list(top.values()))
    return aa


def test_every_profile_answers(corpus: AppArmor) -> None:
    st = stack(corpus)
    outcomes: dict[str, set[int]] = {"read": set(), "exec": set(), "cap": set()}
    names = corpus.policy.names()
    assert len(names) > 20
    for name in names:
        who = subject(name, uid=0, cap_effective=ALL_CAPS, cap_permitted=ALL_CAPS)
        requests = {
            "read": Request("file_open", who, fobj("/etc/passwd"), MAY_READ | MAY_OPEN),
            "exec": Request("bprm_check_security", who, fobj("/bin/sh"), MAY_EXEC),
            "cap": Request("capable", who, cap=cap_number("sys_admin")),
        }
        for what, req in requests.items():
            d = st.decide(req)
            assert d.errno in (0, errno.EACCES, errno.EPERM), (name, what, d)
            outcomes[what].add(d.errno)
            verdict = d.layers[-1]
            if verdict is not None and verdict.errno and not verdict.hard:
                assert "no rule allows" in verdict.reason or ":" in verdict.reason
        sock = Object(kind=ObjectKind.SOCKET, family=socket.AF_INET, sock_type=socket.SOCK_STREAM)
        st.decide(Request("socket_create", who, sock))
        st.decide(Request("task_kill", who, task(name), signal=15))
    # the corpus has profiles on both sides of each question
    assert outcomes["read"] == {0, errno.EACCES}
    assert errno.EPERM in outcomes["cap"] and 0 in outcomes["cap"]
    assert errno.EACCES in outcomes["exec"]


def test_corpus_attachments(corpus: AppArmor) -> None:
    attached = [p.attachment for p in corpus.policy.top if p.attachment and "*" not in p.attachment
                and "{" not in p.attachment and "@" not in p.attachment]
    assert attached
    for path in attached[:20]:
        name = corpus.find_attachment(path)
        assert name is not None and corpus.profile(name).attachment is not None
