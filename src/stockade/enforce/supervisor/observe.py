"""Observations: every access a supervised program made, for `stockade learn` (genprof/logprof).

In learn mode the supervisor records one `Observation` per mediated system call (and lets it
through as complain mode would). The stream is JSON lines, one object per observation:

    {"time": 1718000000.123, "pid": 4242, "tid": 4243, "comm": "python3", "exe": "/usr/bin/python3",
     "syscall": "openat", "hook": "file_open", "op": "open", "path": "/etc/hosts",
     "access": ["read", "open"], "target": "", "peer": null, "signal": 0, "capability": [],
     "result": "allowed", "errno": 0, "modules": []}

Fields: `op` is one of open, create, exec, connect, bind, socket, unlink, rmdir, mkdir, rename,
link, symlink, mknod, chmod, chown, mount, ptrace, signal; `path` the resolved absolute path
the decision was made on (after symlinks, as the kernel opened it); `target` the second path of
rename/link or a symlink's text; `peer` `{"family": "inet", "address": "127.0.0.1", "port": 80}`
for connect/bind (`unix` with the socket path, `@name` for abstract ones) and
`{"family": "inet", "type": 1, "protocol": 0}` for socket; `signal` the signal number and `peer`
`{"pid": N}` for signals and ptrace; `capability` the capabilities the stack was asked about
while deciding; `result` is "allowed", "denied" or "would-deny" (complain/learn mode let a
denial through; `modules` names the layers that would have denied, `errno` their errno).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import IO, Any


@dataclass(slots=True)
class Observation:
    """One access a supervised program made."""

    time: float
    pid: int
    tid: int
    comm: str
    exe: str
    syscall: str
    hook: str
    op: str
    path: str = ""
    access: list[str] = field(default_factory=list)
    target: str = ""
    peer: dict[str, Any] | None = None
    signal: int = 0
    capability: list[str] = field(default_factory=list)
    result: str = "allowed"
    errno: int = 0
    modules: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """One JSON line (without the newline)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Observation:
        """Parse one line written by `to_json`."""
        data = json.loads(line)
        return cls(**{k: data[k] for k in cls.__slots__ if k in data})  # type: ignore[attr-defined]


Observer = Callable[[Observation], None]


class JsonlObserver:
    """Appends observations to a JSON lines file, flushed per line; counts what failed."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.written = 0
        self.failed = 0
        self._lock = threading.Lock()

    def __call__(self, obs: Observation) -> None:
        line = obs.to_json() + "\n"
        with self._lock:
            try:
                self.stream.write(line)
                self.stream.flush()
                self.written += 1
            except OSError:
                self.failed += 1


def read_observations(path: str) -> list[Observation]:
    """Every observation in a JSON lines file."""
    with open(path, encoding="utf-8") as f:
        return [Observation.from_json(line) for line in f if line.strip()]
