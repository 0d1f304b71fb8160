"""What a task holds open for writing: the files a Biba low-water-mark demotion must look at.

The kernel re-checks every read and write on an open file (file_permission); the supervisor
sees only opens, so a demotion is refused while the task could still write above its new label
through a descriptor opened earlier, or through a shared writable mapping of a file.
A thread that called unshare(CLONE_FILES) has a descriptor table of its own (red team 14), so
every distinct table of the group is read (`fd_tables`), not only the leader's /proc/PID/fd.
Runs in the unrestricted helper thread (it reads /proc/PID/task/TID/fd, fdinfo and maps).
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat

from stockade.enforce.seccomp import resolve_syscall
from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.resolve import object_from_fd
from stockade.lsm.types import Object

KCMP_FILES = 2
_NR_KCMP = resolve_syscall("kcmp")
#: attempts at a stable list of a group's threads before giving up (fail closed)
_TRIES = 3
#: shared mappings that are not labelled files (anonymous shared memory, memfds, SysV segments)
_UNLABELLED_MAPS = ("/dev/zero", "/memfd:", "/SYSV")


def fd_flags(pid: int | str, fd: str, tid: int | str | None = None) -> int:
    """The open flags of descriptor `fd` of process `pid` (its fdinfo; thread `tid`'s table
    when given)."""
    where = f"/proc/{pid}" if tid is None else f"/proc/{pid}/task/{tid}"
    with open(f"{where}/fdinfo/{fd}", "rb") as f:
        for line in f:
            if line.startswith(b"flags:"):
                return int(line.split()[1], 8)
    return 0


def _same_table(a: int, b: int) -> bool | None:
    """Whether threads `a` and `b` share one descriptor table (kcmp KCMP_FILES); None when
    kcmp cannot tell (a kernel without it). OSError when a thread is gone or cannot be
    looked at."""
    res = ksys._syscall(_NR_KCMP, a, b, KCMP_FILES, 0, 0)
    if res < 0:
        err = ctypes.get_errno()
        if err == errno.ENOSYS:
            return None
        raise OSError(err, "kcmp")
    return res == 0


def _threads(tgid: int) -> list[int]:
    return sorted(int(n) for n in os.listdir(f"/proc/{tgid}/task"))


def fd_tables(tgid: int) -> list[int]:
    """One thread of group `tgid` per distinct descriptor table (a thread that unshared
    CLONE_FILES has its own), the leader first when it has one; every thread where kcmp
    cannot compare. The threads are listed again afterwards: a group whose threads changed
    meanwhile is looked at again (a thread cloned with a copy of a table). OSError when that
    cannot be told (a thread that cannot be compared, threads changing on every try)."""
    for _ in range(_TRIES):
        threads = _threads(tgid)
        tables: list[int] = []
        for tid in sorted(threads, key=lambda t: t != tgid):
            try:
                if any(_same_table(each, tid) for each in tables):
                    continue
            except FileNotFoundError:
                continue
            except OSError as err:
                if err.errno == errno.ESRCH:  # exited meanwhile
                    continue
                raise
            tables.append(tid)
        if _threads(tgid) == threads:
            return tables
    raise OSError(errno.EAGAIN, f"the threads of {tgid} keep changing")


def _writable_shared_file_map(pid: int) -> bool:
    with open(f"/proc/{pid}/maps", "rb") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) < 6 or parts[4] == b"0" or parts[1][1:2] != b"w" or parts[1][3:4] != b"s":
                continue
            if not parts[5].decode("utf-8", "replace").startswith(_UNLABELLED_MAPS):
                return True
    return False


def writable_files(pid: int) -> list[Object] | None:
    """The regular files and block devices thread group `pid` holds open for writing (O_WRONLY
    or O_RDWR) in any of its descriptor tables, with their labels; None when that cannot be
    told (fail closed): /proc, kcmp or pidfd_getfd refused, or a shared writable mapping of a
    file (its label is not read)."""
    found: list[Object] = []
    try:
        if _writable_shared_file_map(pid):
            return None
        for tid in fd_tables(pid):
            if not _writable_in_table(pid, tid, found):
                return None
    except OSError:
        return None
    return found


def _writable_in_table(pid: int, tid: int, found: list[Object]) -> bool:
    """Add to `found` what thread `tid` of `pid` holds open for writing in its table (a
    pidfd of the thread: pidfd_getfd takes from that thread's table); False when it cannot
    be read. A thread gone meanwhile holds nothing."""
    try:
        pidfd = ksys.pidfd_open(tid, ksys.PIDFD_THREAD if tid != pid else 0)
    except ProcessLookupError:
        return True
    try:
        for fd in os.listdir(f"/proc/{pid}/task/{tid}/fd"):
            try:
                if fd_flags(pid, fd, tid) & os.O_ACCMODE == os.O_RDONLY:
                    continue
                dup = ksys.pidfd_getfd(pidfd, int(fd))
            except OSError as err:
                if err.errno in (errno.ENOENT, errno.EBADF):  # closed meanwhile
                    continue
                return False
            try:
                st = os.fstat(dup)
                if stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode):
                    found.append(object_from_fd(dup, labels=True, walk=False, st=st))
            finally:
                os.close(dup)
    except FileNotFoundError:
        return True
    finally:
        os.close(pidfd)
    return True
