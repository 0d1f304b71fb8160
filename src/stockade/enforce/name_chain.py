"""Whether a sandbox could change what a path leads to: the file or directory it names now, and
every name on the way there.

The launcher reads some files again after the program has started, or on its next start (its
own code, the interpreter's start-up files, the profile and its includes). A path reaches its
file through names: each symbolic link passed is an entry of a directory, and whoever may
change that directory may point the name elsewhere; a name that does not exist yet is made by
whoever may write its nearest existing ancestor. `exposure` judges all of them against the
sandbox's writable grants (status_record.writable_grant and status_record.exposure, which
compare by inode and mount position as well as by path)."""

from __future__ import annotations

import os
import stat

from stockade.enforce import status_record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from stockade.enforce.landlock import AccessFs

_MAX_LINKS = 40  # the kernel's limit on links followed in one lookup (ELOOP)


def walk(path: str, known: dict[str, Any] | None = None) -> tuple[list[str], str, bool]:
    """Resolve `path` component by component as a lookup does: the (real) directories holding
    each symbolic link passed, the real path reached, and whether it exists (when not, the path
    reached is its nearest existing ancestor). `known`: the lstat answers of a caller that
    walks many paths at one moment (their shared ancestors looked at once), filled as asked."""
    links: list[str] = []
    # not abspath: `link/..` is the parent of the link's target, as the kernel walks it
    todo = [c for c in os.path.join(os.getcwd(), path).split("/") if c]
    todo.reverse()
    here = "/"
    while todo:
        name = todo.pop()
        if name == ".":
            continue
        if name == "..":
            here = os.path.dirname(here)
            continue
        nxt = (here if here == "/" else here + "/") + name  # os.path.join: ~1 us more
        key = "\0lstat " + nxt  # no path holds a NUL
        st = known.get(key) if known is not None else None
        if st is None:
            try:
                st = os.lstat(nxt)
            except OSError:
                return links, here, False
            if known is not None:
                known[key] = st
        if stat.S_ISLNK(st.st_mode):
            links.append(here)
            if len(links) > _MAX_LINKS:
                return links, here, False
            try:
                target = os.readlink(nxt)
            except OSError:
                return links, here, False
            if target.startswith("/"):
                here = "/"
            todo.extend(reversed([c for c in target.split("/") if c]))
            continue
        here = nxt
    return links, here, True


def exposure(path: str, grants: Iterable[tuple[str, AccessFs]], *,
             table: dict[int, Any] | None = None, positions: dict[str, Any] | None = None,
             ) -> str | None:
    """Why a sandbox holding `grants` could change what `path` leads to, as a phrase following
    the path; None when it cannot. A directory counts with everything below it (a writable
    grant inside it too: status_record.exposure). `table` and `positions`: as
    status_record.writable_grant's, for a caller that asks about many paths."""
    write = int(status_record.WRITE_RIGHTS)
    grants = [(g, r) for g, r in grants if int(r) & write]
    if not grants:
        return None
    links, end, found = walk(path, positions)
    for where in dict.fromkeys(links):
        grant = status_record.writable_grant(where, grants, table=table, positions=positions)
        if grant is not None:
            return (f"is reached through a symbolic link in {where}, inside the writable "
                    f"grant {grant}")
    if not found:
        grant = status_record.writable_grant(end, grants, table=table, positions=positions)
        if grant is not None:
            return f"does not exist yet: the writable grant {grant} may make it (in {end})"
        return None
    # `end` is physical: walk passed no link on its way (its links were followed)
    return status_record.exposure(end, grants, table=table, positions=positions, real=end)
