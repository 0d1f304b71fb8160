"""Which processes a confined program started, learned as they are created: the kernel's
process events connector (NETLINK_CONNECTOR, CN_IDX_PROC; root: CAP_NET_ADMIN).

The kernel queues a fork event on the socket inside fork(2) itself, before the new process can
run, so by the time an audit record of that process has been read, its fork event is already
waiting here: draining this socket before deciding whose a record is attributes the records of
a child that already exited and of a grandchild re-parented away (their /proc parent chain
does not lead to the program any more). Only fork events are asked for (the kernel filters by
event type, Linux 6.6); a full receive buffer drops events, which `lost` counts so that the run
can say its attribution may be incomplete.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
import threading
import time

NETLINK_CONNECTOR = 11
CN_IDX_PROC = CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_EVENT_FORK = 0x00000001
NLMSG_DONE = 3
SO_RCVBUFFORCE = 33
RCVBUF = 16 << 20  # the whole machine's forks arrive here: room for bursts
_WHAT = 16 + 20  # nlmsghdr, cn_msg, then proc_event.what
_FORK = _WHAT + 16  # what, cpu, timestamp; then parent pid/tgid, child pid/tgid
#: at most this many processes are remembered per run (a fork bomb would grow it for ever)
MAX_PIDS = 1 << 18


class ForkEvents:
    """A subscription to fork events; `follow` adds the descendants of known processes."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC,
                                  NETLINK_CONNECTOR)
        try:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
            self.sock.bind((0, CN_IDX_PROC))
            # cn_msg (idx, val, seq, ack, len, flags) + proc_input (op, event type)
            body = struct.pack("=IIIIHHII", CN_IDX_PROC, CN_VAL_PROC, 0, 0, 8, 0,
                               PROC_CN_MCAST_LISTEN, PROC_EVENT_FORK)
            self.sock.send(struct.pack("=IHHII", 16 + len(body), NLMSG_DONE, 0, 0, 0) + body)
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise
        self.lost = 0  # times the kernel dropped events (ENOBUFS)
        self.full = False  # MAX_PIDS reached: later descendants are not followed
        self.lock = threading.Lock()
        #: the program itself: its own fork event (by the launcher) comes after it is known
        self.roots: set[int] = set()
        self._buf = bytearray(256)

    def follow(self, pids: set[int]) -> None:
        """Read the fork events queued so far; a process forked by one in `pids` joins it.

        Stops at the first event newer than the call (the whole machine forks meanwhile: the
        queue might never run empty), which still covers every process that existed then."""
        until = time.monotonic_ns()  # the kernel stamps events with ktime_get_ns()
        with self.lock:
            buf, recv_into, unpack = self._buf, self.sock.recv_into, struct.unpack_from
            while True:
                try:
                    n = recv_into(buf)
                except BlockingIOError:
                    return
                except OSError as err:
                    if err.errno == errno.ENOBUFS:
                        self.lost += 1
                        continue
                    raise
                if n < _FORK + 16 or unpack("=I", buf, _WHAT)[0] != PROC_EVENT_FORK:
                    continue
                stamp = unpack("=Q", buf, _WHAT + 8)[0]
                _ppid, parent, child_pid, child = unpack("=IIII", buf, _FORK)
                if child_pid != child:  # a thread: same process
                    pass
                elif parent in pids:
                    if len(pids) < MAX_PIDS:
                        pids.add(child)
                    else:
                        self.full = True
                elif child in pids and child not in self.roots:
                    pids.discard(child)  # its id was reused by a process not ours
                if stamp > until:
                    return

    def wait(self, timeout: float) -> None:
        """Block until an event is queued or `timeout` seconds passed."""
        import select

        with contextlib.suppress(InterruptedError):
            select.select([self.sock], [], [], timeout)

    def close(self) -> None:
        """Unsubscribe."""
        self.sock.close()


def open_events() -> ForkEvents | None:
    """A fork event subscription, or None where the kernel or our privileges have none."""
    try:
        return ForkEvents()
    except OSError:
        return None

