"""Real programs learned, then enforced with zero denials, then denied something new.

Each case: `stockade learn` runs the program under the supervisor in learn mode and writes a
profile; `stockade run -p` of the same command in enforce mode (Landlock, seccomp,
capabilities) completes with the same result and no denial record; a variant that touches
something the program never touched fails with EACCES, and the kernel's Landlock record of
exactly that path is attributed to the profile.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from confine_helpers import policy_dir, skip_where_own_code_is_exposed

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="learning and kernel audit records need root here")


def stockade(*args: str, cwd: Path, env: dict[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:
    return skip_where_own_code_is_exposed(subprocess.run(
        [sys.executable, "-m", "stockade", *args], cwd=cwd, text=True, capture_output=True,
        timeout=300, env=env))


def records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def denials(path: Path) -> list[dict]:
    return [r for r in records(path) if r.get("result") == "DENIED"]


def learn_enforce_deny(tmp: Path, cwd: Path, name: str, command: list[str], variant: list[str],
                       denied_path: str, kernel_audit: bool,
                       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    profile = policy_dir(tmp) / f"{name}.profile"
    learned = stockade("learn", "-o", str(profile), "--name", name, "--", *command, cwd=cwd,
                       env=env)
    assert learned.returncode == 0, learned.stderr
    assert profile.exists()
    check = stockade("check", str(profile), cwd=cwd)
    assert check.returncode == 0, check.stdout + check.stderr

    audit = tmp / f"{name}.enforce.jsonl"
    enforced = stockade("run", "-p", str(profile), "--audit", str(audit), "--", *command,
                        cwd=cwd, env=env)
    assert enforced.returncode == 0, enforced.stderr
    if kernel_audit:
        assert denials(audit) == [], denials(audit)

    audit = tmp / f"{name}.variant.jsonl"
    variant_run = stockade("run", "-p", str(profile), "--audit", str(audit), "--", *variant,
                           cwd=cwd, env=env)
    assert variant_run.returncode != 0
    errors = ("Permission denied", "PermissionError", "unable to open database file")
    assert any(e in variant_run.stderr for e in errors), variant_run.stderr
    if kernel_audit:
        found = denials(audit)
        assert found, "the denial was not recorded"
        assert any(r["module"] == "landlock" and r["object"].startswith(denied_path)
                   and r["profile"] == name for r in found), found
    return enforced


def test_python_files_and_tcp(tmp_path: Path, kernel_audit: bool) -> None:
    work = tmp_path / "work"
    (work / "in").mkdir(parents=True)
    (work / "out").mkdir()
    (work / "in" / "input.txt").write_text("hello\n")
    (work / "in" / "secret.txt").write_text("never read while learning\n")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.5)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                if conn.recv(16) == b"ping":
                    conn.sendall(b"pong")
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    script = work / "app.py"
    script.write_text(f"""import socket, sys
data = open("in/input.txt").read()
with open("out/result.txt", "w") as f:
    f.write(data.upper())
s = socket.create_connection(("127.0.0.1", {port}))
s.sendall(b"ping")
print(s.recv(16).decode())
s.close()
for extra in sys.argv[1:]:
    open(extra).read()
""")
    try:
        enforced = learn_enforce_deny(
            tmp_path, work, "pyapp", ["/usr/bin/python3", "app.py"],
            ["/usr/bin/python3", "app.py", "in/secret.txt"], str(work / "in" / "secret.txt"),
            kernel_audit)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert enforced.stdout.strip() == "pong"
    assert (work / "out" / "result.txt").read_text() == "HELLO\n"


def test_shell_pipeline_of_coreutils(tmp_path: Path, kernel_audit: bool) -> None:
    work = tmp_path / "work"
    (work / "in").mkdir(parents=True)
    (work / "out").mkdir()
    (work / "in" / "words.txt").write_text("b\na\nb\n")
    (work / "in" / "other.txt").write_text("z\n")
    pipeline = "sort in/words.txt | uniq -c | tr -s ' ' > out/counts.txt"
    learn_enforce_deny(tmp_path, work, "pipeline", ["sh", "-c", pipeline],
                       ["sh", "-c", "set -e; sort in/other.txt > out/x.txt"],
                       str(work / "in" / "other.txt"), kernel_audit)
    assert (work / "out" / "counts.txt").read_text().split() == ["1", "a", "2", "b"]


@pytest.mark.skipif(not shutil.which("gcc"), reason="needs gcc")
def test_gcc_compiles_a_small_program(tmp_path: Path, kernel_audit: bool) -> None:
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "out").mkdir()
    (work / "src" / "hello.c").write_text(
        '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n')
    (work / "src" / "extra.c").write_text("int extra(void) { return 1; }\n")
    scratch = tmp_path / "scratch"  # gcc's temporary files go here, not into all of /tmp
    scratch.mkdir()
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(scratch), "LANG": "C"}
    learn_enforce_deny(tmp_path, work, "cc", ["gcc", "-o", "out/hello", "src/hello.c"],
                       ["gcc", "-o", "out/hello2", "src/hello.c", "src/extra.c"],
                       str(work / "src" / "extra.c"), kernel_audit, env=env)
    assert subprocess.run([str(work / "out" / "hello")], capture_output=True,
                          text=True).stdout == "hi\n"


@pytest.mark.skipif(not shutil.which("git"), reason="needs git")
def test_git_init_and_commit(tmp_path: Path, kernel_audit: bool) -> None:
    work = tmp_path / "work"
    home = tmp_path / "home"
    (tmp_path / "elsewhere").mkdir()
    work.mkdir()
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org", "LANG": "C"}
    script = ("rm -rf repo && git init -q repo && cd repo && echo hi > f && git add f && "
              "git commit -q -m first && git log --oneline | wc -l")
    enforced = learn_enforce_deny(
        tmp_path, work, "git-commit", ["sh", "-c", script],
        ["sh", "-c", f"git init -q {tmp_path / 'elsewhere' / 'repo'}"],
        str(tmp_path / "elsewhere"), kernel_audit, env=env)
    assert enforced.stdout.strip() == "1"


def test_python_sqlite_write(tmp_path: Path, kernel_audit: bool) -> None:
    work = tmp_path / "work"
    (work / "db").mkdir(parents=True)
    (work / "other").mkdir()
    code = ("import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
            "db.execute('create table if not exists t(x)'); db.execute('insert into t values (1)');"
            " db.commit(); print(db.execute('select count(*) from t').fetchone()[0])")
    enforced = learn_enforce_deny(
        tmp_path, work, "sqlite", ["/usr/bin/python3", "-c", code, "db/app.db"],
        ["/usr/bin/python3", "-c", code, "other/app.db"], str(work / "other"), kernel_audit)
    assert enforced.stdout.strip() == "2"  # one row learned, one row enforced
