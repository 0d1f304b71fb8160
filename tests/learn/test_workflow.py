"""The profile workflow on real programs: learn, enforce, change, logprof --apply, converge.

Each program is learned (`stockade learn`), enforced (`stockade run -p --audit`) with the same
output and no denial record, then run in a slightly changed form; `logprof --apply` on the
kernel's denial records (attributed to the profile by `run --audit`) brings it back to zero
denials in at most two rounds. As nobody the learned profile must run the program with the
same output; its logprof rounds (and root's when kernel audit is off) read complain records.
Complain records (`run --complain -p`, any user) name every path: the program that makes a
directory and works in it converges in one round from them, as root and as nobody.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confine_helpers import NOBODY, PY, STOCKADE, scratch_for, stockade_as

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
       "XDG_CONFIG_HOME": "/nonexistent/.config",  # no profile store in /tmp (USER_ENV's)
       "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
       "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}


@pytest.fixture
def work(user: str) -> Iterator[Path]:
    d = scratch_for(user, "stockade-wf-")
    yield d
    shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(_audit_path(d).parent, ignore_errors=True)


def _audit_path(work: Path) -> Path:
    """Where `run --audit` writes: outside every grant the learned profiles hold (run refuses
    an audit file inside a writable grant, and learned profiles grant /tmp directories)."""
    d = Path("/var/tmp") / f"{work.name}-audit"
    d.mkdir(exist_ok=True)
    os.chmod(d, 0o777)
    return d / "a.jsonl"


def _profile_path(work: Path, name: str) -> Path:
    """Where a learned profile is kept: beside the audit file, outside every grant it holds
    (run refuses a profile its program may rewrite)."""
    return _audit_path(work).parent / f"{name}.profile"


def stockade(*args: str, cwd: Path, user: str, input_text: str | None = None,
             ) -> subprocess.CompletedProcess[str]:
    return stockade_as(user, *args, cwd=cwd, env=ENV, input_text=input_text)


def denials(path: Path) -> list[dict]:
    if not path.exists():
        return []
    recs = [json.loads(x) for x in path.read_text().splitlines() if x.startswith("{")]
    # clone3's ENOSYS is the baseline's design (libc falls back to clone), not a denial
    return [r for r in recs if r.get("result") == "DENIED"
            and not (r.get("module") == "seccomp" and r.get("object") == "clone3")]


def _audit_still_on(found: list[dict]) -> None:
    """A refused run with no record while another process turned kernel audit off (helpers
    share this machine) says nothing about logprof: skip rather than fail."""
    from stockade.host.audit import audit_get

    if not found and not audit_get().get("enabled"):
        pytest.skip("kernel audit was turned off by another process during the test")


def own(tree: Path, user: str) -> None:
    if user == "nobody":
        for p in [tree, *tree.rglob("*")]:
            os.lchown(p, NOBODY, NOBODY)


@dataclass
class Program:
    """A task: how to set up its files, the command, and a slightly changed command."""

    setup: Callable[[Path], None]
    command: list[str]
    variant: list[str]
    reset: Callable[[Path], None] = lambda w: None


def _c(w: Path) -> None:
    (w / "t.c").write_text('#include <stdio.h>\nint main(void){puts("hi from t");return 0;}\n')
    (w / "inc").mkdir()
    (w / "inc" / "v.h").write_text('#define V "v2"\n')
    (w / "v.c").write_text('#include <stdio.h>\n#include "v.h"\nint main(void){puts(V);}\n')
    (w / "Makefile").write_text("t: t.c\n\tgcc -o t t.c\nrun: t\n\t./t\n"
                                "v: v.c\n\tgcc -Iinc -o v v.c\nrunv: v\n\t./v\n"
                                ".PHONY: run runv\n")


def _rm(*names: str) -> Callable[[Path], None]:
    def reset(w: Path) -> None:
        for n in names:
            p = w / n
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    return reset


def _script(w: Path) -> None:
    s = w / "hello.sh"
    s.write_text("#!/bin/sh\necho hello from a script\nwc -c < /etc/hostname >/dev/null\n"
                 'test -n "$1" && echo "$1" > run.log && cat run.log\n'
                 "exit 0\n")
    s.chmod(0o755)


def _tar(w: Path) -> None:
    (w / "src").mkdir()
    (w / "src" / "a.txt").write_text("a\n")
    (w / "out").mkdir()


SQL = ("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table if not "
       "exists t(x)'); c.execute('insert into t values (1)'); c.commit(); "
       "print(c.execute('select count(*) from t').fetchone()[0])")


def _git(w: Path) -> None:
    (w / "a.txt").write_text("a\n")


GIT = ["sh", "-c", "git init -q r && cp a.txt r/ && cd r && git add a.txt && "
       "git -c user.name=t -c user.email=t@e commit -qm one && git log --format=%s"]
GIT_VARIANT = ["sh", "-c", "git init -q r && cp a.txt r/ && cd r && git add a.txt && "
               "git -c user.name=t -c user.email=t@e commit -qm one && git tag v1 && "
               "git -c user.name=t -c user.email=t@e commit -q --allow-empty -m two && "
               "git log --format=%s && git archive -o ../out.zip v1 && echo archived"]

#: mkdir, then create, then read in the new directory (argv[1]): a Landlock mkdir record names
#: only the parent, so logprof must not need a round per step
MKDIR = ("import os,sys\nfor d in sys.argv[1:]: os.mkdir(d); open(d+'/f','w').write('made'); "
         "print(open(d+'/f').read())\nprint('done')")

PROGRAMS: dict[str, Program] = {
    "script": Program(_script, ["./hello.sh"], ["./hello.sh", "again"], _rm("run.log")),
    "make": Program(_c, ["make", "-s", "run"], ["make", "-s", "runv"], _rm("t", "v")),
    "gcc": Program(_c, ["gcc", "-o", "t", "t.c"], ["gcc", "-Iinc", "-o", "v", "v.c"],
                   _rm("t", "v")),
    "git": Program(_git, GIT, GIT_VARIANT, _rm("r", "out.zip")),
    "tar": Program(_tar, ["tar", "cf", "out/repo.tar", "src"],
                   ["tar", "czf", "out/repo.tgz", "src"], lambda w: [p.unlink() for p in
                                                              (w / "out").iterdir()]),
    "mkdir": Program(lambda w: (w / "out").mkdir(), [PY, "-c", MKDIR],
                     [PY, "-c", MKDIR, "out/new"], _rm("out/new")),
    "sqlite": Program(lambda w: (w / "data").mkdir(), [PY, "-c", SQL, "db.sqlite"],
                      [PY, "-c", SQL, "data/db.sqlite"], _rm("db.sqlite", "data/db.sqlite")),
}
#: run as nobody too (learn, enforce, and logprof rounds from complain records)
AS_NOBODY = tuple(PROGRAMS)


def cycle(name: str, user: str, work: Path, audit_on: bool) -> None:
    prog = PROGRAMS[name]
    prog.setup(work)
    own(work, user)
    profile = _profile_path(work, name)
    learned = stockade("learn", "-o", str(profile), "--", *prog.command, cwd=work, user=user)
    assert learned.returncode == 0, learned.stderr
    check = stockade("check", str(profile), cwd=work, user=user)
    assert check.returncode == 0, check.stdout + check.stderr
    prog.reset(work)
    audit = _audit_path(work)
    enforced = stockade("run", "-p", str(profile), "--audit", str(audit), "--", *prog.command,
                        cwd=work, user=user)
    assert enforced.returncode == 0, enforced.stderr
    assert enforced.stdout == learned.stdout
    assert not denials(audit), denials(audit)
    if user != "root" or not audit_on:
        # no kernel denial records (they need root and kernel audit): complain mode records
        # what the profile would deny, for any user
        converge_from_complain_records(prog, user, work, profile)
        return
    for applied in range(3):
        prog.reset(work)
        audit.unlink(missing_ok=True)
        res = stockade("run", "-p", str(profile), "--audit", str(audit), "--", *prog.variant,
                       cwd=work, user=user)
        found = denials(audit)
        if res.returncode == 0 and not found:
            break
        assert applied < 2, f"not converged after 2 logprof rounds: {found} {res.stderr}"
        _audit_still_on(found)
        lp = stockade("logprof", "-p", str(profile), "--log", str(audit), "--apply", cwd=work,
                      user=user)
        assert lp.returncode == 0, lp.stderr
        assert "rule(s) applied" in lp.stderr, (lp.stdout, lp.stderr, found)
    check = stockade("check", str(profile), cwd=work, user=user)
    assert check.returncode == 0, check.stdout + check.stderr


def converge_from_complain_records(prog: Program, user: str, work: Path, profile: Path) -> None:
    """The changed program under `run --complain -p`, `logprof --apply` on its ALLOWED
    records, at most two rounds; then the enforced run gives the same output."""
    audit = work / "complain.jsonl"
    for applied in range(3):
        prog.reset(work)
        audit.unlink(missing_ok=True)
        res = stockade("run", "--complain", "-p", str(profile), "--audit", str(audit), "--",
                       *prog.variant, cwd=work, user=user)
        assert res.returncode == 0, res.stderr
        found = allowed(audit)
        if not found:
            break
        assert applied < 2, f"not converged after 2 logprof rounds: {found}"
        lp = stockade("logprof", "-p", str(profile), "--log", str(audit), "--apply", cwd=work,
                      user=user)
        assert lp.returncode == 0, lp.stderr
    prog.reset(work)
    enforced = stockade("run", "-p", str(profile), "--", *prog.variant, cwd=work, user=user)
    assert enforced.returncode == 0, enforced.stderr
    assert enforced.stdout == res.stdout


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_workflow(name: str, user: str, work: Path, kernel_audit: bool) -> None:
    if user == "nobody" and name not in AS_NOBODY:
        pytest.skip("as root only (time budget)")
    cycle(name, user, work, kernel_audit)


def allowed(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [r for r in (json.loads(x) for x in path.read_text().splitlines()
                        if x.startswith("{")) if r.get("result") == "ALLOWED"]


def test_complain_records_converge_in_one_round(user: str, work: Path,
                                                kernel_audit: bool) -> None:
    """Complain records name every path (the new directory too): one logprof round, as any
    user, and the enforced run that follows has no denial."""
    prog = PROGRAMS["mkdir"]
    prog.setup(work)
    own(work, user)
    profile = _profile_path(work, "mkdir")
    learned = stockade("learn", "-o", str(profile), "--", *prog.command, cwd=work, user=user)
    assert learned.returncode == 0, learned.stderr
    audit = _audit_path(work)
    audit.unlink(missing_ok=True)
    complained = stockade("run", "--complain", "-p", str(profile), "--audit", str(audit), "--",
                          *prog.variant, cwd=work, user=user)
    assert complained.returncode == 0, complained.stderr
    assert complained.stdout == "made\ndone\n"
    ops = sorted((r["operation"], r["object"].removeprefix(str(work)), r["requested"])
                 for r in allowed(audit))
    assert ops == [("mkdir", "/out/new/", "c"), ("open", "/out/new/f", "r"),
                   ("open", "/out/new/f", "wc")], ops
    lp = stockade("logprof", "-p", str(profile), "--log", str(audit), "--apply", cwd=work,
                  user=user)
    assert "rule(s) applied" in lp.stderr, (lp.stdout, lp.stderr)
    prog.reset(work)
    audit.unlink()
    enforced = stockade("run", "-p", str(profile), "--audit", str(audit), "--", *prog.variant,
                        cwd=work, user=user)
    assert enforced.returncode == 0, enforced.stderr
    assert enforced.stdout == complained.stdout
    assert not denials(audit)
    prog.reset(work)
    audit.unlink()
    again = stockade("run", "--complain", "-p", str(profile), "--audit", str(audit), "--",
                     *prog.variant, cwd=work, user=user)
    assert again.returncode == 0 and not allowed(audit), allowed(audit)


# -- a server with a client ---------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(args: list[str], cwd: Path, port: int, path: str) -> tuple[str, int, str]:
    """Start `stockade ARGS -- python3 -m http.server PORT`, fetch `path`, stop it with ^C."""
    proc = subprocess.Popen([*STOCKADE, *args, "--", PY, "-m", "http.server", "-b",
                             "127.0.0.1", str(port), *(["-d", "site2"] if path.startswith("/2")
                                                      else [])],
                            cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    body = ""
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.txt",
                                            timeout=5) as r:
                    body = r.read().decode()
                break
            except OSError as err:
                if "Not Found" in str(err) or "Forbidden" in str(err) or "404" in str(err):
                    break
                time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    return body, proc.returncode, err


def test_http_server_with_a_client(work: Path, user: str, kernel_audit: bool) -> None:
    if user != "root":
        pytest.skip("as root only (time budget)")
    (work / "index.txt").write_text("site one\n")
    (work / "site2").mkdir()
    (work / "site2" / "index.txt").write_text("site two\n")
    profile = _profile_path(work, "h")
    port = _free_port()
    body, status, err = _serve(["learn", "-o", str(profile)], work, port, "/")
    assert status == 0 and body == "site one\n", err
    assert "network inet stream," in profile.read_text()
    audit = _audit_path(work)
    body, status, err = _serve(["run", "-p", str(profile), "--audit", str(audit)], work, port,
                               "/")
    assert body == "site one\n", err
    assert not denials(audit)
    if not kernel_audit:
        return
    for applied in range(3):  # the changed task: serve another directory
        audit.unlink(missing_ok=True)
        body, status, err = _serve(["run", "-p", str(profile), "--audit", str(audit)], work,
                                   port, "/2")
        if body == "site two\n" and not denials(audit):
            break
        assert applied < 2, (body, denials(audit))
        _audit_still_on(denials(audit))
        lp = stockade("logprof", "-p", str(profile), "--log", str(audit), "--apply", cwd=work,
                      user="root")
        assert "rule(s) applied" in lp.stderr, (lp.stdout, lp.stderr)
