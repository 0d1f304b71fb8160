"""The names through which the kernel and the dynamic loader find the launcher's machine code
at its next start, besides the real paths /proc/self/maps shows (own_code judges those by their
directories).

The kernel opens the interpreter named in the executable's PT_INTERP
(`/lib64/ld-linux-x86-64.so.2`, reached through `/lib64 -> usr/lib64` and the link
`/usr/lib64/ld-linux-x86-64.so.2`); the loader reads `/etc/ld.so.preload` (present or not),
`/etc/ld.so.cache`, and opens each library by the name the cache holds for it
(`/lib/x86_64-linux-gnu/libc.so.6`, through `/lib -> usr/lib`), or through LD_LIBRARY_PATH
and LD_PRELOAD when the launcher's environment sets them. A sandbox that could change any of
those names changes the code of every later launcher (red team 13,
rt/ldso_name_in_usr_lib64.sh: `run --rw /usr/lib64` re-pointed the loader link). `names`
lists them for own_code, which judges each by every name on its way (name_chain).

Not covered: a library the cache does not hold, found in the loader's built-in directories; a
directory of /etc/ld.so.conf written by a sandbox, which counts only once root runs ldconfig;
DT_RPATH/DT_RUNPATH of the executable (Debian's python3.11 has none).
"""

from __future__ import annotations

import os
import struct

PRELOAD = "/etc/ld.so.preload"
CACHE = "/etc/ld.so.cache"
_CACHE_MAGIC = b"glibc-ld.so.cache1.1"
_CACHE_HEADER = 48  # struct cache_file_new up to its entries
_CACHE_ENTRY = 24  # struct file_entry_new
_PT_INTERP = 3
_MAX_READ = 1 << 22  # an ld.so.cache is tens of KB; more is not one


def interpreter_of(path: str) -> str | None:
    """The program interpreter named in ELF file `path`'s PT_INTERP; None for a file that is
    not ELF or names none (a static executable)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2):
                return None
            order = "<" if head[5] == 1 else ">"
            if head[4] == 2:  # ELFCLASS64
                phoff, = struct.unpack_from(order + "Q", head, 32)
                phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
                fmt = order + "IIQ8x8xQ"  # p_type, p_flags, p_offset, ..., p_filesz
            else:
                phoff, = struct.unpack_from(order + "I", head, 28)
                phentsize, phnum = struct.unpack_from(order + "HH", head, 42)
                fmt = order + "II8xI"  # p_type, p_offset, ..., p_filesz
            if phentsize < struct.calcsize(fmt) or phnum > 4096:
                return None
            f.seek(phoff)
            table = f.read(phentsize * phnum)
            for i in range(min(phnum, len(table) // phentsize)):
                fields = struct.unpack_from(fmt, table, i * phentsize)
                if fields[0] != _PT_INTERP:
                    continue
                offset, size = (fields[2], fields[3]) if head[4] == 2 else fields[1:3]
                if size > 4096:
                    return None
                f.seek(offset)
                name = f.read(size).split(b"\0", 1)[0]
                return os.fsdecode(name) if name.startswith(b"/") else None
    except (OSError, struct.error):
        return None
    return None


def cached_names(sonames: set[str], cache: str = CACHE) -> list[str]:
    """The paths `cache` (ld.so.cache, glibc's format since 2.32: no old-format part) gives
    for the libraries whose file names are `sonames` (a real file name such as
    `libffi.so.8.1.2` matches the entry `libffi.so.8` too): the names the loader opens."""
    try:
        with open(cache, "rb") as f:
            data = f.read(_MAX_READ)
    except OSError:
        return []
    start = data.find(_CACHE_MAGIC)
    if start < 0 or len(data) < start + _CACHE_HEADER:
        return []
    count, = struct.unpack_from("=I", data, start + len(_CACHE_MAGIC))  # native, as ldconfig
    end = start + _CACHE_HEADER + count * _CACHE_ENTRY
    if end > len(data):
        return []
    wanted = {os.fsencode(n[:i]) for n in sonames for i, c in enumerate(n + ".") if c == "."}
    entries = memoryview(data)[start + _CACHE_HEADER:end].cast("I")  # 6 words an entry
    find = data.find
    # a list comprehension over the offsets: a struct loop over ~550 entries cost 0.4 ms
    found = [data[start + v:find(b"\0", start + v)]
             for k, v in zip(entries[1::6], entries[2::6], strict=True)
             if data[start + k:find(b"\0", start + k)] in wanted]
    out = dict.fromkeys(os.fsdecode(p) for p in found if p.startswith(b"/"))
    return list(out)


def names(executable: str, mapped: list[str]) -> list[str]:
    """The names the next start of `executable` (its real path) opens to find its machine code,
    given the files mapped into this process (`mapped`, real paths): PT_INTERP,
    /etc/ld.so.preload and what it lists, /etc/ld.so.cache and the directories of the names it
    holds for the mapped libraries, and the directories of LD_LIBRARY_PATH and files of
    LD_PRELOAD."""
    out = [PRELOAD, CACHE]
    interp = interpreter_of(executable)
    if interp is not None:
        out.append(interp)
    try:
        with open(PRELOAD, encoding="utf-8", errors="surrogateescape") as f:
            out += [w for w in f.read(1 << 16).replace(":", " ").split() if w.startswith("/")]
    except OSError:
        pass
    sonames = {os.path.basename(p) for p in mapped}
    library_path = os.environ.get("LD_LIBRARY_PATH")
    if library_path:
        for entry in library_path.replace(";", ":").split(":"):
            out.append(os.path.abspath(entry or os.curdir))  # empty: the current directory
    for entry in os.environ.get("LD_PRELOAD", "").replace(":", " ").split():
        if entry.startswith("/"):
            out.append(entry)
        else:  # a bare name is looked up as a library is: through the cache
            sonames.add(entry)
    # by their directories, as own_code judges the mapped files: one walk for all of them
    out += dict.fromkeys(os.path.dirname(p) for p in cached_names(sonames))
    return list(dict.fromkeys(p for p in out if p.startswith("/")))
