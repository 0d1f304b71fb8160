"""An exec is continued only when no other task can change its path before the kernel reads
it (execve/race.py): what still works, what is refused."""

from __future__ import annotations

from confine_helpers import LABELLED, PY, cli

BIBA = ["--mode", "enforce", "--lsm", "capability,biba", "--context", "biba=medium",
        "--module-option", "biba.default_level=high", "--rx", PY, "--rx", "/usr"]

PROGRAM = LABELLED + """
import ctypes, mmap, os, subprocess, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
def spawn():
    out = subprocess.run(["/usr/bin/true"])
    if out.returncode:
        raise OSError(out.returncode, "failed")
t("single", spawn)                                  # vfork from a single-threaded process
t("shell", lambda: subprocess.run(["/bin/sh", "-c", "/usr/bin/true"], check=True))
def in_child(path_buf):
    pid = os.fork()
    if pid == 0:
        argv = (ctypes.c_char_p * 2)(b"true", None)
        libc.execve(path_buf, argv, None)
        os._exit(ctypes.get_errno())
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
def exec_from(buf):
    code = in_child(buf)
    if code:
        raise OSError(code, "exec failed")
anon = mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE)
anon.write(b"/usr/bin/true\\0")
t("private", lambda: exec_from(ctypes.c_char_p(ctypes.addressof(ctypes.c_char.from_buffer(anon)))))
shared = mmap.mmap(-1, 4096, flags=mmap.MAP_SHARED)
shared.write(b"/usr/bin/true\\0")
t("shared", lambda: exec_from(ctypes.c_char_p(ctypes.addressof(ctypes.c_char.from_buffer(shared)))))
stop = threading.Event()
thread = threading.Thread(target=stop.wait)
thread.start()
t("threaded", spawn)                                # vfork from a process with 2 threads
stop.set()
thread.join()
libc.syscall.restype = ctypes.c_long
def clone_vm():
    if libc.syscall(56, ctypes.c_long(0x100 | 17), ctypes.c_long(0), 0, 0, 0) < 0:
        raise OSError(ctypes.get_errno(), "clone")
t("clone_vm", clone_vm)                             # CLONE_VM without a thread or vfork
"""


def test_exec_rule_keeps_ordinary_spawns_and_refuses_shared_memory(user):
    res = cli("run", *BIBA, "--", PY, "-c", PROGRAM, user=user, timeout=60)
    got = dict(line.split(":", 1) for line in res.stdout.split())
    assert got == {"single": "OK", "shell": "OK", "private": "OK", "shared": "13",
                   "threaded": "13", "clone_vm": "1"}, res



def _mapped_then_rewritten(path, pin: bool) -> bytes:
    """A child maps `path` MAP_PRIVATE read-only; it is pinned (or not), the file is then
    rewritten: the bytes the child's mapping shows afterwards."""
    import ctypes
    import os

    from stockade.enforce.supervisor.execve import race as exec_race

    path.write_bytes(b"/usr/bin/true\0".ljust(4096, b"\0"))
    to_parent, from_child = os.pipe()
    from_parent, to_child = os.pipe()
    pid = os.fork()
    if pid == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]
        addr = libc.mmap(None, 4096, 1, 2, os.open(path, os.O_RDONLY), 0)  # PROT_READ, PRIVATE
        os.write(from_child, str(addr).encode())
        os.read(from_parent, 1)
        os.write(from_child, ctypes.string_at(addr, 14))
        os._exit(0)
    try:
        addr = int(os.read(to_parent, 64))
        if pin:
            exec_race.pin(pid, addr, b"/usr/bin/true\0")
        with open(path, "r+b") as f:
            f.write(b"/usr/bin/dash\0")
        os.write(to_child, b"x")
        return os.read(to_parent, 64)
    finally:
        os.waitpid(pid, 0)
        for fd in (to_parent, from_child, from_parent, to_child):
            os.close(fd)


def test_pin_makes_a_private_file_page_the_process_own(tmp_path) -> None:
    """exec_race.pin writes through /proc/PID/mem (FOLL_FORCE) over a read-only MAP_PRIVATE
    mapping: the page becomes the process's own copy, and a later write to the file no longer
    shows through; without the pin it does (the control)."""
    assert _mapped_then_rewritten(tmp_path / "a", pin=False) == b"/usr/bin/dash\0"
    assert _mapped_then_rewritten(tmp_path / "b", pin=True) == b"/usr/bin/true\0"
