"""The TCP refusals a run sees, turned into one line naming the flags that grant them.

`run` sees a refused TCP operation in two places: the supervisor's own refusals (an
unbound `listen`, which would take an ephemeral port no bind grant allows; TCP bind/connect
when `--mode` routes them), and the kernel's Landlock records (`blockers=net.bind_tcp` /
`net.connect_tcp`, read with `--audit` as root). Each is counted here; at the end of the run
`hint()` says which `--bind-tcp PORT`/`--connect-tcp PORT` would have allowed them.
"""

from __future__ import annotations

import threading
from collections import Counter

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from stockade.audit.record import AuditRecord
    from stockade.lsm.stack import AuditEvent

_TCP_HOOKS = {"socket_bind": "bind", "socket_connect": "connect", "socket_listen": "listen"}
_SOCK_STREAM = 1


class TcpRefusals:
    """Counts refused TCP bind/connect/listen by port (thread-safe; bounded by the 65,536
    ports times three kinds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: Counter[tuple[str, int]] = Counter()  # (bind|connect|listen, port)

    def _add(self, kind: str, port: int) -> None:
        if 0 <= port <= 65535:
            with self._lock:
                self.seen[(kind, port)] += 1

    def kernel_record(self, rec: AuditRecord) -> None:
        """A kernel record of the run (Landlock's `blockers=net.*_tcp`, object `host:port`)."""
        if rec.module != "landlock" or rec.result != "DENIED":
            return
        port = rec.object.rsplit(":", 1)[-1]
        if not port.isdigit():
            return
        for blocker in rec.denied.split(","):
            if blocker in ("net.bind_tcp", "net.connect_tcp"):
                self._add(blocker[4:-4], int(port))

    def event(self, ev: AuditEvent) -> None:
        """A supervisor or module denial: TCP bind/connect/listen with the port asked."""
        kind = _TCP_HOOKS.get(ev.request.hook)
        obj = ev.request.obj
        if (kind is None or ev.result != "DENIED" or obj is None
                or obj.family not in (2, 10) or obj.sock_type not in (0, _SOCK_STREAM)):
            return
        self._add(kind, obj.port or 0)

    def hint(self) -> str | None:
        """'TCP refused: connect to port 80 (2x), ...; grant with --connect-tcp 80' or None."""
        with self._lock:
            seen = sorted(self.seen.items())
        if not seen:
            return None
        said, flags = [], []
        for (kind, port), n in seen:
            times = f" ({n}x)" if n > 1 else ""
            if kind == "listen":
                said.append(f"listen on an unbound socket{times}")
            else:
                said.append(f"{kind} {'to' if kind == 'connect' else 'on'} port {port}{times}")
            flag = f"--connect-tcp {port}" if kind == "connect" else f"--bind-tcp {port}"
            if flag not in flags:
                flags.append(flag)
        return (f"TCP refused: {', '.join(said)}; grant with {' '.join(flags)}"
                + (" (port 0: any ephemeral port)" if "--bind-tcp 0" in flags else ""))
