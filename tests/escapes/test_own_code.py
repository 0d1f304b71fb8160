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
