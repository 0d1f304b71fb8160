"""Red team 4: a program under `stockade learn` made files whose names carried profile syntax
(`*` taken as a glob, a newline ending the rule), and learn wrote the rules those names
spelled (`/var/tmp/** rw,`, `capability,`) into the profile a later `run -p` enforced."""

from __future__ import annotations

import shutil

from confine_helpers import PY, hand_to, scratch_for, stockade_as

EVIL = ("q* r,\n  /var/tmp/** rw,\n  capability,\n  #", "lit*eral")


def test_names_from_the_program_never_become_rules(user: str) -> None:
    work = scratch_for(user, "stockade-rt4-")
    hand_to(user, work)
    try:
        code = ("import os, sys\n"
                f"for name in {EVIL!r}:\n"
                "    os.makedirs(os.path.join(sys.argv[1], name))\n"
                "    open(os.path.join(sys.argv[1], name, 'f'), 'w').close()\n")
        prof = work / "learned.profile"
        res = stockade_as(user, "learn", "-o", str(prof), "--", PY, "-c", code, str(work),
                          cwd=work)
        assert res.returncode == 0, res.stderr
        text = prof.read_text()
        lines = [line.strip() for line in text.splitlines()]
        assert "/var/tmp/** rw," not in lines and "capability," not in lines, text
        assert not any(line.startswith("q* r") for line in lines), text
        # the literal `*` of a real name is escaped, not a glob
        assert "lit\\*eral" in text, text
        check = stockade_as(user, "check", str(prof), cwd=work)
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)




def test_a_concurrent_sandbox_cannot_add_observations(user: str) -> None:
    """Red team 13 (rt/learn_observations_in_tmp.sh): learn's run wrote its observations to
    a file in the temporary directory, which learn read back by name; a sandbox of the same
    user that may write there appended a forged write of a file, and the learned profile
    granted it. The file has no name now: the sandbox finds nothing to append to."""
    import os
    import subprocess

    from confine_helpers import NOBODY, STOCKADE, USER_ENV

    work = scratch_for(user, "stockade-rt13l-")
    tmp, box = work / "tmp", work / "box"
    for d in (tmp, box):
        d.mkdir()
    hand_to(user, work)
    forged = "/var/tmp/rt13-forged-target"
    line = ('{"access": ["write", "open"], "capability": [], "comm": "sleep", "errno": 0, '
            '"exe": "/usr/bin/sleep", "hook": "file_open", "modules": [], "op": "open", '
            f'"path": "{forged}", "peer": null, "pid": PID, "result": "allowed", '
            '"signal": 0, "syscall": "openat", "target": "", "tid": PID, "time": 1.0}')
    appender = ("end=$(($(date +%s) + 8)); while [ $(date +%s) -lt $end ]; do "
                f"for f in $(find {tmp} -type f); do "
                "pid=$(sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p' \"$f\" | head -1); "
                f"[ -n \"$pid\" ] && echo '{line}' | sed \"s/PID/$pid/g\" >> \"$f\" && "
                f"echo found > {box}/found && exit 0; done; sleep 0.01; done")
    extra = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if user == "nobody" else {}
    env = {**USER_ENV, "TMPDIR": str(tmp)}
    try:
        sandbox = subprocess.Popen([*STOCKADE, "run", "-q", "--rx", "/usr", "--rx", "/bin",
                                    "--rw", str(tmp), "--rw", str(box), "--", "/bin/sh", "-c",
                                    appender], cwd=work, env=env, **extra)
        prof = work / "sleep.profile"
        res = stockade_as(user, "learn", "-q", "-o", str(prof), "--", "/usr/bin/sleep", "1",
                          cwd=work, env=env)
        sandbox.wait(timeout=30)
        assert res.returncode == 0, res.stderr
        assert forged not in prof.read_text(), prof.read_text()
        assert not (box / "found").exists()
        assert not os.listdir(tmp)  # learn left no file there, named or not
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_observations_file_never_has_a_name(tmp_path, monkeypatch) -> None:
    """With O_TMPFILE and without it (a file system that lacks it): the descriptor learn
    hands its run is of a file with no link, and nothing is left in the temporary
    directory."""
    import os
    import tempfile

    from stockade.cli import learn

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    real_open = os.open

    def no_tmpfile(path, flags, *args, **kw):
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            raise OSError(95, "Operation not supported")
        return real_open(path, flags, *args, **kw)

    for patched in (False, True):
        if patched:
            monkeypatch.setattr(os, "open", no_tmpfile)
        fd = learn._nameless_file()
        try:
            assert os.fstat(fd).st_nlink == 0
            assert os.listdir(tmp_path) == []
            os.write(fd, b'{"pid": 1}\n')
            assert learn._read_lines(fd) == [{"pid": 1}]
        finally:
            os.close(fd)
