"""Run REAL children under the supervisor, from a forked helper that may drop to nobody."""

from __future__ import annotations

import json
import os
import select
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confine_helpers import NOBODY, PY, Result, drop_to_nobody, fork_helper, script, wait_helper

from stockade.enforce import defaults, launcher, prepare
from stockade.enforce.supervisor import fast
from stockade.enforce.supervisor.session import supervised_launch
from stockade.enforce.supervisor.setup import build


@dataclass
class Run(Result):
    stats: dict[str, Any] = field(default_factory=dict)
    audit: list[dict] = field(default_factory=list)
    learn: list[dict] = field(default_factory=list)


class Tree:
    """A scratch directory reachable by nobody, with Biba/SELinux-labelled files."""

    def __init__(self, owner: int = 0) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="stockade-sv-", dir="/tmp"))
        os.chmod(self.root, 0o755)
        self.owner = owner

    def file(self, name: str, text: str, **labels: str) -> Path:
        p = self.root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        for module, label in labels.items():
            os.setxattr(p, f"user.stockade.{module}", label.encode())
        os.chown(p, self.owner, self.owner)
        os.chown(p.parent, self.owner, self.owner)
        return p

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def supervised(argv: Sequence[str], *, user: str = "root", lsm: str = "capability,biba",
               mode: str = "enforce", contexts: Sequence[str] = ("biba=medium",),
               options: Sequence[str] = ("biba.default_level=high",), ro: Sequence[str] = (),
               rw: Sequence[str] = (), rx: Sequence[str] = (), timeout: float = 60,
               while_running: Callable[[int, str], None] | None = None,
               during: Callable[[Any], None] | None = None, keep_caps: Sequence[int] = ()) -> Run:
    """Run `argv` under the supervisor as `user`; `while_running(helper_pid, out_path)` runs
    in the test while the helper is alive (e.g. to kill it); `during(supervisor)` runs in a
    thread of the helper while the child runs (e.g. to change the policy)."""
    tmp = Path(tempfile.mkdtemp(prefix="stockade-svrun-"))
    os.chmod(tmp, 0o777)
    out, err, stats = tmp / "out", tmp / "err", tmp / "stats"
    audit, learn = tmp / "audit.jsonl", tmp / "learn.jsonl"
    for p in (out, err, audit, learn):
        p.touch()
        os.chmod(p, 0o666)

    def helper() -> int:
        fd_out = os.open(out, os.O_WRONLY | os.O_APPEND)
        fd_err = os.open(err, os.O_WRONLY | os.O_APPEND)
        os.dup2(fd_out, 1)
        os.dup2(fd_err, 2)
        if user == "nobody":
            drop_to_nobody()
        setup = build(mode, lsm, contexts, options, str(audit),
                      str(learn) if mode == "learn" else None)
        plan = defaults.adhoc_plan(ro, rw, (PY, "/usr", "/etc", *rx), keep_caps=keep_caps)
        if during is not None:
            threading.Thread(target=during, args=(setup.supervisor,), daemon=True).start()
        with prepare.prepare(plan, supervised=True) as prep:
            code = supervised_launch(prep, setup.supervisor, setup.routed, list(argv))
        stats.write_text(json.dumps({**setup.supervisor.stats.as_dict(),
                                     "mechanics": fast.name(setup.supervisor.backend),
                                     "fatal": repr(setup.supervisor.fatal)}))
        setup.close()
        return code

    pid = fork_helper(helper)
    if while_running is not None:
        while_running(pid, str(out))
    status = wait_helper(pid, timeout, f"supervised {argv}", poll=0.02)
    run = Run(launcher.exit_status(status), out.read_text(), err.read_text())
    if stats.exists():
        run.stats = json.loads(stats.read_text())
    run.audit = [json.loads(x) for x in audit.read_text().splitlines() if x.strip()]
    run.learn = [json.loads(x) for x in learn.read_text().splitlines() if x.strip()]
    shutil.rmtree(tmp, ignore_errors=True)
    return run


def wait_for(path: str, text: str, timeout: float = 30) -> str:
    """Poll `path` until it contains `text` (a file written by the child)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = Path(path).read_text()
        if text in data:
            return data
        select.select([], [], [], 0.02)
    raise TimeoutError(f"{text!r} never appeared in {path}")


__all__ = ["NOBODY", "Run", "Tree", "script", "supervised", "wait_for"]
