"""A run says when the program left processes running (red team 12,
rt/daemon_denials_unrecorded.sh): they keep its sandbox, lose the supervisor and their
denials reach no --audit file; the run's line says so and the file gets a "left" event."""

from __future__ import annotations

import json

from confine_helpers import cli


def test_a_process_left_running_is_said(area, user):
    audit = area.root / f"a-{user}.jsonl"
    res = cli("run", "--rx", "/usr", "--rw", "/dev/null", "--audit", str(audit), "--",
              "/usr/bin/sh", "-c", "sleep 5 & echo started", user=user)
    assert res.returncode == 0 and res.stdout == "started\n", res
    assert "were still running when it ended" in res.stderr, res.stderr
    events = [json.loads(line).get("event") for line in audit.read_text().splitlines()]
    assert "left" in events, events
    res = cli("run", "--rx", "/usr", "--rw", "/dev/null", "--", "/usr/bin/sh", "-c",
              "sleep 0.1 & wait", user=user)
    assert res.returncode == 0 and "still running" not in res.stderr, res
