"""The supervisor's stop() after its thread closed it (what `supervised_launch` does once the
program ended) writes nowhere: the stop pipe's descriptor numbers may belong to another file
by then (a strace of a plain run showed the write going to a closed descriptor)."""

from __future__ import annotations

import os

from stockade.enforce.supervisor.setup import build_hybrid


def test_stop_after_close_writes_to_no_reused_descriptor(tmp_path) -> None:
    setup = build_hybrid()
    sup = setup.supervisor
    stop_w = sup._stop_w
    sup.close()
    opened = []
    try:
        while True:  # take the lowest free numbers until the stop pipe's write end is reused
            fd = os.open(tmp_path / f"f{len(opened)}", os.O_WRONLY | os.O_CREAT, 0o600)
            opened.append(fd)
            if fd == stop_w or len(opened) > 64:
                break
        assert opened[-1] == stop_w
        sup.stop()
        assert all(os.fstat(fd).st_size == 0 for fd in opened)
    finally:
        for fd in opened:
            os.close(fd)
        if setup.auditor is not None:
            setup.auditor.close()
