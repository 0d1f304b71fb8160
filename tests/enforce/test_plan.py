"""EnforcementPlan, its merging, and the coverage report on this and on older kernels."""

import errno

import pytest

from stockade.enforce import defaults, prepare
from stockade.enforce import landlock as ll
from stockade.enforce.plan.types import (
    CoverageReport,
    CoverageStatus,
    EnforcementPlan,
    FsRule,
    NetRule,
    SeccompRule,
)
from stockade.enforce.seccomp import ALLOW, NOTIFY, errno_action
from stockade.errors import StockadeError, UnsupportedError
from stockade.slotted import replace


def test_no_new_privs_is_always_on():
    with pytest.raises(ValueError):
        EnforcementPlan(no_new_privs=False)
    with pytest.raises(ValueError):
        EnforcementPlan(net_rules=[NetRule(70000, ll.AccessNet.BIND_TCP)])


def test_adhoc_flags_add_to_a_profile_plan():
    profile = EnforcementPlan(
        name="web", fs_rules=[FsRule("/srv", defaults.READ, "profile:3")],
        handled_fs=ll.AccessFs.READ_FILE, seccomp_default=errno_action(errno.EPERM),
        seccomp_rules=[SeccompRule("read", ALLOW, reason="allow-list")])
    adhoc = defaults.adhoc_plan(ro=["/etc"], connect_tcp=[443], clear_env=True)
    merged = profile.merged(adhoc)
    assert [r.path for r in merged.fs_rules] == ["/srv", "/etc"]
    assert merged.handled_fs == ll.ALL_FS
    assert [r.port for r in merged.net_rules] == [443]
    assert merged.seccomp_default == errno_action(errno.EPERM)  # the allow-list stays
    assert merged.seccomp_rules[0].syscall == "read"
    assert len(merged.seccomp_rules) == 1 + len(adhoc.seccomp_rules)
    assert merged.clear_env and merged.name == "web"
    assert merged.to_json()["landlock"]["net_rules"][0]["port"] == 443


def test_every_rule_exact_on_this_kernel():
    if ll.abi_version() < 7:
        pytest.skip("needs Landlock ABI 7")
    plan = defaults.adhoc_plan(ro=["/etc"], rx=["/usr"], connect_tcp=[443])
    with prepare.prepare(plan, strict=True, supervised=True) as prep:  # as `stockade run`
        assert prep.coverage.exact
        assert prep.ruleset_fd >= 0 and prep.bpf is not None
        assert prep.restrict_flags == ll.RestrictFlag.LOG_NEW_EXEC_ON


def _old_kernel(monkeypatch, abi: int) -> None:
    monkeypatch.setattr(ll, "_status_cache", ll.LandlockStatus(abi, 0))


def test_best_effort_reports_what_an_abi_3_kernel_lacks(monkeypatch):
    _old_kernel(monkeypatch, 3)
    plan = defaults.adhoc_plan(ro=["/etc"], connect_tcp=[443])
    with prepare.prepare(plan) as prep:
        weak = {e.rule: e for e in prep.coverage.weakened()}
        assert weak["deny fs.ioctl_dev not granted"].enforced_by == \
            "Landlock ABI 5 (Linux 6.10)"
        tcp = weak["deny TCP bind/connect on ports not granted"]
        assert tcp.status is CoverageStatus.NOT_ENFORCED
        assert tcp.line() == ("not-enforced: deny TCP bind/connect on ports not granted: this "
                              "kernel has Landlock ABI 3; needs Landlock ABI 4 (Linux 6.7)")
        assert "scope signal to the sandbox" in weak
        assert any("ABI 7" in n for n in prep.notes)  # log flags dropped: a note
        assert prep.ruleset_fd >= 0  # the rest is still enforced


def test_strict_refuses_on_an_old_kernel(monkeypatch):
    _old_kernel(monkeypatch, 3)
    with pytest.raises(UnsupportedError, match=r"--strict: not-enforced: .*ABI 5 \(Linux 6\.10\)"):
        prepare.prepare(defaults.adhoc_plan(ro=["/etc"]), strict=True)


def test_abi_1_refer_is_stricter_not_weaker(monkeypatch):
    _old_kernel(monkeypatch, 1)
    with prepare.prepare(defaults.adhoc_plan(rw=["/tmp"])) as prep:
        refer = [e for e in prep.coverage.entries if "fs.refer" in e.rule]
        assert refer[0].status is CoverageStatus.APPROXIMATED


def test_no_landlock_at_all(monkeypatch):
    monkeypatch.setattr(ll, "_status_cache", ll.LandlockStatus(0, 0, "disabled at boot"))
    with prepare.prepare(defaults.adhoc_plan(ro=["/etc"])) as prep:
        assert prep.ruleset_fd == -1
        assert prep.coverage.weakened()[0].detail == "disabled at boot"
        assert prep.bpf is not None  # seccomp still applies


def test_notify_rules_are_denied_until_the_supervisor_exists():
    plan = replace(defaults.baseline_plan(),
                               seccomp_rules=[SeccompRule("mkdir", NOTIFY, reason="ask")])
    with prepare.prepare(plan) as prep:
        entry = next(e for e in prep.coverage.entries if e.rule.startswith("mkdir"))
        assert entry.status is CoverageStatus.APPROXIMATED and "EPERM" in entry.detail


def test_missing_path_is_a_clear_error():
    with pytest.raises(StockadeError, match=r"--ro /nonexistent/x: No such file or directory"):
        prepare.prepare(defaults.adhoc_plan(ro=["/nonexistent/x"]))


def test_unknown_syscall_is_a_clear_error():
    plan = EnforcementPlan(seccomp_rules=[SeccompRule("no_such_call", errno_action(1),
                                                      source="p:1")])
    with pytest.raises(StockadeError, match="unknown system call 'no_such_call' in p:1"):
        prepare.prepare(plan)


def test_clear_env():
    plan = defaults.adhoc_plan(clear_env=True)
    plan.env_set["EXTRA"] = "1"
    with prepare.prepare(plan, environ={"PATH": "/usr/bin", "SECRET": "x"}) as prep:
        assert prep.env == {"PATH": "/usr/bin", "EXTRA": "1"}


def test_coverage_report_json():
    rep = CoverageReport()
    rep.add("r", CoverageStatus.SUPERVISOR, "d", source="s", enforced_by="e")
    assert rep.to_json() == [{"rule": "r", "source": "s", "status": "supervisor",
                              "detail": "d", "enforced_by": "e"}]
    assert not rep.exact


def test_allow_list_without_execve_is_refused():
    plan = EnforcementPlan(seccomp_default=errno_action(errno.EPERM),
                           seccomp_rules=[SeccompRule("read", ALLOW)])
    with pytest.raises(StockadeError, match="does not allow execve"):
        prepare.prepare(plan)


def test_allow_list_plan_runs_a_real_program():
    """An allow-list (default EPERM) that a compiler could emit: /bin/true still runs."""
    import os

    from confine_helpers import confined

    needed = ["execve", "brk", "mmap", "munmap", "mprotect", "arch_prctl", "access", "openat",
              "newfstatat", "fstat", "read", "pread64", "close", "exit_group", "set_tid_address",
              "set_robust_list", "rseq", "prlimit64", "getrandom", "write"]
    plan = EnforcementPlan(seccomp_default=errno_action(errno.EPERM),
                           fs_rules=[FsRule("/usr", defaults.READ_EXEC)],
                           seccomp_rules=[SeccompRule(s, ALLOW) for s in needed])
    if os.uname().machine != "x86_64":
        pytest.skip("x86_64 system call names")
    assert confined(plan, ["/bin/true"]).status == 0
    assert confined(plan, ["/bin/sh", "-c", "exit 5"]).status == 5
    forks = confined(plan, ["/bin/sh", "-c", "/bin/true; exit 5"])  # clone not allowed
    assert forks.status == 2 and "Cannot fork" in forks.err
