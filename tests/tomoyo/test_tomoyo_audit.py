"""TOMOYO's audit text (its /sys/kernel/security/tomoyo/audit format) read by `stockade audit`."""

from __future__ import annotations

import json
from pathlib import Path

from confine_helpers import cli

from stockade.audit.readers.sources import read_records

TASK = "task={{ pid={p} ppid={pp} uid={u} gid={u} euid={u} egid={u} suid={u} sgid={u} " \
    "fsuid={u} fsgid={u} }}"
LOG = "\n".join([
    "#2026/12/04 19:40:00# profile=3 mode=enforcing granted=no (global-pid=4321) "
    + TASK.format(p=4321, pp=1, u=0) + " path1={ uid=0 gid=0 ino=1234 major=8 minor=1 "
    "perm=0640 type=file } path1.parent={ uid=0 gid=0 ino=2 perm=0755 }",
    "<kernel> /usr/bin/cat", "file read /etc/shadow", "",
    "#2026/12/04 19:40:01# profile=1 mode=learning granted=no (global-pid=4322) "
    + TASK.format(p=4322, pp=4321, u=1000),
    "<kernel> /usr/sbin/sshd", "network inet stream connect 127.0.0.1 22",
    "#2026/12/04 19:40:02# profile=4 mode=enforcing granted=yes (global-pid=1) "
    + TASK.format(p=1, pp=0, u=0),
    "<kernel>", "file execute /sbin/init", ""])


def test_records_from_a_tomoyo_log(tmp_path: Path) -> None:
    path = tmp_path / "reject_003.log"
    path.write_text(LOG)
    denied, learned, granted = list(read_records(path))
    assert (denied.result, denied.pid, denied.uid, denied.subject, denied.object,
            denied.operation, denied.time) == ("DENIED", 4321, 0, "<kernel> /usr/bin/cat",
                                               "/etc/shadow", "file read", 1796413200.0)
    assert denied.fields["tomoyo_profile"] == "3" and denied.raw.splitlines()[2] == \
        "file read /etc/shadow"
    assert (learned.result, learned.uid, learned.operation, learned.object) == \
        ("ALLOWED", 1000, "network inet stream connect", "127.0.0.1 22")
    assert granted.result == "AUDIT"


def test_stockade_audit_imports_it(tmp_path: Path) -> None:
    path = tmp_path / "tomoyo.log"
    path.write_text(LOG)
    store = tmp_path / "store.sqlite"
    assert cli("audit", "--store", str(store), "import", str(path)).returncode == 0
    out = cli("audit", "--store", str(store), "export", "--jsonl")
    modules = [json.loads(line)["module"] for line in out.stdout.splitlines()]
    assert modules == ["tomoyo"] * 3
