"""`audit import` through the compiled reader gives the same store rows as the Python path.

Each test turns the same lines into store rows twice: once with STOCKADE_AUDIT_PURE=1 (the
reader's Python loop with import's RowCorrelator, eventrows.event_rows for every event) and once
through `_fastread.Reader(rows=event_rows)` (the C correlation, the common AppArmor file event's
row built in C), and compares every row with the type of each column, the counts and the
correlator's bookkeeping. tests/audit/test_eventrows.py checks that the Python rows are the
reader's records; this file checks that the C-fed rows are the Python rows.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from stockade.audit.eventrows import RowCorrelator, rows_from_file, rows_from_lines
from stockade.audit.readers import correlate, fast

from .store_answers import benchmark
from .test_eventrows import AVC, MUTATIONS, PROCTITLE, SYSCALL, SYSCALL_MUTATIONS
from .test_fastread import _hostile, mutated


def _strict(row: Any) -> Any:
    return None if row is None else [(type(v).__name__, v) for v in row]


def rows_both(lines: list[str], monkeypatch: pytest.MonkeyPatch, **limits: int) -> list[Any]:
    """The rows, counts and correlator state of the Python path, then of the compiled one."""
    results = []
    for pure in ("1", ""):
        monkeypatch.setenv(fast.ENV_PURE, pure)
        corr = RowCorrelator(**limits)
        stats: dict[str, int] = {}
        rows = [_strict(row) for row in rows_from_lines(list(lines), stats, corr)]
        results.append((rows, stats, corr.events, corr.evicted, list(corr._done.items())))
    return results


def assert_same_rows(lines: list[str], monkeypatch: pytest.MonkeyPatch, **limits: int) -> int:
    (pure, *pure_counts), (compiled, *compiled_counts) = rows_both(lines, monkeypatch, **limits)
    assert pure_counts == compiled_counts
    assert len(pure) == len(compiled)
    for index, (a, b) in enumerate(zip(pure, compiled, strict=True)):
        assert a == b, f"row {index} differs"
    return len(pure)


@pytest.fixture(scope="module")
def aa_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    path = tmp_path_factory.mktemp("aa") / "aa.log"
    benchmark().generate_apparmor(str(path), 3000)
    return path.read_text().splitlines()


@pytest.fixture(scope="module")
def mixed_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    path = tmp_path_factory.mktemp("mixed") / "audit.log"
    benchmark().generate(str(path), 9000, seed=4)
    return path.read_text().splitlines()


def test_the_benchmark_log_is_built_in_c(aa_lines: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    module = fast._load()
    deferred = module.deferred_rows()
    assert assert_same_rows(aa_lines, monkeypatch) == 3000
    assert module.deferred_rows() == deferred  # every event's row was built in C


@pytest.mark.parametrize("block", [97, 1 << 20])
def test_from_a_file_in_blocks(aa_lines: list[str], mixed_lines: list[str], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    path = tmp_path / "audit.log"
    path.write_text("\n".join(mixed_lines + aa_lines) + "\n")
    monkeypatch.setattr(correlate, "_BLOCK", block)  # lines cut across blocks
    results = []
    for pure in ("1", ""):
        monkeypatch.setenv(fast.ENV_PURE, pure)
        stats: dict[str, int] = {}
        results.append(([_strict(row) for row in rows_from_file(path, stats)], stats))
    assert results[0] == results[1]
    assert len(results[0][0]) > 5000


@pytest.mark.parametrize(("max_pending", "max_records"), [(1, 1), (3, 2), (2, 7), (64, 256)])
def test_mangled_logs_and_small_tables(aa_lines: list[str], mixed_lines: list[str],
                                       monkeypatch: pytest.MonkeyPatch, max_pending: int,
                                       max_records: int) -> None:
    rng = random.Random(max_pending * 100 + max_records)
    lines = aa_lines[:1500] + mixed_lines[:2500]
    rng.shuffle(lines)
    interleaved = [x for at in range(0, len(aa_lines) - 6, 6)
                   for x in (aa_lines[at], aa_lines[at + 3], aa_lines[at + 1], aa_lines[at + 4],
                             aa_lines[at + 2], aa_lines[at + 5])]
    cut = [line[:rng.randint(0, len(line))] if rng.random() < 0.15 else line for line in aa_lines]
    doubled = [x for line in aa_lines for x in ([line, line] if rng.random() < 0.2 else [line])]
    eoe = [x for line in aa_lines for x in (
        [line, re.sub(r"^type=\S+", "type=EOE", line)[:60] + "): "] if rng.random() < 0.1 else [line])]
    prefixed = [rng.choice(["", "node=host1 ", "audit: ", "[12.5] audit: "]) + line
                for line in aa_lines[:1500]]
    for variant in (lines, interleaved, cut, doubled, eoe, prefixed):
        assert_same_rows(variant, monkeypatch, max_pending=max_pending, max_records=max_records)


def _avc_events() -> list[str]:
    """The AVC and SYSCALL mutations of test_eventrows (the fast path's edges), each as an
    event of AVC + SYSCALL + PROCTITLE, an AVC alone and SYSCALL-first, plus edges of the C
    parser: whitespace Python counts (\\x1c-\\x1f, \\v), digits past the limits, Unicode digits."""
    extra = [("pid=1234 comm", "pid=1234567890 comm"), ("pid=1234 comm", "pid=\u0661\u0662 comm"),
             ('comm="app"', 'comm="a\x1cb"'), ('comm="app"', "comm=a\x1cb"), ('comm="app"', "comm=a\x0bb"),
             ('comm="app"', "comm='app'"), ('comm="app"', 'comm="app'), ('comm="app"', "comm="),
             ("fsuid=1000", "fsuid=1234567890"), ("fsuid=1000", "fsuid="), ("ouid=0", "ouid="),
             ("ouid=0", "ouid=0x"), ("ouid=0", "ouid=\u0660"), ('name="/etc/shadow"', 'name=""'),
             ('name="/etc/shadow"', "name="), ('name="/etc/shadow"', 'name="/etc/sh\x1cadow"'),
             ('class="file" ', 'class="net" '), ('class="file" ', 'class="file"  '),
             ('operation="open"', 'operation=""'), ('operation="open"', 'operation="capabl"'),
             ('apparmor="DENIED"', 'apparmor="DENIE"'), ('apparmor="DENIED"', 'apparmor=DENIED'),
             ("1700000001.100:10", "1700000001:10"), ("1700000001.100:10", "0.0:0"),
             ("1700000001.100:10", "1700000001.100:" + "9" * 18),
             ("1700000001.100:10", "1700000001.100:" + "9" * 19),
             ("1700000001.100:10", "9" * 19 + ".5:10"), ("1700000001.100:10", "1700000001.100:1\u0663")]
    syscall_extra = [("exit=-13", "exit=-" + "9" * 18), ("exit=-13", "exit=" + "9" * 18),
                     ("exit=-13", "exit=-" + "9" * 19), ("pid=1234 auid", "pid=2147483648 auid"),
                     ("pid=1234 auid", "pid=2147483647 auid"), ("pid=1234 auid", "pid=" + "1" * 19 + " auid"),
                     ("exit=-13", "exit=-0"), ("ses=3", "ses=\u0663"), ("tty=pts0", "tty=pts0\x1c")]
    lines: list[str] = []
    serial = 100
    for old, new in MUTATIONS + extra:
        avc = AVC.replace(old, new)
        stamp = avc[19:avc.index(")")] if ")" in avc else "1700000001.100:10"
        for syscall in [SYSCALL] + [SYSCALL.replace(o, n) for o, n in SYSCALL_MUTATIONS + syscall_extra]:
            for avc_pid in (avc, avc.replace("pid=1234 comm", "pid=0 comm")):
                serial += 1
                fresh = f"1700000002.{serial % 1000:03d}:{serial}"
                stamped = avc_pid.replace(stamp, fresh) if stamp == "1700000001.100:10" else avc_pid
                own = stamped[19:stamped.index(")")] if ")" in stamped else fresh
                lines += [stamped, syscall.replace("1700000001.100:10", own),
                          PROCTITLE.replace("1700000001.100:10", own)]
        lines.append(avc.replace(stamp, "1700000003.000:1") if stamp == "1700000001.100:10" else avc)
    return lines


@pytest.mark.parametrize(("max_pending", "max_records"), [(64, 256), (2, 3), (1, 1)])
def test_hostile_avc_events(monkeypatch: pytest.MonkeyPatch, max_pending: int, max_records: int) -> None:
    module = fast._load()
    deferred = module.deferred_rows()
    assert assert_same_rows(_avc_events(), monkeypatch, max_pending=max_pending,
                            max_records=max_records) > 1000
    assert module.deferred_rows() > deferred  # the edges step aside to Python, not all of them


def test_hostile_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """test_fastread's hostile lines (quotes, hex, control characters, a 200,000-character line)."""
    assert assert_same_rows(_hostile(), monkeypatch, max_pending=2, max_records=3) > 150


def test_random_mutations(aa_lines: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Characters that matter to the AVC layout, put anywhere in the benchmark's events."""
    rng = random.Random(17)
    alphabet = [" ", '"', "'", "=", ":", ")", "(", "\t", "\x1c", "\x1f", "\x0b", "\u0663", "-", "/",
                "0", "9" * 12, " pid=", " ouid=1", 'class="file" ', " exit=-", "\\", "\xe9",
                "\udcff", "type=AVC msg=audit(1.5:2): "]
    source = aa_lines[:1200] + _avc_events()[::4]
    for _ in range(5):
        lines = mutated(source, rng, alphabet, (0, 0, 1, 2))
        assert_same_rows(lines, monkeypatch, max_pending=rng.choice((1, 4, 64)),
                         max_records=rng.choice((2, 256)))


def test_the_variable_forces_the_python_path(aa_lines: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    module = fast._load()
    monkeypatch.setenv(fast.ENV_PURE, "1")
    before = module.deferred_rows()
    calls = []
    original = RowCorrelator._complete

    def counted(self: RowCorrelator, key: str) -> Any:
        calls.append(key)
        return original(self, key)

    monkeypatch.setattr(RowCorrelator, "_complete", counted)
    assert len(list(rows_from_lines(aa_lines[:300]))) == 100
    assert len(calls) == 100 and module.deferred_rows() == before
    monkeypatch.setenv(fast.ENV_PURE, "")
    assert len(list(rows_from_lines(aa_lines[:300]))) == 100
    assert len(calls) == 100  # the compiled reader did not use the Python correlator
