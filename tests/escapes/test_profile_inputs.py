"""A program may not rewrite the policy of its own later runs (red team 12): `run -p` refuses
a plan that may write its profile, an include file, a directory of included files, or a place
where an include was looked for and not found (`ProfilePlan.inputs`, asked by
cli/run/exposure.py `refuse_code_exposure`), with the plan cache on (a hit too) and off."""

from __future__ import annotations

import os

import pytest
from confine_helpers import NOBODY, cli

BODY = "  /usr/bin/true rix,\n  /usr/lib/** mr,\n  /etc/ld.so.cache r,\n"


def _write(path, text, user) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, 0o644)
    if user == "nobody":
        os.chown(path, NOBODY, NOBODY)


def _run(profile, *extra, user, cache=True):
    flags = [] if cache else ["--no-cache"]
    return cli("run", "-q", *flags, "-p", str(profile), *extra, "--", "/usr/bin/true",
               user=user)


def _refused(res, what: str) -> None:
    assert res.returncode == 125, res
    assert "the profile's input" in res.stderr and what in res.stderr, res
    assert len(res.stderr.splitlines()) == 1, res


@pytest.mark.parametrize("cache", [True, False])
def test_a_profile_the_program_may_write_is_refused(area, user, cache):
    prof = area.allowed / "app.aa"
    _write(prof, f"profile app /usr/bin/true {{\n{BODY}  {area.allowed}/** rw,\n}}\n", user)
    for _ in range(2):  # the second run with the cache on is a hit: still refused
        _refused(_run(prof, user=user, cache=cache), str(prof))
    # the same grant given by a flag, with the profile outside it: the program runs
    outside = area.root / "app.aa"
    _write(outside, f"profile app /usr/bin/true {{\n{BODY}}}\n", user)
    res = _run(outside, "--rw", str(area.allowed), user=user, cache=cache)
    assert res.returncode == 0, res
    _refused(_run(prof, user=user, cache=cache), str(prof))


def test_an_include_file_or_directory_the_program_may_write_is_refused(area, user):
    inc = area.root / "inc"
    _write(inc / "abstractions" / "app", BODY, user)
    _write(inc / "app.d" / "one", "  /etc/hostname r,\n", user)
    prof = area.root / "app.aa"
    _write(prof, "profile app /usr/bin/true {\n  include <abstractions/app>\n"
           "  include <app.d>\n}\n", user)
    assert _run(prof, "-I", str(inc), user=user).returncode == 0
    _refused(_run(prof, "-I", str(inc), "--rw", str(inc / "abstractions"), user=user),
             "abstractions/app")
    _refused(_run(prof, "-I", str(inc), "--rw", str(inc / "abstractions" / "app"), user=user),
             "abstractions/app")
    _refused(_run(prof, "-I", str(inc), "--rw", str(inc / "app.d"), user=user), "app.d")


def test_an_include_not_found_yet_counts_where_the_program_may_make_it(area, user):
    """`include if exists` of a file that is missing, and a search directory earlier than
    the one the include was found in: a file made there changes the policy."""
    inc, late = area.root / "inc", area.root / "late"
    (inc / "local").mkdir(parents=True)
    if user == "nobody":
        os.chown(inc / "local", NOBODY, NOBODY)
    _write(late / "abstractions" / "app", BODY, user)
    prof = area.root / "app.aa"
    _write(prof, "profile app /usr/bin/true {\n  include <abstractions/app>\n"
           "  include if exists <local/app>\n}\n", user)
    args = ["-I", str(inc), "-I", str(late)]
    assert _run(prof, *args, user=user).returncode == 0
    _refused(_run(prof, *args, "--rw", str(inc / "local"), user=user), "does not exist yet")
    (inc / "abstractions").mkdir()
    if user == "nobody":
        os.chown(inc / "abstractions", NOBODY, NOBODY)
    _refused(_run(prof, *args, "--rw", str(inc / "abstractions"), user=user),
             "does not exist yet")


def test_the_plan_cache_is_not_made_through_a_planted_link(area, user, monkeypatch):
    """Red team 12: a sandbox that may write the cache base leaves `stockade` there as a link
    to another directory; the next run -p must not make its cache directory (and entries)
    there, a write outside every grant."""
    base, target, xdg = area.allowed / "cache", area.root / "target", area.root / "xdg"
    for d in (base, target, xdg):
        d.mkdir()
        if user == "nobody":
            os.chown(d, NOBODY, NOBODY)
    os.chmod(xdg, 0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))  # nobody's (the cache needs one)
    (base / "stockade").symlink_to(target)
    monkeypatch.setenv("XDG_CACHE_HOME", str(base))
    prof = area.root / "app.aa"
    _write(prof, f"profile app /usr/bin/true {{\n{BODY}}}\n", user)
    res = cli("run", "-v", "-p", str(prof), "--", "/usr/bin/true", user=user)
    assert res.returncode == 0, res
    assert "plan cache: off" in res.stderr and "symbolic link" in res.stderr, res.stderr
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("cache", [True, False])
def test_a_profile_with_a_second_link_on_a_written_file_system_is_refused(area, user, cache):
    """Red team 13 (rt/profile_hard_link_in_grant.sh): a profile kept outside its grant but
    with a second hard link inside it (a `cp -al` backup) was accepted, and its program
    rewrote it through the link. A profile input with more than one link on the file system
    of a writable grant is refused, as the --audit and --learn files are."""
    prof = area.root / "app.aa"
    text = f"profile app /usr/bin/sh {{\n{BODY}  /usr/bin/** rix,\n  {area.allowed}/** rw,\n}}\n"
    _write(prof, text, user)
    link = area.allowed / "backup.aa"
    os.link(prof, link)
    flags = [] if cache else ["--no-cache"]
    script = f"echo '  /** w,' >> {link}"
    res = cli("run", "-q", *flags, "-p", str(prof), "--", "/usr/bin/sh", "-c", script,
              user=user)
    assert res.returncode == 125, res
    assert "the profile's input" in res.stderr and "2 hard links" in res.stderr, res
    assert len(res.stderr.splitlines()) == 1, res
    assert prof.read_text() == text
    # with the one link only, the same run runs, and writes what it may
    link.unlink()
    res = cli("run", "-q", *flags, "-p", str(prof), "--", "/usr/bin/sh", "-c",
              f"echo x > {area.allowed}/out", user=user)
    assert res.returncode == 0, res
    assert (area.allowed / "out").read_text() == "x\n"
