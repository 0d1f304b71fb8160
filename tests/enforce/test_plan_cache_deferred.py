"""A cached plan's coverage entries wait in a side file (enforce/plan/cache/deferred.py): the
summary line from their precount is the one the entries give, whatever the kernel adds; the
entries read later are the compiled ones, in order; a changed side file refuses the run; side
files go with their entry."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from confine_helpers import cli

from stockade.enforce import coverage_scope, landlock
from stockade.enforce.plan import cache as plan_cache
from stockade.enforce.plan import profile as planmod
from stockade.enforce.plan.cache import deferred
from stockade.enforce.plan.types import CoverageEntry, CoverageReport, CoverageStatus
from stockade.errors import StockadeError

STATUSES = list(CoverageStatus)


def _entries(rng: random.Random, files: list[str], n: int) -> list[CoverageEntry]:
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.7:  # a profile's rule: file:line (a few lines repeat: expanded rules)
            source = f"{rng.choice(files)}:{rng.randint(1, 40)}"
        elif kind < 0.85:  # no file: ad-hoc flags, the kernel's findings
            source = rng.choice(["", "--rw", "kernel"])
        else:  # a source that looks like one but is not file:line
            source = rng.choice(["a:b", "x:", ":7"])
        out.append(CoverageEntry(rng.choice(["allow /a", "deny x", "r", ""]), source,
                                 rng.choice(STATUSES), rng.choice(["", "why"])))
    return out


def _deferred(compiled: list[CoverageEntry], added: list[CoverageEntry]) -> CoverageReport:
    report = CoverageReport.deferred(lambda: list(compiled),
                                     coverage_scope.Precount.of(compiled))
    report.extend(CoverageReport(list(added)))
    return report


@pytest.mark.parametrize("max_worst", [coverage_scope.MAX_WORST, 2])
def test_precounted_summary_is_the_entries_summary(tmp_path, monkeypatch, max_worst):
    """On generated reports (entries of profile files, of a shared abstraction and of no
    file; the kernel's added entries with and without sources, sharing rules with the
    compiled ones), the deferred report's tally and summary are those of all its entries,
    with and without a supervisor, and the entries stay deferred (the precount keeps each
    weakened source's worst status) unless an added weakened entry has a file source and
    the precount has more than MAX_WORST such sources."""
    monkeypatch.setattr(coverage_scope, "MAX_WORST", max_worst)
    shared = tmp_path / "inc" / "abstractions"
    shared.mkdir(parents=True)
    files = [str(tmp_path / "p.aa"), str(tmp_path / "local"), str(shared / "base")]
    rng = random.Random(6)
    stayed = fell_back = 0
    for _ in range(400):
        compiled = _entries(rng, files, rng.randint(0, 30))
        added = _entries(rng, files, rng.randint(0, 4))
        if rng.random() < 0.6:  # the kernel's entries usually have no file source
            added = [e for e in added if not coverage_scope.source_file(e)]
        for supervised in (False, True):
            report = _deferred(compiled, added)
            whole = compiled + added
            counts = coverage_scope.report_tally(report, supervised=supervised)
            assert +counts == coverage_scope.tally(whole, supervised=supervised)
            weak = coverage_scope.weakened(whole, supervised=supervised)
            assert (coverage_scope.tally_summary(counts, "p", "h", [str(tmp_path / "inc")])
                    == coverage_scope.summary(weak, "p", "h", [str(tmp_path / "inc")]))
            if report.pending:
                stayed += 1
            else:
                fell_back += 1
            assert report.entries == whole  # loaded first, the added ones after
            counted = CoverageReport(list(compiled))  # a cold run's: precounted for the cache
            counted.counted(coverage_scope.Precount.of(compiled))
            counted.extend(CoverageReport(list(added)))
            assert +coverage_scope.report_tally(counted, supervised=supervised) == +counts
    if max_worst == 2:
        assert stayed > 300 and fell_back > 100
    else:
        assert stayed == 800 and fell_back == 0


def test_precount_is_its_definition():
    """Precount.of (one pass over the entries) gives what `tally`, `per_rule` and `weakened`
    say of the entries of a `file:line` source, with and without a supervisor, and keeps
    the others as they are, in order."""
    rng = random.Random(8)
    files = ["/p.aa", "/etc/apparmor.d/abstractions/base", "/q"]
    for _ in range(300):
        entries = _entries(rng, files, rng.randint(0, 40))
        pre = coverage_scope.Precount.of(entries)
        sourced = [e for e in entries if coverage_scope.source_file(e)]
        assert pre.loose == tuple(e for e in entries if not coverage_scope.source_file(e))
        for supervised, counted, worst in ((False, pre.unsupervised, pre.worst[0]),
                                           (True, pre.supervised, pre.worst[1])):
            weak = coverage_scope.weakened(sourced, supervised=supervised)
            assert counted == coverage_scope.tally(sourced, supervised=supervised)
            assert worst == {e.source: e.status for e in coverage_scope.per_rule(weak)}


def test_an_added_entry_of_a_compiled_rule_is_counted_once():
    """The kernel's 'gone before launch' entry of a rule the compiler approximated: one
    rule, not two (the precount alone would count it twice)."""
    approx, exact = CoverageStatus.APPROXIMATED, CoverageStatus.EXACT
    compiled = [CoverageEntry("/a r,", "/p.aa:3", approx, "glob"),
                CoverageEntry("/b r,", "/p.aa:4", exact)]
    report = _deferred(compiled, [CoverageEntry("allow /a read_file", "/p.aa:3", approx,
                                                 "gone before launch")])
    counts = coverage_scope.report_tally(report, supervised=False)
    assert counts == {("/p.aa", approx): 1}


def test_a_deferred_report_loads_once_and_fails_closed():
    calls = []

    def load() -> list[CoverageEntry]:
        calls.append(1)
        return [CoverageEntry("x", "", CoverageStatus.EXACT)]

    report = CoverageReport.deferred(load, coverage_scope.Precount.of([]))
    report.add("y", CoverageStatus.APPROXIMATED)
    assert [e.rule for e in report.entries] == ["x", "y"] and report.entries and calls == [1]
    assert not report.pending and [e.rule for e in report.added() or []] == ["y"]
    assert CoverageReport([]).added() is None

    def broken() -> list[CoverageEntry]:
        raise StockadeError("cannot")

    report = CoverageReport.deferred(broken, coverage_scope.Precount.of([]))
    for _ in range(2):
        with pytest.raises(StockadeError):
            report.entries  # noqa: B018


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A profile with approximated rules (globs, a missing path) and a shared include."""
    from stockade.enforce.plan.cache import keyring

    if landlock.abi_version() < 1 or keyring.key(create=True) is None:
        pytest.skip("no Landlock or no kernel keyring (the plan cache is off)")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    inc = tmp_path / "inc"
    (inc / "abstractions").mkdir(parents=True)
    (inc / "abstractions" / "mine").write_text("/etc/hostname r,\n/nonexistent/x r,\n")
    prof = tmp_path / "p.aa"
    prof.write_text("profile p {\n  #include <abstractions/mine>\n  /usr/** rix,\n"
                    "  /usr/lib/*.so* mr,\n  /etc/** r,\n  /missing/dir/** rw,\n}\n")
    old = 1_600_000_000  # directories changed less than 2 s ago are listed: age them
    for p in (inc, inc / "abstractions", tmp_path):
        os.utime(p, (old, old))
    return {"profile": str(prof), "inc": str(inc), "plans": tmp_path / "cache" / "stockade"
            / "plans"}


def _compile(t):
    return plan_cache.compile_file(t["profile"], [t["inc"]], None)


def test_a_hit_defers_the_compiled_entries(tree):
    _compile(tree)
    pp, how = _compile(tree)
    assert how.startswith("hit")
    assert pp.coverage.pending and pp.coverage.added() == []
    fresh = planmod.compile_file(tree["profile"], [tree["inc"]])
    assert pp.coverage.precount == coverage_scope.Precount.of(fresh.coverage.entries)
    assert pp.coverage.entries == fresh.coverage.entries and pp == fresh
    assert len(list(tree["plans"].glob("*.side"))) == 1


def test_a_changed_side_file_refuses_and_a_gone_one_misses(tree):
    _compile(tree)
    side = next(tree["plans"].glob("*.side"))
    data = side.read_bytes()
    side.write_bytes(data.replace(b"approximated", b"exact\0\0\0\0\0\0\0", 1))
    pp, how = _compile(tree)
    assert how.startswith("hit")  # the side file is read only when its entries are
    with pytest.raises(StockadeError, match="changed since it was written"):
        pp.coverage.entries  # noqa: B018
    side.write_bytes(data + b" ")
    with pytest.raises(StockadeError, match="changed since it was written"):
        _compile(tree)[0].coverage.entries  # noqa: B018
    side.unlink()
    pp, how = _compile(tree)
    assert how.startswith("miss (its coverage file is gone); stored")
    assert len(list(tree["plans"].glob("*.side"))) == 1


def test_side_files_go_with_their_entry(tree):
    from stockade.enforce.plan.cache import keyring
    from stockade.enforce.plan.cache.store import Store

    _compile(tree)
    entry = next(tree["plans"].glob("*.json"))
    orphan = tree["plans"] / ("0" * 40 + "-" + "1" * 32 + ".side")
    orphan.write_bytes(b"[]")
    stale = tree["plans"] / (entry.name.removesuffix(".json") + "-" + "2" * 32 + ".side")
    stale.write_bytes(b"[]")
    Path(tree["profile"]).write_text(Path(tree["profile"]).read_text() + "\n")
    assert _compile(tree)[1].startswith("miss (changed")  # rewritten: the stale side goes
    names = sorted(p.name for p in tree["plans"].iterdir())
    assert orphan.name not in names and stale.name not in names
    assert len([n for n in names if n.endswith(".side")]) == 1
    held = keyring.held(create=True)
    assert held is not None
    store = Store.open(str(tree["plans"]), held[1])
    try:
        store.remove(entry.name)
    finally:
        store.close()
    assert list(tree["plans"].iterdir()) == []


def test_run_from_the_cache_says_what_compiling_says(tree, monkeypatch, tmp_path):
    """`run -p` prints the same summary line cold, from the cache and with --no-cache, and
    -v lists the same entries."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    args = ["run", "-p", tree["profile"], "-I", tree["inc"], "--", "/bin/true"]
    lines, caches = [], []
    for extra in ([], [], ["--no-cache"], ["-v"], ["-v", "--no-cache"]):
        r = cli(*args[:1], *extra, *args[1:])
        assert r.returncode == 0, r.stderr
        lines.append([ln for ln in r.stderr.splitlines() if "plan cache" not in ln])
        caches += [ln for ln in r.stderr.splitlines() if "plan cache" in ln]
    assert caches[0].startswith("stockade run: plan cache: hit")
    assert lines[0] == lines[1] == lines[2] and len(lines[0]) == 1
    assert "enforced differently than written" in lines[0][0] and "from shared abstractions" in lines[0][0]
    assert lines[3] == lines[4] and len(lines[3]) > 3
    records = []
    for extra in ([], ["--no-cache"]):
        audit = tmp_path / f"audit{len(records)}.jsonl"
        r = cli(*args[:1], "--audit", str(audit), *extra, *args[1:])
        assert r.returncode == 0, r.stderr
        records.append([(rec["exact"], rec["rules"]) for rec in map(
            json.loads, audit.read_text().splitlines()) if rec.get("event") == "coverage"])
    assert records[0] == records[1] and len(records[0]) == 1 and len(records[0][0][1]) > 3
    strict = [cli(*args[:1], "--strict", *extra, *args[1:]) for extra in ([], ["--no-cache"])]
    assert strict[0].returncode == strict[1].returncode == 3
    assert strict[0].stderr == strict[1].stderr and "--strict: approximated" in strict[0].stderr


def test_a_malformed_coverage_description_is_a_miss(tree):
    from stockade.enforce.plan.cache.codec import CodecError

    pp = planmod.compile_file(tree["profile"], [tree["inc"]])
    _, doc, _ = deferred.split(pp)
    bad = [None, [], {**doc, "x": 1}, {**doc, "digest": 7}, {**doc, "size": "1"},
           {**doc, "counts": [[]]}, {**doc, "counts": [[["f", "nope", 1]], []]},
           {**doc, "counts": [[["f", "exact", -1]], []]}, {**doc, "loose": {"$t": [1]}},
           {k: v for k, v in doc.items() if k != "worst"}, {**doc, "worst": []},
           {**doc, "worst": [[["f:1", "nope"]], []]}, {**doc, "worst": [[["f:1"]], []]},
           {**doc, "worst": [[["f:1", "exact"], ["f:1", "exact"]], []]},
           {**doc, "worst": [[[1, "exact"]], []]}, {**doc, "worst": "x"}]
    assert doc["worst"] and doc["worst"][0]  # the profile has weakened sources
    for each in bad:
        with pytest.raises(CodecError):
            deferred.attach(None, "e.json", each)


def test_a_column_of_one_enum_is_stored_as_its_values():
    """The coverage table's status column: plain values, the class named once; plain
    columns are stored as they are; a value the enum lacks does not decode."""
    import json

    from stockade.enforce.plan.cache import codec

    rng = random.Random(7)
    entries = _entries(rng, ["/p.aa"], 50)
    table = codec.encode(entries)
    assert table["t"] == [None, None, "CoverageStatus", None, None]
    assert codec.decode(json.loads(json.dumps(table))) == entries
    status = table["c"][2]
    cells = status if isinstance(status, list) else status["u"]
    assert set(cells) <= {s.value for s in CoverageStatus}
    for bad in ("EXACT", 1, None):
        broken = json.loads(json.dumps(table))
        broken["c"][2] = [bad] * 50
        with pytest.raises(codec.CodecError):
            codec.decode(broken)


def test_storing_and_reading_an_entry_make_no_cycles_per_rule(tree):
    """The cache write runs without the cyclic collector (collector.paused): what it, a hit
    and the deferred entries leave for the collector must not grow with the profile (a few
    ctypes types and closures of the keyring and fsview code are made per run)."""
    import gc

    found = []
    for n in (12, 10, 400):  # the first round only warms up (lazy imports make cycles once)
        rules = "".join(f"  /missing/d{i}/** rw,\n  /usr/lib/x{i}* r,\n" for i in range(n))
        Path(tree["profile"]).write_text(f"profile p {{\n  /usr/** rix,\n{rules}}}\n")
        gc.collect()
        gc.disable()
        try:
            assert _compile(tree)[1].startswith("miss")
            pp, how = _compile(tree)
            assert how.startswith("hit") and len(pp.coverage.entries) > n
            del pp
            found.append(gc.collect())
        finally:
            gc.enable()
    assert found[1] == found[2], found


def test_recorded_answers_must_be_lists_of_three_strings():
    good = [["l", "/a", "T100644"], ["r", "/b", "/b"]]
    assert plan_cache._well_formed(good) and plan_cache._well_formed([])
    for bad in (None, {}, "x", [["a", "b"]], [["a", "b", 1]], [("a", "b", "c")],
                [["a", "b", "c", "d"]], ["abc"], [[1, 2, 3]], [["a", "b", None]], [good]):
        assert not plan_cache._well_formed(bad), bad
