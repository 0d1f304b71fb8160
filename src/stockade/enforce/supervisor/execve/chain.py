"""What an exec runs besides the file it names: the `#!` interpreters and an ELF's loader.

The kernel's binfmt_script replaces the file by the interpreter its first line names (and
asks `file_open` and `bprm_check_security` again on it), up to five times before ELOOP; the
ELF loader opens the PT_INTERP file (ld.so) for execution (`file_open`). The supervisor decides
each of these files too, read from the files it pinned, in the order the kernel meets them.
`strings` reads an exec's argv and envp from the target (TOMOYO's conditions look at them).
"""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stockade.enforce.supervisor.fast import CMemReader
    from stockade.enforce.supervisor.sys import MemReader

#: the kernel reads this much of a file to recognise its format (BINPRM_BUF_SIZE)
BINPRM_BUF_SIZE = 256
#: interpreters the kernel follows before ELOOP (exec_binprm: depth > 5)
MAX_INTERPRETERS = 5
#: an ELF's PT_INTERP path is bounded by PATH_MAX in the kernel
PATH_MAX = 4096
PT_INTERP = 3
_ELF64 = struct.Struct("<16sHHIQQQIHHHHHH")
_PH64 = struct.Struct("<IIQQQQQQ")
_ELF32 = struct.Struct("<16sHHIIIIIHHHHHH")
_PH32 = struct.Struct("<IIIIIIII")


def read_file(pinned: int, size: int, offset: int = 0) -> bytes:
    """`size` bytes at `offset` of the file pinned (O_PATH) at `pinned`, opened for reading
    through our own descriptor (the supervisor thread's Landlock and the target's fs
    credentials apply)."""
    fd = os.open(f"/proc/self/fd/{pinned}", os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        return os.pread(fd, size, offset)
    finally:
        os.close(fd)


def script_interpreter(head: bytes) -> bytes | None:
    """The interpreter path of a `#!` line (binfmt_script's parse), None if not a script."""
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0]
    line = line.split(b"\0", 1)[0].lstrip(b" \t")
    name = line.split(b" ", 1)[0].split(b"\t", 1)[0]
    if not name:
        raise OSError(errno.ENOEXEC, "Exec format error")  # the kernel: ENOEXEC
    return name


def elf_interpreter(pinned: int, head: bytes) -> bytes | None:
    """The PT_INTERP path of an ELF file (None: not ELF, or statically linked)."""
    if not head.startswith(b"\x7fELF") or len(head) < 52:
        return None
    wide = head[4] == 2
    if head[5] != 1:  # big-endian: not this machine's, the kernel refuses it
        return None
    if wide:
        if len(head) < _ELF64.size:
            return None
        fields = _ELF64.unpack_from(head)
        phoff, phentsize, phnum, ph = fields[5], fields[9], fields[10], _PH64
    else:
        fields = _ELF32.unpack_from(head)
        phoff, phentsize, phnum, ph = fields[5], fields[9], fields[10], _PH32
    if phentsize != ph.size or not 0 < phnum <= 65536 // ph.size:
        return None
    table = read_file(pinned, phnum * ph.size, phoff)
    for i in range(len(table) // ph.size):
        entry = ph.unpack_from(table, i * ph.size)
        if entry[0] != PT_INTERP:
            continue
        offset, size = (entry[2], entry[5]) if wide else (entry[1], entry[4])
        if not 2 <= size <= PATH_MAX:
            raise OSError(errno.ENOEXEC, "Exec format error")
        return read_file(pinned, size, offset).split(b"\0", 1)[0]
    return None


#: the entries of an argv or envp read at most
MAX_STRINGS = 4096


def strings(mem: MemReader | CMemReader, tid: int, addr: int) -> tuple[bytes, ...] | None:
    """The strings of a NULL-terminated array (argv, envp) in the target; None when it cannot
    be read whole (unmapped, over MAX_STRINGS entries, a string over 128 KiB). Read while
    the caller is stopped in execve: a task sharing its memory can still change them before
    the kernel copies them (docs/tomoyo.md)."""
    out: list[bytes] = []
    try:
        while addr:
            raw = mem.read(tid, addr, min(4096 - (addr & 4095), 512))
            usable = len(raw) - len(raw) % 8
            if not usable:
                return None
            for i in range(0, usable, 8):
                ptr = int.from_bytes(raw[i:i + 8], "little")
                if not ptr:
                    return tuple(out)
                if len(out) >= MAX_STRINGS:
                    return None
                out.append(mem.cstring(tid, ptr, limit=128 * 1024))
            addr += usable
    except OSError:
        return None
    return tuple(out)
