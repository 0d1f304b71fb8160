"""The reader's fast paths keep every line: events without a security record lose no text."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from stockade.audit.readers import correlate
from stockade.audit.readers.correlate import Correlator, records_from_lines

ENRICHED = '\x1dARCH=x86_64 SYSCALL=openat AUID="alice"'


def _generate(count: int, seed: int = 3) -> list[str]:
    """Audit lines of events that carry no security decision (the lightweight path)."""
    rng = random.Random(seed)
    lines: list[str] = []
    serial = 100
    while len(lines) < count:
        serial += 1
        stamp = f"1700000000.{serial % 1000:03d}:{serial}"
        kind = rng.random()
        pid = rng.randint(2, 60000)
        if kind < 0.5:  # a watch rule: SYSCALL + CWD + PATH x2 + PROCTITLE
            syscall = (f"type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=257 success=yes exit=3 "
                       f"a0=ffffff9c a1=1 a2=0 a3=0 items=2 ppid=1 pid={pid} auid=1000 uid=1000 gid=1000 "
                       f'euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 '
                       f'comm="cat" exe="/usr/bin/cat" key="watch"')
            lines += [syscall + (ENRICHED if rng.random() < 0.3 else ""),
                      f'type=CWD msg=audit({stamp}): cwd="/home/alice"',
                      f'type=PATH msg=audit({stamp}): item=0 name="notes.txt" inode={pid} nametype=NORMAL',
                      f"type=PATH msg=audit({stamp}): item=1 name=(null) inode=2 nametype=PARENT",
                      f"type=PROCTITLE msg=audit({stamp}): proctitle=636174006E6F7465732E747874"]
        elif kind < 0.8:  # one user-space record
            lines.append(f"type=USER_START msg=audit({stamp}): pid={pid} uid=0 auid=1000 ses=3 "
                         f"msg='op=PAM:session_open acct=\"alice\" exe=\"/usr/sbin/sshd\" res=success'"
                         + (ENRICHED if rng.random() < 0.5 else ""))
        elif kind < 0.9:  # a type nobody here knows, two records in one event
            lines += [f"type=UNKNOWN[1999] msg=audit({stamp}): op=frob res=1",
                      f"type=UNKNOWN[1998] msg=audit({stamp}): op=frob res=2"]
        else:  # two events interleaved
            other = f"1700000000.{serial % 1000:03d}:{serial + 100000}"
            lines += [f"type=CONFIG_CHANGE msg=audit({stamp}): auid=1000 ses=3 op=add_rule key=\"k\" res=1",
                      f"type=SYSCALL msg=audit({other}): arch=c000003e syscall=1 pid={pid} comm=\"x\"",
                      f"type=PATH msg=audit({stamp}): item=0 name=\"/etc/audit\" inode=3",
                      f"type=CWD msg=audit({other}): cwd=\"/\""]
    return lines


def _raw_lines(records: list) -> list[str]:
    out: list[str] = []
    for record in records:
        out.extend(record.raw.split("\n"))
    return out


def _kernel_text(lines: list[str]) -> list[str]:
    return [line.split("\x1d", 1)[0] for line in lines]


@pytest.mark.parametrize("block", [97, 4096, 1 << 20])
def test_every_line_comes_back_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           block: int) -> None:
    lines = _generate(5000)
    path = tmp_path / "audit.log"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(correlate, "_BLOCK", block)  # lines cut across blocks are joined again
    stats: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        records = list(records_from_lines(handle, stats=stats))
    assert stats["skipped"] == 0
    assert all(r.module == "kernel" and r.result == "AUDIT" for r in records)
    raw = _raw_lines(records)
    assert len(raw) == len(lines)  # raw lines in == raw lines out
    assert sorted(raw) == sorted(_kernel_text(lines))  # the same text, ENRICHED suffix cut


def test_every_line_comes_back_from_a_list_and_small_tables() -> None:
    lines = _generate(3000, seed=5)
    records = list(records_from_lines(lines, Correlator(max_pending=2, max_records=3)))
    raw = _raw_lines(records)
    assert len(raw) == len(lines)
    assert sorted(raw) == sorted(_kernel_text(lines))
    watch = [r for r in records if r.operation == "syscall" and r.raw.count("\n") == 2]
    assert watch and all(r.comm == "cat" and r.uid == 1000 for r in watch)


def test_file_and_list_give_the_same_records(tmp_path: Path) -> None:
    lines = _generate(2000, seed=9)
    path = tmp_path / "audit.log"
    path.write_text("\n".join(lines))  # no newline after the last line
    with open(path, encoding="utf-8") as handle:
        from_file = [r.to_dict() for r in records_from_lines(handle)]
    assert from_file == [r.to_dict() for r in records_from_lines(lines)]
    assert from_file == [r.to_dict() for r in records_from_lines(line + "\n" for line in lines)]
