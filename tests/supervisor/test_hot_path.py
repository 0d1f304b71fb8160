"""The supervisor's hot-path shortcuts agree with the general code they stand in for."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import stat
from pathlib import Path

import pytest
from sv_helpers import Tree, script, supervised

from stockade.enforce.prctl import set_no_new_privs
from stockade.enforce.supervisor import fast, resolve
from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.notify import SECCOMP_FILTER_FLAG_NEW_LISTENER, Listener
from stockade.enforce.supervisor.session import notify_program
from stockade.enforce.supervisor.target import TaskInfo
from stockade.lsm.types import Object, ObjectKind, Request, Subject, file_object_key, request_key


@pytest.mark.parametrize("xattrs", [(), (("user.stockade.biba", b"high"),)])
def test_fast_keys_equal_request_keys(xattrs: tuple[tuple[str, bytes], ...]) -> None:
    subject = Subject(pid=7, uid=1000, fsuid=1000, groups=frozenset({4, 27}), cap_effective=5,
                      contexts=(("biba", "medium"),))
    obj = Object(kind=ObjectKind.FILE, path="/etc/hosts", uid=0, gid=0, mode=stat.S_IFREG | 0o644,
                 ino=42, dev=2049, xattrs=xattrs)
    okey = file_object_key("/etc/hosts", 0, 0, stat.S_IFREG | 0o644, 42, 2049, xattrs)
    assert okey == obj.key
    assert request_key("file_open", subject, okey, 0x24) == Request("file_open", subject, obj,
                                                                    0x24).key


def _buffer(data: bytes) -> tuple[ctypes.Array[ctypes.c_char], int]:
    buf = ctypes.create_string_buffer(data)
    return buf, ctypes.addressof(buf)


def _reader(kind: str) -> ksys.MemReader | fast.CMemReader:
    if kind == "python":
        return ksys.MemReader()
    backend = fast.load()
    if backend is None:
        pytest.skip("the C extension is not built")
    return fast.CMemReader(backend)


READERS = pytest.mark.parametrize("kind", ["c", "python"])


@READERS
def test_cstring_reads_short_long_and_page_crossing_strings(kind: str) -> None:
    mem = _reader(kind)
    pid = os.getpid()
    _keep, addr = _buffer(b"/etc/hosts")
    assert mem.cstring(pid, addr) == b"/etc/hosts"
    long = b"/" + b"a" * 3000
    _keep2, addr2 = _buffer(long)
    assert mem.cstring(pid, addr2) == long
    _keep3, addr3 = _buffer(b"b" * 5000)
    with pytest.raises(OSError) as err:
        mem.cstring(pid, addr3)
    assert err.value.errno == 36  # ENAMETOOLONG: no NUL within PATH_MAX
    with pytest.raises(OSError) as err:
        mem.cstring(pid, addr, limit=4)
    assert err.value.errno == 36


@READERS
def test_read_refuses_more_than_its_buffer(kind: str) -> None:
    mem = _reader(kind)
    _keep, addr = _buffer(b"x" * 8)
    assert mem.read(os.getpid(), addr, 4) == b"xxxx"
    for n in (mem.size + 1, -1):
        with pytest.raises(OSError) as err:
            mem.read(os.getpid(), addr, n)
        assert err.value.errno == errno.EINVAL


@READERS
def test_cstring_stops_at_an_unmapped_or_unreadable_page(kind: str) -> None:
    mem = _reader(kind)
    pid = os.getpid()
    area = mmap.mmap(-1, 2 * mmap.PAGESIZE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(area))
    text = b"/tmp/x"
    start = base + mmap.PAGESIZE - len(text)
    area[mmap.PAGESIZE - len(text):mmap.PAGESIZE] = text
    area[mmap.PAGESIZE] = ord("y")  # the string continues on the next page
    assert mem.cstring(pid, start) == text + b"y"
    area[mmap.PAGESIZE] = 0
    assert mem.cstring(pid, start) == text
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.mprotect(ctypes.c_void_p(base + mmap.PAGESIZE), mmap.PAGESIZE, 0) == 0
    try:  # the string runs into a PROT_NONE page: EFAULT, as the kernel's own copy would give
        with pytest.raises(OSError) as err:
            mem.cstring(pid, start)
        assert err.value.errno == 14
        with pytest.raises(OSError) as err:
            mem.cstring(pid, base + mmap.PAGESIZE)
        assert err.value.errno == 14
    finally:
        libc.mprotect(ctypes.c_void_p(base + mmap.PAGESIZE), mmap.PAGESIZE, 3)
    with pytest.raises(OSError):
        mem.cstring(pid, 0)


AT_FDCWD = -100


def _self_task() -> TaskInfo:
    pid = os.getpid()
    return TaskInfo(pid, pid, os.getppid(), Subject(pid=pid), 0o022, True, -1)


def test_open_described_proves_the_path_only_without_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "f").write_text("x")
    (tmp_path / "link").symlink_to(real)
    (tmp_path / "flink").symlink_to(real / "f")
    task = _self_task()
    for path, proven in ((str(real / "f"), True), (str(tmp_path / "link" / "f"), False),
                         (str(tmp_path / "flink"), False), (f"{real}/./f", False),
                         (f"{real}//f", False), (f"{real}/../real/f", False)):
        fd, st, known = resolve.open_described(task, AT_FDCWD, path.encode(), os.O_RDONLY)
        try:
            assert (st.st_ino, st.st_dev) == (os.stat(real / "f").st_ino, os.stat(real / "f").st_dev)
            assert known == (str(real / "f") if proven else None)
            assert resolve.fd_path(fd) == str(real / "f")
        finally:
            os.close(fd)
    with pytest.raises(OSError) as err:  # O_NOFOLLOW on a symlink: the kernel's ELOOP, after the retry
        resolve.open_described(task, AT_FDCWD, os.fsencode(tmp_path / "flink"),
                               os.O_RDONLY | os.O_NOFOLLOW)
    assert err.value.errno == errno.ELOOP
    with pytest.raises(OSError) as err:
        resolve.open_described(task, AT_FDCWD, os.fsencode(tmp_path / "missing"), os.O_RDONLY)
    assert err.value.errno == errno.ENOENT


@pytest.mark.skipif(tuple(int(x) for x in os.uname().release.split(".")[:2]
                          if x.isdigit()) < (6, 6), reason="SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: 6.6")
def test_sync_wakeup_is_enabled_on_a_listener() -> None:
    """SET_FLAGS takes the flags by value: passing a pointer made it fail (EINVAL) silently."""
    program = notify_program(["uname"])
    pid = os.fork()
    if pid == 0:  # a throw-away child loads the filter: seccomp cannot be undone
        code = 3
        try:
            set_no_new_privs()
            listener = Listener(program.load(SECCOMP_FILTER_FLAG_NEW_LISTENER))
            code = 0 if listener.enable_sync_wakeup() and listener.sync_wakeup else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_open_flag_paths_under_the_supervisor() -> None:
    """The fast path (plain opens) and the creating path are told apart exactly: O_DIRECTORY
    alone never creates, O_TMPFILE (which includes O_DIRECTORY's bit) and O_CREAT do; symlinked,
    relative and "/./" spellings decide on what was opened."""
    tree = Tree()
    tree.file("medium", "MEDIUM\n", biba="medium")
    tree.file("low", "LOW\n", biba="low")
    os.symlink(tree.root / "low", tree.root / "to-low")
    os.symlink(tree.root / "medium", tree.root / "to-medium")
    os.setxattr(tree.root, "user.stockade.biba", b"medium")
    d = str(tree.root)
    try:
        run = supervised(script(f"""
attempt(lambda: os.open({d + '/missing'!r}, os.O_RDONLY | os.O_DIRECTORY))
print(os.path.exists({d + '/missing'!r}))
attempt(lambda: os.open({d + '/medium'!r}, os.O_RDONLY | os.O_DIRECTORY))
attempt(lambda: os.open({d!r}, os.O_RDWR | os.O_TMPFILE, 0o600))
attempt(lambda: os.open({d + '/made'!r}, os.O_WRONLY | os.O_CREAT, 0o600))
attempt(lambda: print(open({d + '/to-medium'!r}).read().strip()))
attempt(lambda: open({d + '/to-low'!r}))
attempt(lambda: open({d + '/./low'!r}))
os.chdir({d!r})
attempt(lambda: open('to-low'))
"""), rw=[d])
    finally:
        tree.cleanup()
    # creations are allowed: a new inode carries its medium creator's label (unlabelled, it
    # would be biba.default_level, high)
    assert run.lines == ["ENOENT", "False", "ENOTDIR", "OK", "OK", "MEDIUM", "OK", "EACCES",
                         "EACCES", "EACCES"], run
    assert run.stats["errors"] == 0


HELD = 987  # a descriptor number nothing else in the test process uses


def _child_holding(path: Path) -> tuple[int, int, int]:
    """A child that opened `path` as its fd HELD and waits: (pid, pidfd, write end to end it)."""
    r, w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.dup2(os.open(path, os.O_RDONLY), HELD)
        os.write(ready_w, b"!")
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b"!"
    os.close(ready_r)
    return pid, ksys.pidfd_open(pid), w


def test_take_fd_uses_the_task_caches_pidfd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the cached pidfd no new pidfd is opened, and a pidfd of a task that is gone never
    reaches another process that reused the number (ESRCH, not a fallback by pid)."""
    target = tmp_path / "held"
    target.write_text("x")
    pid, pidfd, w = _child_holding(target)
    try:
        def refuse(*_args: object) -> int:
            raise AssertionError("pidfd_open called although a pidfd was given")
        monkeypatch.setattr(ksys, "pidfd_open", refuse)
        dup = ksys.take_fd(pid, HELD, pidfd)
        try:
            assert os.fstat(dup).st_ino == target.stat().st_ino
        finally:
            os.close(dup)
        os.close(w)
        os.waitpid(pid, 0)
        with pytest.raises(OSError) as err:
            ksys.take_fd(pid, HELD, pidfd)
        assert err.value.errno == errno.ESRCH
    finally:
        os.close(pidfd)


def test_take_fd_without_a_pidfd_opens_one(tmp_path: Path) -> None:
    target = tmp_path / "held"
    target.write_text("x")
    pid, pidfd, w = _child_holding(target)
    os.close(pidfd)
    try:
        dup = ksys.take_fd(pid, HELD)
        assert os.fstat(dup).st_ino == target.stat().st_ino
        os.close(dup)
    finally:
        os.close(w)
        os.waitpid(pid, 0)


def test_the_extension_is_built_where_a_compiler_is() -> None:
    """`make test` installs gcc and the Python headers: the C path must then be the default."""
    import shutil
    import sysconfig

    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if shutil.which("gcc") is None or not headers.exists():
        pytest.skip("no compiler or Python headers: the pure-Python path is expected")
    os.environ.pop(fast.ENV_PURE, None)
    assert fast.load() is not None, "the _unotify extension was not built (pip install -e .)"
