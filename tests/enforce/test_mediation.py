"""The mediation table against the running kernel's system calls, the baseline filter, the
supervisor's handlers, and docs/enforce.md."""

import ctypes
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stockade.enforce import defaults
from stockade.enforce import seccomp as sc
from stockade.enforce.mediation import kernel
from stockade.enforce.mediation.render import splice
from stockade.enforce.mediation.table import MEDIATION, Via
from stockade.enforce.supervisor.table import handlers_for

REPO = Path(__file__).resolve().parents[2]
x86_64_only = pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 table")


def test_every_system_call_of_the_kernel_has_a_mediator() -> None:
    table = kernel.native_syscalls()
    missing = sorted(set(table.values()) - set(MEDIATION))
    assert not missing, f"system calls without a named mediator: {missing}"
    # numbers the kernel implements that nobody has named (a kernel upgrade)
    assert kernel.probe_unnamed(set(table)) == []


def test_the_table_names_no_system_call_this_architecture_lacks() -> None:
    names = set(kernel.native_syscalls().values())
    assert sorted(set(MEDIATION) - names) == []


@x86_64_only
def test_the_filter_bound_is_one_above_the_highest_mediated_number() -> None:
    numbers = [sc.resolve_syscall(name) for name in MEDIATION]
    assert kernel.syscall_limit() == max(numbers) + 1


@x86_64_only
def test_numbers_above_the_bound_are_refused_by_the_filter() -> None:
    """A real child loads a filter bounded at getuid's number: getuid (102) gets ENOSYS,
    getpid (39) still works."""
    with sc.SeccompFilter(sc.ALLOW) as filt:
        prog = sc.BpfProgram(sc.guard_arch(filt.export_bpf(), sc.errno_action(errno.ENOSYS),
                                           limit=102))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            libc.prctl(38, 1, 0, 0, 0)  # no_new_privs
            prog.load()
            got_pid = libc.syscall(ctypes.c_long(39))
            got_uid = libc.syscall(ctypes.c_long(102))
            if got_pid > 0 and got_uid == -1 and ctypes.get_errno() == errno.ENOSYS:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_refused_by_the_baseline_means_an_unconditional_baseline_rule() -> None:
    plain = {r.syscall for r in defaults.baseline_seccomp_rules() if not r.conditions}
    for name, med in MEDIATION.items():
        if med.via is Via.REFUSED and "baseline seccomp" in med.detail:
            assert name in plain, name
    for name in plain:
        assert MEDIATION[name].via is Via.REFUSED, name


def test_every_supervisor_entry_has_a_handler() -> None:
    for name, med in MEDIATION.items():
        if med.via is Via.SUPERVISOR:
            assert name in handlers_for(None), name


def test_docs_table_is_in_sync() -> None:
    doc = (REPO / "docs" / "enforce.md").read_text(encoding="utf-8")
    assert splice(doc) == doc, "run scripts/gen_mediation_doc.py"
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_mediation_doc.py"),
                          "--check"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_compile_prints_the_table() -> None:
    res = subprocess.run([sys.executable, "-m", "stockade", "compile", "--syscalls",
                          "supervisor"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    names = {line.split()[0] for line in res.stdout.splitlines()}
    assert {"chmod", "setxattr", "utimensat"} <= names
    assert "read" not in names


def test_supervisor_entries_are_exactly_what_plain_run_routes() -> None:
    """The table's supervisor rows = the plan's hybrid user-notif rules + connect (which the
    session routes when the plan restricts writes)."""
    plan = defaults.adhoc_plan(rw=["/tmp"])
    notified = {r.syscall for r in plan.notify_rules()}
    table = {n for n, m in MEDIATION.items() if m.via is Via.SUPERVISOR}
    from stockade.enforce.plan.net import UNIX_PEER_SYSCALLS

    assert notified | {*UNIX_PEER_SYSCALLS, "sendto"} == table


def test_a_profile_plan_carries_the_hybrid_rules(tmp_path: Path) -> None:
    from stockade.enforce.plan.profile import compile_file

    prof = tmp_path / "p"
    prof.write_text("profile t {\n  /tmp/** rw,\n  network inet stream port=80,\n}\n")
    plan = compile_file(str(prof)).plan
    notified = {r.syscall for r in plan.notify_rules()}
    assert {"chmod", "fchownat", "utimensat", "setxattr", "getxattr", "listen"} <= notified
    mptcp = [r for r in plan.seccomp_rules if r.syscall == "socket"
             and r.action == sc.errno_action(errno.EPROTONOSUPPORT)]
    # per family: protocol >= 7 and 1..5 (seqpacket may already be refused by a type rule)
    assert len(mptcp) >= 12
