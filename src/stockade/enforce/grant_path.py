"""Resolve the path of an ad-hoc grant (`run --ro/--rw/--rx PATH`) without being steered by a
symbolic link that a sandbox planted.

A run that may write a tree can leave a link there (`build -> /home/me/.ssh`); a later run that
grants `build` would otherwise get the link's target. The path is walked one component at a
time (lstat, never following); a symbolic link is followed only if no sandbox can have made it:

* it is owned by root, in a directory owned by root that group and others cannot write (a
  sandbox of an ordinary user cannot create root-owned files); and
* when stockade runs as root, whose sandboxes do create root-owned links, only inside the
  system trees (/, /usr, /etc, /opt, /boot): a root sandbox that may write there already
  owns the system.

So Debian's /bin -> usr/bin and /usr/bin/python3 -> python3.11 keep working, and anything
else is refused with one line that names the link: name its target directly. The result has
no symbolic link in it; the Landlock rule is opened from it with no link followed
(fsbatch.add_path_rules: RESOLVE_NO_SYMLINKS), so a link swapped in meanwhile by a concurrent
run that may write one of its parents fails the run instead of steering the rule.
"""

from __future__ import annotations

import os

from stockade.enforce.link_walk import LOOP, UNREADABLE, follow
from stockade.errors import StockadeError

SETUP_FAILED = 125
#: Where links are trusted when the caller is root (see the module docstring).
ROOT_SYSTEM_TREES = ("/usr", "/etc", "/opt", "/boot")


def _trusted(link: os.stat_result, directory: str, parent: os.stat_result) -> bool:
    if link.st_uid != 0 or parent.st_uid != 0 or parent.st_mode & 0o022:
        return False
    if os.geteuid() != 0:
        return True
    return directory == "/" or any(directory == t or directory.startswith(t + "/")
                                   for t in ROOT_SYSTEM_TREES)


def resolve_grant(path: str, flag: str) -> str:
    """`path` made absolute with every trusted symbolic link replaced by its target
    (link_walk.follow); StockadeError (exit 125) naming the first link that is not trusted.
    A missing component ends the walk (the rest is kept as written: prepare reports a
    missing path)."""
    def refuse_untrusted(link: str, directory: str, st: os.stat_result, target: str) -> None:
        if not _trusted(st, directory, os.stat(directory)):
            raise StockadeError(
                f"{flag} {path}: {link} is a symbolic link (to {target}) that a sandbox "
                "could have planted; name the directory you mean directly (only root-owned "
                "links in root-only directories are followed)", SETUP_FAILED)

    walked = follow(os.path.abspath(path), on_link=refuse_untrusted)
    if walked.stop == LOOP:
        raise StockadeError(f"{flag} {path}: too many levels of symbolic links", SETUP_FAILED)
    if walked.stop == UNREADABLE:
        raise StockadeError(f"{flag} {path}: a symbolic link in {walked.reached} could not be "
                            "read", SETUP_FAILED)
    return os.path.join(walked.reached, *walked.rest)
