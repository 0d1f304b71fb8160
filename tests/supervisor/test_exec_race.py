"""An exec is continued only when no other task can change its path before the kernel reads
it (exec_race.py): what still works, what is refused."""

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
