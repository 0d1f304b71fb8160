"""Whether an exec may be continued: can anyone change the path between the decision and the
kernel's own read of it?

seccomp cannot make the kernel exec what the supervisor decided on: the kernel reads the path
from the program's memory again after CONTINUE. That is sound only while no other task can
write those bytes in between (seccomp_unotify(2), NOTES). `writers` looks for such tasks, from
the unrestricted helper thread (it reads /proc and calls kcmp):

* other threads of the caller (`Threads:` in /proc/TID/status, less those that exited: a
  zombie, such as a leader that called pthread_exit, has released its memory);
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
  and, by the caller, for files the program's policy does not let it write and that no
  open file may write (`file_writers`: a read lease, else a look at every process's
  descriptors and shared mappings; a descriptor inherited from outside is no grant, red
  team 10). The caller then writes the decided bytes over the path through /proc/TID/mem
  (`pin`: FOLL_FORCE copies a private file page on write, as a debugger's breakpoint), so
  that later writes to the file no longer show through; where no lease can be taken, a
  truncation (which unmaps copied pages past the new end, as POSIX requires) and refill
  through a descriptor no process holds at the look (in flight in a unix socket) is left,
  documented in docs/supervisor.md.

Left: a process with write access to /proc/PID/mem (a plan granting write under /proc) or a
ptrace grant (POKEDATA) could still write the bytes; docs/supervisor.md says so.
"""

from __future__ import annotations

import _signal  # signal's C core: no enum conversions (start-up)
import ctypes
import errno
import fcntl
import os
import stat

from stockade.enforce.seccomp import resolve_syscall
from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.held import fd_flags, fd_tables
from stockade.enforce.supervisor.target import status_fields

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from stockade.enforce.supervisor.loop import Supervisor
    from stockade.enforce.supervisor.target import TaskInfo

KCMP_VM = 1
F_SETSIG = 10
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


def same_mm(a: int, b: int) -> bool:
    """Whether processes `a` and `b` share one address space (kcmp KCMP_VM)."""
    res = ksys._syscall(_NR_KCMP, a, b, KCMP_VM, 0, 0)
    if res < 0:
        raise OSError(ctypes.get_errno(), "kcmp")
    return res == 0


def _live_threads(tgid: int) -> int:
    """The threads of `tgid` that have not exited (a zombie has let go of the memory)."""
    live = 0
    for name in os.listdir(f"/proc/{tgid}/task"):
        try:
            with open(f"/proc/{tgid}/task/{name}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue  # gone meanwhile
        if raw[raw.rfind(b")") + 2:][:1] not in (b"Z", b"X"):
            live += 1
    return live


def writers(tid: int, tgid: int, addr: int, length: int) -> tuple[str, list[str]]:
    """(why someone else can write the `length` bytes at `addr` of task `tid`, "" if no one;
    the paths of files whose private mappings hold those bytes, for the caller to check)."""
    threads, ppid = _status(tgid)
    if threads != 1:
        threads = _live_threads(tgid)  # a leader that exited (pthread_exit) has no memory
    if threads != 1:
        return f"{threads} threads share its memory", []
    pid = tgid
    for _ in range(_MAX_CHAIN):
        if ppid <= 1 or not same_mm(pid, ppid):
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


def _descendants(ancestor: int) -> set[int]:
    """The processes whose PPid chain reaches `ancestor` (one pass over /proc/PID/stat, which
    costs a tenth of /proc/PID/status)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue  # gone
        ppid = int(raw[raw.rfind(b")") + 2:].split(maxsplit=2)[1])
        children.setdefault(ppid, []).append(int(name))
    found: set[int] = set()
    todo = [ancestor]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _holds_for_writing(pid: str, key: tuple[int, int]) -> bool:
    """Whether process `pid` has the file `key` (dev, ino) open for writing in any of its
    descriptor tables (a thread that unshared CLONE_FILES has its own: `held.fd_tables`) or
    mapped shared and writable."""
    for tid in fd_tables(int(pid)):
        try:
            fds = os.listdir(f"/proc/{pid}/task/{tid}/fd")
        except FileNotFoundError:  # the thread is gone
            continue
        for fd in fds:
            try:
                st = os.stat(f"/proc/{pid}/task/{tid}/fd/{fd}")
                if (st.st_dev, st.st_ino) == key and fd_flags(pid, fd, tid) & os.O_ACCMODE:
                    return True
            except FileNotFoundError:  # closed meanwhile
                continue
    with open(f"/proc/{pid}/maps", "rb") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) < 5 or parts[1][1:2] != b"w" or parts[1][3:4] != b"s":
                continue
            major, minor = (int(x, 16) for x in parts[3].split(b":"))
            if (os.makedev(major, minor), int(parts[4])) == key:
                return True
    return False


def _open_for_writing(path: str) -> bool | None:
    """Whether any open file anywhere (a descriptor of any process, one in flight in a unix
    socket, a shared mapping) may write the file at `path`: a read lease is refused exactly
    then (fs/locks.c check_conflicting_open). None when no lease can be taken here (neither
    the owner nor CAP_LEASE, a file system without leases): the caller looks for itself."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        # a writer's open in the window breaks the lease and signals us: SIGURG, which is
        # ignored by default, rather than SIGIO, which would end the launcher
        fcntl.fcntl(fd, F_SETSIG, _signal.SIGURG)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError as err:
        return True if err.errno == errno.EAGAIN else None
    else:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)


def file_writers(path: str, launcher: int) -> str:
    """Why a process could write the file at `path` through a descriptor or a shared writable
    mapping it already holds ("": none does). A read lease answers for every open file at
    once; where none can be taken, every process this thread may look at (without root, this
    user's) is looked at, and one it may not counts (fail closed) when it descends from
    `launcher` (a process of the program that made itself undumpable), not otherwise."""
    held = _open_for_writing(path)
    if held is not None:
        return f"{path} is open for writing" if held else ""
    st = os.stat(path)
    key = (st.st_dev, st.st_ino)
    me = os.getuid()
    ours = _descendants(launcher)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            # without root, the program's processes run as this user (no capability lets
            # them change it): another user's is skipped unread (/proc/PID of an undumpable
            # one is root's, and counts below when it is the program's)
            if me and os.stat(f"/proc/{pid}").st_uid != me:
                raise PermissionError(errno.EACCES, "another user's")
            if _holds_for_writing(pid, key):
                return f"process {pid} holds {path} open for writing"
        except FileNotFoundError:
            continue  # gone
        except OSError:
            if int(pid) in ours:
                return f"process {pid} of the program cannot be looked at for writers of {path}"
    return ""


def pin(tid: int, addr: int, data: bytes) -> None:
    """Write `data` at `addr` of task `tid` through /proc/TID/mem: on a read-only private file
    mapping FOLL_FORCE makes the page the process's own copy (mm/gup.c, fs/proc/base.c
    mem_rw), so later writes to the file no longer change it. OSError when it cannot."""
    fd = os.open(f"/proc/{tid}/mem", os.O_RDWR | os.O_CLOEXEC)
    try:
        if os.pwrite(fd, data, addr) != len(data):
            raise OSError(errno.EIO, "short write")
    finally:
        os.close(fd)


def unsettled(sup: Supervisor, task: TaskInfo, addr: int, path: bytes) -> str:
    """Why another task could change the exec's path (the decided bytes `path` at `addr`)
    before the kernel reads it ("": no one): `writers`, then for each file whose private
    mapping holds it `program_may_write` and `file_writers`, then `pin`."""
    # imported here: the hybrid supervisor imports this module without the modules' handlers
    from stockade.enforce.supervisor.execve.names import program_may_write

    why, files = sup.helper.call(writers, task.tid, task.tgid, addr, len(path) + 1)
    if why:
        return why
    for name in files:  # private mappings of files: writes to the file show through
        if program_may_write(sup, task, name):
            return f"the path lies in a mapping of {name}, which the sandbox may write"
        why = sup.helper.call(file_writers, name, os.getpid())
        if why:
            return f"the path lies in a mapping of {name}: {why}"
    if files:
        try:
            sup.helper.call(pin, task.tid, addr, path + b"\0")
        except OSError as err:
            return f"the path lies in a file mapping it cannot be copied from ({err.strerror})"
    return ""
