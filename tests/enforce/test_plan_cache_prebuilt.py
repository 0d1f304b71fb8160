"""A plan cache hit builds its Landlock rulesets while its directory re-check runs
(prepare.prebuild): `prepare` takes them only for the very plan they were built for (or one
that adds grants after its own), and a hit that turns out stale withdraws them, so the run
gets the fresh plan and the kernel confines by it (real runs as root and as nobody)."""

from __future__ import annotations

import os
import re
import shutil
import time

import pytest
from confine_helpers import PRELUDE, PY, cli, uid_of

from stockade import fsview
from stockade.enforce import landlock, prepare
from stockade.enforce.plan import cache as plan_cache
from stockade.enforce.plan import profile as planmod
from stockade.enforce.plan.types import EnforcementPlan, FsRule
from stockade.slotted import replace

pytestmark = pytest.mark.skipif(landlock.abi_version() < 1, reason="no Landlock")

OLD = 1_600_000_000  # directories changed less than 2 s ago are fingerprinted by entries


@pytest.fixture
def profile(tmp_path):
    """A profile granting the files of a directory one by one (a glob), with own /proc rules
    (so a supervised launch has a ruleset of its own for the supervisor)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("a")
    prof = tmp_path / "p.aa"
    prof.write_text("include <tunables/global>\nprofile p {\n"
                    f"  {data}/*.txt r,\n  /usr/** rix,\n  @{{PROC}}/@{{pid}}/status r,\n}}\n")
    for p in (data, tmp_path):
        os.utime(p, (OLD, OLD))
    yield {"profile": str(prof), "data": data}
    prepare.withdraw()


def _plan(t) -> EnforcementPlan:
    return planmod.compile_file(t["profile"], []).plan


def _offered() -> prepare.Rulesets:
    assert len(prepare._offered) == 1
    return prepare._offered[0]


def _seen(prep: prepare.Prepared) -> tuple[list[tuple[str, str]], frozenset[str]]:
    """What `prep` reports and the grants it opened as their own real paths, but for other
    processes' /proc entries (processes of other tests come and go between two prepares)."""
    def steady(path: str) -> bool:
        return not re.match(r"(allow )?/proc/[0-9]", path)

    return ([(e.rule, e.status.value) for e in prep.coverage.entries if steady(e.rule)],
            frozenset(filter(steady, prep.real_paths)))


@pytest.mark.parametrize("supervised", [True, False])
def test_prepare_takes_the_rulesets_built_ahead_for_its_plan(profile, backend, supervised):
    plan = _plan(profile)
    fresh = prepare.prepare(plan, supervised=supervised)
    fresh.close()
    prepare.prebuild(plan)
    built = _offered()
    inner, outer = built.inner.fd, built.outer.fd
    assert inner >= 0 and outer >= 0  # built for a supervised launch
    with prepare.prepare(plan, supervised=supervised) as prep:
        assert prepare._offered == []
        assert prep.ruleset_fd == inner
        # the supervisor's own ruleset when supervised; dropped (closed) when not
        assert prep.supervisor_ruleset_fd == (outer if supervised else -1)
        assert (built.outer is not None) == supervised
        assert _seen(prep) == _seen(fresh)


def test_rulesets_built_for_another_plan_are_closed_not_taken(profile, backend):
    stale = _plan(profile)
    prepare.prebuild(stale)
    built = _offered()
    (profile["data"] / "b.txt").write_text("b")
    plan = _plan(profile)  # equal rules but other objects, and one more
    with prepare.prepare(plan, supervised=True) as prep:
        assert prep.ruleset_fd != -1 and built.inner.fd == built.outer.fd == -1  # closed
        assert any(e.rule.startswith(f"allow {profile['data']}/b.txt") for e in
                   prep.coverage.entries)
    # the same rule objects in a plan that handles something else (scopes): not taken either
    if landlock.abi_version() >= 6:
        prepare.prebuild(plan)
        built = _offered()
        other = replace(plan, scopes=plan.scopes ^ landlock.Scope.SIGNAL)
        assert all(a is b for a, b in zip(other.fs_rules, plan.fs_rules, strict=True))
        with prepare.prepare(other, supervised=True) as prep:
            assert built.inner.fd == -1 and prep.ruleset_fd != -1


def test_grants_added_after_the_plans_own_are_added_to_the_rulesets_taken(profile, backend,
                                                                          tmp_path):
    plan = _plan(profile)
    extra = tmp_path / "extra"
    extra.mkdir()
    grants = EnforcementPlan(name="adhoc", handled_fs=landlock.NO_FS, net_rules=[],
                             handled_net=landlock.NO_NET, scopes=landlock.NO_SCOPE,
                             fs_rules=[FsRule(str(extra), landlock.AccessFs.READ_FILE)])
    merged = plan.merged(grants)
    with prepare.prepare(merged, supervised=True) as fresh:
        expected = _seen(fresh)
    prepare.prebuild(plan)
    inner = _offered().inner.fd
    with prepare.prepare(merged, supervised=True) as prep:
        assert prep.ruleset_fd == inner
        assert _seen(prep) == expected
        assert str(extra) in prep.real_paths


def test_withdraw_closes_what_was_not_taken(profile):
    prepare.prebuild(_plan(profile))
    built = _offered()
    prepare.withdraw()
    assert prepare._offered == [] and built.inner.fd == built.outer.fd == -1


def test_a_stale_hit_withdraws_its_rulesets_and_prepare_builds_the_fresh_plan(
        profile, backend, tmp_path, monkeypatch):
    from stockade.enforce.plan.cache import keyring

    if keyring.key(create=True) is None:
        pytest.skip("no kernel keyring here (the plan cache is off)")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # the directory by its stat (checked by the thread the rulesets are built beside), not by
    # its entries, as directories changed less than 2 s ago are
    monkeypatch.setattr(fsview, "RACY_NS", 0)
    for _attempt in range(3):  # other sessions' tests may drop root's key meanwhile: again
        compiled = [plan_cache.compile_file(profile["profile"], [], None, prebuild=True)
                    for _ in range(2)]
        if compiled[1][1].startswith("hit"):
            break
    assert compiled[1][1].startswith("hit"), compiled
    assert len(prepare._offered) == 1  # the hit's, for prepare
    prepare.withdraw()
    (profile["data"] / "b.txt").write_text("b")
    built = []
    inner_prebuild = prepare.prebuild
    monkeypatch.setattr(prepare, "prebuild", lambda plan: (inner_prebuild(plan),
                                                           built.extend(prepare._offered)))
    pp, how = plan_cache.compile_file(profile["profile"], [], None, prebuild=True)
    assert how.startswith(f"miss (changed: d {profile['data']})"), how
    assert len(built) == 1 and built[0].inner.fd == -1  # built ahead, then withdrawn
    assert prepare._offered == []
    with prepare.prepare(pp.plan, supervised=True) as prep:
        assert str(profile["data"] / "b.txt") in prep.real_paths


def test_a_run_whose_hit_turns_stale_confines_by_the_fresh_plan(area, user, monkeypatch):
    """A new file in a directory the profile's glob walked: the third run misses although it
    built the old plan's rulesets ahead, and its program may read the new file (the fresh
    plan grants it; the old rulesets would not)."""
    from stockade.enforce.plan.cache import keyring

    if keyring.key(create=True) is None:
        pytest.skip("no kernel keyring here (the plan cache is off)")
    for sub in ("cache", "run"):
        d = area.root / sub
        d.mkdir(mode=0o700)
        os.chown(d, uid_of(user), uid_of(user))
    monkeypatch.setenv("XDG_CACHE_HOME", str(area.root / "cache"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(area.root / "run"))
    prof = area.root / "p.aa"
    # the glob's grants first: the old plan's rulesets plus the fresh plan's last grants
    # would still leave out the new file
    prof.write_text(f"profile p {{\n  {area.allowed}/*.txt r,\n  /usr/** rix,\n  /etc/** r,\n"
                    f"  /dev/null rw,\n}}\n")
    os.chmod(prof, 0o644)
    # a directory changed less than 2 s ago is fingerprinted by its entries and checked before
    # the plan is decoded; an older one by its stat, beside which the rulesets are built
    time.sleep(2.1)
    code = (f"attempt(lambda: open('{area.allowed}/file.txt').read())\n"
            f"attempt(lambda: open('{area.allowed}/new.txt').read())\n")
    for _attempt in range(3):
        outs = _three_runs(area, user, str(prof), code)
        # other sessions' tests on this host may drop or replace root's and nobody's key
        # between two runs ("refused entry", "off"): that is not what is tested here, again
        if not any("refused entry" in ln or ": off (" in ln or "not used" in ln
                   for _, lines in outs for ln in lines):
            break
        (area.allowed / "new.txt").unlink()
        shutil.rmtree(area.root / "cache" / "stockade", ignore_errors=True)
        time.sleep(2.1)
    assert "miss; stored" in outs[0][1][0] and "hit" in outs[1][1][0]
    assert f"miss (changed: d {area.allowed})" in outs[2][1][0]
    assert outs[0][0] == outs[1][0] == "OK\nENOENT\n"
    assert outs[2][0] == "OK\nOK\n"


def _three_runs(area, user: str, prof: str, code: str) -> list[tuple[str, list[str]]]:
    """stdout and plan cache lines of three runs: stored, hit, then with a new file."""
    outs = []
    for k in range(3):
        if k == 2:
            (area.allowed / "new.txt").write_text("new\n")
            os.chown(area.allowed / "new.txt", uid_of(user), uid_of(user))
        r = cli("run", "-v", "-p", prof, "--", PY, "-c", PRELUDE + code, user=user)
        assert r.returncode == 0, r.stderr
        outs.append((r.stdout, [ln for ln in r.stderr.splitlines() if "plan cache" in ln]))
    return outs
