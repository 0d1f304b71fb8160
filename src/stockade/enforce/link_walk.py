"""The one walk of a path as the kernel's lookup takes it, component by component: lstat each
name, follow a symbolic link by splicing its target into the names still to walk (from / when
absolute), `..` physically (the parent of the directory reached). Who asks decides what a link
may do: name_chain (which directories a sandbox could change to steer the path) records
where each link lies; grant_path (an ad-hoc grant) refuses a link a sandbox could have
planted. Neither follows a link through the file system's own resolution, so both see every
link the kernel would pass."""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: the kernel's limit on links followed in one lookup (MAXSYMLINKS: ELOOP)
MAX_LINKS = 40

#: why a walk stopped before the end (`Walked.stop`)
MISSING, LOOP, UNREADABLE = "missing", "loop", "unreadable"


class Walked:
    """Where a walk got: `reached`, the physical path of the last directory or file reached;
    `links`, the directory holding each symbolic link passed (in order, repeats kept); `stop`,
    None when the whole path was walked, else MISSING (`rest` starts with the name not
    found), LOOP (more than MAX_LINKS links) or UNREADABLE (a link's target could not be
    read); `rest`, the names not walked."""

    __slots__ = ("links", "reached", "rest", "stop")

    def __init__(self, links: list[str], reached: str, stop: str | None,
                 rest: list[str]) -> None:
        self.links = links
        self.reached = reached
        self.stop = stop
        self.rest = rest


def follow(path: str, *, known: dict[str, Any] | None = None,
           on_link: Callable[[str, str, os.stat_result, str], None] | None = None) -> Walked:
    """Walk absolute `path` (`..` in it is taken physically). `on_link(link, directory, st,
    target)` is called for each symbolic link before it is followed (it may raise to refuse
    it). `known`: the lstat answers of a caller that walks many paths at one moment (their
    shared ancestors looked at once), filled as asked."""
    links: list[str] = []
    todo = [c for c in path.split("/") if c]
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
                todo.append(name)
                return Walked(links, here, MISSING, todo[::-1])
            if known is not None:
                known[key] = st
        if not stat.S_ISLNK(st.st_mode):
            here = nxt
            continue
        links.append(here)
        try:
            target = os.readlink(nxt)
        except OSError:
            return Walked(links, here, UNREADABLE, todo[::-1])
        if on_link is not None:
            on_link(nxt, here, st, target)
        if len(links) > MAX_LINKS:
            return Walked(links, here, LOOP, todo[::-1])
        if target.startswith("/"):
            here = "/"
        todo.extend(reversed([c for c in target.split("/") if c]))
    return Walked(links, here, None, [])
