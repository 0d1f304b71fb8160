"""Syscall numbers → names, read once from the system's `asm/unistd_*.h` when it is there."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7

_HEADERS: dict[int, tuple[str, ...]] = {
    AUDIT_ARCH_X86_64: ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
                        "/usr/include/asm/unistd_64.h"),
    AUDIT_ARCH_I386: ("/usr/include/x86_64-linux-gnu/asm/unistd_32.h",
                      "/usr/include/i386-linux-gnu/asm/unistd_32.h", "/usr/include/asm/unistd_32.h"),
    AUDIT_ARCH_AARCH64: ("/usr/include/aarch64-linux-gnu/asm/unistd.h",
                         "/usr/include/asm-generic/unistd.h"),
}
_DEFINE = re.compile(r"#define\s+__NR3?2?_(\w+)\s+(\d+)\s*$", re.M)


@cache
def _table(arch: int) -> dict[int, str]:
    for candidate in _HEADERS.get(arch, ()):
        try:
            text = Path(candidate).read_text()
        except OSError:
            continue
        table = {int(number): name for name, number in _DEFINE.findall(text)}
        if table:
            return table
    return {}


def syscall_name(arch: str | int, number: str | int) -> str:
    """`openat` for (c000003e, 257) when the headers are installed; else `syscall 257`."""
    try:
        arch_value = int(arch, 16) if isinstance(arch, str) else arch
        nr = int(number)
    except ValueError:
        return f"syscall {number}"
    return _table(arch_value).get(nr) or f"syscall {nr}"
