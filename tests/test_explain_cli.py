"""`stockade explain` end to end: real paths, real processes, exit codes and JSON."""

import json
import os
import subprocess
import sys
import time

import pytest

ROOT = os.geteuid() == 0


def explain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", "explain", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not os.path.exists("/etc/shadow"), reason="needs /etc/shadow")
def test_dac_denial_of_shadow_for_nobody_with_audit_line() -> None:
    out = explain("--json", "--as", "nobody", "read", "/etc/shadow")
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    assert data["decision"] == "deny" and data["errno"] == "EACCES"
    assert data["layers"][0]["module"] == "dac" and data["layers"][0]["verdict"] == "deny"
    assert any('module="dac"' in line and "/etc/shadow" in line for line in data["audit"])


def test_allowed_read_exits_zero() -> None:
    out = explain("--as", "nobody", "read", "/etc/hostname")
    assert out.returncode == 0, out.stderr
    assert "decision: allow" in out.stdout


def test_hypothetical_object_options() -> None:
    out = explain("--json", "--as", "nobody", "--owner", "nobody", "--mode", "600",
                  "read", "/etc/hostname")
    assert out.returncode == 0, out.stdout
    out = explain("--json", "--as", "nobody", "--owner", "root", "--mode", "600",
                  "read", "/etc/hostname")
    assert out.returncode == 1


@pytest.mark.skipif(not ROOT, reason="starts a process as nobody")
def test_yama_denies_attach_to_non_descendant_that_dac_allows() -> None:
    sleeper = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                "sleep", "30"])
    try:
        time.sleep(0.2)
        out = explain("--json", "--lsm", "capability,yama", "--yama-scope", "1", "--as", "nobody",
                      "ptrace", str(sleeper.pid))
        data = json.loads(out.stdout)
        verdicts = {layer["module"]: layer["verdict"] for layer in data["layers"]}
        assert verdicts["dac"] != "deny" and verdicts["capability"] != "deny"
        assert verdicts["yama"] == "deny" and out.returncode == 1
        out = explain("--json", "--lsm", "capability,yama", "--yama-scope", "0", "--as", "nobody",
                      "ptrace", str(sleeper.pid))
        assert out.returncode == 0
    finally:
        sleeper.kill()
        sleeper.wait()


def test_lockdown_refuses_unsigned_module(tmp_path) -> None:
    ko = tmp_path / "m.ko"
    ko.write_bytes(b"\x7fELF not a module")
    args = ["--json", "--lsm", "capability,lockdown", "--as", "root", "--loadpin-root", "/"]
    out = explain(*args, "--lockdown", "integrity", "load-module", str(ko))
    data = json.loads(out.stdout)
    assert out.returncode == 1 and data["layers"][-1]["module"] == "lockdown"
    assert "unsigned module loading" in data["audit"][0]
    signed = tmp_path / "s.ko"
    signed.write_bytes(b"\x7fELF" + b"~Module signature appended~\n")
    assert explain(*args, "--lockdown", "integrity", "load-module", str(signed)).returncode == 0


def test_usage_errors_exit_two_without_traceback() -> None:
    for args in (("frobnicate", "/etc"), ("connect", "not-a-peer"), ("read",),
                 ("--as", "no-such-user-xyz", "read", "/etc/hostname"), ("kill", "abc")):
        out = explain(*args)
        assert out.returncode == 2, args
        assert "Traceback" not in out.stderr, args


def test_dead_pid_is_a_clear_error() -> None:
    out = explain("kill", "999999")
    assert out.returncode == 2 and "no such process" in out.stderr
    assert "Traceback" not in out.stderr


def test_bind_privileged_port_needs_cap() -> None:
    out = explain("--json", "--as", "nobody", "bind", "127.0.0.1:80")
    data = json.loads(out.stdout)
    assert out.returncode == 1 and data["errno"] == "EACCES"
    assert explain("--as", "nobody", "bind", "127.0.0.1:8080").returncode == 0
