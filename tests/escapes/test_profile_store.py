"""The profiles `learn` writes without -o (~/.config/stockade/profiles, $XDG_CONFIG_HOME) are
stockade's own state: every `run` refuses a plan that may write that directory, or a link on
the way to it, or make it (red team 13, rt/learned_profile_rewritten_by_plain_run.sh: a plain
`run --rw ~` rewrote a learned profile and the next `run -p` of it granted ~/.ssh)."""

from __future__ import annotations

import os
import subprocess

from confine_helpers import NOBODY, REPO, STOCKADE

PROFILE = "profile usr.bin.true /usr/bin/true {\n  /usr/bin/true rix,\n}\n"


def _own(path, user) -> None:
    if user == "nobody":
        os.chown(path, NOBODY, NOBODY)


def _mkdir(path, user) -> None:
    path.mkdir(parents=True, exist_ok=True)
    _own(path, user)


def _run(home, grant, user, **env_extra) -> subprocess.CompletedProcess[str]:
    """`run --rw GRANT` whose program appends a rule to the stored profile if it can."""
    extra = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if user == "nobody" else {}
    store = (env_extra.get("XDG_CONFIG_HOME") or f"{home}/.config") + "/stockade/profiles"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(REPO / "src"),
           **env_extra}
    script = f"echo '  /** w,' >> {store}/usr.bin.true 2>/dev/null; exit 0"
    return subprocess.run([*STOCKADE, "run", "--rx", "/usr", "--rx", "/bin",
                           "--rw", str(grant), "--", "/bin/sh", "-c", script],
                          capture_output=True, text=True, cwd="/", env=env, timeout=60, **extra)


def _refused(res, what: str) -> None:
    assert res.returncode == 125, res
    assert "stockade's profile store" in res.stderr and what in res.stderr, res
    assert len(res.stderr.splitlines()) == 1, res


def test_a_plan_that_may_write_the_learned_profiles_is_refused(area, user):
    home = area.root / "home"
    store = home / ".config" / "stockade" / "profiles"
    for d in (home, home / ".config", home / ".config" / "stockade", store):
        _mkdir(d, user)
    prof = store / "usr.bin.true"
    prof.write_text(PROFILE)
    _own(prof, user)
    for grant in (home, home / ".config", store):
        _refused(_run(home, grant, user), str(store))
        assert prof.read_text() == PROFILE
    # a grant beside it runs, and its program really writes what it may
    work = home / "work"
    _mkdir(work, user)
    res = _run(home, work, user)
    assert res.returncode == 0, res
    assert prof.read_text() == PROFILE


def test_the_store_counts_before_it_exists_and_through_links(area, user):
    home = area.root / "home"
    _mkdir(home, user)
    res = _run(home, home, user)
    _refused(res, "does not exist yet")
    # XDG_CONFIG_HOME moves it: the home is then free to write, the new place is not
    config = area.root / "cfg"
    _mkdir(config, user)
    _refused(_run(home, config, user, XDG_CONFIG_HOME=str(config)), str(config))
    assert _run(home, home, user, XDG_CONFIG_HOME=str(config)).returncode == 0
    # ~/.config a link into a tree the program may write (dotfiles kept elsewhere)
    dots = area.root / "dots"
    _mkdir(dots / "config", user)
    os.symlink(dots / "config", home / ".config")
    os.lchown(home / ".config", *((NOBODY, NOBODY) if user == "nobody" else (0, 0)))
    _refused(_run(home, dots, user), str(dots))


def test_a_second_link_of_a_stored_profile_in_a_grant_is_refused(area, user):
    home = area.root / "home"
    store = home / ".config" / "stockade" / "profiles"
    for d in (home, home / ".config", home / ".config" / "stockade", store, home / "work"):
        _mkdir(d, user)
    prof = store / "usr.bin.true"
    prof.write_text(PROFILE)
    _own(prof, user)
    os.link(prof, home / "work" / "usr.bin.true")
    res = _run(home, home / "work", user)
    _refused(res, "2 hard links")
    (home / "work" / "usr.bin.true").unlink()
    assert _run(home, home / "work", user).returncode == 0
