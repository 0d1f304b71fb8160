"""`explain` and `run --mode` take the module-stack flags from one definition and build the
same stack from them; explain uses the host's SELinux policy by default."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stockade.cli.explain import evaluate as _explain_eval
from stockade.cli.main import build_parser
from stockade.enforce.supervisor.setup import build
from stockade.modules.selinux.hostconfig import HostPolicy, host_policy

SHARED = ("--lsm", "--context", "--module-option", "--module-file")
MINI = Path(__file__).resolve().parents[1] / "selinux" / "data" / "mini.cil"
DEBIAN = "/etc/selinux/default/policy/policy.33"


def _actions(command: str) -> dict[str, object]:
    parser = build_parser([command])
    sub = next(a for a in parser._actions if a.dest == "command")
    return {opt: act for act in sub.choices[command]._actions for opt in act.option_strings}


def test_shared_flags_are_one_definition() -> None:
    run, explain = _actions("run"), _actions("explain")
    for flag in SHARED:
        a, b = run[flag], explain[flag]
        assert (type(a), a.dest, a.metavar, a.default, a.nargs) == \
               (type(b), b.dest, b.metavar, b.default, b.nargs), flag
        if flag != "--lsm":  # run's --lsm help says "for --mode"
            assert a.help == b.help, flag


def _config(tmp_path: Path, mode: str = "enforcing", policy: Path = MINI,
            name: str = "mini") -> Path:
    """A config naming `policy` as TYPE/policy/policy.33 beside it."""
    (tmp_path / name / "policy").mkdir(parents=True)
    shutil.copy(policy, tmp_path / name / "policy" / "policy.33")
    config = tmp_path / "config"
    config.write_text(f"# a comment\nSELINUX={mode}\nSELINUXTYPE={name}\n")
    return config


def _explain_args(*argv: str):
    parser = build_parser(["explain"])
    return parser.parse_args(["explain", *argv])


def test_same_flags_same_stack_in_run_and_explain(tmp_path: Path, monkeypatch) -> None:
    config = _config(tmp_path)
    monkeypatch.setenv("STOCKADE_SELINUX_CONFIG", str(config))
    found = host_policy()
    assert found is not None and found.path.endswith("mini/policy/policy.33") and found.enforcing
    flags = ("--lsm", "capability,yama,selinux", "--module-option", "yama.scope=2")
    conf = _explain_args(*flags, "read", "/etc/passwd")
    explained = _explain_eval.configure(conf)
    setup = build("enforce", "capability,yama,selinux", (), ["yama.scope=2"], host_policy=found)
    try:
        ran = setup.supervisor.stack
        names = [m.name for m in ran.modules]
        assert [m.name for m in explained.stack.modules if m.name != "dac"] == names
        for stack in (ran, explained.stack):
            assert stack.module("yama").scope == 2  # type: ignore[attr-defined]
            selinux = stack.module("selinux")
            assert selinux.policy_paths == [found.path]  # type: ignore[attr-defined]
            assert selinux.mode.value == "enforce"
    finally:
        setup.close()
    assert explained.host_policy == found


def test_permissive_host_policy_complains(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STOCKADE_SELINUX_CONFIG", str(_config(tmp_path, "permissive")))
    conf = _explain_eval.configure(_explain_args("--lsm", "capability,selinux", "read", "/"))
    assert conf.stack.module("selinux").mode.value == "complain"
    # an explicit policy option wins over the host's
    conf = _explain_eval.configure(_explain_args(
        "--lsm", "capability,selinux", "--module-option",
        f'selinux.policy_paths=["{MINI}"]', "read", "/"))
    assert conf.host_policy is None and conf.stack.module("selinux").mode.value == "enforce"


@pytest.mark.parametrize(("text", "files", "expected"), [
    ("SELINUX=disabled\nSELINUXTYPE=t\n", ["policy.33"], None),
    ("SELINUX=enforcing\nSELINUXTYPE=t\n", [], None),
    ("SELINUX=enforcing\nSELINUXTYPE=../t\n", ["policy.33"], None),
    ("SELINUX=permissive\nSELINUXTYPE=t\n", ["policy.31", "policy.33", "policy.x"], "policy.33"),
    ('SELINUX="enforcing"\nSELINUXTYPE=t\n', ["policy.30"], "policy.30"),
])
def test_host_policy_from_config(tmp_path: Path, text, files, expected) -> None:
    (tmp_path / "t" / "policy").mkdir(parents=True)
    for name in files:
        (tmp_path / "t" / "policy" / name).write_text("x")
    (tmp_path / "config").write_text(text)
    found = host_policy(str(tmp_path / "config"))
    if expected is None:
        assert found is None
    else:
        assert isinstance(found, HostPolicy) and found.path.endswith(f"/t/policy/{expected}")
    assert host_policy(str(tmp_path / "missing")) is None


def stockade(*argv: str, config: Path | str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STOCKADE_SELINUX_CONFIG=str(config))
    return subprocess.run([sys.executable, "-m", "stockade", *argv], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.mark.skipif(not os.path.exists(DEBIAN), reason="selinux-policy-default not installed")
def test_explain_uses_the_host_policy_by_default(tmp_path: Path) -> None:
    config = _config(tmp_path, "enforcing", Path(DEBIAN), "default")
    out = stockade("explain", "--json", "--context", "selinux=system_u:system_r:sshd_t:s0",
                   "read", "/etc/passwd", config=config)
    answer = json.loads(out.stdout)
    assert answer["host_policy"] == {"name": "default", "enforcing": True,
                                     "path": str(tmp_path / "default/policy/policy.33")}
    selinux = [row for row in answer["layers"] if row["module"] == "selinux"]
    assert selinux and selinux[0]["verdict"] == "deny"  # /etc/passwd carries no label here
    assert out.returncode == 1 and answer["decided_by"] == "selinux"
    # one line for people says which policy; --no-host-policy leaves it out
    out = stockade("explain", "read", "/etc/passwd", config=config)
    assert "policy: host SELinux policy default" in out.stdout and out.returncode == 1
    out = stockade("explain", "--no-host-policy", "--json", "read", "/etc/passwd", config=config)
    answer = json.loads(out.stdout)
    assert out.returncode == 0 and answer["host_policy"] is None
    assert all(row["module"] != "selinux" for row in answer["layers"])


def test_profile_leaves_the_host_policy_out_and_says_so(tmp_path: Path) -> None:
    config = _config(tmp_path)
    profile = tmp_path / "p.profile"
    profile.write_text("profile p {\n  /etc/** r,\n}\n")
    out = stockade("explain", "--profile", str(profile), "read", "/etc/passwd", config=config)
    assert out.returncode == 0, out.stderr
    assert "not used: --profile makes apparmor the major module" in out.stdout


def test_run_mode_names_the_host_policy_it_uses(tmp_path: Path) -> None:
    """`run --mode --lsm ...,selinux` without a policy takes the host's and says so."""
    config = _config(tmp_path, "permissive")
    out = stockade("run", "--mode", "complain", "--lsm", "capability,selinux", "--rx", "/usr",
                   "--", "/bin/true", config=config)
    assert out.returncode == 0, out.stderr
    assert "note: selinux uses the host SELinux policy mini" in out.stderr
    out = stockade("run", "--mode", "complain", "--lsm", "capability,selinux", "--rx", "/usr",
                   "--", "/bin/true", config="/nonexistent")
    assert out.returncode == 125 and "needs a policy" in out.stderr
