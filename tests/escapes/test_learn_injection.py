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


