"""enforce/fork_events.py against the kernel's process events connector (root only): the
processes a known process forks are learned even after they exited or were re-parented."""

from __future__ import annotations

import os
import threading

import pytest

from stockade.enforce.fork_events import open_events


def test_descendants_are_learned_after_they_exited():
    events = open_events()
    if events is None:
        pytest.skip("no process events connector (needs root: CAP_NET_ADMIN)")
    try:
        r, w = os.pipe()
        child = os.fork()
        if child == 0:  # forks a grandchild and exits first: the grandchild is re-parented
            os.close(r)
            grandchild = os.fork()
            if grandchild == 0:
                os._exit(0)
            os.write(w, str(grandchild).encode())
            os._exit(0)
        os.close(w)
        grandchild = int(os.read(r, 32))
        os.close(r)
        os.waitpid(child, 0)
        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()
        pids = {os.getpid()}
        events.follow(pids)
        assert {child, grandchild} <= pids  # both gone by now, still known
        assert thread.native_id not in pids  # a thread is not a process
        assert not events.lost
    finally:
        events.close()
