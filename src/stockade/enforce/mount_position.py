"""Where a file or directory lies inside its file system, whatever mount names it.

Landlock rules belong to inodes: a grant on directory G covers every file whose path, as the
program walks it, passes G. A file can be reached through every mount of its file system whose
root lies at or above it (a bind mount of a subdirectory included), so comparing the paths the
user typed misses a grant on an ancestor of a bind mount's source (red team 11). Here a place
is a *position*: the file system (field 3 of /proc/self/mountinfo, st_dev of its files) and the
path inside it (field 4, the mount's root, joined with the path below the mount point, field
5; Documentation/filesystems/proc.rst). The mount of an open descriptor is the `mnt_id` of
/proc/self/fdinfo (statx's STATX_MNT_ID), its path the kernel's /proc/self/fd link.

`passed` lists every position a walk to a file can pass: the file's own, through each mount
that shows it, and the mount points of those mounts and of their parents. A grant covers the
file when its position lies at or above one of them on the same file system.
"""

from __future__ import annotations

import os

from stockade.slotted import NamedTuple

#: (file system "major:minor", path inside it)
Position = tuple[str, str]


class Mount(NamedTuple):
    """One line of /proc/self/mountinfo."""

    id: int
    parent: int
    dev: str
    root: str
    point: str


_OCTAL = frozenset("01234567")


def _unescape(field: str) -> str:
    """mountinfo's octal escapes (space, tab, newline, backslash: `\\NNN`) undone, left to
    right as a regex substitution would (no `re`: a plan cache hit reads the mount table)."""
    if "\\" not in field:
        return field
    out, start = [], 0
    while (at := field.find("\\", start)) >= 0:
        code = field[at + 1:at + 4]
        if len(code) == 3 and _OCTAL.issuperset(code):
            out += (field[start:at], chr(int(code, 8)))
            start = at + 4
        else:
            out.append(field[start:at + 1])
            start = at + 1
    out.append(field[start:])
    return "".join(out)


def mounts() -> dict[int, Mount]:
    """The mounts of this process's namespace, by mount id."""
    table: dict[int, Mount] = {}
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split(" ", 5)
            table[int(fields[0])] = Mount(int(fields[0]), int(fields[1]), fields[2],
                                          _unescape(fields[3]), _unescape(fields[4]))
    return table


def join(root: str, below: str) -> str:
    """In-file-system path `below` (relative) joined to `root`, normal: no trailing `/`."""
    return (root.rstrip("/") + "/" + below.strip("/")).rstrip("/") or "/"


def _below(path: str, top: str) -> str | None:
    """`path` relative to `top` ("" when equal), or None when it does not lie there."""
    if top == "/":
        return path.lstrip("/")
    if path == top:
        return ""
    return path[len(top) + 1:] if path.startswith(top + "/") else None


def at_or_above(upper: str, lower: str) -> bool:
    """Whether in-file-system path `upper` is `lower` or one of its ancestors."""
    return _below(lower, upper) is not None


def of_fd(fd: int, table: dict[int, Mount]) -> Position | None:
    """The position of what descriptor `fd` refers to; None when the kernel cannot name it
    (removed, or outside this root)."""
    try:
        info = os.open(f"/proc/self/fdinfo/{fd}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            text = os.read(info, 4096)  # os-level: a grant costs ~12 us, not ~20
        finally:
            os.close(info)
        mnt = int(text.split(b"mnt_id:", 1)[1].split()[0])
        path = os.readlink(f"/proc/self/fd/{fd}")
    except (OSError, IndexError, ValueError):
        return None
    mount = table.get(mnt)
    if mount is None or not path.startswith("/") or path.endswith(" (deleted)"):
        return None
    below = _below(path, mount.point)
    return None if below is None else (mount.dev, join(mount.root, below))


def of_path(path: str, table: dict[int, Mount]) -> Position | None:
    """The position of `path` (links followed, as the kernel opens it); a missing file: its
    nearest existing ancestor's, with the rest of the name appended. None when unknown."""
    rest: list[str] = []
    here = path  # as given: the kernel takes `..` after a link physically, not abspath
    while True:
        try:
            fd = os.open(here or ".", os.O_PATH | os.O_CLOEXEC)
        except FileNotFoundError:
            here, name = os.path.split(here.rstrip("/"))
            if name in ("", ".", ".."):  # nothing left to try, or `..` of a missing directory
                return None
            rest.insert(0, name)
            continue
        except OSError:
            return None
        try:
            found = of_fd(fd, table)
        finally:
            os.close(fd)
        if found is None or not rest:
            return found
        return found[0], join(found[1], "/".join(rest))


def passed(position: Position, table: dict[int, Mount]) -> set[Position]:
    """Every position a walk to `position` may pass at a mount boundary or at its end: the
    file through each mount of its file system that shows it, then each such mount's mount
    point in its parent mount, and so up to the root (a grant at or above one covers it)."""
    dev, inside = position
    found: set[Position] = {position}
    for mount in table.values():
        if mount.dev != dev or not at_or_above(mount.root, inside):
            continue
        seen = {mount.id}
        while mount.parent in table and mount.parent not in seen:
            parent = table[mount.parent]
            below = _below(mount.point, parent.point)
            if below is None:
                break
            found.add((parent.dev, join(parent.root, below)))
            seen.add(parent.id)
            mount = parent
    return found


def covers(grant: Position, walked: set[Position]) -> bool:
    """Whether a grant at position `grant` lies at or above a position in `walked`."""
    return any(dev == grant[0] and at_or_above(grant[1], inside) for dev, inside in walked)
