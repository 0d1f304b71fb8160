"""`stockade check --format tomoyo` against tomoyo-checkpolicy (Debian's tomoyo-tools 2.6):
the same accept/reject verdict on thousands of generated lines, the init_policy policy clean,
every bad line reported with file:line:col."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tomoyo_gen_lines import domain_lines, exception_lines

from stockade.modules.tomoyo.policy import load_files
from stockade.modules.tomoyo.syntax import LineError, parse_domain_line, parse_exception_line
from stockade.modules.tomoyo.words import normalize_line

CHECKPOLICY = shutil.which("tomoyo-checkpolicy") or "/usr/sbin/tomoyo-checkpolicy"
INIT_POLICY = "/usr/lib/tomoyo/init_policy"
needs_tools = pytest.mark.skipif(not Path(CHECKPOLICY).exists(),
                                 reason="tomoyo-tools is not installed")


def tool_rejects(kind: str, lines: list[str]) -> set[int]:
    """Line numbers tomoyo-checkpolicy reports an ERROR for (one run for all lines)."""
    out = subprocess.run([CHECKPOLICY, kind], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, check=False).stdout
    bad = set()
    for line in out.splitlines():
        number, _, rest = line.partition(": ")
        if number.isdigit() and rest.startswith("ERROR"):
            bad.add(int(number))
    return bad


def our_rejects(kind: str, lines: list[str]) -> set[int]:
    parse = parse_domain_line if kind == "d" else parse_exception_line
    bad = set()
    for number, line in enumerate(lines, 1):
        try:
            parse(normalize_line(line), number)
        except LineError:
            bad.add(number)
    return bad


@needs_tools
@pytest.mark.parametrize("kind", ["d", "e"])
def test_same_verdict_as_checkpolicy(kind: str) -> None:
    rng = random.Random(1500 + ord(kind))
    lines = (domain_lines if kind == "d" else exception_lines)(rng, 2500)
    theirs = tool_rejects(kind, lines)
    ours = our_rejects(kind, lines)
    # both verdicts occur in quantity: the set is neither all-valid nor all-broken
    assert 0.25 * len(lines) < len(theirs) < 0.75 * len(lines)
    agree = len(lines) - len(theirs ^ ours)
    assert agree / len(lines) >= 0.99, sorted((n, lines[n - 1]) for n in theirs ^ ours)[:20]


@needs_tools
def test_init_policy_checks_clean(tmp_path: Path) -> None:
    subprocess.run([INIT_POLICY, f"policy_dir={tmp_path}"], check=True, capture_output=True)
    policy = load_files([str(tmp_path)])
    assert policy.errors == []
    assert set(Path(f).name for f in policy.files) == {
        "domain_policy.conf", "exception_policy.conf", "profile.conf", "manager.conf"}
    assert policy.profiles[3].default == "enforcing"
    assert policy.acl_groups[0] and "<kernel>" in policy.domains
    for kind in ("d", "e"):
        name = "domain_policy.conf" if kind == "d" else "exception_policy.conf"
        lines = (tmp_path / name).read_text().splitlines()
        assert tool_rejects(kind, lines) == our_rejects(kind, lines) == set()


def _stockade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", *args], capture_output=True,
                          text=True, check=False)


def test_cli_reports_every_bad_line(tmp_path: Path) -> None:
    (tmp_path / "domain_policy.conf").write_text(
        "<kernel> /usr/bin/cat\nuse_profile 3\nfile read /etc/hostname\n"
        "capability SYS_ADMIN\nfile read /tmp/\\400\nfile read /etc/passwd foo\n"
        "<kernel> /bin/sh\nuse_profile 256\n")
    done = _stockade("check", "--format", "tomoyo", str(tmp_path / "domain_policy.conf"))
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if ": error: " in line]
    where = [line.split(": error: ")[0].rsplit(":", 2)[1:] for line in lines]
    assert where == [["4", "1"], ["5", "11"], ["6", "23"], ["8", "13"]], done.stderr
    assert "'capability' is a bad argument" in lines[0]


def test_cli_json_has_the_apparmor_schema(tmp_path: Path) -> None:
    (tmp_path / "domain_policy.conf").write_text(
        "<kernel> /usr/bin/cat\nuse_profile 3\nfile read /etc/hostname\nfile read x y\n")
    (tmp_path / "profile.conf").write_text("PROFILE_VERSION=20150505\n"
                                           "3-CONFIG={ mode=enforcing }\n")
    done = _stockade("check", "--format", "tomoyo", "--json", str(tmp_path))
    doc = json.loads(done.stdout)
    assert set(doc) == {"ok", "profiles", "errors", "warnings"} and doc["ok"] is False
    assert doc["profiles"] == [{"name": "<kernel> /usr/bin/cat", "rules": 1,
                                "file": str(tmp_path / "domain_policy.conf")}]
    assert doc["errors"][0]["line"] == 4 and doc["errors"][0]["col"] == 13


def test_cli_refuses_a_file_of_no_known_kind(tmp_path: Path) -> None:
    bad = tmp_path / "policy.txt"
    bad.write_text("file read /x\n")
    done = _stockade("check", "--format", "tomoyo", str(bad))
    assert done.returncode == 2 and "not a TOMOYO policy file" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_warns_where_stockade_enforces_less_than_tomoyo(tmp_path: Path) -> None:
    (tmp_path / "domain_policy.conf").write_text(
        "<kernel> /x\nuse_profile 3\nfile getattr /etc/\nfile read /etc/passwd exec.argc=1\n"
        "misc env HOME\nfile read /etc/hostname\nfile read /x symlink.target=\"/y\"\n")
    done = _stockade("check", "--format", "tomoyo", "--json", str(tmp_path))
    doc = json.loads(done.stdout)
    assert doc["ok"] is True and done.returncode == 0
    assert [(w["line"], w["code"]) for w in doc["warnings"]] == [
        (3, "not-mediated"), (4, "raceable"), (5, "raceable"), (7, "never-true")]
    quiet = json.loads(_stockade("check", "--format", "tomoyo", "--json", "--no-lint",
                                 str(tmp_path)).stdout)
    assert quiet["warnings"] == []
