"""capability, yama, lockdown and loadpin with their kernels' semantics."""

import errno
import os

import pytest

from stockade.errors import StockadeError
from stockade.lsm.caps import ALL_CAPS, CAP_SYS_ADMIN, CAP_SYS_PTRACE, caps_mask
from stockade.lsm.types import (
    PTRACE_MODE_ATTACH,
    PTRACE_MODE_READ,
    PTRACE_MODE_REALCREDS,
    Object,
    ObjectKind,
    Request,
    Subject,
)
from stockade.modules.lockdown import REASONS, Lockdown, reason_level
from stockade.modules.registry import build_stack

ATTACH = PTRACE_MODE_ATTACH | PTRACE_MODE_REALCREDS


def subj(pid: int = 100, caps: int = 0, ancestors: tuple[int, ...] = (1,), uid: int = 1000,
         ptracer: int | None = None, comm: str = "proc") -> Subject:
    return Subject(pid=pid, comm=comm, uid=uid, euid=uid, suid=uid, fsuid=uid, gid=uid,
                   egid=uid, sgid=uid, fsgid=uid, cap_effective=caps, cap_permitted=caps,
                   ancestors=ancestors, ptracer=ptracer)


def task(s: Subject) -> Object:
    return Object(kind=ObjectKind.TASK, path=f"/proc/{s.pid}", task=s)


def ptrace(stack, tracer: Subject, target: Subject, mode: int = ATTACH):
    return stack.decide(Request("ptrace_access_check", tracer, task(target), flags=mode))


# -- capability ------------------------------------------------------------------------------

def test_capable_checks_the_effective_set() -> None:
    stack = build_stack("capability", dac=False)
    assert stack.decide(Request("capable", subj(caps=1 << CAP_SYS_ADMIN), cap=CAP_SYS_ADMIN)).allowed
    d = stack.decide(Request("capable", subj(caps=0), cap=CAP_SYS_ADMIN))
    assert d.errno == errno.EPERM and "CAP_SYS_ADMIN" in d.decider.reason


def test_commoncap_ptrace_needs_tracer_to_cover_target_permitted_set() -> None:
    stack = build_stack("capability", dac=False)
    tracer = subj(pid=10, caps=caps_mask(["kill"]))
    target = subj(pid=11, caps=caps_mask(["kill", "net_admin"]), ancestors=(10, 1))
    d = ptrace(stack, tracer, target)
    assert d.errno == errno.EPERM and "net_admin" in d.decider.reason
    assert ptrace(stack, subj(pid=10, caps=ALL_CAPS), target).allowed
    # CAP_SYS_PTRACE overrides the subset rule
    assert ptrace(stack, subj(pid=10, caps=1 << CAP_SYS_PTRACE), target).allowed


def test_security_xattrs_need_sys_admin() -> None:
    stack = build_stack("capability", dac=False)
    f = Object(kind=ObjectKind.FILE, path="/tmp/x")
    r = Request("inode_setxattr", subj(), f, what="security.selinux")
    assert stack.decide(r).errno == errno.EPERM
    assert stack.decide(Request("inode_setxattr", subj(), f, what="user.note")).allowed


# -- yama --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("scope", "child", "stranger", "with_cap"), [
    (0, True, True, True),
    (1, True, False, True),
    (2, False, False, True),
    (3, False, False, False),
])
def test_yama_scopes(scope: int, child: bool, stranger: bool, with_cap: bool) -> None:
    stack = build_stack("capability,yama", settings={"yama": {"scope": scope}}, dac=False)
    tracer = subj(pid=500, ancestors=(400, 1))
    descendant = subj(pid=600, ancestors=(550, 500, 400, 1))
    other = subj(pid=700, ancestors=(1,))
    assert ptrace(stack, tracer, descendant).allowed is child
    assert ptrace(stack, tracer, other).allowed is stranger
    admin = subj(pid=500, ancestors=(400, 1), caps=ALL_CAPS)
    assert ptrace(stack, admin, other).allowed is with_cap


def test_yama_pr_set_ptracer_exception_and_read_mode() -> None:
    stack = build_stack("capability,yama", settings={"yama": {"scope": 1}}, dac=False)
    tracer = subj(pid=500, ancestors=(1,))
    crash_target = subj(pid=700, ancestors=(1,), ptracer=500)
    assert ptrace(stack, tracer, crash_target).allowed
    # the declared ptracer's descendants are allowed too
    assert ptrace(stack, subj(pid=501, ancestors=(500, 1)), crash_target).allowed
    anyone = subj(pid=701, ancestors=(1,), ptracer=-1)
    assert ptrace(stack, tracer, anyone).allowed
    # PTRACE_MODE_READ (/proc/PID/... reads) is not Yama's business
    assert ptrace(stack, tracer, subj(pid=702), PTRACE_MODE_READ | PTRACE_MODE_REALCREDS).allowed


def test_yama_denial_is_not_cached_and_names_scope() -> None:
    stack = build_stack("capability,yama", settings={"yama": {"scope": 1}}, dac=False)
    d = ptrace(stack, subj(pid=500), subj(pid=700))
    assert d.errno == errno.EPERM and d.decider.module == "yama"
    assert "ptrace_scope=1" in d.decider.reason
    ptrace(stack, subj(pid=500), subj(pid=700))
    assert stack.avc.stats().hits == 0


def test_yama_descendant_allow_is_not_cached() -> None:
    # the seccomp baseline refuses ptrace under `run`, so no live child reaches this hook
    stack = build_stack("capability,yama", settings={"yama": {"scope": 1}}, dac=False)
    parent, child = subj(pid=500, ancestors=(1,)), subj(pid=600, ancestors=(500, 1))
    stranger = subj(pid=501, ancestors=(1,))
    assert ptrace(stack, parent, child).allowed
    # same credentials on both sides (the same AVC key), but not its descendant
    assert ptrace(stack, stranger, subj(pid=601, ancestors=(500, 1))).errno == errno.EPERM
    named = subj(pid=602, ancestors=(1,), ptracer=501)
    assert ptrace(stack, stranger, named).allowed
    assert ptrace(stack, parent, named).errno == errno.EPERM


def test_yama_traceme() -> None:
    stack = build_stack("capability,yama", settings={"yama": {"scope": 2}}, dac=False)
    parent = subj(pid=1, caps=0)
    r = Request("ptrace_traceme", subj(pid=5), task(parent))
    assert stack.decide(r).errno == errno.EPERM
    r = Request("ptrace_traceme", subj(pid=5), task(subj(pid=1, caps=ALL_CAPS)))
    assert stack.decide(r).allowed


# -- lockdown ----------------------------------------------------------------------------------

def test_lockdown_levels() -> None:
    def decide(level: str, reason: str) -> int:
        stack = build_stack("capability,lockdown", settings={"lockdown": {"level": level}},
                            dac=False)
        return stack.decide(Request("locked_down", subj(caps=ALL_CAPS), what=reason)).errno

    assert decide("none", "dev_mem") == 0
    assert decide("integrity", "dev_mem") == errno.EPERM
    assert decide("integrity", "module_signature") == errno.EPERM
    assert decide("integrity", "kcore") == 0  # confidentiality-only
    assert decide("confidentiality", "kcore") == errno.EPERM
    assert decide("confidentiality", "xfrm_secret") == errno.EPERM
    assert reason_level("debugfs") == "integrity"
    assert reason_level("tracefs") == "confidentiality"
    assert len(REASONS) == 30


def test_lockdown_rejects_unknown_level() -> None:
    with pytest.raises(StockadeError, match="unknown lockdown level"):
        Lockdown(level="paranoid")


# -- loadpin -----------------------------------------------------------------------------------

def test_loadpin_first_load_pins_then_other_filesystems_are_denied() -> None:
    stack = build_stack("capability,loadpin", dac=False)
    root = subj(caps=ALL_CAPS)
    here = Object(kind=ObjectKind.FILE, path="/lib/modules/a.ko", dev=0x801)
    there = Object(kind=ObjectKind.FILE, path="/tmp/evil.ko", dev=0x802)
    first = stack.decide(Request("kernel_read_file", root, here, what="kernel-module"))
    assert first.allowed
    assert stack.module("loadpin").pinned_dev == 0x801
    d = stack.decide(Request("kernel_read_file", root, there, what="kernel-module"))
    assert d.errno == errno.EPERM and d.decider.module == "loadpin"
    assert stack.decide(Request("kernel_read_file", root, here, what="kernel-module")).allowed
    # init_module(2) from a buffer has no file to check
    assert stack.decide(Request("kernel_load_data", root, what="kernel-module")).errno == errno.EPERM


def test_loadpin_exclusions_and_permissive() -> None:
    stack = build_stack("capability,loadpin", dac=False,
                        settings={"loadpin": {"pinned_dev": 1, "exclude": frozenset({"firmware"})}})
    fw = Object(kind=ObjectKind.FILE, path="/tmp/fw.bin", dev=2)
    assert stack.decide(Request("kernel_read_file", subj(), fw, what="firmware")).allowed
    lax = build_stack("capability,loadpin", dac=False,
                      settings={"loadpin": {"pinned_dev": 1, "enforce": False}})
    d = lax.decide(Request("kernel_read_file", subj(), fw, what="kernel-module"))
    assert d.allowed and d.layers[-1] is not None and "not the pinned" in d.layers[-1].reason


def test_loadpin_pinned_to_real_path() -> None:
    from stockade.modules.loadpin import LoadPin
    assert LoadPin.pinned_to("/").pinned_dev == os.stat("/").st_dev
