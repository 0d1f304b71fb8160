"""Red team 7 (low): the launcher-file exposure checks looked only at the plan's grants, not at
the rights the plan leaves unhandled, which Landlock then allows everywhere. A
flags=(unconfined) profile handles no file right, so `run -p P --audit FILE` was accepted and
the program could truncate and forge FILE. status_record.write_grants now counts unhandled
write rights as a grant on /, so the run is refused before the program starts."""

from __future__ import annotations

import os

from confine_helpers import cli


def test_unconfined_profile_cannot_take_an_audit_file(area, user):
    prof = area.root / "un.profile"
    prof.write_text("profile un flags=(unconfined) {\n  /usr/** rix,\n}\n")
    os.chmod(prof, 0o644)
    audit = area.root / "audit.jsonl"
    audit.touch()
    os.chown(audit, 65534 if user == "nobody" else 0, -1)
    forge = f": > '{audit}' && echo '{{\"event\": \"forged\"}}' >> '{audit}'"
    res = cli("run", "-q", "--no-cache", "-p", str(prof), "--audit", str(audit), "--",
              "/bin/sh", "-c", forge, user=user)
    assert "forged" not in audit.read_text(), res  # the program never ran with the file
    assert res.returncode != 0 and "--audit" in res.stderr, res


def test_unconfined_profile_still_runs_without_launcher_files(area, user):
    """Without --audit/--learn an unconfined profile runs as before (its status record, like
    complain mode's, is kept unprotected: nothing is confined)."""
    prof = area.root / "un.profile"
    prof.write_text("profile un flags=(unconfined) {\n  /usr/** rix,\n}\n")
    os.chmod(prof, 0o644)
    res = cli("run", "-q", "--no-cache", "-p", str(prof), "--", "/bin/sh", "-c", "echo ran",
              user=user)
    assert res.returncode == 0 and "ran" in res.stdout, res


def test_an_unconfined_profiles_record_says_unconfined(area):
    """The status record (and so `stockade status`) names the mode the compiler gave the
    profile, not "enforce" for a profile that confines nothing."""
    import json
    import subprocess
    import time
    from pathlib import Path

    from confine_helpers import REPO, STOCKADE

    name = f"unrec{os.getpid()}{time.monotonic_ns()}"  # no other run's (or stale) record
    prof = area.root / "un.profile"
    prof.write_text(f"profile {name} flags=(unconfined) {{\n  /usr/** rix,\n}}\n")
    proc = subprocess.Popen([*STOCKADE, "run", "-q", "--no-cache", "-p", str(prof), "--",
                             "/bin/sleep", "5"], cwd="/",
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        mode = None
        for _ in range(100):
            for rec in Path("/run/stockade").glob("*.json"):
                try:
                    data = json.loads(rec.read_text())
                except (OSError, ValueError):
                    continue
                if data.get("profile") == name:
                    mode = data.get("mode")
            if mode:
                break
            time.sleep(0.05)
        assert mode == "unconfined"
    finally:
        proc.terminate()  # the launcher removes its record
        proc.wait(timeout=30)
