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

from stockade.enforce import status_record
from stockade.enforce.link_walk import follow

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from stockade.enforce.landlock import AccessFs

def walk(path: str, known: dict[str, Any] | None = None) -> tuple[list[str], str, bool]:
    """Resolve `path` component by component as a lookup does (link_walk.follow): the (real)
    directories holding each symbolic link passed, the real path reached, and whether it
    exists (when not, the path reached is its nearest existing ancestor). `known`: the lstat
    answers of a caller that walks many paths at one moment, filled as asked."""
    # not abspath: `link/..` is the parent of the link's target, as the kernel walks it
    walked = follow(os.path.join(os.getcwd(), path), known=known)
    return walked.links, walked.reached, walked.stop is None


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
