"""What a task holds open for writing: the files a Biba low-water-mark demotion must look at.

The kernel re-checks every read and write on an open file (file_permission); the supervisor
sees only opens, so a demotion is refused while the task could still write above its new label
through a descriptor opened earlier, or through a shared writable mapping of a file.
Runs in the unrestricted helper thread (it reads /proc/PID/fd, fdinfo and maps).
"""

from __future__ import annotations

import errno
import os
import stat

from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.resolve import object_from_fd
from stockade.lsm.types import Object

#: shared mappings that are not labelled files (anonymous shared memory, memfds, SysV segments)
_UNLABELLED_MAPS = ("/dev/zero", "/memfd:", "/SYSV")


def fd_flags(pid: int | str, fd: str) -> int:
    """The open flags of descriptor `fd` of process `pid` (its fdinfo)."""
    with open(f"/proc/{pid}/fdinfo/{fd}", "rb") as f:
        for line in f:
            if line.startswith(b"flags:"):
                return int(line.split()[1], 8)
    return 0


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
    or O_RDWR), with their labels; None when that cannot be told (fail closed): /proc or
    pidfd_getfd refused, or a shared writable mapping of a file (its label is not read)."""
    found: list[Object] = []
    try:
        if _writable_shared_file_map(pid):
            return None
        pidfd = ksys.pidfd_open(pid)
    except OSError:
        return None
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if fd_flags(pid, fd) & os.O_ACCMODE == os.O_RDONLY:
                    continue
                dup = ksys.pidfd_getfd(pidfd, int(fd))
            except OSError as err:
                if err.errno in (errno.ENOENT, errno.EBADF):  # closed meanwhile
                    continue
                return None
            try:
                st = os.fstat(dup)
                if stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode):
                    found.append(object_from_fd(dup, labels=True, walk=False, st=st))
            finally:
                os.close(dup)
    except OSError:
        return None
    finally:
        os.close(pidfd)
    return found
