"""Escape attempts from a confined child, each asserting the errno the kernel returned.

Every attempt runs as root and as nobody. Where a control run is possible, the same attempt
is first shown to succeed without the mechanism that stops it, so each test can fail.
"""

import ctypes
import errno
import os
import pty
import socket
import subprocess

import pytest
from confine_helpers import IS_X86_64, NOBODY, confined, plan_with, probe, script

from stockade.enforce import caps
from stockade.enforce import landlock as ll
from stockade.enforce.seccomp import errno_action
from stockade.slotted import replace

x86_64_only = pytest.mark.skipif(not IS_X86_64, reason="x86_64 system call numbers")


def _own(path, user):
    uid = NOBODY if user == "nobody" else 0
    os.chown(path, uid, uid)


@pytest.fixture
def rw(area, user):
    d = area.root / "rw"
    d.mkdir()
    _own(d, user)
    return d


def no_landlock(plan):
    """The same plan without Landlock (seccomp, caps and no_new_privs stay): a control."""
    return replace(plan, handled_fs=ll.AccessFs(0), handled_net=ll.AccessNet(0),
                               scopes=ll.Scope(0))


# --- filesystem -----------------------------------------------------------------------------

def test_symlink_to_forbidden_file(area, rw, user):
    link = str(rw / "link")
    res = confined(plan_with(rw=[str(rw)]),
                   probe(f"os.symlink({str(area.secret)!r}, {link!r})", f"open({link!r}).read()"),
                   user=user)
    assert res.lines == ["OK", "EACCES"], res  # the link is made; following it is not allowed


def test_hard_link_to_forbidden_file(area, rw, user):
    attempt = f"os.link({str(area.secret)!r}, {str(rw / 'hard')!r})"
    control = confined(None, probe(attempt), user=user)
    assert control.lines == ["OK"]
    os.unlink(rw / "hard")
    res = confined(plan_with(rw=[str(rw)]), probe(attempt), user=user)
    assert res.lines == ["EXDEV"], res  # Landlock: reparenting from a tree we cannot reach


def test_rename_forbidden_file_into_allowed_tree(area, rw, user):
    attempt = f"os.rename({str(area.secret)!r}, {str(rw / 'stolen')!r})"
    res = confined(plan_with(rw=[str(rw)]), probe(attempt), user=user)
    assert res.lines == ["EACCES"], res  # no remove_file right where it comes from
    assert area.secret.exists()


def test_proc_self_root_reopen(area, user):
    via_root = f"open('/proc/self/root' + {str(area.secret)!r}).read()"
    res = confined(plan_with(ro=["/proc", str(area.allowed)]),
                   probe(f"open('/proc/self/root' + {str(area.allowed / 'file.txt')!r}).read()",
                         via_root), user=user)
    assert res.lines == ["OK", "EACCES"], res


def test_proc_self_fd_reopen(area, user):
    allowed_file = str(area.allowed / "file.txt")
    res = confined(
        plan_with(ro=["/proc", str(area.allowed)]),
        script(f"""
ro = os.open({allowed_file!r}, os.O_RDONLY)
attempt(lambda: open(f"/proc/self/fd/{{ro}}", "r+"))          # upgrade read-only to write
opath = os.open({str(area.secret)!r}, os.O_PATH)               # O_PATH is not checked...
attempt(lambda: open(f"/proc/self/fd/{{opath}}").read())     # ...but reopening it is
"""), user=user)
    assert res.lines == ["EACCES", "EACCES"], res


def test_inherited_directory_fd(area, user):
    fd = os.open(area.forbidden, os.O_RDONLY | os.O_DIRECTORY)
    os.set_inheritable(fd, True)
    try:
        attempt = f"os.open('file.txt', os.O_RDONLY, dir_fd={fd})"
        control = confined(no_landlock(plan_with()), probe(attempt), user=user)
        assert control.lines == ["OK"]
        res = confined(plan_with(), probe(attempt, f"os.listdir({fd})"), user=user)
        assert res.lines == ["EACCES", "OK"], res  # listing the open fd is not a new access
    finally:
        os.close(fd)


@x86_64_only
def test_open_by_handle_at(area, user):
    class FileHandle(ctypes.Structure):
        _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                    ("f_handle", ctypes.c_ubyte * 128)]

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fh, mount_id = FileHandle(128, 0), ctypes.c_int()
    rc = libc.name_to_handle_at(-100, str(area.secret).encode(), ctypes.byref(fh),
                                ctypes.byref(mount_id), 0)
    if rc != 0:
        pytest.skip(f"no file handles on this filesystem: {os.strerror(ctypes.get_errno())}")
    raw = bytes(fh)
    code = f"""
buf = ctypes.create_string_buffer({raw!r}, {len(raw)})
mnt = os.open({str(area.allowed)!r}, os.O_RDONLY | os.O_DIRECTORY)  # not O_PATH: EBADF
attempt(lambda: sys_(304, mnt, buf, os.O_RDONLY))
"""
    if user == "root":
        control = confined(None, script(code), user=user)
        assert control.lines == ["OK"]  # root really can open it by handle
    res = confined(plan_with(ro=[str(area.allowed)]), script(code), user=user)
    assert res.lines == ["EPERM"], res


# --- IPC ------------------------------------------------------------------------------------

def test_abstract_unix_socket_to_host_service(user):
    name = f"\0stockade-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX)
    server.bind(name)
    server.listen(4)
    try:
        attempt = f"socket.socket(socket.AF_UNIX).connect({name!r})"
        control = confined(no_landlock(plan_with()), probe(attempt), user=user)
        assert control.lines == ["OK"]
        res = confined(plan_with(), probe(attempt), user=user)
        assert res.lines == ["EPERM"], res
    finally:
        server.close()


def test_signal_the_parent(user):
    from test_redteam import bystander

    with bystander(user) as other:
        attempt = f"os.kill({other.pid}, 0)"
        control = confined(no_landlock(plan_with()), probe(attempt), user=user)
        assert control.lines == ["OK"]
        res = confined(plan_with(), probe(attempt, "os.kill(os.getppid(), 0)",
                                          "os.kill(os.getpid(), 0)"), user=user)
    assert res.lines == ["EPERM", "EPERM", "OK"], res  # outside the domain no, itself yes
    # without the scope, seccomp still keeps the launcher out of reach (launcher_guard.py)
    guarded = confined(no_landlock(plan_with()), probe("os.kill(os.getppid(), 0)"), user=user)
    assert guarded.lines == ["EPERM"], guarded


@x86_64_only
def test_ptrace_the_parent(user):
    res = confined(plan_with(), probe("sys_(101, 16, os.getppid(), 0, 0)"), user=user)
    assert res.lines == ["EPERM"], res


def test_write_parent_memory(user):
    attempt = "open(f'/proc/{os.getppid()}/mem', 'r+b')"
    if user == "root":
        # With CAP_SYS_PTRACE kept, only Landlock stands between the child and the launcher.
        ptrace_cap = [caps.CAP_BY_NAME["CAP_SYS_PTRACE"]]
        control = confined(no_landlock(plan_with(keep_caps=ptrace_cap)), probe(attempt))
        assert control.lines == ["OK"]
        res = confined(plan_with(rw=["/proc"], keep_caps=ptrace_cap), probe(attempt))
    else:  # nobody's launcher changed uid, so it is not dumpable either
        res = confined(plan_with(rw=["/proc"]), probe(attempt), user=user)
    assert res.lines == ["EACCES"], res  # Landlock: the parent is outside the domain


# --- privilege --------------------------------------------------------------------------------

def test_make_setuid_file(rw, user):
    target = str(rw / "suid")
    attempts = (f"open({target!r}, 'w').close()", f"os.chmod({target!r}, 0o4755)",
                f"os.chmod({target!r}, 0o2755)",
                f"os.open({str(rw / 'created')!r}, os.O_CREAT | os.O_WRONLY, 0o4755)")
    control = confined(None, probe(*attempts), user=user)
    assert control.lines == ["OK", "OK", "OK", "OK"]
    assert os.stat(target).st_mode & 0o4000 == 0  # the last chmod (setgid) replaced it
    os.unlink(target)
    os.unlink(rw / "created")
    res = confined(plan_with(rw=[str(rw)]), probe(*attempts), user=user)
    assert res.lines == ["OK", "EPERM", "EPERM", "EPERM"], res
    assert os.stat(target).st_mode & 0o6000 == 0


def test_tiocsti_terminal_injection(user):
    master, slave = pty.openpty()
    try:
        attempts = ("__import__('fcntl').ioctl(0, 0x5412, b'x')",
                    "sys_(16, 0, (1 << 32) | 0x5412, ctypes.c_char_p(b'x'))")  # high bits
        # As root with CAP_SYS_ADMIN kept, only seccomp stands in the way.
        keep = [caps.CAP_BY_NAME["CAP_SYS_ADMIN"]] if user == "root" else []
        if user == "root":
            control = confined(None, probe(attempts[0]), user=user, stdin=slave)
            assert control.lines == ["OK"]
        res = confined(plan_with(keep_caps=keep), probe(*attempts), user=user, stdin=slave)
        assert res.lines == ["EPERM", "EPERM"], res
    finally:
        os.close(master)
        os.close(slave)


# --- kernel attack surface -------------------------------------------------------------------

@x86_64_only
def test_io_uring(user):
    setup = "sys_(425, 4, ctypes.create_string_buffer(120))"  # io_uring_setup(4, &params)
    control = confined(None, probe(setup), user=user)
    assert control.lines == ["OK"]
    res = confined(plan_with(), probe(setup, "sys_(426, 0, 0, 0, 0, 0, 0)"), user=user)
    assert res.lines == ["EPERM", "EPERM"], res


@x86_64_only
def test_x32_syscall(user):
    getpid_x32 = "sys_(0x40000000 | 39)"
    # A distinctive bad-arch errno shows the filter, not the kernel, refused the call (this
    # kernel may be built without x32, which would answer ENOSYS too).
    plan = replace(plan_with(), seccomp_bad_arch=errno_action(errno.ENOTRECOVERABLE))
    res = confined(plan, probe(getpid_x32, "sys_(39)"), user=user)
    assert res.lines == ["ENOTRECOVERABLE", "OK"], res
    default = confined(plan_with(), probe(getpid_x32), user=user)
    assert default.lines == ["ENOSYS"]


@x86_64_only
def test_new_namespaces(user):
    newuser, newns = 0x10000000, 0x00020000
    unshare_user = f"sys_(272, {newuser})"
    if user == "nobody":
        control = confined(None, probe(unshare_user), user=user)
        assert control.lines == ["OK"]  # unprivileged user namespaces are enabled here
    res = confined(plan_with(), probe(
        unshare_user, f"sys_(272, {newns})", f"sys_(272, {newuser | newns})",
        f"sys_(56, {newuser | 17}, 0, 0, 0, 0)",  # clone(CLONE_NEWUSER | SIGCHLD)
        "sys_(435, ctypes.create_string_buffer(88), 88)",  # clone3: flags in memory
    ), user=user)
    assert res.lines == ["EPERM", "EPERM", "EPERM", "EPERM", "ENOSYS"], res


@x86_64_only
def test_mount(user):
    res = confined(plan_with(), probe("sys_(165, b'none', b'/tmp', b'tmpfs', 0, 0)",
                                      "sys_(430, b'tmpfs', 0)"), user=user)  # mount, fsopen
    assert res.lines == ["EPERM", "EPERM"], res


NESTED = """
class Attr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]
class PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]
rs = sys_(444, ctypes.byref(Attr(4 | 8, 0, 0)), 24, 0)       # handle READ_FILE | READ_DIR
root = os.open("/", os.O_PATH)
sys_(445, rs, 1, ctypes.byref(PathBeneath(4 | 8, root)), 0)  # grant read on everything
attempt(lambda: sys_(446, rs, 0))                            # the nested domain is allowed
attempt(lambda: open(SECRET).read())                         # but it cannot widen access
"""


def test_nested_landlock_cannot_widen(area, user):
    code = f"SECRET = {str(area.secret)!r}\n" + NESTED
    res = confined(plan_with(), script(code), user=user)
    assert res.lines == ["OK", "EACCES"], res


def test_cannot_drop_no_new_privs_or_regain_caps(user):
    res = confined(plan_with(), probe(
        "libc.prctl(38, 0, 0, 0, 0)",  # PR_SET_NO_NEW_PRIVS 0: EINVAL, it is one-way
        "os.setuid(0)" if user == "nobody" else "os.setresuid(0, 0, 0)",
    ), user=user)
    assert res.lines[0] == "EINVAL"
    if user == "nobody":
        assert res.lines[1] == "EPERM"


def test_killing_the_launcher_kills_the_child():
    """die_with_parent: a SIGKILLed launcher cannot leave a confined orphan behind."""
    import signal
    import time

    from confine_helpers import STOCKADE

    proc = subprocess.Popen([*STOCKADE, "run", "--rx", "/usr", "--", "/usr/bin/sleep", "30"])
    deadline = time.monotonic() + 10
    child = ""
    while not child and time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-P", str(proc.pid), "-x", "sleep"],
                               capture_output=True, text=True)
        child = found.stdout.strip()
        time.sleep(0.02)
    assert child, "the confined sleep never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not os.path.exists(f"/proc/{child}")
