"""A file of several profiles: `run -p` takes the one that attaches to the program (the
kernel's find_attach), `compile` and `explain` the only one that attaches to any program; px/cx
transitions and hats are refused at start with one line unless --inherit-transitions."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from confine_helpers import PY, cli, policy_dir

from stockade.enforce.plan.profile import compile_file
from stockade.errors import StockadeError

MAN_PROFILE = "/etc/apparmor.d/usr.bin.man"
needs_man = pytest.mark.skipif(not os.path.exists(MAN_PROFILE) or not shutil.which("man"),
                               reason="apparmor's usr.bin.man or man-db not installed")


def _several(area) -> str:
    real = os.path.realpath(PY)
    path = Path(area.root) / "several.aa"
    path.write_text(f"""
profile glob {os.path.dirname(real)}/python3* {{ /usr/** rix, }}
profile exact {real} {{ /usr/** rix, /etc/** r, }}
profile helper {{ /** r, }}
""")
    os.chmod(path, 0o644)
    return str(path)


def test_run_takes_the_profile_that_attaches(area, user):
    """The plain-path attachment wins over the glob (find_attach), on the resolved program."""
    code = "import os; print(os.environ['STOCKADE_PROFILE']); print(len(open('/etc/hostname').read()) > 0)"
    res = cli("run", "-p", _several(area), "--", PY, "-c", code, user=user)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["exact", "True"]


def test_no_profile_attaches_to_the_program(area, user):
    res = cli("run", "-p", _several(area), "--", "/usr/bin/true", user=user)
    assert res.returncode == 125
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "none attaches to /usr/bin/true" in lines[0], res.stderr
    assert "--profile-name" in lines[0]


def test_ambiguous_file_names_its_profiles(area):
    with pytest.raises(StockadeError, match=r"2 attach to programs \(glob, exact\)"):
        compile_file(_several(area))
    assert compile_file(_several(area), name="helper").profile == "helper"


@needs_man
def test_compile_picks_the_attaching_profile_of_usr_bin_man():
    """The example of `compile --help`: apparmor_parser loads all three profiles; the one that
    attaches to a program is /usr/bin/man (man_groff and man_filter are reached by exec)."""
    res = cli("compile", "--json", "--abi", "4", MAN_PROFILE)
    assert res.returncode == 0, res.stderr
    import json

    assert json.loads(res.stdout)["profile"] == "/usr/bin/man"
    res = cli("explain", "--profile", MAN_PROFILE, "read", "/etc/hostname")
    assert "profile /usr/bin/man" in res.stdout


@needs_man
def test_man_transitions_refused_with_one_line(user):
    res = cli("run", "-p", MAN_PROFILE, "--", "man", "-P", "cat", "ls", user=user)
    assert res.returncode == 125
    assert res.stdout == ""  # man never ran
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "usr.bin.man:12" in lines[0] and "man_groff" in lines[0]
    assert "--inherit-transitions" in lines[0]


@needs_man
def test_man_runs_with_inherit_transitions(user, monkeypatch):
    """Accepting the approximation: man and its groff/filter pipeline in man's sandbox, with
    the same page as unconfined."""
    monkeypatch.setenv("MANWIDTH", "80")
    env = dict(os.environ)
    extra = {"user": 65534, "group": 65534, "extra_groups": []} if user == "nobody" else {}
    plain = subprocess.run(["man", "-P", "cat", "ls"], capture_output=True, text=True,
                           timeout=60, env=env, cwd="/", **extra)  # type: ignore[arg-type]
    res = cli("run", "--inherit-transitions", "--no-status-record", "-p", MAN_PROFILE, "--",
              "man", "-P", "cat", "ls", user=user, timeout=60)
    assert res.returncode == plain.returncode == 0, res.stderr
    assert res.stdout == plain.stdout
    assert "ls - list directory contents" in res.stdout


def test_hats_and_px_rules_are_refused_unless_accepted(area, user):
    path = Path(area.root) / "hat.aa"
    path.write_text("profile h {\n  /usr/** rix,\n  /usr/bin/env Px -> other,\n"
                    "  ^handler {\n    /usr/** r,\n  }\n}\n")
    os.chmod(path, 0o644)
    res = cli("run", "-p", str(path), "--", "/usr/bin/true", user=user)
    assert res.returncode == 125 and res.stderr.count("\n") == 1, res.stderr
    assert "hat.aa:3: `/usr/bin/env Px -> other,`" in res.stderr and "(and 1 more)" in res.stderr
    res = cli("run", "--inherit-transitions", "-p", str(path), "--", "/usr/bin/true", user=user)
    assert res.returncode == 0, res.stderr


def test_one_refusal_names_every_flag_to_add(area, user, monkeypatch):
    """A profile with a transition that also grants the status record directory writable
    (usr.bin.man as root: `/** mrixwlk`) is refused once, naming both --inherit-transitions
    and --no-status-record: no second round trip."""
    xdg = area.root / "xdg"
    xdg.mkdir()
    os.chown(xdg, 65534 if user == "nobody" else 0, 65534 if user == "nobody" else 0)
    os.chmod(xdg, 0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))  # nobody's record directory (root: /run)
    grant = "/run" if user == "root" else str(area.root)
    path = policy_dir(area.root) / "both.aa"  # outside the grant: refused inside it
    path.write_text(f"profile both {{\n  /usr/** rix,\n  {grant}/ rw,\n  {grant}/** rw,\n"
                    "  /usr/bin/env Px -> other,\n}\n")
    os.chmod(path, 0o644)
    argv = ["-q", "-p", str(path), "--", "/usr/bin/true"]
    first = cli("run", *argv, user=user)
    assert first.returncode == 125 and first.stderr.count("\n") == 1, first.stderr
    assert "--inherit-transitions" in first.stderr and "--no-status-record" in first.stderr
    assert f"lies inside the writable grant {grant}" in first.stderr
    done = cli("run", "--inherit-transitions", "--no-status-record", *argv, user=user)
    assert done.returncode == 0, done.stderr
    # without the record problem the refusal names only the transition
    alone = cli("run", "--no-status-record", *argv, user=user)
    assert alone.returncode == 125 and "--no-status-record" not in alone.stderr, alone.stderr


@pytest.mark.parametrize("deny", [False, True])
def test_the_attached_program_may_start(area, user, deny):
    """AppArmor checks the exec that attaches a profile against the caller: a profile need
    not grant x on its own program (an explicit deny still holds)."""
    true = os.path.realpath("/usr/bin/true")
    path = Path(area.root) / "attached.aa"
    extra = f"  deny {true} x,\n" if deny else ""
    path.write_text(f"profile t {true} {{\n  /usr/lib/** mr,\n  /etc/ld.so.cache r,\n"
                    f"{extra}}}\n")
    os.chmod(path, 0o644)
    res = cli("run", "-v", "-p", str(path), "--", true, user=user)
    assert res.returncode == (126 if deny else 0), res.stderr
    assert ("attaches to" in res.stderr) is not deny
