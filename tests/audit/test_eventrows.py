# ruff: noqa: E501  (audit records are long lines; kept verbatim as the kernel writes them)
"""The store's rows of audit text (eventrows) against the reader: the same columns as the
reader's records give, and each row reads back as the very record the reader makes (and the
record main's store gave back from its JSON); the fast AppArmor path gives the rows of the
full interpretation whenever it answers."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from stockade.audit.eventrows import (
    RowCorrelator,
    _fast_apparmor,
    event_rows,
    event_text,
    rows_from_lines,
)
from stockade.audit.readers.correlate import Correlator, records_from_lines
from stockade.audit.readers.interpret import interpret
from stockade.audit.readers.parser import parse_line
from stockade.audit.record import AuditRecord
from stockade.audit.store import AuditStore, RecordReader, _record_json, columns, invalid

from .store_answers import build_corpus

AVC = ('type=AVC msg=audit(1700000001.100:10): apparmor="DENIED" operation="open" class="file" '
       'profile="/usr/bin/app" name="/etc/shadow" pid=1234 comm="app" requested_mask="r" '
       'denied_mask="r" fsuid=1000 ouid=0')
SYSCALL = ("type=SYSCALL msg=audit(1700000001.100:10): arch=c000003e syscall=257 success=no "
           "exit=-13 a0=ffffff9c a1=55d0 a2=80000 a3=0 items=1 ppid=1 pid=1234 auid=1000 uid=1000 "
           "gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 "
           'comm="app" exe="/usr/bin/app" subj=unconfined key=(null)')
PROCTITLE = "type=PROCTITLE msg=audit(1700000001.100:10): proctitle=617070"


def _old_answer(record: AuditRecord) -> dict[str, object]:
    """What main's store gave back for a record: its JSON, read back."""
    return AuditRecord.from_dict(json.loads(_record_json(record))).to_dict()


def check_rows(lines: list[str], store: AuditStore | None = None, **limits: int) -> int:
    """Rows and records of the same lines agree (and go into `store`); returns how many rows
    there were."""
    records = list(records_from_lines(lines, Correlator(**limits)))
    rows = list(records_from_lines(lines, RowCorrelator(**limits)))
    assert len(rows) == len(records)
    read = RecordReader()
    for record, row in zip(records, rows, strict=True):
        if invalid(record) is not None:
            assert row is None
            continue
        assert row is not None
        expected = columns(record, row[8])
        assert row == expected
        assert read(row[8], row[10]).to_dict() == _old_answer(record)
    if store is not None:
        with store.writer(batch=10_000) as writer:
            writer.extend_rows(rows)
    return len(rows)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    files = build_corpus(tmp_path_factory.mktemp("corpus"))
    return {name: files[name].read_text().splitlines()
            for name in ("mixed", "aa", "aalog", "real", "sample", "cut")}


@pytest.mark.parametrize("name", ["mixed", "aa", "aalog", "real", "sample", "cut"])
def test_rows_read_back_as_the_readers_records(corpus: dict[str, list[str]], name: str) -> None:
    assert check_rows(corpus[name]) > 0


def test_mangled_logs_small_tables(corpus: dict[str, list[str]]) -> None:
    """Shuffled, duplicated and truncated lines, with pending tables of 3 and 1 events and
    events cut at 2 records: late parts of events (record positions past 0) read back too."""
    rng = random.Random(5)
    lines = corpus["mixed"][:3000] + corpus["aa"][:600] + corpus["real"]
    mangled = list(lines)
    for at in range(0, len(mangled) - 8, 5):
        window = mangled[at:at + 8]
        rng.shuffle(window)
        mangled[at:at + 8] = window
    mangled += rng.sample(lines, 300)
    mangled = [line[:rng.randint(10, len(line))] if rng.random() < 0.05 else line
               for line in mangled]
    for limits in ({}, {"max_pending": 3}, {"max_pending": 1, "max_records": 2}):
        assert check_rows(mangled, **limits) > 0


def _event(*lines: str) -> list:
    return [parse_line(line) for line in lines]


def _full(event: list, first: int = 0) -> list:
    text = event_text(event, first)
    return [columns(r, text) if invalid(r) is None else None for r in interpret(event, first)]


def test_the_fast_path_answers_for_the_benchmark_events(corpus: dict[str, list[str]]) -> None:
    lines = corpus["aa"]
    for at in range(0, len(lines), 3):
        event = _event(*lines[at:at + 3])
        fast = _fast_apparmor(event, 0)
        assert fast is not None
        assert [fast] == _full(event)


MUTATIONS = [
    ("pid=1234 comm", "pid=0 comm"), ("pid=1234 comm", "pid=999999999 comm"),
    ("fsuid=1000", "fsuid=4294967296"), ("fsuid=1000", "fsuid=999999999"),
    ('name="/etc/shadow"', "name=2F6574632F612062"), ('name="/etc/shadow"', "name=2F657"),
    ('name="/etc/shadow"', 'name="/etc/a\\"b"'), ('operation="open"', 'operation="capable"'),
    ('operation="open"', 'operation="signal"'), ('operation="open"', 'operation="ptrace"'),
    ("ouid=0", 'ouid=0 capname="sys_admin"'), ('profile="/usr/bin/app"', 'label="/usr/bin/app"'),
    ('profile="/usr/bin/app"', 'profile=""'), ('apparmor="DENIED"', 'apparmor="ALLOWED"'),
    ('apparmor="DENIED"', 'apparmor="AUDIT"'), ('apparmor="DENIED"', 'apparmor="KILL"'),
    ('apparmor="DENIED"', 'apparmor="HINT"'), ('class="file" ', ""), ("ouid=0", "ouid=0 "),
    ('name="/etc/shadow"', 'name="/tmp/\u00e9t\u00e9"'), ('comm="app"', "comm=61207070"),
    ("1700000001.100:10", "1700000001.100:99999999999999999999"),
    ("1700000001.100:10", "9" * 400 + ":10"),
]
SYSCALL_MUTATIONS = [("exit=-13", "exit=0"), ("exit=-13", "exit=-99999999999999999999"),
                     ("exit=-13", "exit=99999999999999999999"), ("pid=1234 auid", "pid=4294967296 auid"),
                     ("a0=ffffff9c", "a0=ffffff9c exit=-1"), ("arch=c000003e", "arch=c000003e  ")]


@pytest.mark.parametrize(("old", "new"), MUTATIONS)
def test_the_fast_path_agrees_or_steps_aside(old: str, new: str) -> None:
    avc = AVC.replace(old, new)
    syscall = SYSCALL.replace("1700000001.100:10", avc[19:avc.index(")")])
    proctitle = PROCTITLE.replace("1700000001.100:10", avc[19:avc.index(")")])
    for event in (_event(avc, syscall, proctitle), _event(avc), _event(syscall, avc),
                  _event(avc, SYSCALL.replace("pid=1234", "pid=77"))):
        if any(rec is None for rec in event):
            continue
        fast = _fast_apparmor(event, 2)
        if fast is not None:
            assert [fast] == _full(event, 2)
        assert event_rows(event, 2) == _full(event, 2)


@pytest.mark.parametrize(("old", "new"), SYSCALL_MUTATIONS)
def test_the_fast_path_reads_the_syscall_as_the_reader(old: str, new: str) -> None:
    for avc in (AVC, AVC.replace("pid=1234 comm", "pid=0 comm")):
        event = _event(avc, SYSCALL.replace(old, new), PROCTITLE)
        assert event_rows(event) == _full(event)
        assert check_rows([avc, SYSCALL.replace(old, new), PROCTITLE]) == 1


def test_two_avcs_or_other_records_take_the_full_path() -> None:
    second = AVC.replace("/etc/shadow", "/etc/gshadow")
    for event in (_event(AVC, second, SYSCALL), _event(AVC, SYSCALL.replace("SYSCALL", "SOCKETCALL", 1)),
                  _event(AVC, "type=UNKNOWN[1423] msg=audit(1700000001.100:10): domain=1 blockers=fs.read_file path=\"/x\"")):
        assert _fast_apparmor(event, 0) is None
        assert event_rows(event) == _full(event)


def test_rows_from_lines_counts_what_the_reader_counts(corpus: dict[str, list[str]]) -> None:
    lines = corpus["aalog"] + ["not an audit line", ""]
    stats_rows: dict[str, int] = {}
    stats_records: dict[str, int] = {}
    rows = list(rows_from_lines(lines, stats_rows))
    records = list(records_from_lines(lines, stats=stats_records))
    assert stats_rows == stats_records
    assert len(rows) == len(records)


def test_a_nul_in_a_line_is_stored_and_compared_whole(tmp_path: Path) -> None:
    """SQLite's length() of text stops at a NUL: the whole copy of a line holding one still
    replaces the copy cut short."""
    from stockade.audit.store import AuditStore

    line = AVC.replace('comm="app"', 'comm="a\x00pp"')
    store = AuditStore(tmp_path / "s.sqlite")
    try:
        with store.writer() as writer:
            writer.extend_rows(rows_from_lines([line[:line.index("requested")]]))
        with store.writer() as writer:
            writer.extend_rows(rows_from_lines([line]))
        assert store.improved == 1
        (stored,) = store.query()
        assert stored.raw == line
    finally:
        store.close()


def test_lines_that_are_not_utf8_are_stored_as_json(tmp_path: Path) -> None:
    """Surrogate escapes (stdin in the C locale) cannot be SQLite text: the JSON is kept."""
    lines = [AVC.replace("/etc/shadow", "/etc/\udcff"), SYSCALL,
             SYSCALL.replace(":10)", ":11)").replace('comm="app"', 'comm="\udcfe"')]
    store = AuditStore(tmp_path / "s.sqlite")
    try:
        assert check_rows(lines, store) == 2
        kinds = {text[:1] for (text,) in store._db.execute("SELECT record FROM records")}
        assert kinds == {"{"}
        assert [r.object for r in store.query()] == ["/etc/\udcff", ""]  # exact
        assert store._db.execute("SELECT object FROM records").fetchone()[0] == "/etc/\\xff"
    finally:
        store.close()
