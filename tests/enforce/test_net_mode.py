"""`stockade run --net none|tcp`: real confined children, as root and as nobody, get the
errno the kernel (seccomp + Landlock) gives for each socket operation."""

from __future__ import annotations

import os

from confine_helpers import LABELLED, PY, cli

RX = ["--rx", PY, "--rx", "/usr"]


def _probe(granted: int, other: int) -> str:
    return LABELLED + f"""
import socket
t("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
t("udp6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
t("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
t("pair", lambda: [s.close() for s in socket.socketpair()])
t("unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close())
t("granted", lambda: socket.create_connection(("127.0.0.1", {granted}), timeout=5).close())
t("other", lambda: socket.create_connection(("127.0.0.1", {other}), timeout=5).close())
"""


def _run(user: str, *args: str, granted: int, other: int) -> tuple[dict[str, str], str]:
    res = cli("run", *args, "--", PY, "-c", _probe(granted, other), user=user)
    assert res.returncode == 0, res.stderr
    return dict(line.split(":", 1) for line in res.stdout.split()), res.stderr


E = {"EACCES": "13", "EAFNOSUPPORT": "97"}


def test_net_none(user, listeners):
    granted, other = listeners
    got, err = _run(user, *RX, "--net", "none", granted=granted, other=other)
    assert got == {"udp": E["EAFNOSUPPORT"], "udp6": E["EAFNOSUPPORT"],
                   "netlink": E["EAFNOSUPPORT"], "pair": "OK", "unix": E["EAFNOSUPPORT"],
                   "granted": E["EAFNOSUPPORT"], "other": E["EAFNOSUPPORT"]}
    assert err == ""
    bad = cli("run", "--net", "none", "--connect-tcp", str(granted), "--", "/bin/true",
              user=user)
    assert bad.returncode == 125 and len(bad.stderr.splitlines()) == 1, bad.stderr


def test_net_tcp(user, listeners):
    granted, other = listeners
    got, err = _run(user, *RX, "--net", "tcp", "--connect-tcp", str(granted),
                    granted=granted, other=other)
    assert got == {"udp": E["EACCES"], "udp6": E["EACCES"], "netlink": E["EAFNOSUPPORT"],
                   "pair": "OK", "unix": "OK", "granted": "OK", "other": E["EACCES"]}
    assert err == "", err  # no UDP warning: --net tcp closed it


def test_without_net_udp_and_netlink_stay_open_with_one_warning(user, listeners):
    """The baseline the modes change (and the warning that names --net tcp, once)."""
    granted, other = listeners
    got, err = _run(user, *RX, "--connect-tcp", str(granted), granted=granted, other=other)
    assert got["udp"] == "OK" and got["netlink"] == "OK" and got["other"] == E["EACCES"]
    lines = err.splitlines()
    assert len(lines) == 1 and "UDP" in lines[0] and "--net tcp" in lines[0], err
    _, quiet = _run(user, *RX, "-q", "--connect-tcp", str(granted), granted=granted,
                    other=other)
    assert quiet == ""


def test_net_narrows_a_profile(area, user, listeners):
    """A profile that allows every network family and port: --net tcp keeps TCP to the
    granted port only, --net none keeps nothing."""
    granted, other = listeners
    prof = area.root / "net.aa"
    prof.write_text("profile net {\n  /usr/** rix,\n  /etc/** r,\n  /proc/** r,\n"
                    "  /dev/null rw,\n  network,\n}\n")
    os.chmod(prof, 0o644)
    wide, _ = _run(user, "-q", "-p", str(prof), granted=granted, other=other)
    assert wide["udp"] == "OK" and wide["other"] == "OK"
    tcp, _ = _run(user, "-q", "-p", str(prof), "--net", "tcp", "--connect-tcp", str(granted),
                  granted=granted, other=other)
    assert tcp == {"udp": E["EACCES"], "udp6": E["EACCES"], "netlink": E["EAFNOSUPPORT"],
                   "pair": "OK", "unix": "OK", "granted": "OK", "other": E["EACCES"]}
    none, _ = _run(user, "-q", "-p", str(prof), "--net", "none", granted=granted, other=other)
    assert none["udp"] == none["granted"] == none["unix"] == E["EAFNOSUPPORT"]
    assert none["pair"] == "OK"


LISTEN = LABELLED + """
import socket
t("listen", lambda: socket.socket().listen(1))
"""


def test_refused_listen_points_to_bind_tcp(user):
    """The supervisor refuses an unbound listen (an ephemeral port no grant allows): the end
    of the run names the flag that grants it; -q keeps quiet; a granted run says nothing."""
    res = cli("run", *RX, "--", PY, "-c", LISTEN, user=user)
    assert res.stdout.split() == ["listen:13"], res.stderr
    assert res.stderr.splitlines() == [
        "stockade run: TCP refused: listen on an unbound socket; grant with --bind-tcp 0 "
        "(port 0: any ephemeral port)"], res.stderr
    quiet = cli("run", "-q", *RX, "--", PY, "-c", LISTEN, user=user)
    assert quiet.stdout.split() == ["listen:13"] and quiet.stderr == ""
    granted = cli("run", *RX, "--net", "tcp", "--bind-tcp", "0", "--", PY, "-c", LISTEN,
                  user=user)
    assert granted.stdout.split() == ["listen:OK"] and granted.stderr == "", granted.stderr


def test_refused_bind_seen_in_kernel_records_points_to_bind_tcp(tmp_path):
    """As root with --audit, Landlock's net.bind_tcp records name the port."""
    log = tmp_path / "a.jsonl"
    code = LABELLED + """
import socket
t("bind", lambda: socket.socket().bind(("127.0.0.1", 8081)))
"""
    res = cli("run", "--audit", str(log), *RX, "--", PY, "-c", code)
    assert res.stdout.split() == ["bind:13"], res.stderr
    if "audit is disabled" in res.stderr or "not recorded" in res.stderr:
        import pytest

        pytest.skip(f"kernel audit records unavailable: {res.stderr.strip()}")
    assert "TCP refused: bind on port 8081; grant with --bind-tcp 8081" in res.stderr, \
        res.stderr
