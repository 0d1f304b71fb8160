"""The names the kernel and the dynamic loader find the launcher's machine code through count as
its code (enforce/loader_names.py; red team 13, rt/ldso_name_in_usr_lib64.sh): the
interpreter named in PT_INTERP and every link on its way, the names /etc/ld.so.cache holds for
the libraries it maps, /etc/ld.so.preload and LD_LIBRARY_PATH. A plan that may change one of
them is refused before the program runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from confine_helpers import NOBODY, PY, REPO, cli

from stockade.enforce import loader_names


def _refused(res, what: str) -> None:
    assert res.returncode == 125, res
    assert "the launcher's own code" in res.stderr and what in res.stderr, res
    assert len(res.stderr.splitlines()) == 1, res


def _readelf_interp(path: str) -> str | None:
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True).stdout
    m = re.search(r"Requesting program interpreter: (\S+)\]", out)
    return m.group(1) if m else None


def test_pt_interp_is_read_as_readelf_reads_it():
    python = os.path.realpath(sys.executable)
    for path in (python, "/usr/bin/true", "/bin/busybox"):
        if os.path.exists(path):
            assert loader_names.interpreter_of(path) == _readelf_interp(path), path
    assert loader_names.interpreter_of("/etc/hostname") is None


def test_the_cache_names_are_ldconfigs():
    """Against `ldconfig -p`: the paths it lists for libc.so.6 are the names found."""
    out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
    want = {line.rsplit("=> ", 1)[1] for line in out.splitlines()
            if line.strip().startswith("libc.so.6 ")}
    if not want:
        pytest.skip("ldconfig -p lists no libc.so.6")
    assert want <= set(loader_names.cached_names({"libc.so.6"}))
    # a real file name finds its soname's entry (libffi.so.8.1.2 -> libffi.so.8)
    assert set(loader_names.cached_names({"libc.so.6.0.1"})) >= want


def test_a_grant_over_the_interpreters_link_is_refused(area, user):
    """PT_INTERP /lib64/ld-linux-x86-64.so.2 passes the link /lib64 -> usr/lib64 and, on
    Debian, the link /usr/lib64/ld-linux-x86-64.so.2: a grant that may change either is
    refused (the red team's program re-pointed the second at its own loader)."""
    interp = loader_names.interpreter_of(os.path.realpath(sys.executable))
    if interp is None:
        pytest.skip("the interpreter names no program interpreter")
    from stockade.enforce import name_chain

    links, _end, _found = name_chain.walk(interp)
    holders = [d for d in dict.fromkeys(links) if d != "/"]
    if not holders:
        pytest.skip(f"{interp} passes no link outside /")
    res = cli("run", "--rx", "/usr", "--rw", holders[0], "--", "/usr/bin/true", user=user,
              own_code_refusal=True)
    _refused(res, interp)


def test_ld_library_path_of_the_launcher_counts(area, user):
    """A directory on the launcher's LD_LIBRARY_PATH is searched before the cache at every
    start: a plan that may write it is refused; the same run without it is not."""
    extra = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if user == "nobody" else {}
    libs = area.allowed / "lib"
    libs.mkdir()
    if user == "nobody":
        os.chown(libs, NOBODY, NOBODY)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")}
    args = [PY, "-m", "stockade", "run", "--rx", "/usr", "--rw", str(area.allowed), "--",
            "/usr/bin/true"]
    res = subprocess.run(args, capture_output=True, text=True, cwd="/", timeout=60,
                         env={**env, "LD_LIBRARY_PATH": str(libs)}, **extra)
    _refused(res, str(libs))
    res = subprocess.run(args, capture_output=True, text=True, cwd="/", timeout=60, env=env,
                         **extra)
    assert res.returncode == 0, res
