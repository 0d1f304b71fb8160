"""Files a profile lets the program create or replace, granted through their directory.

Landlock binds a rule to an inode. A file the program creates does not exist at launch, and
a file it replaces (unlink then create, or rename over it: what compilers, archivers, `make`
and editors do) becomes a new inode: a rule bound to the old one covers nothing the program
will use. AppArmor's `w` (and `a`) on a path lets the program create and remove that name, so
the plan grants the rule's rights through the directory the file lives in (or the one above,
when the profile lets the program make that directory itself), with the narrowest rights that make creating
and replacing work: the file's own rights, plus make_reg (and remove_file for `w`; make_dir
and remove_dir for a directory rule `DIR/ w`). That is wider, every file beneath the
directory gets those rights, and the coverage report says so, naming the directory.

Only rules of the profile's own file are granted so: rules that come from included files
(abstractions) name other programs' optional sockets, logs and caches, and stay bound to
their inodes (narrower, reported as before).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from stockade.enforce.landlock import AccessFs, flag_names
from stockade.enforce.plan_glob import DIR, FILE, Expansion
from stockade.policy import Perm

F = AccessFs


@dataclass(frozen=True)
class ParentGrant:
    """Rights granted on `directory` so that `names` can be created or replaced there."""

    directory: str
    rights: AccessFs
    names: tuple[str, ...]

    def note(self) -> str:
        """The coverage line's reason."""
        shown = ", ".join(self.names[:3]) + (f" and {len(self.names) - 3} more"
                                             if len(self.names) > 3 else "")
        return (f"{shown}: the program may create or replace it, and a new file is a new inode "
                f"that a rule on the old one does not cover: granted through {self.directory} "
                f"({'|'.join(flag_names(self.rights))}): wider, every file beneath "
                f"{self.directory} gets these rights")


#: pseudo filesystems: their files are not created or replaced by programs, and granting a
#: directory there would open every device or kernel knob beside the one named
PSEUDO = ("/proc", "/sys", "/dev")


def _replaceable(path: str, kind: str) -> bool:
    """A regular file (or a name not there yet) outside the pseudo filesystems."""
    if any(path == p or path.startswith(p + "/") for p in PSEUDO):
        return False
    if kind == DIR:
        return True
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError:
        return False


def existing_ancestor(path: str, may_make_dir: Callable[[str], bool]) -> str | None:
    """The directory through which `path` can be made: its parent when that exists, else the
    grandparent when the profile lets the program create the parent (`may_make_dir`); None
    otherwise, so that a missing path never widens a grant far above what it names."""
    parent = os.path.dirname(path.rstrip("/")) or "/"
    if os.path.isdir(parent):
        return parent
    # one level: a directory the program makes, then fills (`out/`, then `out/x.tar`)
    above = os.path.dirname(parent) or "/"
    return above if may_make_dir(parent) and os.path.isdir(above) else None


def creation_rights(perms: Perm, kind: str, file_rights: AccessFs) -> AccessFs:
    """What a directory needs so that a `kind` target with `perms` can be made or replaced
    in it (nothing when `perms` does not let the program create it)."""
    if not perms & (Perm.WRITE | Perm.APPEND):
        return AccessFs(0)
    if kind == DIR:
        return F.MAKE_DIR | (F.REMOVE_DIR if perms & Perm.WRITE else AccessFs(0)) \
            if perms & Perm.WRITE else AccessFs(0)
    rights = file_rights | F.MAKE_REG
    if perms & Perm.WRITE:
        rights |= F.REMOVE_FILE
    return rights


def _last_component_glob(exp: Expansion) -> bool:
    """A glob only in its last component (`DIR/*.o`, `DIR/cc*`): files created in DIR later
    match it. Deeper globs (`DIR/*/x`, `DIR/**.o`) are left to their expansion at launch:
    granting their literal directory would open a whole tree."""
    if not exp.glob or exp.truncated or not exp.pattern.startswith(exp.region):
        return False
    rest = exp.pattern[len(exp.region):].lstrip("/")
    return bool(rest) and "/" not in rest and "**" not in rest and not rest.endswith("/")


def parent_grants(exp: Expansion, perms: Perm, file_rights: AccessFs,
                  may_make_dir: Callable[[str], bool]) -> list[ParentGrant]:
    """The directories through which the targets of an allow rule must be granted.

    Existing files and files missing at launch go through their parent (existing_ancestor);
    a glob that may match files created later goes through its literal directory; trees
    already carry the make/remove rights themselves.
    """
    by_dir: dict[str, tuple[AccessFs, list[str]]] = {}

    def add(path: str, kind: str) -> None:
        rights = creation_rights(perms, kind, file_rights)
        where = existing_ancestor(path, may_make_dir)
        if not rights or where in (None, "/") or not _replaceable(path, kind):
            return
        old, names = by_dir.get(where, (AccessFs(0), []))
        by_dir[where] = (old | rights, [*names, path])

    for t in exp.targets:
        if t.kind in (FILE, DIR):
            add(t.path, t.kind)
    for t in exp.missing:
        if t.kind in (FILE, DIR):
            add(t.path, t.kind)
    if _last_component_glob(exp):
        region = (exp.region if os.path.isdir(exp.region)
                  else existing_ancestor(exp.region + "/", may_make_dir))
        if region is not None and region != "/" and _replaceable(region, DIR):
            rights = creation_rights(perms, FILE, file_rights)
            if rights:
                old, names = by_dir.get(region, (AccessFs(0), []))
                by_dir[region] = (old | rights, [*names, exp.pattern])
    return [ParentGrant(d, r, tuple(dict.fromkeys(n))) for d, (r, n) in by_dir.items()]
