# ruff: noqa: E501  (audit records are long lines; kept verbatim as the kernel writes them)
"""The syslog sink, and the rules notify suggests."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from stockade.audit.readers import records_from_lines
from stockade.audit.record import AuditRecord
from stockade.audit.sinks import SyslogSink
from stockade.audit.suggest import suggest_rule


def test_syslog_sink_one_json_record_per_datagram(tmp_path: Path) -> None:
    address = str(tmp_path / "log")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(address)
    sink = SyslogSink(address)
    records = [AuditRecord(time=1.0, serial=i, operation="open", module="landlock",
                           result="DENIED" if i else "AUDIT", object=f"/x{i}") for i in range(2)]
    sink.write(records)
    messages = [server.recv(65536).decode() for _ in range(2)]
    sink.close()
    server.close()
    assert messages[0].startswith("<86>")  # authpriv(10)*8 + info(6)
    assert messages[1].startswith("<84>")  # warning(4)
    for i, message in enumerate(messages):
        head, _, body = message.partition(": ")
        assert "stockade[" in head
        assert json.loads(body)["object"] == f"/x{i}"


def test_syslog_sink_failure_raises_for_the_auditor_to_count(tmp_path: Path) -> None:
    sink = SyslogSink(str(tmp_path / "absent"))
    with pytest.raises(OSError):
        sink.write([AuditRecord(time=1.0, serial=1, operation="x", module="m", result="DENIED")])
    assert sink.sent == 0


def one(line: str) -> AuditRecord:
    [r] = [r for r in records_from_lines([line]) if r.result == "DENIED"]
    return r


def test_rules_for_apparmor() -> None:
    r = one('type=AVC msg=audit(1.0:1): apparmor="DENIED" operation="open" class="file" profile="p" '
            'name="/etc/shadow" pid=1 comm="c" requested_mask="r" denied_mask="r" fsuid=0 ouid=0')
    assert suggest_rule(r) == "  /etc/shadow r,"
    r = one('type=AVC msg=audit(1.0:2): apparmor="DENIED" operation="mknod" class="file" profile="p" '
            'name="/home/u/new file" pid=1 comm="c" requested_mask="c" denied_mask="c" fsuid=1000 ouid=1000')
    assert suggest_rule(r) == '  owner "/home/u/new file" w,'
    r = one('type=AVC msg=audit(1.0:3): apparmor="DENIED" operation="capable" class="cap" profile="p" '
            'pid=1 comm="c" capability=21  capname="sys_admin"')
    assert suggest_rule(r) == "  capability sys_admin,"
    r = one('type=AVC msg=audit(1.0:4): apparmor="DENIED" operation="create" class="net" profile="p" '
            'pid=1 comm="c" family="inet" sock_type="raw" protocol=1 requested_mask="create" denied_mask="create"')
    assert suggest_rule(r) == "  network inet raw,"


def test_rules_for_landlock_selinux_and_stockade() -> None:
    r = one('type=UNKNOWN[1423] msg=audit(1.0:5): domain=1 blockers=fs.read_file path="/etc/hostname" dev="vda" ino=1')
    assert suggest_rule(r) == "  /etc/hostname r,   (or --ro /etc/hostname)"
    r = one('type=UNKNOWN[1423] msg=audit(1.0:6): domain=1 blockers=fs.make_reg path="/srv/out" dev="vda" ino=1')
    assert suggest_rule(r) == "  /srv/out/* w,   (or --rw /srv/out)"
    r = one('type=AVC msg=audit(1.0:7): avc:  denied  { read } for  pid=1 comm="h" name="shadow" '
            'scontext=u:r:httpd_t:s0 tcontext=u:object_r:shadow_t:s0 tclass=file permissive=0')
    assert suggest_rule(r) == "  allow httpd_t shadow_t:file { read };"
    own = AuditRecord(time=1.0, serial=1, operation="file_open", module="apparmor", result="DENIED",
                      object="/var/log/app.log", requested="read,write", denied="write")
    assert suggest_rule(own) == "  /var/log/app.log w,"
    cap = AuditRecord(time=1.0, serial=2, operation="capable", module="capability", result="DENIED",
                      object="net_admin")
    assert suggest_rule(cap) == "  capability net_admin,"
