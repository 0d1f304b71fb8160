"""The helper programs stockade starts (nft, iptables-save, notify-send, dot, systemd-analyze),
found in one place and found safely.

The caller's PATH is never searched: root's PATH puts /usr/local/sbin first on Debian, and a
sandbox granted a write there (or anywhere on a user's PATH) could plant a program that root's
next `stockade status` runs unconfined (red team 14). A helper is looked for only in
`TOOL_DIRS`, and is refused when anyone but root could change what its name leads to: the file,
every directory on the way to it and every directory holding a symbolic link passed must be
owned by root and writable by no group or other user. `run` refuses a plan whose writes reach
`TOOL_DIRS` (enforce/own_code.py), so a sandbox of root's cannot plant one either.
"""

from __future__ import annotations

import os
import stat

#: where helper programs are looked for, in this order (never the caller's PATH)
TOOL_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


def _untrusted(path: str) -> str | None:
    """Why someone other than root could change `path` (a file or directory), or None."""
    try:
        st = os.lstat(path)
    except OSError as err:
        return f"{path}: {err.strerror}"
    if st.st_uid != 0:
        return f"{path} is owned by uid {st.st_uid}, not root"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not stat.S_ISLNK(st.st_mode):
        return f"{path} is writable by its group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _ancestors(path: str) -> list[str]:
    """`path` and every directory above it, up to /."""
    out = [path]
    while path != "/":
        path = os.path.dirname(path)
        out.append(path)
    return out


def refusal(path: str) -> str | None:
    """Why the program at `path` is not one stockade may run as a helper (a name someone other
    than root could change, not a regular executable file), or None when it is."""
    from stockade.enforce import name_chain

    links, real, found = name_chain.walk(path)
    if not found:
        return f"{path} does not exist"
    try:
        st = os.stat(real)
    except OSError as err:
        return f"{real}: {err.strerror}"
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o111:
        return f"{real} is not an executable file"
    seen: dict[str, None] = {}
    for where in [real, *links]:
        seen.update(dict.fromkeys(_ancestors(where)))
    for where in seen:
        why = _untrusted(where)
        if why is not None:
            return why
    return None


def find(name: str) -> str | None:
    """The path of helper program `name` in TOOL_DIRS that only root can change, or None (not
    installed, or only in a place someone else may write: that copy is never run)."""
    for directory in TOOL_DIRS:
        path = os.path.join(directory, name)
        if os.path.lexists(path) and refusal(path) is None:
            return path
    return None


def why_missing(name: str) -> str:
    """Why `find(name)` gives None, as a phrase: not installed, or the copies refused."""
    reasons = []
    for directory in TOOL_DIRS:
        path = os.path.join(directory, name)
        if os.path.lexists(path):
            why = refusal(path)
            if why is not None:
                reasons.append(why)
    if not reasons:
        return f"{name} is not installed in {':'.join(TOOL_DIRS)}"
    return f"{name} refused: " + "; ".join(dict.fromkeys(reasons))
