"""`stockade run -- python3` in an activated venv that the plan does not grant: one line
naming the venv and the flag, instead of only Python's pyvenv.cfg traceback. A real venv
made by Debian's python, a real confined child, as root and as nobody."""

from __future__ import annotations

import os
import subprocess

from confine_helpers import NOBODY, PY, REPO, STOCKADE


def _venv(area) -> str:
    venv = area.root / "venv"
    subprocess.run([PY, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    for p in [venv, *venv.rglob("*")]:
        os.lchown(p, os.stat(area.root).st_uid, os.stat(area.root).st_gid)
    return str(venv)


def _run(venv: str, user: str, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "VIRTUAL_ENV": venv,
           "PATH": f"{venv}/bin:/usr/bin:/bin"}
    extra = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if user == "nobody" else {}
    return subprocess.run([*STOCKADE, "run", "--rx", "/usr", *flags, "--", "python3", "-c",
                           "import sys; print(sys.prefix)"], capture_output=True, text=True,
                          timeout=60, cwd="/", env=env, **extra)  # type: ignore[arg-type]


def test_ungranted_venv_is_named_with_the_flag(area, user):
    venv = _venv(area)
    res = _run(venv, user)
    assert res.returncode != 0 and "pyvenv.cfg" in res.stderr  # Python's own failure
    line = (f"stockade run: the Python venv at {venv} is not granted (Python cannot read its "
            f"pyvenv.cfg): add --ro {venv}")
    assert res.stderr.splitlines().count(line) == 1, res.stderr
    granted = _run(venv, user, "--ro", venv)
    assert granted.returncode == 0 and granted.stdout.strip() == venv, granted.stderr
    assert "venv" not in granted.stderr, granted.stderr
    assert _run(venv, user, "-q").stderr.count("stockade run:") == 0
