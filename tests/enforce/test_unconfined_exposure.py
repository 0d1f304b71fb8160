"""Red team 7 (low), not fixed: the launcher-file exposure checks (status_record.exposure on
sandbox_grants) look only at the plan's grants, not at the rights the plan leaves unhandled,
which Landlock then allows everywhere. A flags=(unconfined) profile handles no file right, so
`run -p P --audit FILE` is accepted and the program can truncate and forge FILE. Expected:
the run is refused before the program starts (docs/enforce.md, known limits)."""

from __future__ import annotations

import os

import pytest
from confine_helpers import cli


@pytest.mark.xfail(strict=True, reason="red team 7: exposure()/sandbox_grants ignore rights "
                   "the plan leaves unhandled (flags=(unconfined)); being changed by fixrt6")
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
