"""capability, network, unix, signal, ptrace and mount rules."""

from __future__ import annotations

import errno
import signal as signals
import socket

import pytest

from stockade.audit.formats import kernel_line
from stockade.audit.record import record_from_event
from stockade.lsm import operations as ops
from stockade.lsm.caps import cap_number
from stockade.lsm.stack import AUDIT
from stockade.lsm.types import (
    PTRACE_MODE_ATTACH,
    PTRACE_MODE_READ,
    Object,
    ObjectKind,
    Request,
    Subject,
)
from tests.apparmor.aa_helpers import fields, fobj, module, stack, subject, task

POLICY = """
profile p {
  capability net_bind_service,
  audit capability chown,
  capability sys_admin,
  deny capability sys_admin,
  network inet stream,
  network inet6 dgram,
  network bind inet stream ip=127.0.0.1 port=8000-8080,
  network connect inet6 stream peer=(ip=::1 port=443),
  signal send set=(term hup) peer=other,
  signal (send receive) peer=p,
  ptrace read peer=other,
  ptrace trace peer=p//kid,
  unix (connect) type=stream peer=(label=server),
  mount fstype=tmpfs -> /mnt/**,
  mount options=(ro, bind) /srv/ -> /mnt/ro/,
  umount /mnt/**,
  pivot_root oldroot=/old/ /new/,
  profile kid { ptrace (tracedby) peer=p, }
}
profile other { signal receive set=(term) peer=p, ptrace readby, }
profile all_caps { capability, }
profile everything { all, deny capability mknod, }
"""


@pytest.fixture(scope="module")
def st():
    return stack(module(POLICY))


ALL_CAPS = (1 << 41) - 1


def cap(st, profile: str, name: str):
    """A root-like subject (every capability effective): only AppArmor can refuse."""
    who = subject(profile, cap_effective=ALL_CAPS, cap_permitted=ALL_CAPS)
    return st.decide(Request("capable", who, cap=cap_number(name)))


def test_capabilities(st) -> None:
    assert cap(st, "p", "net_bind_service").allowed
    d = cap(st, "p", "net_raw")
    assert d.errno == errno.EPERM and fields(d)["class"] == "cap" and fields(d)["operation"] == "capable"
    line = kernel_line(record_from_event(d.events[0]))
    assert 'capname="net_raw"' in line and "requested_mask" not in line
    denied = cap(st, "p", "sys_admin")
    assert denied.errno == errno.EPERM and denied.decider.hard
    assert "deny capability sys_admin" in denied.decider.rule
    audited = cap(st, "p", "chown")
    assert audited.allowed and [e.result for e in audited.events] == [AUDIT]
    assert cap(st, "all_caps", "sys_module").allowed
    assert cap(st, "everything", "sys_module").allowed
    assert cap(st, "everything", "mknod").errno == errno.EPERM


def test_capability_denial_goes_through_nested_capable(st) -> None:
    req = Request("capable", subject("p", cap_effective=ALL_CAPS), cap=0)
    assert not st.capable(req, cap_number("sys_admin"))


def _sock(family: int, stype: int, address: str = "", port: int = 0, proto: int = 0) -> Object:
    return Object(kind=ObjectKind.SOCKET, family=family, sock_type=stype, protocol=proto,
                  address=address, port=port)


@pytest.mark.parametrize(("hook", "sock", "ok"), [
    ("socket_create", _sock(socket.AF_INET, socket.SOCK_STREAM), True),
    ("socket_create", _sock(socket.AF_INET, socket.SOCK_DGRAM), False),
    ("socket_create", _sock(socket.AF_INET6, socket.SOCK_DGRAM), True),
    ("socket_create", _sock(socket.AF_UNIX, socket.SOCK_STREAM), False),
    ("socket_connect", _sock(socket.AF_INET, socket.SOCK_STREAM, "10.0.0.1", 80), True),
    ("socket_bind", _sock(socket.AF_INET, socket.SOCK_STREAM, "0.0.0.0", 22), True),
    ("socket_connect", _sock(socket.AF_INET6, socket.SOCK_STREAM, "::1", 443), True),
    ("socket_connect", _sock(socket.AF_INET6, socket.SOCK_STREAM, "::1", 80), False),
    ("socket_create", _sock(socket.AF_INET6, socket.SOCK_STREAM), False),
])
def test_network(st, hook: str, sock: Object, ok: bool) -> None:
    d = st.decide(Request(hook, subject("p"), sock))
    assert d.errno == (0 if ok else errno.EACCES)


def test_network_conditionals_on_bind() -> None:
    st = stack(module("profile n { network bind inet stream ip=127.0.0.1 port=8000-8080, }"))
    def bind(addr: str, port: int) -> int:
        return st.decide(Request("socket_bind", subject("n"),
                                 _sock(socket.AF_INET, socket.SOCK_STREAM, addr, port))).errno
    assert bind("127.0.0.1", 8000) == 0
    assert bind("127.0.0.1", 9000) == errno.EACCES
    assert bind("10.0.0.1", 8000) == errno.EACCES
    assert st.decide(Request("socket_create", subject("n"),
                             _sock(socket.AF_INET, socket.SOCK_STREAM))).errno == errno.EACCES


def test_network_record_fields(st) -> None:
    (create, _) = ops.net_requests("connect", subject("p"), ops.Peer(socket.AF_INET, "1.2.3.4", 5),
                                   sock_type=socket.SOCK_RAW)
    d = st.decide(create)
    f = fields(d)
    assert (f["family"], f["sock_type"], f["operation"], f["denied"]) == ("inet", "raw", "create", "create")
    assert 'family="inet" sock_type="raw"' in kernel_line(record_from_event(d.events[0]))


def test_signals_are_checked_on_both_sides(st) -> None:
    def kill(src: str | None, dst: str | None, sig: int) -> int:
        return st.decide(Request("task_kill", subject(src), task(dst), signal=sig)).errno

    assert kill("p", "other", signals.SIGTERM) == 0
    assert kill("p", "other", signals.SIGHUP) == errno.EACCES  # other does not receive hup
    assert kill("p", "other", signals.SIGKILL) == errno.EACCES  # p may not send kill
    assert kill("p", "p", signals.SIGUSR1) == 0  # to itself: its own rule allows it
    assert kill("other", "other", signals.SIGTERM) == errno.EACCES  # self is still mediated
    assert kill(None, "other", signals.SIGTERM) == errno.EACCES  # other receives only from p
    assert kill(None, None, signals.SIGTERM) == 0
    d = st.decide(Request("task_kill", subject("p"), task("other"), signal=signals.SIGKILL))
    f = fields(d)
    assert (f["signal"], f["peer"], f["class"], f["denied"]) == ("kill", "other", "signal", "send")
    assert 'signal=kill peer="other"' in kernel_line(record_from_event(d.events[0]))


def test_ptrace(st) -> None:
    def trace(src: str | None, dst: str | None, mode: int) -> int:
        return st.decide(Request("ptrace_access_check", subject(src), task(dst), flags=mode)).errno

    assert trace("p", "other", PTRACE_MODE_READ) == 0
    assert trace("p", "other", PTRACE_MODE_ATTACH) == errno.EACCES
    assert trace("p", "p//kid", PTRACE_MODE_ATTACH) == 0  # trace + the kid's tracedby
    assert trace("p", "p//kid", PTRACE_MODE_READ) == 0  # trace implies read
    assert trace("other", "p", PTRACE_MODE_READ) == errno.EACCES
    assert trace(None, "p", PTRACE_MODE_ATTACH) == 0  # unconfined tracer: not mediated


def test_unix_stream_connect(st) -> None:
    server = Subject(pid=9, contexts=(("apparmor", "server"),))
    sock = Object(kind=ObjectKind.SOCKET, family=socket.AF_UNIX, address="/run/s.sock", task=server)
    assert st.decide(Request("unix_stream_connect", subject("p"), sock)).allowed
    stranger = Object(kind=ObjectKind.SOCKET, family=socket.AF_UNIX, address="/run/x.sock",
                      task=Subject(pid=10))
    assert st.decide(Request("unix_stream_connect", subject("p"), stranger)).errno == errno.EACCES


def test_mount_umount_pivot_root(st) -> None:
    def mount(path: str, fstype: str, flags: int = 0, source: str | None = None) -> int:
        return st.decide(Request("sb_mount", subject("p"), fobj(path, is_dir=True), what=fstype,
                                 flags=flags, target=fobj(source) if source else None)).errno

    assert mount("/mnt/x", "tmpfs") == 0
    assert mount("/mnt/x", "ext4") == errno.EACCES
    assert mount("/etc", "tmpfs") == errno.EACCES
    assert mount("/mnt/ro", "none", flags=4096 | 1, source="/srv") == 0
    assert mount("/mnt/ro", "none", flags=4096 | 2, source="/srv") == errno.EACCES  # nosuid
    assert st.decide(Request("sb_umount", subject("p"), fobj("/mnt/a"))).allowed
    assert st.decide(Request("sb_umount", subject("p"), fobj("/proc"))).errno == errno.EACCES
    assert st.decide(Request("sb_pivotroot", subject("p"), fobj("/new", is_dir=True),
                             target=fobj("/old", is_dir=True))).allowed
    d = st.decide(Request("sb_pivotroot", subject("p"), fobj("/else", is_dir=True)))
    assert d.errno == errno.EACCES and fields(d)["class"] == "mount"
