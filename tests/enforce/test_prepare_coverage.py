"""prepare records one coverage entry per grant, in the plan's order, built in one batch (a hit
records thousands); they are the entries the dry run (`stockade compile`, which builds no
ruleset and records each by itself) gives, a grant gone before launch approximated."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockade.enforce import landlock as ll
from stockade.enforce import prepare
from stockade.enforce.landlock import flag_names
from stockade.enforce.plan.types import (
    CoverageStatus,
    EnforcementPlan,
    FsRule,
    NetRule,
    rights_text,
)


def test_rights_text_is_the_flag_names() -> None:
    rights = [ll.AccessFs(0), ll.AccessFs.READ_FILE,
              ll.AccessFs.READ_FILE | ll.AccessFs.READ_DIR | ll.AccessFs.EXECUTE,
              *ll.AccessFs]
    for each in rights:
        assert rights_text(each) == ("|".join(flag_names(each)) or "none")
    assert str(FsRule("/x", ll.AccessFs.READ_FILE)) == "/x read_file"
    assert str(FsRule("/x", ll.AccessFs(0))) == "/x none"


@pytest.mark.skipif(ll.abi_version() < 1, reason="no Landlock")
def test_the_grants_entries_are_the_dry_runs(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("f")
    read = ll.AccessFs.READ_FILE | ll.AccessFs.READ_DIR
    rules = [FsRule(str(tmp_path / "d"), read, "p:1"),
             FsRule(str(tmp_path / "gone"), read, "p:2", optional=True),
             FsRule(str(tmp_path / "d" / "f"), ll.AccessFs.READ_FILE | ll.AccessFs.WRITE_FILE,
                    "p:3", optional=True),
             FsRule("/usr", read | ll.AccessFs.EXECUTE)]
    plan = EnforcementPlan(fs_rules=rules, handled_fs=read | ll.AccessFs.WRITE_FILE
                           | ll.AccessFs.EXECUTE,
                           net_rules=[NetRule(443, ll.AccessNet.CONNECT_TCP, "p:4")]
                           if ll.abi_version() >= 4 else [],
                           handled_net=ll.AccessNet.CONNECT_TCP if ll.abi_version() >= 4
                           else ll.NO_NET)
    with prepare.prepare(plan) as real:
        built = [e for e in real.coverage.entries if e.rule.startswith("allow ")]
    dry = prepare.prepare(plan, dry_run=True)
    listed = [e for e in dry.coverage.entries if e.rule.startswith("allow ")]
    assert built == listed
    assert [e.status for e in built[:4]] == [CoverageStatus.EXACT, CoverageStatus.APPROXIMATED,
                                             CoverageStatus.EXACT, CoverageStatus.EXACT]
    assert built[1].detail == "gone before launch: not granted" and built[1].source == "p:2"
    assert built[0].enforced_by.startswith("Landlock ABI ")


def test_grant_entries_by_what_each_open_gave() -> None:
    """Opened: exact; an optional grant gone (ENOENT, ENOTDIR): approximated; a link on the
    way (ELOOP) or any other error, or a grant that is not optional gone: the launch refused,
    the grants before it recorded (as the per-grant loop this replaced did)."""
    import errno

    from stockade.enforce.plan.types import CoverageReport
    from stockade.errors import StockadeError

    rules = [FsRule(f"/g{i}", ll.AccessFs.READ_FILE, f"p:{i}", optional=i != 3) for i in range(5)]
    todo = [(r, int(r.access)) for r in rules]
    cov = CoverageReport()
    prepare._grant_entries(cov, todo, [0, 1, -errno.ENOENT, 0, -errno.ENOTDIR], "ABI 7")
    assert [(e.rule, e.source, e.status, e.detail, e.enforced_by) for e in cov.entries] == [
        ("allow /g0 read_file", "p:0", CoverageStatus.EXACT, "", "ABI 7"),
        ("allow /g1 read_file", "p:1", CoverageStatus.EXACT, "", "ABI 7"),
        ("allow /g2 read_file", "p:2", CoverageStatus.APPROXIMATED,
         "gone before launch: not granted", ""),
        ("allow /g3 read_file", "p:3", CoverageStatus.EXACT, "", "ABI 7"),
        ("allow /g4 read_file", "p:4", CoverageStatus.APPROXIMATED,
         "gone before launch: not granted", "")]
    for opened, why in (([0, -errno.ENOENT, 0, -errno.ELOOP, 0], "symbolic link"),
                        ([0, 0, 0, -errno.ENOENT, 0], "No such file"),
                        ([0, 0, 0, 0, -errno.EACCES], "Permission denied")):
        cov = CoverageReport()
        with pytest.raises(StockadeError, match=why):
            prepare._grant_entries(cov, todo, opened, "ABI 7")
        bad = next(i for i, r in enumerate(opened) if r < 0 and (r != -errno.ENOENT or i == 3))
        assert [e.rule for e in cov.entries] == [f"allow /g{i} read_file" for i in range(bad)]
