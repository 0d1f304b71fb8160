"""Escapes through what Landlock does not mediate (issue 10, items 1, 3, 4, 7, 8, 9), each tried
by a real confined child through `stockade run`, as root and as nobody; and ordinary programs
(cp -p, tar x, touch, install -m, git commit) that must keep working inside a granted tree.

Each attempt succeeded before the hybrid enforcement: chmod/chown/utime/xattrs went straight to
the kernel, MPTCP sockets skipped the TCP port rules, listen() auto-bound a port, the keyring
was shared, and pathname unix sockets were connectable.
"""

from __future__ import annotations

import array
import contextlib
import errno
import os
import socket
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import NOBODY, PY, cli, probe, script, uid_of

RX = ["--rx", PY, "--rx", "/usr"]


def run(user: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return cli("run", *args, user=user, timeout=timeout)


def lines(res: subprocess.CompletedProcess[str]) -> list[str]:
    return res.stdout.split()


# --- item 3: chmod, chown, utime, xattrs outside the grants ---------------------------------

def test_chmod_outside_the_grants_is_refused(area, user):
    os.chmod(area.secret, 0o600)
    res = run(user, *RX, "--ro", str(area.allowed), "--",
              *probe(f"os.chmod({str(area.secret)!r}, 0o666)",
                     f"os.chmod({str(area.allowed / 'file.txt')!r}, 0o666)"))
    assert lines(res) == ["EACCES", "EACCES"], res  # read-only grant: no w either
    assert stat.S_IMODE(os.stat(area.secret).st_mode) == 0o600


def test_root_cannot_chmod_etc_shadow_through_a_read_grant(user):
    """The issue's example: `stockade run --rx /usr -- chmod 666 /etc/shadow` (as root: owner
    of the file, so the kernel's DAC alone would allow it)."""
    before = os.stat("/etc/shadow")
    res = run(user, "--rx", "/usr", "--rx", "/lib", "--rx", "/lib64", "--",
              "/bin/chmod", "666", "/etc/shadow")
    assert res.returncode != 0
    after = os.stat("/etc/shadow")
    assert stat.S_IMODE(after.st_mode) == stat.S_IMODE(before.st_mode)


def test_chown_utime_and_xattrs_outside_the_grants_are_refused(area, user):
    uid = uid_of(user)
    secret = str(area.secret)
    old = os.stat(secret)
    res = run(user, *RX, "--rw", str(area.allowed), "--", *probe(
        f"os.chown({secret!r}, {uid}, {uid})",
        f"os.utime({secret!r}, (1, 1))",
        f"os.utime({secret!r})",
        f"os.setxattr({secret!r}, 'user.x', b'1')",
        f"os.removexattr({secret!r}, 'user.y')",
        f"os.getxattr({secret!r}, 'user.y')",
        f"os.listxattr({secret!r})",
        f"os.chmod({str(area.allowed / 'file.txt')!r}, 0o600)",
        f"os.utime({str(area.allowed / 'file.txt')!r}, (5, 5))",
        f"os.setxattr({str(area.allowed / 'file.txt')!r}, 'user.x', b'1')",
        f"print(os.getxattr({str(area.allowed / 'file.txt')!r}, 'user.x'))"))
    assert lines(res) == ["EACCES"] * 7 + ["OK", "OK", "OK", "b'1'", "OK"], res
    new = os.stat(secret)
    assert (new.st_mtime, new.st_uid) == (old.st_mtime, old.st_uid)
    assert os.listxattr(secret) == []
    assert os.stat(area.allowed / "file.txt").st_mtime == 5


def test_fd_variants_and_symlinks_do_not_escape(area, user):
    """fchmod on a descriptor opened for reading, and a symlink planted in the writable tree
    pointing outside: both resolve to the object outside the grants."""
    link = str(area.allowed / "link")
    uid = uid_of(user)
    res = run(user, *RX, "--rw", str(area.allowed), "--ro", str(area.forbidden), "--", *script(f"""
os.symlink({str(area.secret)!r}, {link!r})
fd = os.open({str(area.secret)!r}, os.O_RDONLY)
attempt(lambda: os.fchmod(fd, 0o666))
attempt(lambda: os.chmod({link!r}, 0o666))
attempt(lambda: os.utime(fd, (1, 1)))
attempt(lambda: os.setxattr(fd, 'user.x', b'1'))
attempt(lambda: os.chown({link!r}, {uid}, {uid}, follow_symlinks=False))
"""))
    # the last one: lchown acts on the link itself, which lies inside the writable tree
    assert lines(res) == ["EACCES", "EACCES", "EACCES", "EACCES", "OK"], res
    assert stat.S_IMODE(os.stat(area.secret).st_mode) == 0o644


def profile_file(text: str) -> Path:
    """A profile in a directory nobody can read."""
    d = Path(tempfile.mkdtemp(prefix="stockade-prof-", dir="/tmp"))
    os.chmod(d, 0o755)
    path = d / "p"
    path.write_text(text)
    os.chmod(path, 0o644)
    return path


def test_profile_deny_w_rule_covers_chmod(area, user):
    tree = area.allowed
    profile = profile_file(f"""profile t {{
  {PY} rix,
  /usr/** rix,
  {tree}/ r,
  {tree}/** rw,
  deny {tree}/file.txt w,
}}
""")
    res = run(user, "-p", str(profile), "--", *probe(
        f"os.chmod({str(tree / 'file.txt')!r}, 0o600)",
        f"os.chmod({str(tree / 'sub')!r}, 0o700)",
        f"os.chmod({str(area.secret)!r}, 0o600)"))
    assert lines(res) == ["EACCES", "OK", "EACCES"], res
    assert stat.S_IMODE(os.stat(tree / "file.txt").st_mode) == 0o644


def test_without_a_supervisor_the_calls_are_refused_with_eperm(area, user):
    """The plan's user-notif rules become EPERM when nothing supervises (confine_helpers'
    launcher path), and the coverage report says so."""
    from confine_helpers import confined, plan_with

    from stockade.enforce import prepare

    plan = plan_with(rw=[str(area.allowed)])
    with prepare.prepare(plan) as prep:
        lines_ = [e.line() for e in prep.coverage.weakened() if e.rule.startswith("chmod")]
    assert lines_ and "EPERM" in lines_[0]
    res = confined(plan, probe(f"os.chmod({str(area.allowed / 'file.txt')!r}, 0o600)"),
                   user=user)
    assert res.lines == ["EPERM"], res


# --- item 4: modules see truncate, utime, setxattr; labels stay put --------------------------

@pytest.fixture
def labelled(user) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="stockade-hy-", dir="/tmp"))
    os.chmod(d, 0o755)
    for name, level in (("high", "high"), ("medium", "medium")):
        p = d / name
        p.write_text(name.upper() + "\n")
        os.setxattr(p, "user.stockade.biba", level.encode())
        os.chown(p, uid_of(user), uid_of(user))
    os.chown(d, uid_of(user), uid_of(user))
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


def test_biba_medium_cannot_relabel_truncate_or_touch_a_high_file(labelled, user):
    high, medium = str(labelled / "high"), str(labelled / "medium")
    res = run(user, "--mode", "enforce", "--lsm", "capability,biba", "--context", "biba=medium",
              "--module-option", "biba.default_level=high", "--rx", "/usr", "--rx", PY,
              "--rw", str(labelled), "--", *probe(
                  f"os.setxattr({high!r}, 'user.stockade.biba', b'low')",
                  f"os.removexattr({high!r}, 'user.stockade.biba')",
                  f"os.setxattr({medium!r}, 'user.stockade.biba', b'low')",
                  f"os.truncate({high!r}, 0)",
                  f"os.utime({high!r}, (1, 1))",
                  f"open({high!r}, 'a')",
                  f"os.truncate({medium!r}, 1)"))
    assert lines(res) == ["EPERM", "EPERM", "EPERM", "EACCES", "EACCES", "EACCES", "OK"], res
    assert os.getxattr(high, "user.stockade.biba") == b"high"
    assert Path(high).read_text() == "HIGH\n"
    assert Path(medium).read_text() == "M"


def test_every_module_hook_is_routed_or_explained():
    """The routing table against every hook each module implements."""
    from stockade.enforce.supervisor.routing import HOOK_SYSCALLS, NOT_ROUTED
    from stockade.enforce.supervisor.table import handlers_for
    from stockade.modules.registry import build_stack

    stack = build_stack("capability,yama,loadpin,lockdown,biba,smack", dac=False)
    hooks = {h for m in stack.modules for h in m.hooks()}
    from stockade.modules.abac import Abac
    from stockade.modules.apparmor.module import AppArmor
    from stockade.modules.selinux.module import SELinux

    # modules that need settings to be built: their classes' hooks
    hooks |= {a.removeprefix("hook_") for cls in (AppArmor, SELinux, Abac) for a in dir(cls)
              if a.startswith("hook_")}
    for hook in sorted(hooks):
        assert hook in HOOK_SYSCALLS or hook in NOT_ROUTED, f"hook {hook} reaches no handler"
    for hook, names in HOOK_SYSCALLS.items():
        for name in names:
            assert name in handlers_for(None), f"{hook}: {name} is routed but has no handler"
    assert {"truncate", "ftruncate", "utimensat", "utime"} <= set(HOOK_SYSCALLS["inode_setattr"])
    assert {"setxattr", "fsetxattr", "removexattr"} <= set(HOOK_SYSCALLS["inode_setxattr"])


# --- item 1: MPTCP and SCTP skip the TCP port rules -----------------------------------------

@contextlib.contextmanager
def tcp_server() -> Iterator[int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = srv.accept()
                conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield port
    finally:
        stop.set()
        t.join()
        srv.close()


def test_mptcp_and_sctp_cannot_skip_the_port_rules(user):
    with tcp_server() as port:
        attempt = (f"socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262).connect("
                   f"('127.0.0.1', {port}))")
        control = subprocess.run(probe(attempt), capture_output=True, text=True)
        mptcp_works = control.stdout.split() == ["OK"]
        res = run(user, *RX, "--connect-tcp", "18080", "--", *probe(
            attempt,
            "socket.socket(socket.AF_INET6, socket.SOCK_STREAM, 262)",
            "socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132)",
            "socket.socket(socket.AF_INET, socket.SOCK_SEQPACKET, 132)",
            "socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK, 262)",
            "socket.socket(socket.AF_INET, socket.SOCK_STREAM, 6)",
            f"socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(('127.0.0.1', {port}))"))
    assert lines(res) == ["EPROTONOSUPPORT"] * 5 + ["OK", "EACCES"], res
    assert mptcp_works or control.stdout.split()[0] in ("EPROTONOSUPPORT", "ENOPROTOOPT")


def test_mptcp_refused_under_a_profile_with_port_rules(user):
    profile = profile_file(f"""profile t {{
  {PY} rix,
  /usr/** rix,
  network inet stream peer=(port=18080),
}}
""")
    res = run(user, "-p", str(profile), "--", *probe(
        "socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262).bind(('127.0.0.1', 0))",
        "socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0)"))
    assert lines(res) == ["EPROTONOSUPPORT", "OK"], res


# --- item 7: listen() without bind() --------------------------------------------------------

def test_listen_without_bind_cannot_take_an_ephemeral_port(user):
    res = run(user, *RX, "--bind-tcp", "18081", "--", *probe(
        "socket.socket().listen()",
        "socket.socket(socket.AF_INET6).listen()",
        "(lambda s: (s.bind(('127.0.0.1', 18081)), s.listen()))(socket.socket())",
        "socket.socket(socket.AF_UNIX).listen()"))
    # an unbound unix stream socket cannot listen at all (EINVAL, the kernel's own answer)
    assert lines(res) == ["EACCES", "EACCES", "OK", "EINVAL"], res


def test_listen_without_bind_allowed_when_port_zero_is_granted(user):
    res = run(user, *RX, "--bind-tcp", "0", "--", *probe("socket.socket().listen()"))
    assert lines(res) == ["OK"], res


# --- item 9: the kernel keyring --------------------------------------------------------------

KEYCTL, KEY_SPEC_USER_KEYRING = 250, -4


def test_keyring_is_refused_by_default(user):
    attempt = [f"sys_({KEYCTL}, 0, {KEY_SPEC_USER_KEYRING}, 0)",
               "sys_(248, b'user\\0', b'k\\0', b'v', 1, -4)"]  # add_key to @u
    res = run(user, *RX, "--", *probe(*attempt))
    assert lines(res) == ["EPERM", "EPERM"], res
    allowed = run(user, *RX, "--allow-keyring", "--", *probe(attempt[0]))
    assert lines(allowed) == ["OK"], allowed


# --- working programs inside a granted tree --------------------------------------------------

WORK = """set -e
cd "$1"
echo hello > a; chmod 640 a
cp -p a b; stat -c '%a' b
mkdir src; echo 1 > src/x; tar cf t.tar src; mkdir out; tar xf t.tar -C out; cat out/src/x
touch -d '2020-01-01' a; stat -c '%y' a | cut -c1-4
install -m 755 a inst; stat -c '%a' inst
git init -q repo; cd repo; git config user.email a@b; git config user.name n
echo z > z; git add z; git commit -qm m; git log --oneline | wc -l
"""


def test_cp_tar_touch_install_git_work_in_a_granted_tree(user):
    d = Path(tempfile.mkdtemp(prefix="stockade-work-", dir="/tmp"))
    try:
        os.chmod(d, 0o755)
        os.chown(d, uid_of(user), uid_of(user))
        env_home = f"HOME={d}"
        res = cli("run", "--rx", "/usr", "--rx", "/lib", "--rx", "/lib64", "--ro", "/etc",
                  "--ro", "/dev/urandom", "--rw", "/dev/null", "--rw", str(d), "--",
                  "/usr/bin/env", env_home, "/bin/sh", "-c", WORK, "sh", str(d), user=user,
                  timeout=120)
        assert res.stdout.split() == ["640", "1", "2020", "755", "1"], res
        assert (d / "out" / "src" / "x").read_text() == "1\n"
    finally:
        subprocess.run(["rm", "-rf", str(d)], check=False)


def test_nobody_owned_area_is_what_the_tests_use(area, user):
    """Sanity for the attempts above: the scratch files belong to the user trying."""
    assert os.stat(area.secret).st_uid == (NOBODY if user == "nobody" else 0)
    assert errno.EACCES != errno.EPERM


# --- item 8: pathname unix sockets outside the grants ---------------------------------------

@contextlib.contextmanager
def unix_server(path: Path) -> Iterator[None]:
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    os.chmod(path, 0o777)
    srv.listen(8)
    try:
        yield
    finally:
        srv.close()
        path.unlink()


def test_pathname_unix_connect_outside_the_grants_is_refused(area, user):
    outside, inside = area.forbidden / "s.sock", area.allowed / "s.sock"
    link = area.allowed / "link"
    with unix_server(outside), unix_server(inside):
        os.symlink(outside, link)
        attempts = [f"socket.socket(socket.AF_UNIX).connect({str(outside)!r})",
                    f"socket.socket(socket.AF_UNIX).connect({str(link)!r})",
                    f"socket.socket(socket.AF_UNIX).connect({str(inside)!r})",
                    f"(os.chdir({str(area.forbidden)!r}), "
                    "socket.socket(socket.AF_UNIX).connect('s.sock'))"]
        res = run(user, *RX, "--rw", str(area.allowed), "--ro", str(area.forbidden), "--",
                  *probe(*attempts))
        profile = profile_file(f"""profile t {{
  {PY} rix,
  /usr/** rix,
  {area.allowed}/** rw,
  {area.forbidden}/** r,
  unix,
}}
""")
        under_profile = run(user, "-p", str(profile), "--", *probe(*attempts))
    assert lines(res) == ["EACCES", "EACCES", "OK", "EACCES"], res
    assert lines(under_profile) == ["EACCES", "EACCES", "OK", "EACCES"], under_profile


def test_pathname_unix_datagrams_outside_the_grants_are_refused(area, user):
    """sendto/sendmsg name their destination in memory: emulated, decided like connect."""
    outside, inside = area.forbidden / "d.sock", area.allowed / "d.sock"
    servers = []
    for path in (outside, inside):
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        srv.bind(str(path))
        os.chmod(path, 0o777)
        srv.setblocking(False)
        servers.append(srv)
    try:
        res = run(user, *RX, "--rw", str(area.allowed), "--", *script(f"""
import array
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
attempt(lambda: d.sendto(b"out", {str(outside)!r}))
attempt(lambda: d.sendmsg([b"out"], [], 0, {str(outside)!r}))
attempt(lambda: d.sendto(b"in", {str(inside)!r}))
r, w = os.pipe()
attempt(lambda: d.sendmsg([b"fd"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                      array.array("i", [w]))], 0, {str(inside)!r}))
a, b = socket.socketpair()
attempt(lambda: a.sendmsg([b"ab", b"cd"]))
print(b.recv(10).decode())
"""))
        assert lines(res) == ["EACCES", "EACCES", "OK", "OK", "OK", "abcd"], res
        with pytest.raises(BlockingIOError):
            servers[0].recv(10)
        assert servers[1].recv(10) == b"in"
        msg, anc, _, _ = servers[1].recvmsg(10, 64)
        assert msg == b"fd" and anc and anc[0][:2] == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
        for fd in array.array("i", anc[0][2]):
            os.close(fd)
    finally:
        for srv in servers:
            srv.close()
        outside.unlink()
        inside.unlink()


def test_newer_system_calls_are_routed_too(area, user):
    """fchmodat2 (452) and the *xattrat calls (463-466, newer than libseccomp 2.5.4: routed
    by number) reach the same decision; getxattrat copies the value back."""
    secret, mine = str(area.secret), str(area.allowed / "file.txt")
    os.setxattr(mine, "user.k", b"v")
    res = run(user, *RX, "--rw", str(area.allowed), "--", *script(f"""
import struct
AT_FDCWD = -100
val = ctypes.create_string_buffer(b"1")
args = struct.pack("=QII", ctypes.addressof(val), 1, 0)
out = ctypes.create_string_buffer(16)
get = struct.pack("=QII", ctypes.addressof(out), 16, 0)
attempt(lambda: sys_(452, AT_FDCWD, {secret.encode()!r}, 0o666, 0))
attempt(lambda: sys_(463, AT_FDCWD, {secret.encode()!r}, 0, b"user.x", args, 16))
attempt(lambda: sys_(466, AT_FDCWD, {secret.encode()!r}, 0, b"user.x"))
attempt(lambda: sys_(464, AT_FDCWD, {secret.encode()!r}, 0, b"user.k", get, 16))
attempt(lambda: sys_(452, AT_FDCWD, {mine.encode()!r}, 0o600, 0))
attempt(lambda: sys_(463, AT_FDCWD, {mine.encode()!r}, 0, b"user.x", args, 16))
print(sys_(464, AT_FDCWD, {mine.encode()!r}, 0, b"user.k", get, 16), out.value.decode())
"""))
    assert lines(res) == ["EACCES"] * 4 + ["OK", "OK", "1", "v"], res
    assert os.getxattr(mine, "user.x") == b"1"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o644


def test_attribute_changes_on_a_path_longer_than_path_max_are_refused(area, user):
    """Red team 7: readlink of /proc/self/fd/N fails (ENAMETOOLONG) for a file deeper than
    PATH_MAX; the guard took the empty path for a pipe or socket and let chmod, utime and
    setxattr through on a file no write grant covers."""
    uid = uid_of(user)
    depth = area.forbidden
    fd = os.open(depth, os.O_RDONLY | os.O_DIRECTORY)
    length = len(str(depth))
    while length < 4300:  # built through descriptors: the path itself is too long to name
        os.mkdir("d" * 200, dir_fd=fd)
        os.chown("d" * 200, uid, uid, dir_fd=fd)
        nfd = os.open("d" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd, length = nfd, length + 201
    vfd = os.open("victim", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd)
    os.fchown(vfd, uid, uid)
    os.close(vfd)
    try:
        res = run(user, *RX, "--ro", str(area.root), "--", *script(
            f"os.chdir({str(area.forbidden)!r})\n"
            "while os.path.isdir('d' * 200):\n"
            "    os.chdir('d' * 200)\n"
            "attempt(lambda: os.chmod('victim', 0o666))\n"
            "attempt(lambda: os.utime('victim', (0, 0)))\n"
            "attempt(lambda: os.setxattr('victim', 'user.rt7', b'1'))\n"
            "attempt(lambda: open('victim', 'a'))\n"))
        assert lines(res) == ["EACCES"] * 4, res
        st = os.stat("victim", dir_fd=fd)
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_mtime != 0
        vfd = os.open("victim", os.O_RDONLY, dir_fd=fd)
        try:
            assert os.listxattr(vfd) == []
        finally:
            os.close(vfd)
    finally:
        os.close(fd)
