"""`stockade audit export --format` and `stockade audit follow --to` through the CLI."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from google.protobuf import json_format
from opentelemetry.proto.logs.v1.logs_pb2 import LogsData

from tests.audit.conftest import run_cli
from tests.audit.test_ship_formats import RFC5424

LANDLOCK_LINE = ('type=LANDLOCK_ACCESS msg=audit(1729738800.221:34): domain=1a6fdc679 '
                 'blockers=fs.write_file path="/etc/passwd" dev="vda2" ino=143821\n')


def _store(tmp_path: Path, sample_log: Path) -> str:
    store = str(tmp_path / "s.sqlite")
    assert run_cli("audit", "import", str(sample_log), "--store", store).returncode == 0
    return store


def test_export_formats(tmp_path: Path, sample_log: Path) -> None:
    store = _store(tmp_path, sample_log)
    out = {fmt: run_cli("audit", "export", "--format", fmt, "--store", store, "--host", "h1")
           for fmt in ("jsonl", "ecs", "otlp", "syslog")}
    assert all(p.returncode == 0 for p in out.values()), {k: p.stderr for k, p in out.items()}
    jsonl = out["jsonl"].stdout.splitlines()
    assert len(jsonl) == 5
    ecs = [json.loads(x) for x in out["ecs"].stdout.splitlines()]
    assert [d["event"]["sequence"] for d in ecs] == [json.loads(x)["serial"] for x in jsonl]
    assert ecs[0]["rule"]["name"] == "/usr/sbin/cupsd" and ecs[0]["host"]["name"] == "h1"
    data = json_format.Parse(out["otlp"].stdout.strip(), LogsData())
    assert len(data.resource_logs[0].scope_logs[0].log_records) == 5
    lines = out["syslog"].stdout.splitlines()
    assert len(lines) == 5 and all(RFC5424.fullmatch(x) for x in lines)
    denied = run_cli("audit", "export", "--format", "ecs", "--result", "denied", "--store", store)
    assert {json.loads(x)["event"]["outcome"] for x in denied.stdout.splitlines()} == {"failure"}
    assert run_cli("audit", "export", "--jsonl", "--store", store).stdout.splitlines() == jsonl
    bad = run_cli("audit", "export", "--jsonl", "--format", "ecs", "--store", store)
    assert bad.returncode == 2 and "disagree" in bad.stderr and "Traceback" not in bad.stderr


def test_follow_once_to_stdout(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(LANDLOCK_LINE)
    out = run_cli("audit", "follow", "--once", "--audit-log", "", "--log", str(log),
                  "--format", "ecs")
    assert out.returncode == 0, out.stderr
    (doc,) = [json.loads(x) for x in out.stdout.splitlines()]
    assert doc["file"]["path"] == "/etc/passwd" and doc["event"]["provider"] == "landlock"


def test_follow_to_a_syslog_socket_and_udp(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(LANDLOCK_LINE)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unix.bind(str(tmp_path / "log.sock"))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    try:
        for address, sock, fmt in ((str(tmp_path / "log.sock"), unix, "ecs"),
                                   (f"127.0.0.1:{udp.getsockname()[1]}", udp, "syslog")):
            out = run_cli("audit", "follow", "--once", "--to", "syslog", "--syslog-address",
                          address, "--format", fmt, "--audit-log", "", "--log", str(log))
            assert out.returncode == 0, out.stderr
            sock.settimeout(5)
            m = RFC5424.fullmatch(sock.recv(65536).decode())
            assert m and m["pri"] == "84"
            if fmt == "ecs":
                assert json.loads(m["msg"])["file"]["path"] == "/etc/passwd"
            else:
                assert m["msg"] == LANDLOCK_LINE.strip()
    finally:
        unix.close()
        udp.close()
    gone = run_cli("audit", "follow", "--once", "--to", "syslog", "--syslog-address",
                   str(tmp_path / "nobody-listens"), "--audit-log", "", "--log", str(log))
    assert gone.returncode != 0 and "syslog" in gone.stderr and "Traceback" not in gone.stderr


def test_follow_ships_records_as_they_arrive(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text("")
    proc = subprocess.Popen([sys.executable, "-m", "stockade", "audit", "follow", "--audit-log",
                             "", "--no-netlink", "--log", str(log), "--format", "jsonl"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        with open(log, "a") as fh:
            fh.write(LANDLOCK_LINE)
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "no record shipped within 20 s"
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert json.loads(line)["object"] == "/etc/passwd"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
