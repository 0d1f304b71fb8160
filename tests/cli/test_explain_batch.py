"""`explain --batch`: one question per line (text or JSON), one JSON answer per line, from
one process; a bad line is an answer with an error, never the end of the batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stockade.cli.explain import batch as _explain_batch
from stockade.cli.main import build_parser

ENV = dict(os.environ, STOCKADE_SELINUX_CONFIG="/nonexistent")


def stockade(*argv: str, stdin: str = "", user: str = "root") -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "stockade", *argv]
    if user == "nobody":
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120,
                          env=ENV)


def lines(out: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in out.stdout.splitlines()]


def comparable(answer: dict) -> dict:
    """An answer without what differs between processes (audit serials, pids, times)."""
    return {k: v for k, v in answer.items() if k not in ("audit", "records", "line")}


def test_text_and_json_questions_match_single_explain(area, user: str) -> None:
    tmp_path = area.root
    secret = area.secret
    secret.chmod(0o600)
    profile = tmp_path / "p.profile"
    profile.write_text(f"profile p {{\n  {tmp_path}/** r,\n}}\n")
    profile.chmod(0o644)
    questions = [
        ["read", str(secret)],
        ["write", str(secret), "--profile", str(profile)],
        ["read", str(secret), "--profile", str(profile)],
        ["chmod", str(secret), "--new-mode", "644", "--as", "nobody"],
    ]
    text = (f"read {secret}\n\n# a comment\n"
            f"write {secret} --profile {profile}\n"
            + json.dumps({"op": "read", "target": str(secret), "profile": str(profile)}) + "\n"
            + json.dumps({"operation": "chmod", "target": str(secret), "new-mode": "644",
                          "as": "nobody"}) + "\n")
    out = stockade("explain", "--batch", stdin=text, user=user)
    answers = lines(out)
    assert [a["line"] for a in answers] == [1, 4, 5, 6], out.stderr
    for question, got in zip(questions, answers, strict=True):
        single = stockade("explain", "--json", *question, user=user)
        assert comparable(json.loads(single.stdout)) == comparable(got), question
        assert (single.returncode == 1) == (got["decision"] == "deny")
    assert out.returncode == 1  # the profile denies the write


def test_bad_lines_are_answers_and_the_batch_goes_on(tmp_path: Path) -> None:
    text = "\n".join([
        "frob /x",                                   # unknown operation
        '{"op": "read"}',                            # no target
        '{"op": "read", "target": "/", "bogus": 1}',  # unknown field
        '{"op": "read", "target": "/", "to": true}',  # a value is needed
        "[1, 2]",                                    # not an object
        'read "/unterminated',                       # bad quoting
        "read / --lsm capability,nosuch",            # bad stack
        "read / --help",                             # no help (and no exit) from a line
        "read / --batch x",                          # no batch within a batch
        "x" * 70000,                                 # too long
        "y" * 200000,                                # too long: read past, one answer
        "read /",                                    # still answered
    ]) + "\n"
    out = stockade("explain", "--batch", stdin=text)
    answers = lines(out)
    assert [a["line"] for a in answers] == list(range(1, 13))
    assert all("error" in a for a in answers[:11]), answers
    assert "longer than" in answers[10]["error"]
    assert "Traceback" not in out.stderr and "internal error" not in out.stdout
    assert answers[11]["decision"] == "allow" and "error" not in answers[11]
    assert out.returncode == 2


def test_exit_status_and_command_line_defaults(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s")
    secret.chmod(0o600)
    allowed = stockade("explain", "--batch", stdin=f"read {secret}\nread /etc/hostname\n")
    assert allowed.returncode == 0 and len(lines(allowed)) == 2
    # --as on the command line is every question's default; a line overrides it
    out = stockade("explain", "--as", "nobody", "--batch",
                   stdin=f"read {secret}\nread {secret} --as root\n")
    first, second = lines(out)
    assert first["decision"] == "deny" and second["decision"] == "allow"
    assert out.returncode == 1


def test_questions_from_a_file(tmp_path: Path) -> None:
    questions = tmp_path / "q.txt"
    questions.write_text("read /etc/hostname\n")
    out = stockade("explain", "--batch", str(questions))
    assert out.returncode == 0 and lines(out)[0]["line"] == 1
    out = stockade("explain", "--batch", str(tmp_path / "missing"))
    assert out.returncode == 2 and "cannot open" in out.stderr and not out.stdout
    out = stockade("explain", "--batch", "-", "read", "/")
    assert out.returncode == 2 and "give no OPERATION" in out.stderr


def test_one_stack_per_configuration_and_the_cache_is_bounded(tmp_path: Path) -> None:
    args = build_parser(["explain"]).parse_args(["explain", "--no-host-policy", "--batch"])
    batch = _explain_batch.Batch(args)
    profile = tmp_path / "p.profile"
    profile.write_text(f"profile p {{\n  {tmp_path}/** r,\n}}\n")
    for op in ("read", "write", "exec", "create"):
        batch.ask(f"{op} {tmp_path}/x --profile {profile}")
    assert len(batch.configs) == 1
    first = next(iter(batch.configs.values()))
    batch.ask(f"read {tmp_path}/x --profile {profile} --as nobody")  # a subject, not a stack
    assert list(batch.configs.values()) == [first]
    for scope in range(4):
        for level in ("none", "integrity", "confidentiality"):
            batch.ask(f"read / --yama-scope {scope} --lockdown {level}")
    assert len(batch.configs) == _explain_batch.MAX_CONFIGS


def test_answers_come_as_questions_arrive() -> None:
    """An editor writes a question and reads its answer before sending the next."""
    proc = subprocess.Popen([sys.executable, "-m", "stockade", "explain", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for number, target in enumerate(("/etc/hostname", "/"), 1):
            proc.stdin.write(f"read {target}\n")
            proc.stdin.flush()
            assert json.loads(proc.stdout.readline())["line"] == number
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()


def test_at_most_two_selinux_policies_are_kept(tmp_path: Path) -> None:
    mini = Path(__file__).resolve().parents[1] / "selinux" / "data" / "mini.cil"
    args = build_parser(["explain"]).parse_args(["explain", "--no-host-policy", "--batch"])
    batch = _explain_batch.Batch(args)
    option = f'selinux.policy_paths=[\\"{mini}\\"]'
    for scope in range(4):
        batch.ask(f'read / --yama-scope {scope} --lsm capability,yama,selinux '
                  f'--module-option "{option}"')
        batch.ask(f"read / --yama-scope {scope}")
    held = [c for c in batch.configs.values() if _explain_batch._holds_policy(c)]
    assert len(held) == _explain_batch.MAX_POLICY_CONFIGS and len(batch.configs) == 6
