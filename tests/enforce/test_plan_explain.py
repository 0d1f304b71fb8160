"""The plan's kernel layers for one request (`plan_explain`), and `stockade explain --profile`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stockade.enforce.landlock import AccessFs
from stockade.enforce.plan.explain import PlanRow, explain_plan
from stockade.enforce.plan.profile import compile_plan
from stockade.enforce.plan.types import EnforcementPlan, FsRule
from stockade.lsm import operations as ops
from stockade.lsm.caps import CAP_NET_RAW, CAP_SYS_PTRACE
from stockade.lsm.probe import file_object, subject_from_pid, task_object
from stockade.lsm.types import Request, Subject
from stockade.policy import compile_profiles

SUBJECT: Subject = subject_from_pid(os.getpid())


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "t"
    (root / "data" / "sub").mkdir(parents=True)
    (root / "data" / "secret").mkdir()
    (root / "data" / "a.txt").write_text("a")
    (root / "data" / "sub" / "b.txt").write_text("b")
    (root / "data" / "secret" / "s.txt").write_text("s")
    (root / "out.log").write_text("")
    (root / "other").mkdir()
    return root


def plan_for(tmp_path: Path, body: str) -> EnforcementPlan:
    path = tmp_path / "p.aa"
    path.write_text(f"profile t {{\n{body}\n}}\n")
    return compile_plan(compile_profiles(str(path))[0], abi=7).plan


def rows(plan: EnforcementPlan, req: Request) -> dict[str, PlanRow]:
    return {r.layer: r for r in explain_plan(plan, req, abi=7)}


def first(requests: list[Request]) -> Request:
    return requests[0]


def read(path: Path | str) -> Request:
    return first(ops.file_requests("read", SUBJECT, file_object(str(path))))


def test_tree_readable_file_writable_and_deny_inside(tmp_path: Path, tree: Path) -> None:
    (tree / "logs").mkdir(exist_ok=True)
    (tree / "logs" / "out.log").touch()
    plan = plan_for(tmp_path, f"{tree}/data/** r,\ndeny {tree}/data/secret/** r,\n"
                              f"{tree}/logs/out.log w,")
    ok = rows(plan, read(tree / "data" / "sub" / "b.txt"))["landlock"]
    assert ok.verdict == "allow" and ok.errno is None and "read_file" in ok.reason
    assert ok.rule  # names the granting rule
    listing = rows(plan, read(tree / "data" / "sub"))["landlock"]
    assert listing.verdict == "allow" and "read_dir" in listing.reason
    secret = rows(plan, read(tree / "data" / "secret" / "s.txt"))["landlock"]
    assert (secret.verdict, secret.errno) == ("deny", "EACCES")
    outside = rows(plan, read(tree / "other"))["landlock"]
    assert outside.verdict == "deny" and "no rule covers it" in outside.reason
    log = tree / "logs" / "out.log"  # w: granted through logs/ (it may be replaced)
    write = first(ops.file_requests("write", SUBJECT, file_object(str(log))))
    assert rows(plan, write)["landlock"].verdict == "allow"
    assert rows(plan, read(log))["landlock"].verdict == "deny"  # w only
    write_ro = first(ops.file_requests("write", SUBJECT, file_object(str(tree / "data/a.txt"))))
    assert rows(plan, write_ro)["landlock"].errno == "EACCES"
    create = first(ops.file_requests("create", SUBJECT, file_object(str(tree / "data/new"))))
    made = rows(plan, create)["landlock"]
    assert made.verdict == "deny" and "make_reg" in made.reason and str(tree / "data") in made.reason
    assert rows(plan, read(tree / "data" / "a.txt"))["seccomp"].verdict == "allow"


def test_rights_add_up_across_ancestors_and_unhandled_rights_pass(tree: Path) -> None:
    data = str(tree / "data")
    plan = EnforcementPlan(fs_rules=[FsRule(data, AccessFs.READ_FILE),
                                     FsRule(f"{data}/sub", AccessFs.MAKE_REG | AccessFs.EXECUTE)],
                           handled_fs=AccessFs.READ_FILE | AccessFs.MAKE_REG | AccessFs.REMOVE_FILE
                           | AccessFs.EXECUTE)
    exe = ops.file_requests("exec", SUBJECT, file_object(f"{data}/sub/b.txt"))
    assert [rows(plan, r)["landlock"].verdict for r in exe] == ["allow", "allow"]
    assert rows(plan, exe[0])["seccomp"].reason.startswith("execve")
    assert rows(plan, first(ops.file_requests("exec", SUBJECT, file_object(f"{data}/a.txt"))))[
        "landlock"].verdict == "deny"  # execute only beneath sub
    mkdir = first(ops.file_requests("mkdir", SUBJECT, file_object(f"{data}/newdir")))
    row = rows(plan, mkdir)["landlock"]
    assert row.verdict == "allow" and "not handled" in row.reason
    unlink = first(ops.file_requests("unlink", SUBJECT, file_object(f"{data}/a.txt")))
    assert rows(plan, unlink)["landlock"].verdict == "deny"
    # rename from sub (make_reg there) to data: remove_file is missing on sub
    ren = first(ops.file_requests("rename", SUBJECT, file_object(f"{data}/sub/b.txt"),
                                  target=file_object(f"{data}/c.txt", follow=False)))
    assert rows(plan, ren)["landlock"].verdict == "deny"


def test_rename_across_directories_needs_refer(tree: Path) -> None:
    data = str(tree / "data")
    rw = AccessFs.REMOVE_FILE | AccessFs.MAKE_REG
    plan = EnforcementPlan(fs_rules=[FsRule(f"{data}/sub", rw), FsRule(f"{data}/secret", rw)],
                           handled_fs=rw | AccessFs.REFER)
    ren = first(ops.file_requests("rename", SUBJECT, file_object(f"{data}/sub/b.txt"),
                                  target=file_object(f"{data}/secret/b.txt", follow=False)))
    row = rows(plan, ren)["landlock"]
    assert (row.verdict, row.errno) == ("deny", "EXDEV") and "refer" in row.reason
    same = first(ops.file_requests("rename", SUBJECT, file_object(f"{data}/sub/b.txt"),
                                   target=file_object(f"{data}/sub/c.txt", follow=False)))
    assert rows(plan, same)["landlock"].verdict == "allow"
    granted = EnforcementPlan(
        fs_rules=[FsRule(f"{data}/sub", rw | AccessFs.REFER),
                  FsRule(f"{data}/secret", rw | AccessFs.REFER)], handled_fs=rw | AccessFs.REFER)
    assert rows(granted, ren)["landlock"].verdict == "allow"


def test_network_ports_and_families(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, "network inet stream peer=(port=443),")
    ok = ops.net_requests("connect", SUBJECT, ops.parse_peer("127.0.0.1:443"))
    assert rows(plan, ok[0])["seccomp"].verdict == "allow"
    granted = rows(plan, ok[1])["landlock"]
    assert granted.verdict == "allow" and "443" in granted.rule
    bad = ops.net_requests("connect", SUBJECT, ops.parse_peer("127.0.0.1:80"))
    denied = rows(plan, bad[1])["landlock"]
    assert (denied.verdict, denied.errno) == ("deny", "EACCES") and "443" in denied.reason
    v6 = ops.net_requests("connect", SUBJECT, ops.parse_peer("[::1]:443"))
    assert rows(plan, v6[0])["seccomp"].errno == "EAFNOSUPPORT"  # inet only

    closed = plan_for(tmp_path, "/tmp/** r,")
    sock = rows(closed, ok[0])["seccomp"]
    assert (sock.verdict, sock.errno) == ("deny", "EAFNOSUPPORT") and sock.reason.startswith("socket")
    assert rows(closed, ok[1])["landlock"].verdict == "deny"


def test_ptrace_kill_chmod_and_capabilities(tmp_path: Path, tree: Path) -> None:
    plan = plan_for(tmp_path, f"{tree}/** rw,\ncapability net_raw,")
    trace = rows(plan, first(ops.task_requests("ptrace", SUBJECT, task_object(1))))
    assert (trace["seccomp"].verdict, trace["seccomp"].errno) == ("deny", "EPERM")
    assert trace["seccomp"].rule.startswith("ptrace")
    assert trace["landlock"].verdict == "deny" and "outside the sandbox" in trace["landlock"].reason
    kill = rows(plan, first(ops.task_requests("kill", SUBJECT, task_object(1))))
    assert kill["landlock"].errno == "EPERM" and kill["seccomp"].verdict == "allow"
    obj = file_object(str(tree / "out.log"))
    setuid = rows(plan, first(ops.file_requests("chmod", SUBJECT, obj, new_mode=0o4755)))
    assert setuid["landlock"].verdict == "n/a" and "set-id" in setuid["landlock"].reason
    assert (setuid["seccomp"].verdict, setuid["seccomp"].errno) == ("deny", "EPERM")
    plain = rows(plan, first(ops.file_requests("chmod", SUBJECT, obj, new_mode=0o644)))
    assert plain["seccomp"].verdict == "allow"
    kept = explain_plan(plan, Request("capable", SUBJECT, cap=CAP_NET_RAW), abi=7)
    dropped = explain_plan(plan, Request("capable", SUBJECT, cap=CAP_SYS_PTRACE), abi=7)
    assert [(r.layer, r.verdict) for r in kept] == [("capabilities", "allow")]
    assert dropped[0].verdict == "deny" and "CAP_NET_RAW" in dropped[0].reason
    module = rows(plan, ops.file_requests("load-module", SUBJECT, obj)[1])["seccomp"]
    assert module.verdict == "deny" and "finit_module" in module.reason
    allowed = plan_for(tmp_path, "ptrace (trace) peer=t,")
    assert rows(allowed, first(ops.task_requests("ptrace", SUBJECT, task_object(1))))[
        "seccomp"].verdict == "allow"


def test_without_landlock_the_layer_is_not_applicable(tmp_path: Path, tree: Path) -> None:
    plan = plan_for(tmp_path, f"{tree}/data/** r,")
    row = {r.layer: r for r in explain_plan(plan, read("/etc/hostname"), abi=0)}["landlock"]
    assert row.verdict == "n/a" and "no Landlock" in row.reason


def explain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", "explain", *args],
                          capture_output=True, text=True, timeout=60)


def plan_layers(out: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    data = json.loads(out.stdout)
    return {layer["module"]: layer for layer in data["layers"] if layer.get("plan")}


def test_cli_explain_profile_shows_plan_rows(tmp_path: Path, tree: Path) -> None:
    prof = tmp_path / "p.aa"
    prof.write_text(f"profile t {{\n  {tree}/data/** r,\n}}\n")
    inside = explain("--profile", str(prof), "--json", "read", str(tree / "data" / "a.txt"))
    assert inside.returncode == 0, inside.stderr
    layers = plan_layers(inside)
    assert layers["plan:landlock"]["verdict"] == "allow" and layers["plan:landlock"]["profile"] == "t"
    assert layers["plan:seccomp"]["verdict"] == "allow"
    outside = explain("--profile", str(prof), "--json", "read", str(tree / "out.log"))
    assert outside.returncode == 1  # the enforced outcome: the plan refuses it
    assert json.loads(outside.stdout)["decided_by"] == "plan:landlock"
    row = plan_layers(outside)["plan:landlock"]
    assert (row["verdict"], row["errno"]) == ("deny", "EACCES")
    assert row["hook"] == "file_open" and str(tree / "out.log") in row["reason"]
    text = explain("--profile", str(prof), "read", str(tree / "out.log"))
    assert "plan:landlock" in text.stdout and "decision: deny (EACCES) by plan:landlock" in text.stdout
    plain = explain("--json", "read", str(tree / "out.log"))
    assert not plan_layers(plain)


def test_explain_verdict_is_the_enforced_outcome(tmp_path: Path, tree: Path) -> None:
    """explain's decision and exit status are what `run -p` enforces: where the plan is wider
    than the profile, allow (the apparmor row still says what the profile means); where it
    refuses, deny by plan:landlock."""
    (tree / "empty").mkdir()
    prof = tmp_path / "p.aa"
    # `other/x w` names an existing file: granted through other/ (replaceable), so creating
    # a sibling is allowed by run although AppArmor itself would refuse it
    (tree / "other" / "x").write_text("")
    prof.write_text(f"profile t {{\n  {tree}/data/** r,\n  {tree}/other/x w,\n}}\n")
    wider = explain("--profile", str(prof), "--json", "create", str(tree / "other" / "y"))
    data = json.loads(wider.stdout)
    aa = next(la for la in data["layers"] if la["module"] == "apparmor")
    assert aa["verdict"] == "deny"  # what the profile means...
    assert wider.returncode == 0 and data["decision"] == "allow"  # ...and what run enforces
    narrower = explain("--profile", str(prof), "--json", "create", str(tree / "empty" / "n"))
    assert narrower.returncode == 1 and json.loads(narrower.stdout)["decided_by"] == "plan:landlock"
