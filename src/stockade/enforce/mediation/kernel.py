"""The running kernel's native system call table, as libseccomp and the kernel know it.

libseccomp names the numbers it knows (Debian 12's 2.5.4 stops at 456); the kernel may have
more. `NEWER_SYSCALLS` names the x86_64 numbers added after that (arch/x86/entry/syscalls/
syscall_64.tbl), so rules can name them; `probe_unnamed` asks the kernel, in a throw-away child
process per number, which other numbers exist (anything but ENOSYS), so a test can fail when a
kernel upgrade adds a system call no one has named a mediator for.
"""

from __future__ import annotations

import ctypes
import errno
import os

from stockade.enforce import seccomp as sc
from stockade.enforce._libc import LIBC, MACHINE

#: x86_64 system calls newer than the libseccomp this project runs with (name -> number).
NEWER_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "uretprobe": 335, "uprobe": 336, "statmount": 457, "listmount": 458,
        "lsm_get_self_attr": 459, "lsm_set_self_attr": 460, "lsm_list_modules": 461,
        "mseal": 462, "setxattrat": 463, "getxattrat": 464, "listxattrat": 465,
        "removexattrat": 466, "open_tree_attr": 467, "file_getattr": 468, "file_setattr": 469,
    },
}

#: One above the highest system call number in the mediation table, per architecture: the
#: seccomp filter refuses (ENOSYS) every number from here on (tested against the table).
SYSCALL_LIMIT: dict[str, int] = {"x86_64": 470}

#: Numbers scanned for system calls: the x86_64 table ends below 512 (x32 starts there).
SCAN_LIMIT = 1024


def newer_syscalls() -> dict[str, int]:
    """The numbers of this architecture's system calls libseccomp may not know."""
    return NEWER_SYSCALLS.get(MACHINE, {})


def syscall_limit() -> int | None:
    """One above the highest mediated system call number of this architecture (None: none)."""
    return SYSCALL_LIMIT.get(MACHINE)


def libseccomp_syscalls() -> dict[int, str]:
    """number -> name of every native system call libseccomp knows."""
    lib = sc._bind()
    fn = lib.seccomp_syscall_resolve_num_arch
    found: dict[int, str] = {}
    for nr in range(SCAN_LIMIT):
        ptr = fn(0, nr)
        if ptr:
            found[nr] = ctypes.string_at(ptr).decode()
            LIBC.free(ctypes.c_void_p(ptr))
    return found


def native_syscalls() -> dict[int, str]:
    """number -> name: libseccomp's names plus `NEWER_SYSCALLS` (ours wins on a clash)."""
    table = libseccomp_syscalls()
    for name, nr in newer_syscalls().items():
        table[nr] = name
    return table


def probe_unnamed(known: set[int]) -> list[int]:
    """Numbers below 512 the kernel implements (anything but ENOSYS) that are not in `known`.

    Each number is called with invalid arguments (-1) in its own forked child, which exits;
    a child killed by a signal counts as "exists" (uretprobe raises SIGILL outside a probe).
    """
    found = []
    for nr in range(512):
        if nr in known:
            continue
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            minus = ctypes.c_long(-1)
            res = LIBC.syscall(ctypes.c_long(nr), minus, minus, minus, minus, minus, minus)
            os._exit(0 if res == -1 and ctypes.get_errno() == errno.ENOSYS else 1)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            found.append(nr)
    return found
