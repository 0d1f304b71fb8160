"""Opens that may wait for another process, performed outside the decision loop.

The supervisor opens every file for the target with O_NONBLOCK added (handlers.py), so its one
decision thread never waits: a FIFO's reader open returns at once, a FIFO's writer open fails
ENXIO when no reader is there, a regular file under a lease fails EWOULDBLOCK. When the target
asked for a blocking open of such an object, the decision is made first (on the descriptor or an
O_PATH descriptor of the very inode), and then a short-lived thread waits as the target's open
would and injects the result itself:

* a FIFO reader: our read end *is* the target's pending reader (the kernel counts a reader
  waiting in open too, so writers open at once either way); the thread waits until a writer
  wrote or came and went (poll: POLLIN/POLLHUP), clears O_NONBLOCK and injects that read end.
  The one difference: the target's open returns at the writer's first write (or close), not
  at its open;
* a FIFO writer, or a file under a lease: the thread reopens the inode of an O_PATH descriptor
  through /proc/self/fd/N with the target's own flags and blocks there (until a reader opens,
  until the lease is broken).

The waiting thread is started from the supervisor thread right after it switched to the
target's credentials, so it inherits them and the Landlock domain: the kernel checks the reopen
exactly as it checked the target's open. At most LIMIT opens wait at once (more are refused
with EAGAIN and audited).

The target waits killably (WAIT_KILLABLE_RECV) once its call is received, so a signal cannot
interrupt it by itself: every REAP_INTERVAL_MS the loop looks at the waiting callers, answers
one that has a signal pending with ERESTARTSYS (the kernel then restarts the open after an
SA_RESTART handler, or returns EINTR, exactly as after its own interruptible FIFO wait) and one
that is gone not at all, and wakes that thread by opening the FIFO read-write without blocking
(a reader and a writer appear and leave; a third process blocked on the same FIFO at that moment
wakes too and sees end-of-file or EPIPE, as after any peer that leaves).
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import stat
import threading

from stockade.enforce.supervisor.notify import Listener
from stockade.suppress import suppress

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from stockade.enforce.supervisor.loop import Supervisor

LIMIT = 64
REAP_INTERVAL_MS = 200
#: flags a reopen through /proc/self/fd/N must not carry (O_NOFOLLOW would refuse the magic link)
_NOT_ON_REOPEN = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_TRUNC | os.O_NONBLOCK


#: the kernel's "restart me, or EINTR if the handler has no SA_RESTART" (include/linux/errno.h)
ERESTARTSYS = 512


class _Wait:
    __slots__ = ("answered", "fd", "fifo", "nid", "reader", "thread", "tid")

    def __init__(self, nid: int, tid: int, fd: int, fifo: bool, reader: bool) -> None:
        self.nid = nid
        self.tid = tid
        self.fd = fd  # our descriptor of the inode: O_PATH, or the FIFO read end the target gets
        self.fifo = fifo
        # `fd` is the target's FIFO read end: wait for a writer on it, then inject it
        self.reader = reader
        # the caller has its answer (or is gone): the thread only cleans up
        self.answered = False
        self.thread: threading.Thread | None = None


class BlockingOpens:
    """The opens of one supervisor that wait in their own threads."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.lock = threading.Lock()
        self.waiting: dict[int, _Wait] = {}

    def start(self, nid: int, tid: int, fd: int, flags: int, cloexec: bool,
              truncate: bool, reader: bool = False) -> bool:
        """Answer `nid` from a new thread (which owns `fd` from now on): with our FIFO read end
        `fd` once a writer came (`reader`), else with the inode at `fd` opened again with the
        target's `flags`. False (fd untouched) when LIMIT opens already wait. Call from the
        supervisor thread, acting as the target."""
        assert self.sup.listener is not None
        fifo = stat.S_ISFIFO(os.fstat(fd).st_mode)
        with self.lock:
            if len(self.waiting) >= LIMIT:
                return False
            listener_fd = os.dup(self.sup.listener.fd)  # ours: the loop may close its own first
            wait = _Wait(nid, tid, fd, fifo, reader)
            self.waiting[nid] = wait
        thread = threading.Thread(target=self._wait, name="stockade-open", daemon=True,
                                  args=(wait, listener_fd, flags & ~_NOT_ON_REOPEN, cloexec,
                                        truncate))
        wait.thread = thread
        try:
            thread.start()
        except BaseException:
            os.close(listener_fd)
            with self.lock:
                del self.waiting[nid]
            raise
        return True

    def _wait(self, wait: _Wait, listener_fd: int, flags: int, cloexec: bool,
              truncate: bool) -> None:
        listener = Listener(listener_fd)
        new = -1
        try:
            try:
                if wait.reader:
                    _wait_for_writer(wait.fd)
                    fcntl.fcntl(wait.fd, fcntl.F_SETFL, flags)
                    new = os.dup(wait.fd)
                else:
                    new = os.open(f"/proc/self/fd/{wait.fd}", flags | os.O_CLOEXEC)
            except OSError as err:
                if self._take(wait):
                    listener.respond(wait.nid, 0, err.errno or errno.EIO)
                return
            if not self._take(wait):
                return  # interrupted by a signal, or gone: the reaper answered
            if truncate and stat.S_ISREG(os.fstat(new).st_mode):
                os.ftruncate(new, 0)
            got = listener.inject(wait.nid, new, cloexec)
            if got >= 0:
                self.sup.stats.emulated += 1
            elif got == -errno.ENOENT:
                self.sup.stats.vanished += 1
            else:
                listener.respond(wait.nid, 0, -got)
        except OSError:
            pass  # the listener is gone: so is the target
        finally:
            if new >= 0:
                os.close(new)
            listener.close()
            with self.lock:
                self.waiting.pop(wait.nid, None)
                os.close(wait.fd)

    def _take(self, wait: _Wait) -> bool:
        """Whether the caller of `wait` is ours to answer (and now it is taken)."""
        with self.lock:
            if wait.answered:
                return False
            wait.answered = True
            return True

    def reap(self) -> None:
        """Answer the waits whose callers are gone or have a signal to handle, as the kernel's
        interruptible wait would (ERESTARTSYS: restarted after an SA_RESTART handler, else
        EINTR), and wake their threads (see the module docstring)."""
        listener = self.sup.listener
        if listener is None:
            return
        with self.lock:
            open_waits = [w for w in self.waiting.values() if not w.answered]
        for wait in open_waits:
            gone = not listener.id_valid(wait.nid)
            if not gone and not self.sup.helper.call(signal_pending, wait.tid):
                continue
            if not self._take(wait):
                continue
            if not gone:
                try:
                    listener.respond(wait.nid, 0, ERESTARTSYS)
                except OSError:
                    listener.respond(wait.nid, 0, errno.EINTR)
            self._wake(wait)
            if wait.fifo and wait.thread is not None:
                # a woken writer holds its end for a moment: let it close before the next
                # notification (a reader opening meanwhile would see a writer the target never
                # had, and end-of-file after it)
                wait.thread.join(1.0)

    def wake_all(self) -> None:
        """Wake every FIFO wait (the supervisor is ending)."""
        with self.lock:
            waits = list(self.waiting.values())
            for wait in waits:
                wait.answered = True
        for wait in waits:
            self._wake(wait)

    def _wake(self, wait: _Wait) -> None:
        if not wait.fifo:
            return  # a lease break ends by itself (lease-break-time)

        def peer() -> None:  # unrestricted helper thread: the target may not hold O_RDWR
            with self.lock:  # the waiting thread closes wait.fd under the lock
                if wait.nid in self.waiting:
                    with suppress(OSError):
                        os.close(os.open(f"/proc/self/fd/{wait.fd}",
                                         os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC))

        self.sup.helper.call(peer)


def _wait_for_writer(fd: int) -> None:
    """Until a writer wrote to the FIFO read end `fd` or came and went (POLLIN, POLLHUP)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not poller.poll():
        pass


def signal_pending(tid: int) -> bool:
    """Whether task `tid` has a signal pending that it does not block (or is gone)."""
    try:
        with open(f"/proc/{tid}/status", encoding="ascii", errors="replace") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        pending = int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)
        return bool(pending & ~int(fields["SigBlk"], 16))
    except (OSError, KeyError, ValueError):
        return True
