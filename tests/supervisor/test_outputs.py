"""The supervisor writes --audit and --learn records to the descriptors `run` opened safely
(O_NOFOLLOW, regular, outside the grants), never to the paths opened again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from confine_helpers import PY, fork_helper, wait_helper

from stockade.enforce import defaults, prepare
from stockade.enforce.output_file import open_output
from stockade.enforce.supervisor.session import supervised_launch
from stockade.enforce.supervisor.setup import build
from stockade.errors import UsageError


def test_records_go_to_the_descriptors_even_after_the_paths_were_swapped(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "low").write_text("LOW\n")
    os.setxattr(d / "low", "user.stockade.biba", b"low")
    audit, learn, victim = tmp_path / "audit.jsonl", tmp_path / "learn.jsonl", tmp_path / "victim"
    victim.write_text("keep\n")

    def helper() -> int:
        afd = open_output(str(audit), "audit file")
        lfd = open_output(str(learn), "--learn file")
        for path in (audit, learn):  # after the checks: a link to another file in their place
            os.rename(path, f"{path}.moved")
            os.symlink(victim, path)
        setup = build("learn", "capability,biba", ["biba=medium"], ["biba.default_level=high"],
                      afd, lfd)
        plan = defaults.adhoc_plan([str(d)], (), (PY, "/usr", "/etc"))
        with prepare.prepare(plan, supervised=True) as prep:
            code = supervised_launch(prep, setup.supervisor, setup.routed,
                                     [PY, "-c", f"open({str(d / 'low')!r}).read()"])
        setup.close()
        return code

    status = wait_helper(fork_helper(helper), 60, "supervised learn run", poll=0.02)
    assert os.waitstatus_to_exitcode(status) == 0
    assert victim.read_text() == "keep\n"
    records = [json.loads(x) for x in Path(f"{audit}.moved").read_text().splitlines()]
    assert any(r.get("object", "").endswith("/low") for r in records), records
    seen = [json.loads(x) for x in Path(f"{learn}.moved").read_text().splitlines()]
    assert any(o.get("path", "").endswith("/low") for o in seen), seen


def test_descriptors_are_closed_when_the_build_fails(tmp_path: Path) -> None:
    afd = open_output(str(tmp_path / "a"), "audit file")
    lfd = open_output(str(tmp_path / "l"), "--learn file")
    with pytest.raises(UsageError):
        build("nonsense", audit_path=afd, learn_path=lfd)
    for fd in (afd, lfd):
        with pytest.raises(OSError):
            os.fstat(fd)
