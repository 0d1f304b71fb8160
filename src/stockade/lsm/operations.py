"""What the kernel asks the LSM hooks, in order, when a program performs an operation.

`stockade explain read /dev/mem` is not one hook but several: the open's DAC and
`file_open`, then the driver's `capable(CAP_SYS_RAWIO)` and `locked_down(dev_mem)`. This
module turns an operation on a target into that sequence of requests, as the syscall paths
in fs/, net/ and kernel/ do.
"""

from __future__ import annotations

import ipaddress
import lzma
import os
import signal as signals
import socket
from dataclasses import dataclass

from stockade.errors import UsageError
from stockade.lsm.caps import CAP_SYS_RAWIO
from stockade.lsm.setattr import chmod_request, chown_request
from stockade.lsm.types import (
    MAY_APPEND,
    MAY_EXEC,
    MAY_OPEN,
    MAY_READ,
    MAY_WRITE,
    PTRACE_MODE_ATTACH,
    PTRACE_MODE_REALCREDS,
    Object,
    ObjectKind,
    Request,
    Subject,
)

FILE_OPERATIONS = ("read", "write", "append", "exec", "create", "unlink", "rename", "mkdir",
                   "rmdir", "chmod", "chown", "mount", "load-module")
NET_OPERATIONS = ("connect", "bind")
TASK_OPERATIONS = ("ptrace", "kill")
OPERATIONS = FILE_OPERATIONS + NET_OPERATIONS + TASK_OPERATIONS

MODULE_SIGNATURE_MAGIC = b"~Module signature appended~\n"

# Paths whose drivers ask lockdown (and capabilities) after the open succeeds.
_LOCKDOWN_PATHS: tuple[tuple[str, str, bool], ...] = (
    # (path prefix, lockdown reason, only when writing)
    ("/dev/mem", "dev_mem", False),
    ("/dev/kmem", "dev_mem", False),
    ("/dev/port", "dev_mem", False),
    ("/proc/kcore", "kcore", False),
    ("/sys/kernel/debug/tracing", "tracefs", False),
    ("/sys/kernel/tracing", "tracefs", False),
    ("/sys/kernel/debug", "debugfs", False),
    ("/dev/cpu/", "msr", True),
)
_RAWIO_PATHS = ("/dev/mem", "/dev/kmem", "/dev/port", "/proc/kcore")


@dataclass(frozen=True)
class Peer:
    """A network endpoint parsed from `host:port`."""

    family: int
    address: str
    port: int


def parse_peer(text: str) -> Peer:
    """`127.0.0.1:80`, `[::1]:443`, `localhost:22` or `:8080` (any address)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
        raise UsageError(f"expected HOST:PORT, not {text!r}")
    host = host.strip("[]") or "0.0.0.0"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        try:
            info = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            raise UsageError(f"cannot resolve host {host!r}") from None
        addr = ipaddress.ip_address(info[0][4][0])
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    return Peer(family, str(addr), int(port_text))


def module_is_signed(path: str) -> bool:
    """True when a kernel module file (.ko or .ko.xz) carries an appended signature."""
    try:
        if path.endswith(".xz"):
            with lzma.open(path) as f:
                data = f.read()
            return data.endswith(MODULE_SIGNATURE_MAGIC)
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - len(MODULE_SIGNATURE_MAGIC)))
            return f.read() == MODULE_SIGNATURE_MAGIC
    except (OSError, lzma.LZMAError):
        return False


def driver_checks(subject: Subject, obj: Object, writing: bool) -> list[Request]:
    """What a device's or pseudo-file's open asks after DAC: capable() and locked_down()."""
    extra: list[Request] = []
    if obj.path.startswith(_RAWIO_PATHS):
        extra.append(Request("capable", subject, cap=CAP_SYS_RAWIO))
    for prefix, reason, write_only in _LOCKDOWN_PATHS:
        if obj.path.startswith(prefix) and (writing or not write_only):
            extra.append(Request("locked_down", subject, obj, what=reason))
            break
    return extra


def file_requests(op: str, subject: Subject, obj: Object, *, target: Object | None = None,
                  new_mode: int | None = None, new_owner: tuple[int, int] | None = None,
                  fstype: str = "") -> list[Request]:
    """The hook requests for a file operation on `obj` (`target` for rename)."""
    if op == "read":
        return [Request("file_open", subject, obj, MAY_READ | MAY_OPEN),
                *driver_checks(subject, obj, False)]
    if op == "write":
        return [Request("file_open", subject, obj, MAY_WRITE | MAY_OPEN),
                *driver_checks(subject, obj, True)]
    if op == "append":
        return [Request("file_open", subject, obj, MAY_WRITE | MAY_APPEND | MAY_OPEN),
                *driver_checks(subject, obj, True)]
    if op == "exec":
        return [Request("file_open", subject, obj, MAY_EXEC | MAY_OPEN),
                Request("bprm_check_security", subject, obj, MAY_EXEC)]
    if op == "create":
        return [Request("inode_create", subject, obj, MAY_WRITE)]
    if op == "mkdir":
        return [Request("inode_mkdir", subject, obj, MAY_WRITE)]
    if op == "unlink":
        return [Request("inode_unlink", subject, obj, MAY_WRITE)]
    if op == "rmdir":
        return [Request("inode_rmdir", subject, obj, MAY_WRITE)]
    if op == "rename":
        if target is None:
            raise UsageError("rename needs --to DEST")
        return [Request("inode_rename", subject, obj, MAY_WRITE, target=target)]
    if op == "chmod":
        mode = new_mode if new_mode is not None else obj.mode & 0o7777
        return [chmod_request(subject, obj, mode)]
    if op == "chown":
        if new_owner is None:
            raise UsageError("chown needs --new-owner USER[:GROUP]")
        return [chown_request(subject, obj, *new_owner)]
    if op == "mount":
        return [Request("sb_mount", subject, obj, what=fstype or "none")]
    if op == "load-module":
        requests = [Request("file_open", subject, obj, MAY_READ | MAY_OPEN),
                    Request("kernel_read_file", subject, obj, MAY_READ, what="kernel-module")]
        if not module_is_signed(obj.path):
            requests.append(Request("locked_down", subject, obj, what="module_signature"))
        return requests
    raise UsageError(f"unknown file operation {op!r}")


def net_requests(op: str, subject: Subject, peer: Peer,
                 sock_type: int = socket.SOCK_STREAM) -> list[Request]:
    """socket() then connect() or bind() to `peer`."""
    sock = Object(kind=ObjectKind.SOCKET, family=peer.family, sock_type=sock_type,
                  protocol=0, address=peer.address, port=peer.port)
    create = Request("socket_create", subject,
                     Object(kind=ObjectKind.SOCKET, family=peer.family, sock_type=sock_type))
    hook = {"connect": "socket_connect", "bind": "socket_bind"}[op]
    return [create, Request(hook, subject, sock)]


def task_requests(op: str, subject: Subject, task: Object, sig: int = signals.SIGTERM
                  ) -> list[Request]:
    """ptrace attach, or kill() with `sig`."""
    if op == "ptrace":
        return [Request("ptrace_access_check", subject, task,
                        flags=PTRACE_MODE_ATTACH | PTRACE_MODE_REALCREDS)]
    return [Request("task_kill", subject, task, signal=sig)]
