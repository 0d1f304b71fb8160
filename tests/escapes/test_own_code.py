"""The unconfined launcher's own code stays out of the program's reach (enforce/own_code.py):
a plan that may write stockade's modules, the interpreter or a directory on sys.path is
refused, and `python -m stockade` imports nothing from the current directory (a program that
could write there, or whoever left files there, would otherwise run code in the launcher)."""

from __future__ import annotations

import os

from confine_helpers import REPO, cli


def test_a_grant_over_the_launchers_code_is_refused(area, user):
    for grant in (REPO / "src" / "stockade" / "lsm", REPO / ".venv"):
        res = cli("run", "--rx", "/usr", "--rw", str(grant), "--", "/usr/bin/true", user=user,
                  own_code_refusal=True)
        assert res.returncode == 125, res
        assert "the launcher's own code" in res.stderr, res
        assert len(res.stderr.splitlines()) == 1, res


def test_python_m_imports_nothing_from_the_current_directory(area, user):
    cwd = area.allowed
    marker = area.root / "imported"
    (cwd / "json.py").write_text(f"open({str(marker)!r}, 'w').close()\n"
                                 "raise ImportError('planted')\n")
    os.chmod(cwd / "json.py", 0o644)
    prof = area.root / "p.aa"
    prof.write_text("profile p /usr/bin/true {\n  /usr/bin/true rix,\n  /usr/lib/** mr,\n"
                    "  /etc/ld.so.cache r,\n}\n")
    os.chmod(prof, 0o644)
    # the plan cache's store imports json when it writes an entry; --audit writes records
    res = cli("run", "-q", "-p", str(prof), "--audit", str(area.root / "a.jsonl"), "--",
              "/usr/bin/true", user=user, cwd=str(cwd))
    assert not marker.exists(), res
    assert res.returncode == 0, res


def _refused(res) -> None:
    assert res.returncode == 125, res
    assert "the launcher's own code" in res.stderr, res
    assert len(res.stderr.splitlines()) == 1, res


def test_every_name_of_the_interpreter_and_its_start_files_counts(area, user):
    """Red team 12: the venv's bin/python link (replaced, the next `python -m stockade` runs
    the program's script), pyvenv.cfg (its `home =` moves the standard library) and Debian's
    sitecustomize.py, a link out of the standard library to /etc/python3.11."""
    grants = [REPO / ".venv" / "bin", REPO / ".venv" / "pyvenv.cfg"]
    site = "/usr/lib/python3.11/sitecustomize.py"
    if os.path.islink(site):
        grants += [os.path.dirname(os.path.realpath(site)), os.path.realpath(site)]
    for grant in grants:
        _refused(cli("run", "--rx", "/usr", "--rw", str(grant), "--", "/usr/bin/true",
                     user=user, own_code_refusal=True))
    # a grant beside them is not refused
    res = cli("run", "--rx", "/usr", "--rw", str(area.allowed), "--", "/usr/bin/true",
              user=user)
    assert res.returncode == 0, res


def test_a_user_site_not_made_yet_counts(area, user):
    """Red team 12: Python puts the user site directory on sys.path only once it exists; a
    run that may make it (a grant on ~/.local) could plant usercustomize.py for every later
    start of a launcher that is not in a venv (Debian's python3 -m stockade)."""
    import subprocess

    from confine_helpers import NOBODY, PY

    home = area.root / "home"
    (home / ".local").mkdir(parents=True)
    if user == "nobody":
        os.chown(home, NOBODY, NOBODY)
        os.chown(home / ".local", NOBODY, NOBODY)
    extra = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if user == "nobody" else {}
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(REPO / "src")}
    for grant in (home / ".local", home):
        res = subprocess.run([PY, "-m", "stockade", "run", "--rx", "/usr", "--rw", str(grant),
                              "--", "/usr/bin/true"], capture_output=True, text=True, cwd="/",
                             env=env, timeout=30, **extra)
        _refused(res)
        assert "does not exist yet" in res.stderr, res
    assert not (home / ".local" / "lib").exists()


def test_a_second_hard_link_of_a_loaded_module_is_refused(area, user):
    """Red team 12: a hard link of stockade's own module inside a writable grant (as perf's
    ~/.debug keeps them) is a name no path check finds: a loaded module with more than one
    link on the file system of a writable grant is refused."""
    module = REPO / "src" / "stockade" / "errors.py"
    link = area.allowed / "elf"
    try:
        os.link(module, link)
    except OSError as err:
        import pytest

        pytest.skip(f"cannot link {module} into {area.allowed}: {err}")
    try:
        res = cli("run", "--rx", "/usr", "--rw", str(area.allowed), "--", "/usr/bin/true",
                  user=user, own_code_refusal=True)
        _refused(res)
        assert "hard links" in res.stderr, res
    finally:
        link.unlink()
    res = cli("run", "--rx", "/usr", "--rw", str(area.allowed), "--", "/usr/bin/true", user=user)
    assert res.returncode == 0, res


def test_libraries_module_files_and_the_bytecode_prefix_count(area, user):
    """Red team 12: the shared libraries the launcher maps (libseccomp, libc), a
    --module-file it executes, and the tree PYTHONPYCACHEPREFIX moves its bytecode to."""
    import glob
    import subprocess

    from confine_helpers import NOBODY

    libs = [*glob.glob("/usr/lib/x86_64-linux-gnu/libseccomp.so.2*"), "/usr/lib/x86_64-linux-gnu"]
    for grant in [p for p in libs if os.path.exists(p)][:2]:
        _refused(cli("run", "--rx", "/usr", "--rw", grant, "--", "/usr/bin/true", user=user,
                     own_code_refusal=True))
    module = area.allowed / "mod.py"
    module.write_text("from stockade.modules.programmable import hook\n")
    os.chmod(module, 0o644)
    res = cli("run", "--rx", "/usr", "--rw", str(area.allowed), "--module-file", str(module),
              "--", "/usr/bin/true", user=user, own_code_refusal=True)
    _refused(res)
    assert str(module) in res.stderr, res
    prefix = area.allowed / "pycache"
    extra = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if user == "nobody" else {}
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONPYCACHEPREFIX": str(prefix)}
    res = subprocess.run([str(REPO / ".venv/bin/python"), "-m", "stockade", "run", "--rx",
                          "/usr", "--rw", str(area.allowed), "--", "/usr/bin/true"],
                         capture_output=True, text=True, cwd="/", env=env, timeout=60, **extra)
    _refused(res)
    assert str(prefix) in res.stderr, res


def test_learn_runs_no_stockade_planted_in_the_current_directory(area, user):
    """Red team 12: `python -m stockade` finds the package on the current directory before
    __main__.py can drop it; `stockade learn` starts its run with -P, in the user's directory
    (which the learned program may write)."""
    planted = area.allowed / "stockade"
    planted.mkdir()
    marker = area.root / "planted-ran"
    for name in ("__init__.py", "__main__.py"):
        (planted / name).write_text(f"open({str(marker)!r}, 'w').close()\n")
        os.chmod(planted / name, 0o644)
    os.chmod(planted, 0o755)
    import subprocess

    from confine_helpers import NOBODY

    extra = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if user == "nobody" else {}
    # the outer command with -P too: it is the one under test's parent, not the subject
    res = subprocess.run([str(REPO / ".venv/bin/python"), "-P", "-m", "stockade", "learn", "-o",
                          str(area.root / "out.profile"), "--", "/usr/bin/true"],
                         capture_output=True, text=True, cwd=str(area.allowed), timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO / "src")}, **extra)
    assert not marker.exists(), res
    assert res.returncode == 0, res
