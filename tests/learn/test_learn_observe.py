"""learn observes and never blocks, and writes only what `stockade check` accepts.

A real program under `stockade learn` binds, listens, connects over TCP, signals a child,
chmods a file it made and runs other programs: all of it must succeed (learning must not
change what the program can do) and be recorded, as root and as nobody. Every rule kind learn
can emit is swept through `stockade check`.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import cli, policy_dir, unconfinable_reason

from stockade.learn.genprof import render
from stockade.learn.observations import accesses
from stockade.learn.proposals import propose
from stockade.policy import constants as c

PY = "/usr/bin/python3"

PROGRAM = textwrap.dedent("""\
    import os, signal, socket, subprocess, sys
    d = sys.argv[1]
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0)); srv.listen(1)
    cl = socket.create_connection(srv.getsockname()); conn, _ = srv.accept(); conn.sendall(b"hi")
    print("tcp", cl.recv(2).decode())
    p = subprocess.Popen(["/bin/sleep", "30"]); p.send_signal(signal.SIGTERM)
    print("signal", p.wait())
    with open(os.path.join(d, "out.txt"), "w") as f:
        f.write("x")
    os.chmod(os.path.join(d, "out.txt"), 0o600); print("chmod ok")
    print("exec", subprocess.run(["/bin/true"]).returncode)
    os.setxattr(os.path.join(d, "out.txt"), "user.learn", b"1"); print("xattr ok")
    us = socket.socket(socket.AF_UNIX); us.bind(os.path.join(d, "s.sock")); us.listen(1)
    uc = socket.socket(socket.AF_UNIX); uc.connect(os.path.join(d, "s.sock")); print("unix ok")
    """)
EXPECTED = "tcp hi\nsignal -15\nchmod ok\nexec 0\nxattr ok\nunix ok\n"


def _confinable() -> None:
    reason = unconfinable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def work(user: str) -> Iterator[Path]:
    """A scratch directory under /tmp that `user` owns (pytest's tmp_path is root's only)."""
    d = Path(tempfile.mkdtemp(prefix="stockade-learn-t-", dir="/tmp"))
    os.chmod(d, 0o755)
    if user == "nobody":
        os.chown(d, 65534, 65534)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_learn_lets_network_signals_files_and_exec_through(user: str, work: Path) -> None:
    _confinable()
    prog = work / "prog.py"
    prog.write_text(PROGRAM)
    os.chmod(prog, 0o644)
    profile = policy_dir(work) / "p.profile"
    res = cli("learn", "-o", str(profile), "--", PY, str(prog), str(work), user=user, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout == EXPECTED  # nothing was refused while learning
    text = profile.read_text()
    assert "network inet stream," in text
    assert "signal (send) set=(term)," in text
    assert f"{os.path.realpath('/bin/true')} ix," in text, text  # the exec is learned as such
    check = cli("check", str(profile), user=user)
    assert check.returncode == 0, check.stdout + check.stderr
    for name in ("out.txt", "s.sock"):
        (work / name).unlink()
    enforced = cli("run", "-p", str(profile), "--", PY, str(prog), str(work), user=user,
                   timeout=120)
    assert enforced.returncode == 0, enforced.stderr
    assert enforced.stdout == EXPECTED  # the learned profile lets all of it happen again


def test_learn_of_a_failing_program_says_so_and_still_writes(user: str, work: Path) -> None:
    _confinable()
    profile = policy_dir(work) / "f.profile"
    res = cli("learn", "-o", str(profile), "--", "/bin/sh", "-c", "cat /etc/hostname; exit 3",
              user=user, timeout=120)
    assert res.returncode == 1
    assert "exited with status 3" in res.stderr
    assert profile.exists() and "/etc/hostname r," in profile.read_text()


def test_learn_does_not_restrict_tcp_bind() -> None:
    """The plan `run --mode learn` uses without a profile limits nothing in Landlock: its one
    handled right (execute, for a domain that isolates ptrace) is granted on /."""
    from stockade.enforce.defaults import observe_plan
    from stockade.enforce.landlock import AccessFs

    plan = observe_plan()
    assert plan.handled_fs == AccessFs.EXECUTE and not plan.handled_net and not plan.scopes
    assert [(r.path, r.access) for r in plan.fs_rules] == [("/", AccessFs.EXECUTE)]
    assert not plan.notify_rules()


# -- every rule kind learn emits passes `stockade check` -----------------------------------

def _observations() -> list[dict]:
    obs: list[dict] = []
    for sig in range(0, 65):
        obs.append({"op": "signal", "signal": sig, "peer": {"pid": 1}})
    for fam in (socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK, socket.AF_PACKET):
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW,
                     socket.SOCK_SEQPACKET):
            obs.append({"op": "socket", "peer": {"family": fam, "type": kind, "protocol": 0}})
    obs.append({"op": "connect", "peer": {"family": "unix", "address": "@abstract"}})
    obs.append({"op": "bind", "peer": {"family": "unix", "address": "/run/x.sock"}})
    obs.append({"op": "ptrace", "peer": {"pid": 7}})
    for access in (["read"], ["write"], ["append"], ["read", "write"]):
        obs.append({"op": "open", "path": "/srv/a b/[x]{y},z\"q", "access": access})
        obs.append({"op": "create", "path": "/srv/new/file.txt", "access": access})
    for op in ("unlink", "rmdir", "mkdir", "symlink", "mknod", "chmod", "chown"):
        obs.append({"op": op, "path": f"/srv/{op}/thing"})
    obs.append({"op": "rename", "path": "/srv/r/a", "target": "/srv/r/b"})
    obs.append({"op": "link", "path": "/srv/l/a", "target": "/srv/l/b"})
    obs.append({"op": "exec", "path": "/usr/bin/env"})
    obs.append({"op": "open", "path": "/proc/123/status", "access": ["read"]})
    return obs


@pytest.mark.parametrize("exec_mode", ["ix", "px", "Px", "cx", "Cx"])
def test_every_rule_kind_learn_emits_is_accepted_by_check(tmp_path: Path, exec_mode: str) -> None:
    proposals = propose(accesses(_observations()), None, exec_mode=exec_mode)
    kinds = {p.kind for p in proposals}
    assert kinds >= {"file", "network", "signal", "ptrace", "unix"}
    text = render("sweep", "/usr/bin/sweep", ["base"], proposals, command=["sweep", "--x"])
    for name in c.SIGNAL_NAMES.values():
        if name != "exists":
            assert f"set=({name})" in text
    path = policy_dir(tmp_path) / "sweep.profile"
    path.write_text(text)
    res = cli("check", str(path))
    assert res.returncode == 0, res.stdout + res.stderr + text


# -- #! scripts -------------------------------------------------------------------------------

def test_interpreters_follow_the_kernel_chain(tmp_path: Path) -> None:
    from stockade.learn.observations import interpreters

    inner = tmp_path / "inner"
    inner.write_text("#!/bin/sh -e\necho\n")
    outer = tmp_path / "outer"
    outer.write_text(f"#! {inner} arg\n")
    assert interpreters(str(outer)) == [str(inner), os.path.realpath("/bin/sh")]
    assert interpreters("/usr/bin/env") == []  # an ELF program has none


def test_learned_script_runs_enforced(user: str, work: Path) -> None:
    _confinable()
    script = work / "hello.sh"
    script.write_text("#!/bin/sh\necho hello from a script\ncat /etc/hostname\n")
    os.chmod(script, 0o755)
    profile = policy_dir(work) / "s.profile"
    learned = cli("learn", "-o", str(profile), "--", str(script), user=user, timeout=120)
    assert learned.returncode == 0, learned.stderr
    assert f"{os.path.realpath('/bin/sh')} ix," in profile.read_text()
    enforced = cli("run", "-p", str(profile), "--", str(script), user=user, timeout=120)
    assert enforced.returncode == 0, enforced.stderr
    assert enforced.stdout == learned.stdout
