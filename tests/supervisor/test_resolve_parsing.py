"""The supervisor's /proc path parsing (enforce/supervisor/resolve.py) means what the regular
expressions it replaced meant (a plain run does not import re): checked against them."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.enforce.supervisor import resolve

_FD_LINK = re.compile(rb"^/proc/(\d+)(?:/task/(\d+))?/fd/(\d+)$")
_PROC = r"^/proc/(\d+)(?:/|$)"
_PIECES = ["/", "proc", "/proc/", "task", "fd", "1", "12", "007", "", "x", "\n", "٣", "²",
           "-1", " ", "self", "//", "1\n", "\n\n"]
paths = st.lists(st.sampled_from(_PIECES), max_size=9).map("".join)


@settings(max_examples=1500, deadline=None)
@given(paths)
def test_fd_links_are_parsed_as_the_pattern(path: str) -> None:
    raw = path.encode("utf-8", "surrogateescape")
    m = _FD_LINK.match(raw)
    assert resolve._fd_link(raw) == (None if m is None else (int(m.group(1)), m.group(2)))


@settings(max_examples=1500, deadline=None)
@given(st.one_of(paths, st.text(alphabet=st.characters(exclude_categories=())).map(
    lambda t: "/proc/" + t)))
def test_proc_pids_are_parsed_as_the_pattern(where: str) -> None:
    m = re.match(_PROC, where)
    assert resolve.proc_pid(where) == (None if m is None else int(m.group(1)))


def test_examples() -> None:
    assert resolve._fd_link(b"/proc/12/task/13/fd/3") == (12, b"13")
    assert resolve._fd_link(b"/proc/12/fd/3\n") == (12, None)
    assert resolve._fd_link(b"/proc/12/fd/") is None and resolve._fd_link(b"/proc/x/fd/1") is None
    assert resolve.proc_pid("/proc/42") == 42 and resolve.proc_pid("/proc/42/mem") == 42
    assert resolve.proc_pid("/proc/self/mem") is None and resolve.proc_pid("/proc/4x") is None


def test_ptrace_guarded_proc_entries() -> None:
    """Which /proc entries an emulated open asks ptrace_access_check for, and of which task."""
    from stockade.enforce.supervisor.handlers.proc_open import ptrace_target

    assert ptrace_target("/proc/12/mem") == (12, 12, "mem")
    assert ptrace_target("/proc/12/task/13/maps") == (12, 13, "maps")
    assert ptrace_target("/proc/12/fd/3") == (12, 12, "fd")
    assert ptrace_target("/proc/12/fdinfo") == (12, 12, "fdinfo")
    assert ptrace_target("/proc/12/status") is None
    assert ptrace_target("/proc/12/task/13/status") is None
    assert ptrace_target("/proc/sys/kernel/core_pattern") is None
    assert ptrace_target("/proc/12") is None
    assert ptrace_target("/proc/\u00b2/mem") is None  # str.isdigit's other digits: no pid
