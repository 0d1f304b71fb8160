"""Trees a program read whole (`tar czf out.tgz src`, `cp -r`, `du`, `grep -r`): one rule.

`globs.walked_roots` finds the trees whose directories a program listed; when it also read
every regular file beneath such a root, as the filesystem holds it now, the root's reads are
`ROOT/** r,`, which aa-logprof's Glob makes of them, instead of one rule per file. A tree read
in part keeps its files' own rules (reading one file of a tree is no grant to read them all).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stockade.learn.proposals import Access

#: at most this many entries are looked at beneath one root (beyond: not read whole)
LIMIT = 100_000


def read_whole(root: str, read: set[str], limit: int = LIMIT) -> bool:
    """Whether `read` holds every regular file beneath directory `root` now (False when a
    directory cannot be listed, or the tree is larger than `limit` entries)."""
    seen = 0
    stack = [root]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    seen += 1
                    if seen > limit:
                        return False
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False) and entry.path not in read:
                        return False
        except OSError:
            return False
    return True


def whole_trees(files: Sequence[tuple[Access, str]], roots: Iterable[str],
                reads_only: set[int], least: int) -> set[str]:
    """The walked `roots` (globs) whose every file the program read: `files` are the
    (access, glob) pairs, `reads_only` the indexes of those that only read, `least` the
    fewest file reads that make a tree."""
    whole: set[str] = set()
    for root in roots:
        top = next((a.path for a, g in files if g == root and a.is_dir), None)
        read = {os.path.normpath(a.path) for i, (a, g) in enumerate(files)
                if i in reads_only and not a.is_dir and g.startswith(root)}
        if top is not None and len(read) >= least and read_whole(os.path.normpath(top), read):
            whole.add(root)
    return whole
