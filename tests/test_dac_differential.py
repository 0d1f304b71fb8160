"""Differential test: the DAC model against the real kernel, case by case (root only).

Builds random files and directories (modes with sticky/setgid bits, owners and groups from a
small id set, POSIX ACLs with named entries and a mask), then for each case forks a child that
takes on the subject's credentials (and, for some cases, uid 0 with a reduced capability set)
and performs the real syscall; its errno must equal the model's. Set STOCKADE_DAC_SEED to
replay another seed, STOCKADE_DAC_CASES for more cases.

Read-only and noexec mounts are exercised on a tmpfs, signals and ptrace on helper processes,
sockets on the loopback address. What the model deliberately leaves out (docs/dac.md:
immutable/append-only flags, idmapped mounts, user namespaces, protected_* sysctls) is not
generated here.
"""

from __future__ import annotations

import ctypes
import errno
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from stockade.lsm.acl import (
    ACL_GROUP,
    ACL_GROUP_OBJ,
    ACL_MASK,
    ACL_OTHER,
    ACL_UNDEFINED_ID,
    ACL_USER,
    ACL_USER_OBJ,
    ACL_XATTR_ACCESS,
    encode_acl,
)
from stockade.lsm.caps import (
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    CAP_KILL,
    CAP_NET_BIND_SERVICE,
    CAP_NET_RAW,
    CAP_SYS_ADMIN,
    CAP_SYS_PTRACE,
)
from stockade.lsm.probe import file_object
from stockade.lsm.setattr import chmod_request, chown_request
from stockade.lsm.types import (
    MAY_APPEND,
    MAY_READ,
    MAY_WRITE,
    PTRACE_MODE_ATTACH,
    PTRACE_MODE_REALCREDS,
    AclEntry,
    Object,
    ObjectKind,
    Request,
    Subject,
)
from stockade.modules.dac import UTIMES_SET, Dac
from stockade.slotted import replace

pytestmark = [pytest.mark.root, pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

UIDS = (1000, 1001, 1002, 1003)
GIDS = (2000, 2001, 2002, 2003)
ROOT_CAPS = (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_CHOWN, CAP_SYS_ADMIN)
DEFAULT_SEED = 20250611
OPEN_OPS = {"open_r": (os.O_RDONLY, MAY_READ), "open_w": (os.O_WRONLY, MAY_WRITE),
            "open_rw": (os.O_RDWR, MAY_READ | MAY_WRITE),
            "open_wa": (os.O_WRONLY | os.O_APPEND, MAY_WRITE | MAY_APPEND),
            "open_ra": (os.O_RDONLY | os.O_APPEND, MAY_READ | MAY_APPEND)}
FILE_OPS = (*OPEN_OPS, "exec", "truncate", "chmod", "chown", "utime_now", "utime_set",
            "setxattr_user", "setxattr_acl", "setxattr_trusted", "unlink", "rmdir", "mkdir",
            "create", "symlink", "mkfifo", "rename", "link")

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32))


def _capset(caps: int) -> None:
    """Set the effective and permitted sets of the calling process to `caps` (low 32 bits)."""
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)(_CapData(caps, caps, 0), _CapData(0, 0, 0))
    if _libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


@dataclass
class Cred:
    """A subject to become: ids, groups and (for uid 0) the capability set it keeps."""

    uid: int
    gid: int
    groups: tuple[int, ...]
    caps: int = 0

    def subject(self) -> Subject:
        return Subject(pid=0, uid=self.uid, euid=self.uid, suid=self.uid, fsuid=self.uid,
                       gid=self.gid, egid=self.gid, sgid=self.gid, fsgid=self.gid,
                       groups=frozenset(self.groups), cap_effective=self.caps,
                       cap_permitted=self.caps)

    def become(self) -> None:
        os.setgroups(list(self.groups))
        os.setresgid(self.gid, self.gid, self.gid)
        if self.uid:
            os.setresuid(self.uid, self.uid, self.uid)
        else:
            _capset(self.caps)


def run_as(cred: Cred, action: Callable[[], None]) -> int:
    """Fork, become `cred`, run `action`; the errno it failed with, or 0."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            cred.become()
            action()
        except OSError as e:
            code = e.errno or 254
        except BaseException:
            code = 255
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


class Builder:
    """Random inodes for one seed."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def dir_mode(self) -> int:
        r = self.rng
        mode = 0
        for shift in (6, 3, 0):
            mode |= (4 if r.random() < 0.7 else 0) << shift
            mode |= (2 if r.random() < 0.5 else 0) << shift
            mode |= (1 if r.random() < 0.85 else 0) << shift
        if r.random() < 0.3:
            mode |= stat.S_ISVTX
        if r.random() < 0.15:
            mode |= stat.S_ISGID
        return mode

    def file_mode(self) -> int:
        r = self.rng
        mode = r.getrandbits(9)
        if r.random() < 0.1:
            mode |= stat.S_ISUID
        if r.random() < 0.1:
            mode |= stat.S_ISGID
        return mode

    def acl(self, mode: int) -> tuple[AclEntry, ...]:
        r = self.rng
        named = [AclEntry(ACL_USER, u, r.getrandbits(3)) for u in r.sample(UIDS, r.randint(0, 2))]
        named += [AclEntry(ACL_GROUP, g, r.getrandbits(3)) for g in r.sample(GIDS, r.randint(0, 2))]
        entries = [AclEntry(ACL_USER_OBJ, ACL_UNDEFINED_ID, mode >> 6 & 7),
                   AclEntry(ACL_GROUP_OBJ, ACL_UNDEFINED_ID, r.getrandbits(3)),
                   AclEntry(ACL_OTHER, ACL_UNDEFINED_ID, mode & 7), *named]
        if named or r.random() < 0.3:
            entries.append(AclEntry(ACL_MASK, ACL_UNDEFINED_ID, r.getrandbits(3)))
        return tuple(entries)

    def make(self, path: str, kind: str, *, searchable: bool = False) -> None:
        """Create `path` as kind "file", "dir", "fifo" or "exe" with random metadata.

        A `searchable` directory gets every x bit and no ACL, so the walk passes it.
        """
        r = self.rng
        if kind == "dir":
            os.mkdir(path)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "exe":
            shutil.copyfile("/bin/true", path)
        else:
            with open(path, "w") as f:
                f.write("data\n")
        os.chown(path, r.choice(UIDS), r.choice(GIDS))
        mode = self.dir_mode() if kind == "dir" else self.file_mode()
        if searchable:
            mode |= 0o111
        if kind == "exe" and r.random() < 0.8:
            mode |= 0o111 & r.getrandbits(9)
        os.chmod(path, mode)
        if not searchable and r.random() < 0.3:
            os.setxattr(path, ACL_XATTR_ACCESS, encode_acl(self.acl(mode)))

    def cred(self, owners: list[int]) -> Cred:
        r = self.rng
        gid = r.choice(GIDS)
        groups = tuple(sorted(r.sample(GIDS, r.randint(0, 3))))
        if r.random() < 0.15:
            caps = sum(1 << c for c in ROOT_CAPS if r.random() < 0.4)
            return Cred(0, gid, groups, caps)
        uid = r.choice(owners) if r.random() < 0.6 else r.choice(UIDS)
        return Cred(uid, gid, groups)


@dataclass
class Case:
    op: str
    cred: Cred
    request: Request
    action: Callable[[], None]


def _file_case(b: Builder, root: str, op: str) -> Case:
    r = b.rng
    top, parent = f"{root}/top", f"{root}/top/p"
    b.make(top, "dir", searchable=r.random() < 0.8)
    b.make(parent, "dir", searchable=r.random() < 0.4)
    victim = f"{parent}/f"
    kind = r.choice(("file", "file", "file", "dir"))
    if op == "exec":
        kind = r.choice(("exe", "exe", "exe", "dir", "fifo"))
    elif op in ("rmdir", "unlink"):
        kind = r.choice(("file", "dir"))
    elif op == "setxattr_user":
        kind = r.choice(("file", "dir", "dir", "fifo"))
    elif op == "link":
        kind = r.choice(("file", "file", "file", "dir", "fifo"))
    if op in ("mkdir", "create", "symlink", "mkfifo") or r.random() < 0.05:
        kind = "" if r.random() < 0.85 else kind
    if kind:
        b.make(victim, kind)
    other = parent
    target = f"{parent}/t"
    if op in ("rename", "link"):
        if r.random() < 0.6:
            other = f"{root}/top/q"
            b.make(other, "dir")
            target = f"{other}/t"
        if r.random() < (0.4 if op == "rename" else 0.1):
            b.make(target, r.choice(("file", "file", "dir")))
    owners = [os.lstat(p).st_uid for p in (top, parent, other, victim, target) if os.path.lexists(p)]
    cred = b.cred(owners)
    subj = cred.subject()

    def obj(path: str = victim, *, follow: bool = True) -> Object:
        return file_object(path, follow=follow)

    if op in OPEN_OPS:
        flags, access = OPEN_OPS[op]
        req = Request("file_open", subj, obj(), access=access)
        return Case(op, cred, req, lambda: os.close(os.open(victim, flags | os.O_NONBLOCK)))
    if op == "exec":
        req = Request("bprm_check_security", subj, obj())
        return Case(op, cred, req, lambda: os.execve(victim, [victim], {}))
    if op == "truncate":
        return Case(op, cred, Request("inode_setattr", subj, obj(), what="truncate"),
                    lambda: os.truncate(victim, 0))
    if op == "chmod":
        mode = b.file_mode()
        return Case(op, cred, chmod_request(subj, obj(), mode), lambda: os.chmod(victim, mode))
    if op == "chown":
        st = os.stat(victim) if kind else None
        uid = r.choice((-1, -1, st.st_uid if st else 0, cred.uid, r.choice(UIDS)))
        gid = r.choice((-1, st.st_gid if st else 0, cred.gid, *cred.groups, r.choice(GIDS)))
        return Case(op, cred, chown_request(subj, obj(), uid, gid),
                    lambda: os.chown(victim, uid, gid))
    if op in ("utime_now", "utime_set"):
        times = None if op == "utime_now" else (1, 1)
        req = Request("inode_setattr", subj, obj(), what="utimes",
                      flags=UTIMES_SET if times else 0)
        return Case(op, cred, req, lambda: os.utime(victim, times))
    if op.startswith("setxattr"):
        name, value = {"setxattr_user": ("user.test", b"v"),
                       "setxattr_trusted": ("trusted.test", b"v"),
                       "setxattr_acl": (ACL_XATTR_ACCESS, encode_acl(b.acl(b.file_mode())))}[op]
        req = Request("inode_setxattr", subj, obj(), what=name)
        return Case(op, cred, req, lambda: os.setxattr(victim, name, value))
    if op in ("unlink", "rmdir"):
        req = Request(f"inode_{op}", subj, obj(follow=False))
        return Case(op, cred, req, lambda: getattr(os, op)(victim))
    if op in ("mkdir", "create", "symlink", "mkfifo"):
        hook = {"mkdir": "inode_mkdir", "create": "inode_create", "symlink": "inode_symlink",
                "mkfifo": "inode_mknod"}[op]
        new = obj(follow=False)
        if op == "mkfifo" and not new.exists:
            new = replace(new, mode=stat.S_IFIFO | 0o644)
        actions: dict[str, Callable[[], None]] = {
            "mkdir": lambda: os.mkdir(victim),
            "create": lambda: os.close(os.open(victim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)),
            "symlink": lambda: os.symlink("x", victim), "mkfifo": lambda: os.mkfifo(victim)}
        return Case(op, cred, Request(hook, subj, new), actions[op])
    if op == "rename":
        req = Request("inode_rename", subj, obj(follow=False), target=obj(target, follow=False))
        return Case(op, cred, req, lambda: os.rename(victim, target))
    req = Request("inode_link", subj, obj(), target=obj(target, follow=False))
    return Case(op, cred, req, lambda: os.link(victim, target))


def _task_cases(rng: random.Random, n: int) -> list[tuple[str, Cred, Request, Callable[[], None],
                                                         Callable[[], None]]]:
    """kill(pid, 0) and PTRACE_ATTACH against targets with random uids and dumpability."""
    cases = []
    for _ in range(n):
        tuid, teuid, tsuid = (rng.choice(UIDS[:2]) for _ in range(3))
        tgid = rng.choice(GIDS[:2])
        dumpable = rng.random() < 0.6
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            os.setgroups([])
            os.setresgid(tgid, tgid, tgid)
            os.setresuid(tuid, teuid, tsuid)
            _libc.prctl(4, int(dumpable), 0, 0, 0)  # PR_SET_DUMPABLE
            os.write(write_fd, b"x")
            time.sleep(30)
            os._exit(0)
        os.close(write_fd)
        os.read(read_fd, 1)
        os.close(read_fd)
        target = Subject(pid=pid, uid=tuid, euid=teuid, suid=tsuid, fsuid=teuid, gid=tgid,
                         egid=tgid, sgid=tgid, fsgid=tgid, dumpable=dumpable)
        obj = Object(kind=ObjectKind.TASK, path=f"/proc/{pid}", task=target)
        uid = rng.choice(UIDS[:2])
        cred = Cred(uid, rng.choice(GIDS[:2]), ())
        if rng.random() < 0.2:
            cred = Cred(0, cred.gid, (), sum(1 << c for c in (CAP_KILL, CAP_SYS_PTRACE)
                                             if rng.random() < 0.5))
        subj = cred.subject()
        kill = Request("task_kill", subj, obj, signal=0)
        trace = Request("ptrace_access_check", subj, obj,
                        flags=PTRACE_MODE_ATTACH | PTRACE_MODE_REALCREDS)

        def do_kill(pid: int = pid) -> None:
            os.kill(pid, 0)

        def do_trace(pid: int = pid) -> None:
            if _libc.ptrace(16, pid, 0, 0) != 0:  # PTRACE_ATTACH
                raise OSError(ctypes.get_errno(), "ptrace")

        def reap(pid: int = pid) -> None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)

        cases.append(("kill", cred, kill, do_kill, lambda: None))
        cases.append(("ptrace", cred, trace, do_trace, reap))
    return cases


def _socket_cases(rng: random.Random, n: int) -> list[tuple[str, Cred, Request,
                                                           Callable[[], None]]]:
    """Raw, packet and ICMP datagram sockets, and binds to low and high loopback ports."""
    kinds = {"raw": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
             "raw6": (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),
             "packet": (socket.AF_PACKET, socket.SOCK_DGRAM, 0),
             "ping": (socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP),
             "tcp": (socket.AF_INET, socket.SOCK_STREAM, 0)}
    cases = []
    for _ in range(n):
        if rng.random() < 0.25:
            cred = Cred(0, rng.choice(GIDS), (), sum(
                1 << c for c in (CAP_NET_RAW, CAP_NET_BIND_SERVICE) if rng.random() < 0.5))
        else:
            cred = Cred(rng.choice(UIDS), rng.choice(GIDS), tuple(rng.sample(GIDS, 2)))
        subj = cred.subject()
        kind = rng.choice((*kinds, "bind", "bind"))
        if kind != "bind":
            family, sock_type, proto = kinds[kind]
            obj = Object(kind=ObjectKind.SOCKET, family=family, sock_type=sock_type,
                         protocol=proto)

            def create(f: int = family, t: int = sock_type, p: int = proto) -> None:
                socket.socket(f, t, p).close()

            cases.append((f"socket_{kind}", cred, Request("socket_create", subj, obj), create))
            continue
        port = rng.choice((rng.randint(600, 1023), rng.randint(20000, 40000)))
        obj = Object(kind=ObjectKind.SOCKET, family=socket.AF_INET, sock_type=socket.SOCK_STREAM,
                     address="127.0.0.1", port=port)

        def bind(port: int = port) -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", port))

        cases.append(("bind", cred, Request("socket_bind", subj, obj), bind))
    return cases


def _supports_xattrs(directory: str) -> bool:
    """True when `directory`'s filesystem takes POSIX ACLs and user.* attributes."""
    probe = f"{directory}/.xattr-probe"
    try:
        with open(probe, "w"):
            pass
        os.setxattr(probe, "user.probe", b"1")
        os.setxattr(probe, ACL_XATTR_ACCESS, encode_acl((
            AclEntry(ACL_USER_OBJ, ACL_UNDEFINED_ID, 6), AclEntry(ACL_USER, UIDS[0], 4),
            AclEntry(ACL_GROUP_OBJ, ACL_UNDEFINED_ID, 4), AclEntry(ACL_MASK, ACL_UNDEFINED_ID, 4),
            AclEntry(ACL_OTHER, ACL_UNDEFINED_ID, 4))))
        return True
    except OSError:
        return False
    finally:
        if os.path.exists(probe):
            os.unlink(probe)


def _mount_tmpfs(path: str, options: str) -> bool:
    os.makedirs(path)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", path],
                          capture_output=True)
    return done.returncode == 0


def test_dac_matches_the_kernel(make_stack: Callable[..., object]) -> None:
    seed = int(os.environ.get("STOCKADE_DAC_SEED", DEFAULT_SEED))
    count = int(os.environ.get("STOCKADE_DAC_CASES", 2000))
    print(f"\nDAC differential seed={seed} cases={count} (STOCKADE_DAC_SEED to replay)")
    rng = random.Random(seed)
    builder = Builder(rng)
    stack = make_stack(Dac())
    base = tempfile.mkdtemp(prefix="stockade-dac-", dir="/tmp")
    os.chmod(base, 0o755)
    if not _supports_xattrs(base):
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip("/tmp's filesystem lacks POSIX ACL or user.* xattr support")
    results: dict[str, Counter[str]] = defaultdict(Counter)
    mismatches: list[str] = []
    mounts: list[str] = []

    def check(i: int, op: str, cred: Cred, req: Request, action: Callable[[], None]) -> None:
        model = stack.decide(req)  # type: ignore[attr-defined]
        real = run_as(cred, action)
        if real == errno.EADDRINUSE:
            results[op]["skipped (port in use)"] += 1
            return
        outcome = errno.errorcode.get(real, str(real)) if real else "ok"
        if model.decider is not None and model.decider.reason.startswith("search"):
            outcome += "(search)"
        results[op][outcome] += 1
        results[op]["agree" if real == model.errno else "DISAGREE"] += 1
        if real != model.errno:
            reason = model.decider.reason if model.decider else ""
            name = errno.errorcode.get(model.errno, "ok")
            mismatches.append(f"case {i} {op} {cred}: kernel {errno.errorcode.get(real, real)} "
                              f"model {name} ({reason}) obj={req.obj.path if req.obj else ''}")

    try:
        for i in range(count):
            op = FILE_OPS[i % len(FILE_OPS)]
            root = f"{base}/c{i}"
            os.mkdir(root)
            os.chmod(root, 0o755)
            case = _file_case(builder, root, op)
            check(i, case.op, case.cred, case.request, case.action)
        # read-only and noexec mounts (tmpfs)
        for flavour in ("ro", "noexec"):
            mnt = f"{base}/{flavour}"
            if not _mount_tmpfs(mnt, "mode=0755"):
                continue
            mounts.append(mnt)
            if not _supports_xattrs(mnt):
                continue
            cases = []
            for i in range(60):
                op = rng.choice(("open_r", "open_w", "exec", "mkdir", "unlink", "chmod",
                                 "setxattr_user", "truncate", "rename") if flavour == "ro"
                                else ("exec", "exec", "open_r"))
                root = f"{mnt}/c{i}"
                os.mkdir(root)
                os.chmod(root, 0o755)
                cases.append((i, _file_case(builder, root, op)))
            if flavour == "ro":
                subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
            else:
                subprocess.run(["mount", "-o", "remount,noexec", mnt], check=True)
            for i, case in cases:
                req = replace(case.request, obj=file_object(case.request.obj.path, follow=False))
                if case.request.target is not None:
                    req = replace(req, target=file_object(case.request.target.path, follow=False))
                check(10000 + i, f"{case.op}@{flavour}", case.cred, req, case.action)
        for op, cred, req, action, cleanup in _task_cases(rng, 60):
            check(-1, op, cred, req, action)
            cleanup()
        for op, cred, req, action in _socket_cases(rng, 80):
            check(-2, op, cred, req, action)
    finally:
        for mnt in mounts:
            subprocess.run(["umount", "-l", mnt], check=False)
        shutil.rmtree(base, ignore_errors=True)

    print(f"{'operation':<22} {'cases':>5}  {'agree':>5}  outcomes")
    total = agree = 0
    for op in sorted(results):
        counts = results[op]
        n = counts["agree"] + counts["DISAGREE"]
        total += n
        agree += counts["agree"]
        outcomes = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())
                             if k not in ("agree", "DISAGREE"))
        print(f"{op:<22} {n:>5}  {counts['agree']:>5}  {outcomes}")
    print(f"{'total':<22} {total:>5}  {agree:>5}")
    assert total >= 500
    assert not mismatches, f"seed {seed}: {len(mismatches)} disagreements:\n" + "\n".join(
        mismatches[:40])
