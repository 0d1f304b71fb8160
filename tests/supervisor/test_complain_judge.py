"""ProfileJudge: the profile's plan asked per supervised access, one ALLOWED record each."""

from __future__ import annotations

import stat
from pathlib import Path

from stockade.audit.record import AuditRecord
from stockade.enforce import defaults
from stockade.enforce.plan.explain import DENY, explain_plan
from stockade.enforce.supervisor.complain import ProfileJudge
from stockade.lsm.types import MAY_OPEN, MAY_READ, MAY_WRITE, Object, ObjectKind, Request, Subject

ABI = 7
SUBJECT = Subject(pid=42, comm="prog")


def _file(path: Path, mode: int = stat.S_IFREG | 0o644, exists: bool = True) -> Object:
    return Object(kind=ObjectKind.FILE, path=str(path), mode=mode, exists=exists)


def test_one_record_per_access_and_the_same_answer_as_explain(tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir()
    plan = defaults.adhoc_plan([str(tmp_path / "ro")], [], [], [], [])
    plan.name = "p"
    got: list[AuditRecord] = []
    judge = ProfileJudge(plan, ABI, "p", got.append)
    readable = Request("file_open", SUBJECT, _file(tmp_path / "ro" / "a"), MAY_READ | MAY_OPEN)
    written = Request("file_open", SUBJECT, _file(tmp_path / "ro" / "a"), MAY_WRITE | MAY_OPEN)
    new = _file(tmp_path / "ro" / "n", exists=False)
    create = [Request("inode_create", SUBJECT, new, MAY_WRITE),
              Request("file_open", SUBJECT, new, MAY_WRITE | MAY_OPEN)]
    mkdir = Request("inode_mkdir", SUBJECT, _file(tmp_path / "d", stat.S_IFDIR | 0o755, False))
    for req in (readable, written, written, *create, mkdir):
        denies = any(r.verdict == DENY for r in explain_plan(plan, req, abi=ABI))
        assert bool(judge.refusals([req])) == denies  # the decision function explain uses
    for requests in ([readable], [written], [written], create, create[1:], [mkdir]):
        judge(42, "prog", "/usr/bin/prog", 1000, requests)
    assert [(r.operation, r.object, r.requested) for r in got] == [
        ("open", str(tmp_path / "ro" / "a"), "w"),
        ("open", str(tmp_path / "ro" / "n"), "wc"),  # the re-check after creation: no record
        ("mkdir", str(tmp_path / "d") + "/", "c")]
    assert all(r.result == "ALLOWED" and r.fields["apparmor"] == "ALLOWED" and r.profile == "p"
               for r in got)
    assert (judge.recorded, judge.allowed) == (3, 5)


def test_rename_names_source_and_destination(tmp_path: Path) -> None:
    plan = defaults.adhoc_plan([], [], [], [], [])
    got: list[AuditRecord] = []
    judge = ProfileJudge(plan, ABI, "p", got.append)
    src, dst = _file(tmp_path / "a"), _file(tmp_path / "b", exists=False)
    judge(1, "prog", "", 0, [Request("inode_rename", SUBJECT, src, MAY_WRITE, target=dst)])
    judge(1, "prog", "", 0, [Request("inode_link", SUBJECT, src, 0, target=dst)])
    assert [(r.operation, r.object, r.requested) for r in got] == [
        ("rename_src", str(tmp_path / "a"), "wd"), ("rename_dest", str(tmp_path / "b"), "wc"),
        ("link", str(tmp_path / "b"), "l")]


def test_socket_records_name_the_family_and_type_as_apparmor() -> None:
    """The net fields of a complain record use AppArmor's family and type names for every
    family (vsock, bluetooth, ...; the tables are built once, not per record), the names the
    profile language and the AppArmor module use."""
    import socket

    from stockade.modules.apparmor.ipc import FAMILY_NAMES, TYPE_NAMES

    for family, sock_type in ((socket.AF_VSOCK, socket.SOCK_STREAM),
                              (socket.AF_BLUETOOTH, socket.SOCK_SEQPACKET),
                              (socket.AF_PACKET, 10)):  # SOCK_PACKET
        got: list[AuditRecord] = []
        judge = ProfileJudge(defaults.adhoc_plan([], [], [], [], []), ABI, "p", got.append)
        obj = Object(kind=ObjectKind.SOCKET, family=family, sock_type=sock_type)
        judge(1, "prog", "", 0, [Request("socket_create", SUBJECT, obj, 0)])
        assert len(got) == 1, (family, sock_type)
        assert got[0].fields["class"] == "net"
        assert got[0].fields["family"] == FAMILY_NAMES[family]
        assert got[0].fields["sock_type"] == TYPE_NAMES[sock_type]


def test_sockets_of_different_families_are_different_accesses() -> None:
    """socket() has no name: two families (or types) are two accesses, each recorded once;
    the same family and type again is a repeat."""
    import socket

    got: list[AuditRecord] = []
    judge = ProfileJudge(defaults.adhoc_plan([], [], [], [], []), ABI, "p", got.append)
    for family, sock_type in ((socket.AF_VSOCK, socket.SOCK_STREAM),
                              (socket.AF_BLUETOOTH, socket.SOCK_SEQPACKET),
                              (socket.AF_VSOCK, socket.SOCK_STREAM),
                              (socket.AF_VSOCK, socket.SOCK_DGRAM)):
        obj = Object(kind=ObjectKind.SOCKET, family=family, sock_type=sock_type)
        judge(1, "prog", "", 0, [Request("socket_create", SUBJECT, obj, 0)])
    assert [(r.fields["family"], r.fields["sock_type"]) for r in got] == [
        ("vsock", "stream"), ("bluetooth", "seqpacket"), ("vsock", "dgram")]
    assert (judge.recorded, judge.allowed) == (3, 4)
