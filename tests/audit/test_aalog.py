"""stockade reads AppArmor log lines exactly as libapparmor's parse_record() does.

The oracle is Debian's libapparmor 3.0.8 (python3-libapparmor, run by /usr/bin/python3 in
a child: tests/audit/libapparmor_oracle.py) over generated lines of every record format
(tests/audit/aalog_corpus.py). Keys that 3.0.8 does not know yet (class=, execpath=,
tcontext=, saddr= ...) are taken out of the line the oracle sees and checked against the
newer grammar (libraries/libapparmor/src/grammar.y `key:` rules and scanner.l's key table).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from stockade.audit.readers.aalog import AaLogRecord, parse_record

from .aalog_corpus import FORMATS, NEW_KEYS, generate

ORACLE = Path(__file__).with_name("libapparmor_oracle.py")
SYSTEM_PYTHON = "/usr/bin/python3"


def _has_libapparmor() -> bool:
    proc = subprocess.run([SYSTEM_PYTHON, "-c", "import LibAppArmor"], capture_output=True)
    return proc.returncode == 0


needs_oracle = pytest.mark.skipif(not _has_libapparmor(),
                                  reason="python3-libapparmor (Debian) is needed")

# grammar.y: which member each newer key fills
NEWER = {"class": "rule_class", "execpath": "execpath", "peer_addr": "peer_addr",
         "addr": "net_addr", "tcontext": "peer_profile", "saddr": "net_local_addr",
         "daddr": "net_foreign_addr", "src": "net_local_port", "dest": "net_foreign_port",
         "method": "dbus_member", "denied": "denied_mask", "requested": "requested_mask"}
_NEW_KEY = re.compile(r"""(?<=[ '])({})=("[^"]*"|[^ ']*)""".format("|".join(NEW_KEYS)))


def _for_oracle(line: str) -> tuple[str, list[tuple[str, str]]]:
    """The line without the keys 3.0.8 lacks (addr=? stays: 3.0.8 skips it), and those keys."""
    taken: list[tuple[str, str]] = []

    def cut(m: re.Match[str]) -> str:
        if m.group(1) == "addr" and m.group(2) == "?":
            return m.group(0)
        taken.append((m.group(1), m.group(2)))
        return ""

    return _NEW_KEY.sub(cut, line), taken


def _oracle(lines: list[str]) -> list[dict[str, object]]:
    proc = subprocess.run([SYSTEM_PYTHON, str(ORACLE)], capture_output=True, text=True,
                          input="".join(json.dumps(x) + "\n" for x in lines), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(x) for x in proc.stdout.splitlines()]


@needs_oracle
def test_every_record_format_reads_as_libapparmor_reads_it() -> None:
    pairs = generate(20261204, 4000)
    lines = sorted({line for _, line in pairs})
    stripped = [_for_oracle(line) for line in lines]
    theirs = _oracle([s for s, _ in stripped])
    agree: Counter[str] = Counter()
    total: Counter[str] = Counter()
    verdict = {}
    for line, (_, taken), want in zip(lines, stripped, theirs, strict=True):
        mine = parse_record(line)
        expected = dict(want)
        # the newer keys count unless the parse stopped (an INVALID event that no
        # UNKNOWN[n] type without an AppArmor event explains)
        if want["event"] != "AA_RECORD_INVALID" or re.match(r"type=UNKNOWN\[150[07]\]", line):
            for key, value in taken:
                if key == "addr" and value == "none":
                    continue
                value = value.strip('"')
                expected[NEWER[key]] = int(value) if key in ("src", "dest") else value
        got = {k: getattr(mine, k) for k in expected}
        verdict[line] = got == expected
        assert got == expected, (line, {k: (got[k], v) for k, v in expected.items()
                                        if got[k] != v})
    for fmt, line in pairs:
        total[fmt] += 1
        agree[fmt] += verdict[line]
    covered = [f for f in FORMATS if total[f] and agree[f] == total[f]]
    print(f"record formats covered: {len(covered)}/{len(FORMATS)}; lines {len(lines)}")
    assert covered == FORMATS
    events = Counter(str(w["event"]) for w in theirs)
    assert len(events) == 7  # every event type occurs, INVALID included


# ---- the newer grammar, by hand (grammar.y / scanner.l of libapparmor 4) -------------------------
def _rec(line: str) -> AaLogRecord:
    return parse_record(line)


def test_newer_keys_and_aliases() -> None:
    r = _rec('type=AVC msg=audit(1700000000.5:7): apparmor="DENIED" operation="connect" '
             'class="net" profile="p" pid=9 comm="nc" saddr=10.0.0.1 src=4000 daddr=10.0.0.2 '
             'dest=80 family="inet" sock_type="stream" protocol=6 requested="connect" '
             'denied="connect" tcontext="unconfined" execpath="/usr/bin/nc"')
    assert r.event == "AA_RECORD_DENIED" and r.rule_class == "net"
    assert (r.net_local_addr, r.net_local_port) == ("10.0.0.1", 4000)
    assert (r.net_foreign_addr, r.net_foreign_port) == ("10.0.0.2", 80)
    assert (r.requested_mask, r.denied_mask, r.net_protocol) == ("connect", "connect", "tcp")
    assert (r.peer_profile, r.execpath) == ("unconfined", "/usr/bin/nc")


def test_unix_addresses_and_none() -> None:
    r = _rec('type=AVC msg=audit(1.2:3): apparmor="ALLOWED" operation="connect" class="net" '
             'profile="p" pid=1 comm="x" family="unix" sock_type="stream" protocol=0 '
             'requested_mask="connect" denied_mask="connect" addr=none '
             'peer_addr="@/tmp/sock" peer="unconfined"')
    assert r.event == "AA_RECORD_ALLOWED" and r.net_addr is None
    assert (r.peer_addr, r.peer, r.net_protocol) == ("@/tmp/sock", "unconfined", "ip")


def test_parse_errors_keep_what_was_read() -> None:
    r = _rec('type=AVC msg=audit(1.2:3): apparmor="DENIED" operation="open" profile="p" '
             'bogus=1 name="/x"')
    assert r.event == "AA_RECORD_INVALID"
    assert (r.operation, r.profile, r.name, r.info) == ("open", "p", None, 'bogus=1 name="/x"')
    old = _rec("type=APPARMOR msg=audit(1.2:3): REJECTING r access to /etc/x (cat(1) "
               "profile /bin/cat active /bin/cat)")
    assert (old.event, old.operation) == ("AA_RECORD_INVALID", "APPARMOR")
    assert old.info is not None and old.info.startswith("REJECTING")


def test_report_is_test_multi_format() -> None:
    r = _rec('[  552.552217] audit: type=1400 audit(1700000002.000:11): apparmor="ALLOWED" '
             'operation="capable" profile="test" pid=99 comm=6D7920617070 capability=21  '
             'capname="sys_admin"')
    assert r.report() == (
        "Event type: AA_RECORD_ALLOWED\nAudit ID: 1700000002.000:11\nOperation: capable\n"
        "Profile: test\nName: sys_admin\nCommand: my app\nPID: 99\nEpoch: 1700000002\n"
        "Audit subid: 11\n")


def test_cli_parse_prints_libapparmor_records(tmp_path: Path) -> None:
    log = tmp_path / "kern.log"
    log.write_text('Feb  1 12:34:56 host kernel: [ 1234.567890] audit: type=1400 '
                   'audit(1700000000.100:42): apparmor="DENIED" operation="file_lock" '
                   'profile="p" name=2F746D702F610A62 pid=7 comm="flock" requested_mask="k" '
                   'denied_mask="k" fsuid=1000 ouid=1000\n\n')
    cmd = [sys.executable, "-m", "stockade", "audit", "parse", str(log)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Event type: AA_RECORD_DENIED\n" in out.stdout
    assert "Name: /tmp/a\\nb\n" in out.stdout  # control characters escaped
    assert "Mask: k\nDenied Mask: k\nfsuid: 1000\n" in out.stdout
    js = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=60)
    assert json.loads(js.stdout)["operation"] == "file_lock"
    bad = subprocess.run([*cmd[:-1], str(tmp_path / "missing")], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode != 0 and "cannot read" in bad.stderr and "Traceback" not in bad.stderr


@needs_oracle
def test_interpreted_masks_are_libapparmors() -> None:
    """One meaning of `mask=` (denied, as libapparmor's grammar has it): the AuditRecords of
    import, logprof and notify carry libapparmor's denied_mask, and its requested_mask (or,
    when a record names only what was denied, that), line for line against the real library."""
    from stockade.audit.readers import records_from_lines

    pairs = generate(20261205, 3000)
    lines = sorted({line for _, line in pairs if not _for_oracle(line)[1]})  # 3.0.8's keys
    theirs = _oracle(lines)
    checked = with_mask_only = 0
    for line, want in zip(lines, theirs, strict=True):
        if want["event"] not in ("AA_RECORD_DENIED", "AA_RECORD_ALLOWED", "AA_RECORD_AUDIT"):
            continue
        records = [r for r in records_from_lines([line]) if r.module == "apparmor"]
        if len(records) != 1:  # a format the kernel reader does not take (syslog, socklog)
            continue
        (r,) = records
        denied, requested = want["denied_mask"] or "", want["requested_mask"] or ""
        if r.result == "DENIED" and not denied:
            denied = requested
        assert (r.requested, r.denied) == (requested or denied, denied), line
        checked += 1
        with_mask_only += " mask=" in line
    assert checked > 100 and with_mask_only > 10  # the dbus `mask=` records are among them
