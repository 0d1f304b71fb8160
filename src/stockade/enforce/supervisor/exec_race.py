"""Whether an exec may be continued: can anyone change the path between the decision and the
kernel's own read of it?

seccomp cannot make the kernel exec what the supervisor decided on: the kernel reads the path
from the program's memory again after CONTINUE. That is sound only while no other task can
write those bytes in between (seccomp_unotify(2), NOTES). `writers` looks for such tasks, from
the unrestricted helper thread (it reads /proc and calls kcmp):

* other threads of the caller (`Threads:` in /proc/TID/status);
* other processes sharing its memory (CLONE_VM): a vfork child shares its parent's, whose
  thread is suspended until the exec, so the chain of parents with the same mm (kcmp
  KCMP_VM) is followed and each must be single-threaded; a CLONE_VM child that is neither a
  thread nor a vfork child is refused at clone by the notification filter (`SHARING_CLONES`, with
  CLONE_FILES and CLONE_FS sharers: the dirfd and cwd an exec resolves from);
* a shared mapping (another process maps the same pages), an AIO context (an O_DIRECT read
  completes later, written by the kernel; io_setup, io_uring_setup and userfaultfd are refused
  at the call, `LATER_WRITERS`, since a context whose ring is unmapped is not seen here);
* a file-backed private mapping whose pages still show the file: writes to the file change
  them until copied. Allowed for the executable itself (the kernel refuses writers, ETXTBSY)
  and, by the caller, for files the plan does not let the sandbox write.

Left: a process with write access to /proc/PID/mem (a plan granting write under /proc) or a
ptrace grant (POKEDATA) could still write the bytes; docs/supervisor.md says so.
"""

from __future__ import annotations

import ctypes
import os

from stockade.enforce.seccomp import resolve_syscall
from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.target import status_fields

KCMP_VM = 1
CLONE_VM = 0x100
CLONE_VFORK = 0x4000
CLONE_THREAD = 0x10000
CLONE_FS = 0x200
CLONE_FILES = 0x400
CLONE_PARENT = 0x8000
#: (mask, value) of clone flags refused (EPERM) by the notification filter under a supervisor
#: that decides exec: a process (not a thread) sharing the caller's memory without being a
#: vfork child, or its fd table or cwd (the descriptor or directory an exec resolves from)
SHARING_CLONES = ((CLONE_VM | CLONE_VFORK | CLONE_THREAD, CLONE_VM),
                  (CLONE_FILES | CLONE_THREAD, CLONE_FILES),
                  (CLONE_FS | CLONE_THREAD, CLONE_FS))
#: calls that make the kernel write into the caller's memory after they return (an AIO context,
#: an io_uring ring, a userfaultfd whose holder may UFFDIO_MOVE a page out and fill it again):
#: refused (EPERM) by the notification filter under a supervisor that decides exec, since an
#: AIO context lives on unseen once its ring is unmapped (red team 10)
LATER_WRITERS = ("io_setup", "io_uring_setup", "userfaultfd")
_MAX_CHAIN = 64
_NR_KCMP = resolve_syscall("kcmp")


def _status(pid: int) -> tuple[int, int]:
    """(Threads, PPid) of `pid`."""
    fields = status_fields(pid)
    return int(fields.get("Threads", 0)), int(fields.get("PPid", 0))


def _same_mm(a: int, b: int) -> bool:
    res = ksys._syscall(_NR_KCMP, a, b, KCMP_VM, 0, 0)
    if res < 0:
        raise OSError(ctypes.get_errno(), "kcmp")
    return res == 0


def writers(tid: int, tgid: int, addr: int, length: int) -> tuple[str, list[str]]:
    """(why someone else can write the `length` bytes at `addr` of task `tid`, "" if no one;
    the paths of files whose private mappings hold those bytes, for the caller to check)."""
    threads, ppid = _status(tgid)
    if threads != 1:
        return f"{threads} threads share its memory", []
    pid = tgid
    for _ in range(_MAX_CHAIN):
        if ppid <= 1 or not _same_mm(pid, ppid):
            break
        threads, parent = _status(ppid)
        if threads != 1:
            return f"it shares memory (vfork) with process {ppid} of {threads} threads", []
        pid, ppid = ppid, parent
    else:
        return "too long a chain of processes sharing its memory", []
    exe = os.stat(f"/proc/{tid}/exe")
    files: list[str] = []
    end = addr + length
    with open(f"/proc/{tid}/maps", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            name = parts[5].rstrip("\n") if len(parts) > 5 else ""
            if "[aio]" in name:
                return "it has an asynchronous I/O context", []
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if hi <= addr or lo >= end:
                continue
            if parts[1][3] == "s":
                return "the path lies in a shared mapping", []
            inode = int(parts[4])
            if not inode:
                continue  # anonymous, [stack], [heap]: private to this mm
            major, minor = (int(x, 16) for x in parts[3].split(":"))
            if inode == exe.st_ino and os.makedev(major, minor) == exe.st_dev:
                continue  # the running executable: the kernel refuses writers (ETXTBSY)
            if not name.startswith("/") or name.endswith(" (deleted)"):
                return f"the path lies in a mapping of {name or 'an unnamed file'}", []
            files.append(name)
    return "", files
