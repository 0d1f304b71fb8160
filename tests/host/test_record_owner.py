"""Root's `status` believes a "confined by stockade" record only when it was written by root
or by the user the process runs as (red team 12: a user's record in their own runtime
directory named pid 1 as confined)."""

from __future__ import annotations

import json
import os

import pytest

from stockade.enforce.status_record import start_time
from stockade.host.confinement import confined_now


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_record_of_another_users_process_is_not_believed(tmp_path):
    record = {"pid": 1, "profile": "strict-init", "mode": "enforce", "start_time": start_time(1)}
    (tmp_path / "1.json").write_text(json.dumps(record))
    os.chown(tmp_path / "1.json", 4242, 4242)
    assert confined_now(0, [tmp_path]) == []
    os.chown(tmp_path / "1.json", 0, 0)  # root's launcher may confine any process of root's
    assert [c["pid"] for c in confined_now(0, [tmp_path])] == [1]
