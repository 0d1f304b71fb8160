"""What the kernel does to a confined child: filesystem, network, sockets, ptrace."""

import os
import shutil
import socket
import subprocess

import pytest
from confine_helpers import NOBODY, confined, plan_with, probe


def test_filesystem(area, user):
    allowed, forbidden = str(area.allowed), str(area.forbidden)
    shutil.copy("/bin/true", area.allowed / "true")
    os.chown(area.allowed / "true", *(2 * [NOBODY if user == "nobody" else 0]))
    rw = area.root / "rw"
    rw.mkdir()
    os.chown(rw, *(2 * [NOBODY if user == "nobody" else 0]))
    res = confined(
        plan_with(ro=[allowed], rw=[str(rw)]),
        probe(
            f"open({allowed + '/file.txt'!r}).read()",           # allowed read
            f"os.listdir({allowed!r})",                          # allowed readdir
            f"open({str(area.secret)!r}).read()",                # denied read
            f"os.listdir({forbidden!r})",                        # denied readdir
            f"open({allowed + '/file.txt'!r}, 'a')",             # write in a read-only tree
            f"open({allowed + '/new'!r}, 'x')",                  # create in a read-only tree
            f"os.mkdir({allowed + '/newdir'!r})",                # mkdir in a read-only tree
            f"os.unlink({allowed + '/file.txt'!r})",             # unlink in a read-only tree
            f"os.rename({allowed + '/file.txt'!r}, {allowed + '/moved'!r})",  # rename
            f"os.truncate({allowed + '/file.txt'!r}, 0)",        # truncate
            f"os.execv({allowed + '/true'!r}, ['true'])",         # exec without execute right
            f"open({str(rw / 'made')!r}, 'x').write('ok')",      # create in the rw tree
            f"os.rename({str(rw / 'made')!r}, {str(rw / 'renamed')!r})",
            f"os.unlink({str(rw / 'renamed')!r})",
        ),
        user=user,
    )
    assert res.lines == ["OK", "OK", "EACCES", "EACCES", "EACCES", "EACCES", "EACCES",
                         "EACCES", "EACCES", "EACCES", "EACCES", "OK", "OK", "OK"], res
    assert (area.allowed / "file.txt").read_text() == "allowed data\n"


def _free_ports(n: int) -> list[int]:
    """`n` distinct ports that were free a moment ago (all held at once while choosing)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def test_tcp_ports(user, listeners):
    ok_port, other_port = listeners
    bind_ok, bind_other = _free_ports(2)
    connect = "socket.create_connection(('127.0.0.1', {}), timeout=5).close()"
    bind = "socket.socket().bind(('127.0.0.1', {}))"
    res = confined(
        plan_with(connect=[ok_port], bind=[bind_ok]),
        probe(connect.format(ok_port), connect.format(other_port),
              bind.format(bind_ok), bind.format(bind_other)),
        user=user)
    assert res.lines == ["OK", "EACCES", "OK", "EACCES"], res
    control = confined(None, probe(connect.format(other_port), bind.format(bind_other)),
                       user=user)
    assert control.lines == ["OK", "OK"]


def test_socket_families(user):
    tries = ("socket.socket(socket.AF_PACKET, socket.SOCK_RAW)",  # 17: the >= rule
             "socket.socket(9, socket.SOCK_STREAM)",               # AF_X25: a gap rule
             "socket.socket(socket.AF_BLUETOOTH, socket.SOCK_STREAM)",
             "socket.socket(socket.AF_UNIX)", "socket.socket(socket.AF_INET6)",
             # high bits above the kernel's int: must not slip past the rules
             "sys_(41, (1 << 32) | 17, 3, 0)")
    res = confined(plan_with(), probe(*tries), user=user)
    assert res.lines == ["EAFNOSUPPORT"] * 3 + ["OK", "OK", "EAFNOSUPPORT"], res


def test_ptrace_of_another_process_fails(user):
    target = subprocess.Popen(["/usr/bin/sleep", "30"],
                              **({"user": NOBODY, "group": NOBODY, "extra_groups": []}
                                 if user == "nobody" else {}))
    try:
        attach = f"sys_(101, 16, {target.pid}, 0, 0)"  # ptrace(PTRACE_ATTACH)
        if os.uname().machine != "x86_64":
            pytest.skip("x86_64 system call numbers")
        control = confined(None, probe(attach), user=user)
        assert control.lines == ["OK"]  # possible without confinement (no Yama here)
        res = confined(plan_with(), probe(attach), user=user)
        assert res.lines == ["EPERM"], res
    finally:
        target.kill()
        target.wait()


def test_file_rule(user):
    """A rule on a single file grants that file only (file rights; directory rights dropped)."""
    res = confined(plan_with(ro=["/etc/hostname"]),
                   probe("open('/etc/hostname').read()", "open('/etc/passwd').read()",
                         "os.listdir('/etc')"), user=user)
    assert res.lines == ["OK", "EACCES", "EACCES"], res
