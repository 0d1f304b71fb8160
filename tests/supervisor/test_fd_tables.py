"""Descriptor tables of a thread group (held.fd_tables): a thread that unshared CLONE_FILES
has its own, and the writers' scans read it (red team 14). Real processes, read from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.enforce.supervisor import held
from stockade.enforce.supervisor.execve import race

#: a process whose second thread (unsharing its table when asked) opens argv[1] for writing,
#: says "ready" and waits for stdin to close; the leader holds nothing of it
HOLDER = """
import ctypes, os, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
ready = threading.Event()
def writer():
    if sys.argv[2] == "unshare" and libc.unshare(0x400) != 0:
        raise SystemExit(os.strerror(ctypes.get_errno()))
    fd = os.open(sys.argv[1], os.O_WRONLY)
    if sys.argv[2] == "shared":
        os.close(fd)  # the control: nothing held for writing anywhere
    ready.set()
    sys.stdin.read()
th = threading.Thread(target=writer, daemon=True)
th.start()
ready.wait()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def target_file() -> Iterator[Path]:
    fd, name = tempfile.mkstemp(prefix="stockade-fdt-")
    os.close(fd)
    yield Path(name)
    os.unlink(name)


def _holder(path: Path, how: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), how], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)


@pytest.mark.parametrize("how", ["unshare", "shared"])
def test_a_threads_own_table_is_read(target_file: Path, how: str) -> None:
    """/proc/TGID/fd lists the leader's table only: the writer thread's descriptor in a
    table of its own was out of view of writable_files and the exec race's writer scan."""
    proc = _holder(target_file, how)
    try:
        tables = held.fd_tables(proc.pid)
        st = target_file.stat()
        holds = race._holds_for_writing(str(proc.pid), (st.st_dev, st.st_ino))
        files = held.writable_files(proc.pid)
    finally:
        _stop(proc)
    assert files is not None
    if how == "unshare":
        assert len(tables) == 2 and tables[0] == proc.pid
        assert holds
        assert st.st_ino in [f.ino for f in files]
    else:  # two threads, one table, nothing held for writing
        assert tables == [proc.pid]
        assert not holds
        assert st.st_ino not in [f.ino for f in files]  # (ctypes holds a file of its own)
