"""Opens that may block (FIFOs) never block the supervisor's decision loop (blocking.py)."""

from __future__ import annotations

import json
import os
import time

from sv_helpers import NOBODY, Tree, script, supervised, wait_for

MEDIUM = ["biba.default_level=medium"]  # unlabelled files at the subject's level: allowed


def _fifo(tree: Tree, name: str) -> str:
    path = tree.root / name
    os.mkfifo(path, 0o666)
    os.chown(path, tree.owner, tree.owner)
    return str(path)


def test_fifo_decisions_are_made_without_waiting(user):
    """Biba (the FIFO is unlabelled: high here, the program medium): a writer is refused at
    once, blocking or not (no reader needed for the decision: the kernel's file_open hook comes
    before the FIFO's own open too), and a blocking reader waits in its own thread until a
    writer appears outside the sandbox, while the supervisor goes on deciding."""
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        p = _fifo(tree, "p")

        def writer(_pid: int, out: str) -> None:
            wait_for(out, "waiting")
            deadline = time.monotonic() + 20
            while True:  # never block the test itself: wait for the sandbox's reader
                try:
                    fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        return
                    time.sleep(0.02)
            os.write(fd, b"hi")
            os.close(fd)

        run = supervised(script(f"""
attempt(lambda: os.open({p!r}, os.O_WRONLY))
attempt(lambda: os.open({p!r}, os.O_WRONLY | os.O_NONBLOCK))
print("waiting", flush=True)
attempt(lambda: print(os.read(os.open({p!r}, os.O_RDONLY), 10).decode()))
"""), user=user, rw=[str(tree.root)], while_running=writer, timeout=30)
        assert run.lines == ["EACCES", "EACCES", "waiting", "hi", "OK"], run
    finally:
        tree.cleanup()


def test_killed_fifo_reader_leaves_no_reader_behind(user):
    """A reader killed while its open waits: the waiting thread is woken and its descriptor
    closed, so a later writer sees no reader (ENXIO), as without the supervisor."""
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        p = _fifo(tree, "p")
        run = supervised(script(f"""
import signal, time
pid = os.fork()
if pid == 0:
    os.open({p!r}, os.O_RDONLY)
    os._exit(0)
time.sleep(0.5)
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
time.sleep(1.0)
attempt(lambda: os.open({p!r}, os.O_WRONLY | os.O_NONBLOCK))
"""), user=user, options=MEDIUM, rw=[str(tree.root)], timeout=30)
        assert run.lines == ["ENXIO"], run
    finally:
        tree.cleanup()


def test_regular_files_keep_their_flags(user):
    """O_NONBLOCK added by the supervisor is cleared before the descriptor is injected."""
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        f = tree.file("f", "x")
        run = supervised(script(f"""
import fcntl
fd = os.open({str(f)!r}, os.O_RDWR | os.O_APPEND)
print(bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK),
      bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND))
fd = os.open({str(f)!r}, os.O_RDONLY | os.O_NONBLOCK)
print(bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK))
"""), user=user, options=MEDIUM, rw=[str(tree.root)])
        assert run.lines == ["False", "True", "True"], run
    finally:
        tree.cleanup()


def test_a_signal_interrupts_a_waiting_open(user):
    """The kernel's FIFO open waits interruptibly: a handled signal ends it (EINTR, here an
    exception from the handler), a fatal one kills; the supervisor answers the same way."""
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        p = _fifo(tree, "p")
        run = supervised(script(f"""
import signal
def alarm(*_):
    raise TimeoutError
signal.signal(signal.SIGALRM, alarm)
signal.setitimer(signal.ITIMER_REAL, 0.3)
try:
    os.open({p!r}, os.O_WRONLY)
except TimeoutError:
    print("interrupted", flush=True)
signal.setitimer(signal.ITIMER_REAL, 0.3)
signal.signal(signal.SIGALRM, signal.SIG_DFL)
os.open({p!r}, os.O_RDONLY)
"""), user=user, options=MEDIUM, rw=[str(tree.root)], timeout=30)
        assert run.lines == ["interrupted"], run
        assert run.status == 128 + 14, run  # the second wait: killed by SIGALRM
    finally:
        tree.cleanup()


def test_create_through_a_dangling_symlink_is_decided_where_it_creates(user):
    """Biba: the program (medium) may create in low/ but not in high/ (files it creates are
    unlabelled, high: readable from medium, so O_RDONLY). open(O_CREAT) of
    low/link -> high/new must be decided as a creation in high/ (and refused), as the kernel
    creates the link's target; a link to low/ creates there."""
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        for d, level in (("high", "high"), ("low", "low")):
            (tree.root / d).mkdir()
            os.chown(tree.root / d, tree.owner, tree.owner)
            os.setxattr(tree.root / d, "user.stockade.biba", level.encode())
        high, low = tree.root / "high", tree.root / "low"
        (low / "up").symlink_to(high / "new")
        (low / "rel").symlink_to("../low/made")
        (low / "loop").symlink_to("loop")
        run = supervised(script(f"""
attempt(lambda: os.open({str(low / 'up')!r}, os.O_CREAT | os.O_RDONLY, 0o644))
attempt(lambda: os.open({str(low / 'rel')!r}, os.O_CREAT | os.O_RDONLY, 0o644))
attempt(lambda: os.open({str(low / 'up')!r}, os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o644))
attempt(lambda: os.open({str(low / 'loop')!r}, os.O_CREAT | os.O_RDONLY, 0o644))
attempt(lambda: os.open({str(low / 'up')!r}, os.O_CREAT | os.O_NOFOLLOW | os.O_RDONLY, 0o644))
"""), user=user, rw=[str(tree.root)])
        assert run.lines == ["EACCES", "OK", "EEXIST", "ELOOP", "ELOOP"], run
        assert not (high / "new").exists()
        assert (low / "made").exists()
        assert any(r.get("operation") == "create" or "inode_create" in str(r)
                   for r in run.audit), run.audit
    finally:
        tree.cleanup()


def test_waiting_opens_are_bounded(user):
    """At most blocking.LIMIT opens wait at once: the next is refused (EAGAIN, audited), and
    the waits of killed callers are cleaned up so that new opens may wait again."""
    from stockade.enforce.supervisor.blocking import LIMIT

    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        p = _fifo(tree, "p")
        run = supervised(script(f"""
import signal, time
kids = []
for i in range({LIMIT}):
    pid = os.fork()
    if pid == 0:
        os.open({p!r}, os.O_RDONLY)
        os._exit(0)
    kids.append(pid)
time.sleep(1.0)
attempt(lambda: os.open({p!r}, os.O_RDONLY))
for pid in kids:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
time.sleep(1.0)
attempt(lambda: os.open({p!r}, os.O_WRONLY | os.O_NONBLOCK))
"""), user=user, options=MEDIUM, rw=[str(tree.root)], timeout=60)
        assert run.lines == ["EAGAIN", "ENXIO"], run
        assert any("too many opens" in json.dumps(r) for r in run.audit), run.audit
    finally:
        tree.cleanup()
