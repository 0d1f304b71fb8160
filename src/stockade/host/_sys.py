"""Small helpers the probes share: reading a file, calling a syscall through libc."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import cache
from pathlib import Path

# x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl); aarch64 uses the generic table
_SYSCALLS = {
    "x86_64": {"seccomp": 317, "landlock_create_ruleset": 444, "lsm_list_modules": 461},
    "aarch64": {"seccomp": 277, "landlock_create_ruleset": 444, "lsm_list_modules": 461},
}


@cache
def libc() -> ctypes.CDLL:
    """The C library, with errno kept."""
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def syscall_number(name: str) -> int | None:
    """The number of `name` on this machine's architecture, or None when unknown."""
    return _SYSCALLS.get(os.uname().machine, {}).get(name)


def read_text(path: str | Path) -> str | None:
    """A file's text, or None when it cannot be read."""
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


def read_int(path: str | Path) -> int | None:
    """A file holding one integer, or None."""
    text = read_text(path)
    if text is None:
        return None
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return None
