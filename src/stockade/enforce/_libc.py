"""The C library handle and raw system calls shared by the kernel bindings.

Only the system calls that glibc does not wrap are called by number; the numbers are the
kernel's for the two architectures stockade supports (x86_64 and aarch64). `ctypes.util`'s
`find_library` is avoided on purpose: it forks `ldconfig` and costs tens of milliseconds.
"""

from __future__ import annotations

import ctypes
import errno
import os

from stockade.errors import UnsupportedError

LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
LIBC.syscall.restype = ctypes.c_long
LIBC.prctl.restype = ctypes.c_int
LIBC.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

MACHINE = os.uname().machine  # not platform.machine(): importing platform costs 1.5 ms

# System call numbers that differ between architectures (the Landlock ones, 444-446, come from
# the generic table and are the same everywhere).
_SYSCALL_NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {"seccomp": 317, "capget": 125, "capset": 126},
    "aarch64": {"seccomp": 277, "capget": 90, "capset": 91},
}

SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446


def syscall_number(name: str) -> int:
    """The number of system call `name` on this architecture."""
    try:
        return _SYSCALL_NUMBERS[MACHINE][name]
    except KeyError:
        raise UnsupportedError(
            f"stockade supports x86_64 and aarch64; this machine is {MACHINE}"
        ) from None


def raw_syscall(number: int, *args: object) -> int:
    """Call system call `number`; raise OSError with the kernel's errno on failure."""
    result = LIBC.syscall(ctypes.c_long(number), *args)
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(result)


def check(result: int) -> int:
    """Turn a libc `-1` return into an OSError carrying errno."""
    if result == -1:
        err = ctypes.get_errno() or errno.EIO
        raise OSError(err, os.strerror(err))
    return result


SYS_OPENAT2 = 437  # the generic table's: the same on x86_64 and aarch64
RESOLVE_NO_SYMLINKS = 0x04  # no link in any component (magic links included)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def open_path_no_links(path: str) -> int:
    """`path` opened O_PATH|O_CLOEXEC with no symbolic link followed in any component
    (openat2 RESOLVE_NO_SYMLINKS); OSError (ELOOP on a link) otherwise."""
    how = _OpenHow(os.O_PATH | os.O_CLOEXEC, 0, RESOLVE_NO_SYMLINKS)
    fd = LIBC.syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_long(-100), os.fsencode(path),
                      ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)
