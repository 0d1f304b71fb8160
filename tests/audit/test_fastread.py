"""The compiled audit reader (`_fastread`) gives the same AuditRecords as the pure-Python one.

Every test reads the same input twice, once with STOCKADE_AUDIT_PURE=1 (readers.interpret and
the Python loop of correlate.records_from_lines) and once through the C extension, and compares
every field of every record, with its type, and the counts. The inputs: the benchmark's log, a
log written by a real auditd with real denials, mangled logs (shuffled, truncated, duplicated,
small correlation tables), non-UTF-8 bytes, hostile fields and random mutations. Where
`ausearch -i` interprets a field (syscall name, comm, exe, proctitle, cwd, path) it is the
outside oracle.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stockade.audit.readers import correlate, fast, interpret, read_records
from stockade.audit.readers.correlate import Correlator, records_from_lines
from stockade.audit.record import AuditRecord
from tests.audit.store_answers import benchmark
from tests.audit.test_e2e_root import audit_state, denied_child, private_auditd  # noqa: F401 (fixtures)

_NAMES = tuple(AuditRecord.__dataclass_fields__)


def strict(record: AuditRecord) -> list[tuple[str, str, Any]]:
    """Every field with its type (1 == True == 1.0 would hide a wrong type)."""
    out = []
    for name in _NAMES:
        value = getattr(record, name)
        out.append((name, type(value).__name__, value))
        if name == "fields":
            out.append(("fields-order", "list", list(value.items())))
    return out


def read_both(source: Any, monkeypatch: pytest.MonkeyPatch, **limits: int) -> list[Any]:
    """The records and counts of both readers for `source` (a path, or a list of lines)."""
    results = []
    for pure in ("1", ""):
        monkeypatch.setenv(fast.ENV_PURE, pure)
        assert (fast.reader() is None) == bool(pure)
        stats: dict[str, int] = {}
        corr = Correlator(**limits) if limits else None
        if isinstance(source, Path):
            with open(source, encoding="utf-8", errors="replace") as handle:
                records = list(records_from_lines(handle, corr, stats))
        else:
            records = list(records_from_lines(list(source), corr, stats))
        counts = (stats, (corr.events, corr.evicted, list(corr._done.items())) if corr else None)
        results.append(([strict(r) for r in records], counts))
    return results


def assert_same(source: Any, monkeypatch: pytest.MonkeyPatch, **limits: int) -> int:
    (pure, pure_counts), (compiled, compiled_counts) = read_both(source, monkeypatch, **limits)
    assert pure_counts == compiled_counts
    assert len(pure) == len(compiled)
    for index, (a, b) in enumerate(zip(pure, compiled, strict=True)):
        assert a == b, f"record {index} differs"
    return len(pure)


def test_the_extension_is_built_and_the_variable_forces_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make test` builds it (gcc and python3-dev are in the test set): a missing build fails."""
    monkeypatch.delenv(fast.ENV_PURE, raising=False)
    assert fast.name() == "c"
    monkeypatch.setenv(fast.ENV_PURE, "1")
    assert fast.name() == "python" and fast.reader() is None


@pytest.fixture(scope="module")
def bench_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    path = tmp_path_factory.mktemp("bench") / "audit.log"
    benchmark().generate(str(path), 12_000, seed=3)
    return path.read_text().splitlines()


@pytest.mark.parametrize("block", [97, 1 << 20])
def test_benchmark_log_from_a_file(bench_lines: list[str], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    path = tmp_path / "audit.log"
    path.write_text("\n".join(bench_lines) + "\n")
    monkeypatch.setattr(correlate, "_BLOCK", block)  # lines cut across blocks
    module = fast._load()
    deferred = module.deferred()
    assert assert_same(path, monkeypatch) > 3000
    assert module.deferred() == deferred  # every event of it was interpreted in C


@pytest.mark.parametrize(("max_pending", "max_records"), [(1, 1), (3, 2), (2, 7), (64, 256)])
def test_mangled_logs_and_small_tables(bench_lines: list[str], monkeypatch: pytest.MonkeyPatch,
                                       max_pending: int, max_records: int) -> None:
    rng = random.Random(max_pending * 100 + max_records)
    lines = bench_lines[:4000]
    shuffled = lines[:]
    rng.shuffle(shuffled)
    cut = [line[:rng.randint(0, len(line))] if rng.random() < 0.15 else line for line in lines]
    doubled = [x for line in lines for x in ([line, line] if rng.random() < 0.2 else [line])]
    eoe = [x for line in lines for x in (
        [line, re.sub(r"^type=\S+", "type=EOE", line)[:60] + "): "] if rng.random() < 0.1 else [line])]
    prefixed = [rng.choice(["", "node=host1 ", "audit: ", "[12.5] audit: ", "Jan  1 00:00:00 h kernel: "])
                + line for line in lines]
    for variant in (shuffled, cut, doubled, eoe, prefixed):
        assert_same(variant, monkeypatch, max_pending=max_pending, max_records=max_records)


def _hostile() -> list[str]:
    s = "1700000000.123:{}"
    hexname = "/tmp/na\u00efve file".encode().hex().upper()
    bad_utf8 = "2F746D702FFF00FE".upper()
    syscall = ("type=SYSCALL msg=audit({}): arch=c000003e syscall=257 success=no exit=-13 a0=1 a1=2 "
               "a2=3 a3=4 items=1 ppid=1 pid=42 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 "
               "fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm={} exe={} key={}")
    lines: list[str] = []
    n = 0

    def ev(*bodies: str) -> None:
        nonlocal n
        n += 1
        for body in bodies:
            lines.append(body.replace("{S}", s.format(n)))

    for comm in ('"cat"', '"my app"', "636174", "'single'", '"', '"unclosed', "(null)", "6d79",
                 "ABC", "\u0663\u0664", "a\x1cb", bad_utf8):
        for key in ('"k"', "(null)", "6B6579", '"key with key=x"', ""):
            ev(syscall.format("{S}", comm, '"/usr/bin/x"', key),
               'type=AVC msg=audit({S}): apparmor="DENIED" operation="open" profile="p" '
               f'name={hexname} pid=7 comm={comm} requested_mask="r" denied_mask="r" fsuid=1000')
    odd_syscalls = [
        "arch=c000003e syscall=257 items=0 ppid=1 pid=2 auid=3 uid=4 gid=5 ses=6 comm=\"c\" exe=\"e\"",
        "arch=c000003e syscall=1 success=yes exit=-x ppid=1 pid=2 auid=3 uid=4 x ses=6 comm=c exe=e",
        "arch=c000003e syscall=1 ppid=1 pid=2 auid=3 uid=4 ppid=9 pid=8 auid=7 uid=6 ses=5 comm=c exe=e",
        "junk arch=c000003e syscall=2 success=no exit=-1 ppid=1 pid=2 auid=3 uid=4  ses=1 comm=\"a b\" "
        "exe=\"x\" ses=2 comm=z exe=y key=k1 key=k2",
        "arch=c000003e syscall=2 ppid=1 pid=2 auid=3 uid=4 ses=1 comm=a exe=b\nkey=x key=y",
        "arch=\u0663 syscall=\u0664 success=yes exit=\u0665 a0=0 a1=0 a2=0 a3=0 items=0 ppid=1 pid=\u0662 "
        "auid=3 uid=\u0661 gid=5 euid=1 suid=1 fsuid=1 egid=1 sgid=1 fsgid=1 tty=\u00e9 ses=1 comm=c exe=e",
        "pid=9 uid=8 comm=\"only\" exe=\"fields\"", "", "arch=", "arch=c000003e syscall=1",
        # the lazy regex's worst cases: many starts, each scanned to the end of the line
        "arch=c000003e syscall=1" + " ppid=1 pid=2 auid=3 uid=4 " * 600 + " ses=1 comm=a",
        "arch=c syscall=1 " * 700 + "ppid=1 pid=2 auid=3 uid=4 x" + " ses=1 comm=" * 300,
        "arch=c syscall=1 ppid=1 pid=2 auid=3 uid=4 " * 300 + "\n ses=1 comm=a exe=b",
        "arch=c syscall=1 ppid=1 pid=2 auid=3 uid=4 " * 300 + " ses=1 comm=a exe=b key=k",
    ]
    for body in odd_syscalls:
        ev(f"type=SYSCALL msg=audit({{S}}): {body}",
           "type=SECCOMP msg=audit({S}): auid=1 uid=2 ses=3 pid=4 comm=\"c\" exe=\"e\" sig=0 "
           "arch=c000003e syscall=435 compat=0 ip=0x1 code=0x50000",
           'type=CWD msg=audit({S}): cwd="/w d"', "type=PATH msg=audit({S}): item=0 name=rel inode=5")
    for code in ("0x50001", "0x7ffc0000", "0x80000000", "0x0", "-5", "0xffffffffffffffffffff", "zz",
                 "0x30026", "0x7fc00000", "0x12340000", "0x50026", "1_0"):
        for syscall_nr in ("435", "101", "999999", "x"):
            ev(f"type=SECCOMP msg=audit({{S}}): auid=1 uid=2 ses=3 pid=4 comm=\"c\" exe=\"e\" sig=0 "
               f"arch=c000003e syscall={syscall_nr} compat=0 ip=0x1 code={code}")
    aa = ['apparmor="DENIED" operation="capable" profile="p" pid=1 comm="c" capability=21 '
          'capname="sys_admin"',
          'apparmor="DENIED" operation="capable" profile="p" pid=1 comm="c" capability=99',
          'apparmor="ALLOWED" operation="signal" profile="p" peer="q" name="x" pid=0 signal=kill',
          'apparmor="AUDIT" operation="connect" profile="p" family="inet" sock_type="stream" '
          'laddr=1.2.3.4 lport=5',
          'apparmor="DENIED" operation="open" label="l" name="/x" mask="r" denied="w" pid=abc',
          'apparmor="KILL" operation="ptrace" peer_label="z" requested="read" pid=3',
          'apparmor="" operation="exec" path="/p" fsuid=x', 'apparmor=DENIED name="a=b c" name="dup"',
          'apparmor="DENIED" operation="create" family="unix" sock_type="dgram" pid=2',
          'apparmor="DENIED" operation="create" family="inet6" pid=2',
          'apparmor="DENIED" operation="connect" family="inet6" faddr="::1" fport=443 saddr=1 src=2',
          'apparmor="DENIED" operation="bind" family="inet" dest=80',
          'apparmor="DENIED" operation="sendmsg" family=" " sock_type=" "',
          "apparmor=\"DENIED\" operation=\"open\" info='x y' name=\"/\u202e\x1b[31m\" pid=5"]
    for body in aa:
        ev(f"type=AVC msg=audit({{S}}): {body}")
        ev(f"type=1503 msg=audit({{S}}): {body}", syscall.format("{S}", '"c"', '"e"', '"k"'))
        ev(f"type=USER_AVC msg=audit({{S}}): pid=1 uid=0 msg='{body} exe=\"/x\"'")
    se = ["avc:  denied  { read open } for  pid=3 comm=\"c\" name=\"f\" ino=5 scontext=u:r:t:s0 "
          "tcontext=u:o:x:s0 tclass=file permissive=0",
          "avc:  granted  { setuid } for pid=3 comm=\"c\" capability=7 scontext=a:b:c tclass=capability",
          "avc:  denied  { bpf } for pid=3 capability=7 scontext=a tclass=capability2 permissive=1",
          "avc: denied { name_bind } for pid=3 src=80 scontext=a:b:c:d tclass=tcp_socket",
          "avc:  denied  {  } for pid=3 name=\"nomatch\" ino=9 scontext=a:b:c tclass=dir",
          "avc:  denied  { read  no close brace for pid=3 path=\"/p\" tclass=file",
          "avc:  denied  { write } for pid=3 scontext=a:b:c tcontext=x:y:z tclass=fifo_file",
          "avc:  denied  { connect } for pid=3 laddr=::1 lport=5 faddr=2.2.2.2 scontext=a tclass=x",
          "avc:  denied  { sendto } for pid=3 scontext=a tclass=unix_dgram_socket"]
    for body in se:
        ev(f"type=USER_AVC msg=audit({{S}}): pid=5 uid=81 auid=4294967295 ses=4294967295 "
           f"msg='{body} exe=\"/usr/bin/dbus-daemon\" sauid=81 hostname=? addr=? terminal=?'")
        ev(f"type=AVC msg=audit({{S}}): {body}", syscall.format("{S}", '"c"', '"e"', '"k"'),
           'type=PATH msg=audit({S}): item=0 name="/dir/f" inode=5', 'type=CWD msg=audit({S}): cwd="/"')
    ll = ["domain=1a blockers=fs.read_file path=\"/x\" dev=\"v\" ino=1",
          "domain=1a blockers=scope.signal opid=77 ocomm=\"kill\"", "domain=1a blockers=scope.signal opid=77",
          "domain=1b blockers=net.connect_tcp daddr=1.2.3.4 dest=80", "blockers=fs.write_file",
          "domain=1a blockers=net.bind_tcp src=8080", "domain=1a blockers=net.bind_tcp saddr=::"]
    for body in ll:
        ev(f"type=UNKNOWN[1423] msg=audit({{S}}): {body}",
           "type=UNKNOWN[1424] msg=audit({S}): domain=1a status=allocated mode=enforcing pid=9 uid=1 "
           "exe=\"/bin/x\" comm=\"x\"",
           "type=UNKNOWN[1424] msg=audit({S}): domain=1a status=allocated pid=0 exe=2F6E6577")
        ev(f"type=LANDLOCK_ACCESS msg=audit({{S}}): {body}", syscall.format("{S}", '"c"', '"e"', '"k"'))
    ev("type=UNKNOWN[1424] msg=audit({S}): domain=1a status=deallocated denials=3")
    ev("type=UNKNOWN[1424] msg=audit({S}): status= domain=")
    ev("type=UNKNOWN[99999999999999999999] msg=audit({S}): pid=1", "type=UNKNOWN[12] msg=audit({S}): x")
    ev("type=PROCTITLE msg=audit({S}): proctitle=" + ("41" * 5000) + "00420000",
       "type=PROCTITLE msg=audit({S}): proctitle=\"plain\"")
    ev("type=SYSCALL msg=audit({S}): " + "x=" + "y" * 200_000)  # very long lines
    ev("type=AVC msg=audit({S}): apparmor=\"DENIED\" " + "y" * 200_000 + " name=\"/n\"")
    ev("type=CONFIG_CHANGE msg=audit({S}): auid=1 ses=2 op=add_rule key=\"k\" list=4 res=1")
    for odd in ("type=AVC msg=audit(1.0:5)", "type=AVC msg=audit(1.0:5) x", "type=AVC msg=audit(:5): x",
                "type=AVC msg=audit(\u0661.0:5): apparmor=\"DENIED\"", "type= msg=audit(1.0:6): x",
                "type=AVC\tmsg=audit(1.0:7): x", "type=AVC msg=audit(1.0:8):", "type=EOE msg=audit(1.0:8):",
                "type=SYSCALL msg=audit(1.0:9):arch=c000003e syscall=1", "msg=audit(1.0:10): pid=1",
                "node=n type=AVC msg=audit(1.0:11): apparmor=\"DENIED\" name=\"/n\"",
                "type=USER_START msg=audit(1.0:12): pid=1 uid=2 msg='op=x exe=\"/y\"'\x1dUID=\"root\"",
                "type=AVC msg=audit(1.5:13): x=\"\udcff\udcfe\" name=\ud800", "\x00\x1d", "", "type="):
        lines.append(odd)
    return lines


@pytest.mark.parametrize(("max_pending", "max_records"), [(64, 256), (2, 3)])
def test_hostile_fields(monkeypatch: pytest.MonkeyPatch, max_pending: int, max_records: int) -> None:
    module = fast._load()
    deferred = module.deferred()
    assert assert_same(_hostile(), monkeypatch, max_pending=max_pending, max_records=max_records) > 150
    assert 0 < module.deferred() - deferred < 10  # a type past a C long, Unicode digits in a stamp


def mutated(source: list[str], rng: random.Random, alphabet: list[str],
            edits: tuple[int, ...]) -> list[str]:
    """`source` with rng.choice(edits) random edits per line: a piece of `alphabet` inserted
    (7 in 10) or up to 8 characters cut."""
    lines = []
    for line in source:
        for _ in range(rng.choice(edits)):
            at = rng.randint(0, len(line))
            if rng.random() < 0.7:
                line = line[:at] + rng.choice(alphabet) + line[at:]
            else:
                line = line[:at] + line[at + rng.randint(1, 8):]
        lines.append(line)
    return lines


def test_random_mutations(bench_lines: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Characters that matter to the grammar, put anywhere: both readers agree on each line set."""
    rng = random.Random(11)
    alphabet = [" ", '"', "'", "=", ":", ")", "(", "\n", "\t", "\x1c", "\x1d", "\u0663", "-", "/",
                "A", "0", "key=", " ses=", " exe=", " ppid=1 pid=2 auid=3 uid=4 ", "msg=audit(",
                "apparmor=", "avc:", "{", "}", "type=", "\\", "\udcff", "\xe9"]
    source = _hostile() + bench_lines[:1500]
    for _ in range(6):
        lines = mutated(source[:2500], rng, alphabet, (0, 0, 1, 3))
        assert_same(lines, monkeypatch, max_pending=rng.choice((1, 4, 64)), max_records=rng.choice((2, 256)))


def test_parse_fields_on_random_bodies() -> None:
    """The compiled parse_fields against parser.parse_fields (the _PAIR findall, first key wins,
    quotes, hex decoding of untrusted keys) on bodies drawn from the grammar's characters."""
    from stockade.audit.readers import parser

    module = fast._load()
    assert module is not None
    rng = random.Random(4)
    pieces = [*"ab_Z9-=\"' \u00e9\u0661\t\x1cx.:AF0", "(null)", "name=", "comm=", "proctitle=",
              "4142", "C3A9", "FF", "00"]
    for _ in range(30_000):
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 16)))
        assert module.parse_fields(body) == parser.parse_fields(body), body


def test_non_utf8_bytes(bench_lines: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    data = bytearray("\n".join(bench_lines[:3000]).encode())
    for _ in range(300):
        at = rng.randrange(len(data))
        data[at:at] = bytes([rng.choice((0xFF, 0xC3, 0xE2, 0x80, 0x00, 0x1D))])
    path = tmp_path / "audit.log"
    path.write_bytes(bytes(data))
    assert_same(path, monkeypatch)
    for pure in ("1", ""):  # read_records, as `audit import` reads
        monkeypatch.setenv(fast.ENV_PURE, pure)
        records = [strict(r) for r in read_records(path, {})]
        if pure:
            expected = records
    assert records == expected


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pending table never holds more than max_pending events, an event never more than
    max_records records, and a log naming 10,000 record types does not grow the type table."""
    monkeypatch.delenv(fast.ENV_PURE, raising=False)
    reader = fast.reader(4, 3)
    assert reader is not None
    for batch in range(50):
        lines = [f"type=PATH msg=audit(1.0:{batch * 1000 + i % 97}): item={i}" for i in range(1000)]
        reader.feed(lines)
        assert reader.pending <= 4
    assert reader.evicted > 0 and reader.events > 0
    lines = [f"type=UNKNOWN[{5000 + n}] msg=audit(2.0:{n}): x=1" for n in range(10_000)]
    records = list(records_from_lines(lines))
    assert len(records) == 10_000 and len(interpret._KERNEL_OPS) <= interpret._KERNEL_OPS_MAX
    assert {r.operation for r in records[-3:]} == {"unknown[14997]", "unknown[14998]", "unknown[14999]"}


# ---- ausearch -i as an outside oracle ----

def _oracle_log(path: Path) -> None:
    """Landlock denials whose names need hex (spaces, UTF-8), as the kernel writes them
    (`ausearch -i` 2.8 leaves out AppArmor AVC events read from a file)."""
    rng = random.Random(2)
    names = ["/etc/passwd", "/tmp/a file", "/srv/caf\u00e9/menu", "/home/\u65e5\u672c/x", "/t/tab\there"]
    comms = [("cat", "/usr/bin/cat"), ("my app", "/opt/my app/bin/app"),
             ("na\u00efve", "/usr/bin/na\u00efve")]

    def enc(text: str) -> str:
        if re.fullmatch(r"[\x21-\x7e]+", text) and '"' not in text:
            return f'"{text}"'
        return text.encode().hex().upper()

    with open(path, "w", encoding="utf-8") as out:
        for serial in range(1, 301):
            stamp = f"1700000000.{serial:03d}:{serial}"
            name = rng.choice(names)
            comm, exe = rng.choice(comms)
            nr = rng.choice((2, 257, 59, 4))
            out.write(f"type=UNKNOWN[1423] msg=audit({stamp}): domain=1a blockers=fs.read_file "
                      f'path={enc(name)} dev="vda2" ino=5\n')
            out.write(f"type=SYSCALL msg=audit({stamp}): arch=c000003e syscall={nr} success=yes exit=3 "
                      f"a0=ffffff9c a1=1 a2=0 a3=0 items=1 ppid=1 pid={serial + 100} auid=1000 uid=1000 "
                      f"gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 "
                      f"ses=3 comm={enc(comm)} exe={enc(exe)} key=\"k\"\n")
            out.write(f"type=CWD msg=audit({stamp}): cwd={enc('/home/x y' if serial % 2 else '/root')}\n")
            out.write(f"type=PATH msg=audit({stamp}): item=0 name={enc(name)} inode=5 dev=fd:01 "
                      "mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL\n")
            title = (comm + "\0" + name).encode().hex().upper()
            out.write(f"type=PROCTITLE msg=audit({stamp}): proctitle={title}\n")


def _ausearch_events(path: Path) -> dict[int, dict[str, str]]:
    ausearch = shutil.which("ausearch") or "/usr/sbin/ausearch"
    if not os.path.exists(ausearch):
        pytest.skip("ausearch is not installed (auditd)")
    out = subprocess.run([ausearch, "-if", str(path), "-i"], capture_output=True, text=True,
                         timeout=60, check=False).stdout
    events: dict[int, dict[str, str]] = {}
    for line in out.splitlines():
        head = re.match(r"type=(\w+) msg=audit\([^)]*:(\d+)\) : (.*)", line)
        if head is None:
            continue
        kind, serial, body = head.group(1), int(head.group(2)), head.group(3)
        event = events.setdefault(serial, {})
        if kind == "SYSCALL":
            event["syscall"] = re.search(r" syscall=(\S+)", body).group(1)  # type: ignore[union-attr]
            event["comm"] = re.search(r" comm=(.*) exe=", body).group(1)  # type: ignore[union-attr]
            event["exe"] = re.search(r" exe=(.*) key=", body).group(1)  # type: ignore[union-attr]
        elif kind == "CWD":
            event["cwd"] = body[len("cwd="):].rstrip(" ")
        elif kind == "PATH":
            event["name"] = re.search(r"name=(.*) inode=", body).group(1)  # type: ignore[union-attr]
        elif kind == "PROCTITLE":
            event["proctitle"] = body[len("proctitle="):].rstrip(" ")
    return events


def _shown(text: str) -> str:
    """The text as ausearch prints it: control characters as octal escapes (records keep them
    exact; stockade's printers escape them their own way)."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\{ord(m.group()):03o}", text)


def test_fields_as_ausearch_interprets_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "audit.log"
    _oracle_log(path)
    oracle = _ausearch_events(path)
    assert len(oracle) == 300
    assert_same(path, monkeypatch)
    monkeypatch.delenv(fast.ENV_PURE, raising=False)
    records = list(read_records(path, {}))
    assert len(records) == 300
    for record in records:
        expected = oracle[record.serial]
        assert record.fields["syscall"] == expected["syscall"]
        assert (_shown(record.comm), _shown(record.exe)) == (expected["comm"], expected["exe"])
        assert _shown(record.fields["cwd"]) == expected["cwd"]
        assert _shown(record.fields["proctitle"]) == expected["proctitle"]
        assert _shown(record.object) == expected["name"]
        assert (record.module, record.result, record.errno) == ("landlock", "DENIED", 13)


# ---- a real auditd's log, with real denials ----

def _real_denials(tmp_path: Path) -> None:
    watched = tmp_path / "watched file"
    watched.write_text("x")
    auditctl = shutil.which("auditctl") or "/sbin/auditctl"
    rule = ["-w", str(watched), "-p", "r", "-k", "stockade-reader-test"]
    added = subprocess.run([auditctl, *rule], capture_output=True, check=False).returncode == 0
    try:
        for n in range(3):
            secret = tmp_path / f"secret {n}.txt"  # a name with a space: hex in the record
            secret.write_text("x")
            denied_child(secret)
            watched.read_text()
    finally:
        if added:
            subprocess.run([auditctl, "-W", str(watched), "-p", "r", "-k", "stockade-reader-test"],
                           capture_output=True, check=False)


@pytest.mark.root
def test_a_real_auditd_log(private_auditd: Path, tmp_path: Path,  # noqa: F811
                           monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    _real_denials(tmp_path)
    deadline = time.monotonic() + 10
    text = ""
    while time.monotonic() < deadline and "1423" not in text and "LANDLOCK_ACCESS" not in text:
        time.sleep(0.2)
        text = private_auditd.read_text(errors="replace") if private_auditd.exists() else ""
    # auditd goes on writing (other processes on the host are audited too): both readers read
    # one copy, cut after its last whole line
    snapshot = tmp_path / "snapshot.log"
    data = private_auditd.read_bytes()
    snapshot.write_bytes(data[:data.rfind(b"\n") + 1])
    assert assert_same(snapshot, monkeypatch) > 3
    monkeypatch.delenv(fast.ENV_PURE, raising=False)
    records = list(read_records(snapshot, {}))
    assert any(r.module == "landlock" and r.result == "DENIED" for r in records)
    system_log = Path("/var/log/audit/audit.log")
    if system_log.exists() and os.access(system_log, os.R_OK):
        data = system_log.read_bytes()
        snapshot.write_bytes(data[:data.rfind(b"\n") + 1])
        assert_same(snapshot, monkeypatch)
