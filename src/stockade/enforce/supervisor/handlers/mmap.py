"""mmap, mprotect and pkey_mprotect with PROT_EXEC: the `mmap_file` hook (AppArmor's `m`, SELinux `execute`)
on the file mapped for execution.

Routed only when a module implements `mmap_file`, and only PROT_EXEC calls on a descriptor
(`routing.CONDITIONAL`: seccomp tests the prot and fd registers), so ld.so's one mapping per
library is the usual cost. A mapping cannot be made for another process, so an allowed call
is continued:

* mmap: decided on the open file the descriptor names (pidfd_getfd: the same open file
  description, its labels and metadata read from it). The registers cannot change; the
  descriptor table can, by another thread's dup2 in the window between the decision and the
  kernel's mmap. With one thread and no process sharing the table (CLONE_FILES without
  CLONE_THREAD is refused by the notification filter) nobody can; in a multi-threaded
  process the race is left open and documented (docs/supervisor.md, "mmap, mprotect,
  pkey_mprotect and personality").
* mprotect: decided on the files backing the range (/proc/TID/maps), each resolved by its
  path and checked to be the same inode (dev, ino) as mapped; anonymous memory passes (the
  hook has no file). A mapping replaced by another thread in the window is the same
  documented race. pkey_mprotect is mprotect with a protection key: the same decision.
* personality(READ_IMPLIES_EXEC): refused with EPERM, since the kernel would then map every
  PROT_READ file mapping executable through calls the filter does not route.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from stockade.enforce.supervisor.resolve import Refused, object_from_fd, open_as_target
from stockade.enforce.supervisor.routing import PROT_EXEC, READ_IMPLIES_EXEC
from stockade.enforce.supervisor.sys import AT_FDCWD
from stockade.lsm.types import Object, Request
from stockade.slotted import replace

if TYPE_CHECKING:
    from stockade.enforce.supervisor.loop import Handler, Supervisor
    from stockade.enforce.supervisor.target import TaskInfo

MAP_ANONYMOUS = 0x20


def _decide(sup: Supervisor, nid: int, task: TaskInfo, obj: Object, prot: int,
            syscall: str) -> bool:
    """Ask mmap_file; False when denied (answered)."""
    err = sup.decide(task, [Request("mmap_file", task.subject, obj, flags=prot)], syscall,
                     syscall)
    if err:
        sup.deny(nid, err)
        return False
    return True


def _file_object(sup: Supervisor, fd: int, path_fd: bool = False) -> Object:
    """The mapped file at `fd` (its mount's noexec included: do_mmap refuses PROT_EXEC)."""
    obj = object_from_fd(fd, labels=sup.labels, walk=sup.walk, path_fd=path_fd)
    return replace(obj, noexec=bool(os.fstatvfs(fd).f_flag & os.ST_NOEXEC))


def h_mmap(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """mmap(addr, length, prot, flags, fd, offset) with PROT_EXEC and a descriptor."""
    prot, flags, fd = a[2] & 0xFFFFFFFF, a[3] & 0xFFFFFFFF, a[4] & 0xFFFFFFFF
    if flags & MAP_ANONYMOUS or not prot & PROT_EXEC or fd & 0x80000000:
        sup.cont(nid)  # no file: the kernel ignores the descriptor
        return
    task = sup.task(tid)
    try:
        ours = sup.take_fd(task, fd)
    except OSError:
        sup.deny(nid, errno.EBADF)
        return
    try:
        obj = _file_object(sup, ours)
    finally:
        os.close(ours)
    if _decide(sup, nid, task, obj, prot, "mmap"):
        sup.cont(nid)


def _backing_files(tid: int, start: int, end: int) -> list[tuple[str, int, int]]:
    """(path, dev, inode) of the files mapped in [start, end) of task `tid`."""
    found: list[tuple[str, int, int]] = []
    with open(f"/proc/{tid}/maps", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            inode = int(parts[4])
            if hi <= start or lo >= end or not inode:
                continue
            major, minor = (int(x, 16) for x in parts[3].split(":"))
            name = parts[5].rstrip("\n") if len(parts) > 5 else ""
            found.append((name, os.makedev(major, minor), inode))
    return found


def h_mprotect(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """mprotect(addr, length, prot) with PROT_EXEC: the files backing the range decided."""
    prot = a[2] & 0xFFFFFFFF
    task = sup.task(tid)
    files = sup.helper.call(_backing_files, tid, a[0], a[0] + max(a[1], 1))
    if not files:
        sup.cont(nid)  # anonymous memory: the hook has no file
        return
    sup.act_as(task)
    for name, dev, inode in files:
        if not name.startswith("/") or name.endswith(" (deleted)"):
            raise Refused(errno.EACCES, f"PROT_EXEC on a mapping of {name or 'a file'} that "
                          "has no path to decide on")
        fd = open_as_target(task, AT_FDCWD, name.encode("utf-8", "surrogateescape"), os.O_PATH)
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (dev, inode):
                raise Refused(errno.EACCES, f"{name} is no longer the file mapped there")
            obj = _file_object(sup, fd, path_fd=True)
        finally:
            os.close(fd)
        if not _decide(sup, nid, task, obj, prot, "mprotect"):
            return
    sup.cont(nid)


def h_personality(sup: Supervisor, nid: int, tid: int, a: tuple[int, ...]) -> None:
    """personality() setting READ_IMPLIES_EXEC: refused (EPERM, audited), since every later
    PROT_READ mapping of a file would be executable without an mmap the filter can see; the
    query (0xffffffff) is answered by the kernel, and learn and complain mode refuse nothing."""
    persona = a[0] & 0xFFFFFFFF
    if persona == 0xFFFFFFFF or not persona & READ_IMPLIES_EXEC or sup.watching:
        sup.cont(nid)
        return
    sup.refuse(nid, sup.task(tid), "mmap_file", None, errno.EPERM,
               "READ_IMPLIES_EXEC would make file mappings executable unchecked")


HANDLERS: dict[str, Handler] = {"mmap": h_mmap, "mprotect": h_mprotect,
                                "pkey_mprotect": h_mprotect, "personality": h_personality}
