"""`stockade run --complain -p P`: any user, the access goes through, one ALLOWED record each.

A real program (python) under a learned profile writes a file the profile does not grant and
reads one it does not grant. In complain mode it succeeds and the audit file holds exactly those
two AppArmor-style ALLOWED records; `explain --profile` denies the same two accesses (one
decision function); `logprof --apply` on the file adds exactly the two rules, after which the
enforced run succeeds with no denial and a second complain run records nothing. As root and as
nobody (no kernel audit is read: complain records need no root).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import PY, STOCKADE, USER_ENV, hand_to, scratch_for, stockade_as

ENV = USER_ENV


@pytest.fixture
def work(user: str) -> Iterator[Path]:
    d = scratch_for(user, "stockade-complain-")
    (d / "d").mkdir()
    (d / "d" / "Y").write_text("secret\n")
    hand_to(user, d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def records(path: Path, result: str) -> list[dict]:
    if not path.exists():
        return []
    recs = [json.loads(x) for x in path.read_text().splitlines() if x.startswith("{")]
    return [r for r in recs if r.get("result") == result
            and not (r.get("module") == "seccomp" and r.get("object") == "clone3")]


def program(work: Path) -> list[str]:
    return [PY, "-c", f"open({str(work / 'd' / 'X')!r}, 'w').write('x'); "
                      f"print(open({str(work / 'd' / 'Y')!r}).read(), end='')"]


def test_complain_records_and_logprof_converges(user: str, work: Path) -> None:
    profile = work / "py.profile"
    learned = stockade_as(user, "learn", "-o", str(profile), "--", PY, "-c", "print('hi')", cwd=work)
    assert learned.returncode == 0, learned.stderr
    x, y = work / "d" / "X", work / "d" / "Y"
    name = next(line.split()[1] for line in profile.read_text().splitlines()
                if line.startswith("profile "))
    cmd = program(work)

    # enforced, the unchanged profile refuses the program (what complain mode must not do)
    refused = stockade_as(user, "run", "-p", str(profile), "--", *cmd, cwd=work)
    assert refused.returncode != 0 and "PermissionError" in refused.stderr, refused.stderr
    assert not x.exists()

    audit = work / "complain.jsonl"
    run = stockade_as(user, "run", "--complain", "-p", str(profile), "--audit", str(audit), "--", *cmd,
                             cwd=work)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "secret\n"
    assert x.read_text() == "x"
    assert "is NOT enforced" in run.stderr and "2 distinct access(es)" in run.stderr, run.stderr
    assert "approximated" not in run.stderr  # no claim about rules being enforced
    allowed = records(audit, "ALLOWED")
    got = sorted((r["operation"], r["object"], r["requested"], r["profile"]) for r in allowed)
    assert got == [("open", str(x), "wc", name), ("open", str(y), "r", name)], allowed
    for r in allowed:
        assert r["fields"]["apparmor"] == "ALLOWED" and r["mode"] == "complain"
        assert r["fields"]["decided_by"] == "plan:landlock"
    assert not records(audit, "DENIED")
    coverage = [json.loads(x) for x in audit.read_text().splitlines()
                if '"event": "coverage"' in x]
    assert coverage and coverage[0]["exact"] is False and "not confined" in coverage[0]["complain"]

    # one decision function: explain --profile denies the same two accesses
    for op, path in (("write", x), ("read", y)):
        ex = stockade_as(user, "explain", "--profile", str(profile), "--json", op, str(path), cwd=work)
        answer = json.loads(ex.stdout)
        assert (answer["decision"], answer["decided_by"]) == ("deny", "plan:landlock"), ex.stdout

    lp = stockade_as(user, "logprof", "-p", str(profile), "--log", str(audit), "--apply", cwd=work)
    assert lp.returncode == 0, lp.stderr
    added = sorted(line[1:].strip() for line in lp.stdout.splitlines()
                   if line.startswith("+") and not line.startswith("+++"))
    assert added == [f"{x} w,", f"{y} r,"], lp.stdout

    x.unlink()
    enforced_audit = work / "enforced.jsonl"
    enforced = stockade_as(user, "run", "-p", str(profile), "--audit", str(enforced_audit), "--", *cmd,
                                  cwd=work)
    assert enforced.returncode == 0, enforced.stderr
    assert enforced.stdout == "secret\n" and x.read_text() == "x"
    assert not records(enforced_audit, "DENIED")

    # `--mode complain` is the same mode: nothing left that the profile would deny
    audit.unlink()
    again = stockade_as(user, "run", "--mode", "complain", "-p", str(profile), "--audit", str(audit),
                               "--", *cmd, cwd=work)
    assert again.returncode == 0, again.stderr
    assert not records(audit, "ALLOWED")
    assert "0 distinct access(es)" in again.stderr


def test_complain_contradicting_mode_is_refused(tmp_path: Path) -> None:
    res = subprocess.run([*STOCKADE, "run", "--complain", "--mode", "enforce", "--", "true"],
                         capture_output=True, text=True, timeout=60, env=ENV)
    assert res.returncode == 125
    assert "--complain contradicts --mode enforce" in res.stderr
    assert "Traceback" not in res.stderr


def test_complain_network_exec_dirs_and_chmod_in_one_round(user: str, work: Path) -> None:
    """TCP bind/listen/connect, an exec, mkdir/rmdir and chmod that the profile lacks: each is
    one ALLOWED record, and one `logprof --apply` makes the enforced run succeed."""
    profile = work / "py.profile"
    learned = stockade_as(user, "learn", "-o", str(profile), "--", PY, "-c", "print('hi')", cwd=work)
    assert learned.returncode == 0, learned.stderr
    d = work / "d"
    code = ("import os, socket, subprocess\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
            "c = socket.create_connection(s.getsockname()); print('net ok')\n"
            "print(subprocess.run(['/bin/echo', 'exec ok'], capture_output=True, text=True)"
            ".stdout, end='')\n"
            f"os.mkdir({str(d / 'sub')!r}); os.rmdir({str(d / 'sub')!r})\n"
            f"os.chmod({str(d / 'Y')!r}, 0o640); print('files ok')\n")
    cmd = [PY, "-c", code]
    expected = "net ok\nexec ok\nfiles ok\n"
    audit = work / "complain.jsonl"
    run = stockade_as(user, "run", "--complain", "-p", str(profile), "--audit", str(audit), "--", *cmd,
                             cwd=work)
    assert (run.returncode, run.stdout) == (0, expected), run.stderr
    got = {(r["operation"], r["object"], r["requested"]) for r in records(audit, "ALLOWED")}
    for want in [("create", "", ""), ("exec", "/usr/bin/echo", "x"),
                 ("mkdir", f"{d}/sub/", "c"), ("rmdir", f"{d}/sub/", "d"),
                 ("setattr", str(d / "Y"), "w")]:
        assert want in got, (want, got)
    assert {op for op, _, _ in got} >= {"bind", "connect"}, got
    lp = stockade_as(user, "logprof", "-p", str(profile), "--log", str(audit), "--apply", cwd=work)
    assert lp.returncode == 0 and "network inet stream," in lp.stdout, lp.stdout + lp.stderr
    enforced = stockade_as(user, "run", "-p", str(profile), "--", *cmd, cwd=work)
    assert (enforced.returncode, enforced.stdout) == (0, expected), enforced.stderr
    audit.unlink()
    again = stockade_as(user, "run", "--complain", "-p", str(profile), "--audit", str(audit), "--", *cmd,
                               cwd=work)
    assert again.returncode == 0 and not records(audit, "ALLOWED"), records(audit, "ALLOWED")


def test_status_under_complain_never_says_confined(user: str, work: Path) -> None:
    profile = work / "py.profile"
    learned = stockade_as(user, "learn", "-o", str(profile), "--", PY, "-c", "print('hi')", cwd=work)
    assert learned.returncode == 0, learned.stderr
    res = stockade_as(user, "run", "--complain", "-p", str(profile), "--", *STOCKADE, "status", cwd=work)
    assert res.returncode == 0, res.stderr
    row = next(line for line in res.stdout.splitlines() if line.split()[:1] == ["stockade"])
    assert "confined by" not in row, row
    if user == "root":  # root has a status record directory (/run/stockade)
        assert "NOT confined: profile" in row and "complain mode" in row, row
