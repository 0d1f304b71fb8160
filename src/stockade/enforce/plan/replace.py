"""Files a profile lets the program create or replace, granted through their directory.

Landlock binds a rule to an inode. A file the program creates does not exist at launch, and
a file it replaces (unlink then create, or rename over it: what compilers, archivers, `make`
and editors do) becomes a new inode: a rule bound to the old one covers nothing the program
will use. AppArmor's `w` (and `a`) on a path lets the program create and remove that name, so
the plan grants the rule's rights through the directory the file lives in (or the one above,
when the profile lets the program make that directory itself), with the narrowest rights that make creating
and replacing work: the file's own rights, plus make_reg (and, for `w`, remove_file and
make_sym/fifo/sock: AppArmor's w creates any kind of name; make_dir and remove_dir for a
directory rule `DIR/ w`). That is wider, every file beneath the
directory gets those rights, and the coverage report says so, naming the directory.

Only rules of the profile's own file are granted so: rules that come from included files
(abstractions) name other programs' optional sockets, logs and caches, and stay bound to
their inodes (narrower, reported as before).
"""

from __future__ import annotations

import errno
import functools
import stat
from collections.abc import Callable
from dataclasses import dataclass

from stockade.enforce.landlock import AccessFs, flag_names
from stockade.enforce.plan.glob import DIR, FILE, TREE, BuildCache, Expansion
from stockade.policy import Perm

F = AccessFs
_MAKE_DIR = int(F.MAKE_DIR)
_WRITE = int(Perm.WRITE)
#: answers a build keeps per memo (`existing_ancestor`)
MEMO_LIMIT = 65_536


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
_PSEUDO_DIRS = tuple(p + "/" for p in PSEUDO)
#: tmpfs directories under /dev where programs do create and remove files: POSIX shared
#: memory and semaphores (shm_open, sem_open: `/dev/shm/sem.XXXXXX`, made then unlinked)
_CREATED_UNDER_DEV = ("/dev/shm",)


def _replaceable(path: str, kind: str, fs: BuildCache) -> bool:
    """A regular file (or a name not there yet) outside the pseudo filesystems."""
    if (path.startswith(PSEUDO) and (path in PSEUDO or path.startswith(_PSEUDO_DIRS))
            and not (path in _CREATED_UNDER_DEV
                     or path.startswith(tuple(d + "/" for d in _CREATED_UNDER_DEV)))):
        return False
    if kind == DIR:
        return True
    mode = fs.lstat_mode(path)
    return mode == -errno.ENOENT or (mode >= 0 and stat.S_ISREG(mode))


def _dirname(path: str) -> str:
    """os.path.dirname of a str path, without its generic steps (asked for every rule)."""
    head = path[: path.rfind("/") + 1]
    return head.rstrip("/") or head  # (`//` stays `//`, as os.path.dirname keeps it)


def existing_ancestor(path: str, may_make_dir: Callable[[str], bool],
                      fs: BuildCache | None = None,
                      memo: dict[str, tuple[str | None, bool]] | None = None
                      ) -> tuple[str | None, bool]:
    """The directory through which `path` can be reached, and whether that meant climbing: the
    nearest ancestor that the profile does not let the program create (`may_make_dir`), since
    a directory the program makes, or removes and makes again, is a new inode (`out/`, then
    `out/x.tar`; `rm -rf r; git init r`, then `r/.git/...`); (None, False) when that
    ancestor does not exist, so that a path never widens a grant above what the program
    could build itself. `memo`: the answers of this build by parent directory (the answer
    depends on the parent alone; 100,000 rules asked 117,000 times about 22,600 parents)."""
    first = parent = _dirname(path.rstrip("/")) or "/"
    if memo is not None and first in memo:
        return memo[first]
    climbed = False
    # a directory the program may make is a new inode when it does (`rm -rf r; git init r`)
    while parent != "/" and may_make_dir(parent):
        parent = _dirname(parent) or "/"
        climbed = True
    found = (parent, climbed) if (fs or BuildCache()).isdir(parent) else (None, False)
    if memo is not None and len(memo) < MEMO_LIMIT:
        memo[first] = found
    return found


@functools.lru_cache(maxsize=1024)  # a few dozen combinations; IntFlag arithmetic is slow
def creation_rights(perms: Perm, kind: str, file_rights: int) -> int:
    """What a directory needs (AccessFs bits) so that a `kind` target with `perms` can be
    made or replaced in it (nothing when `perms` does not let the program create it)."""
    if not perms & (Perm.WRITE | Perm.APPEND):
        return 0
    if kind == DIR:
        return int(F.MAKE_DIR | F.REMOVE_DIR) if perms & Perm.WRITE else 0
    rights = AccessFs(file_rights) | F.MAKE_REG
    if perms & Perm.WRITE:  # AppArmor's w creates any kind of name: a symlink, a fifo, a socket
        rights |= F.REMOVE_FILE | F.MAKE_SYM | F.MAKE_FIFO | F.MAKE_SOCK
    return int(rights)


def _last_component_glob(exp: Expansion) -> bool:
    """A glob only in its last component (`DIR/*.o`, `DIR/cc*`): files created in DIR later
    match it. Deeper globs (`DIR/*/x`, `DIR/**.o`) are left to their expansion at launch:
    granting their literal directory would open a whole tree."""
    if not exp.glob or exp.truncated or not exp.pattern.startswith(exp.region):
        return False
    rest = exp.pattern[len(exp.region):].lstrip("/").removesuffix("/")
    return bool(rest) and "/" not in rest and "**" not in rest


def parent_grants(exp: Expansion, perms: Perm, rights_for: Callable[[str], AccessFs],
                  may_make_dir: Callable[[str], bool],
                  may_create: Callable[[str], bool] = lambda _p: False,
                  fs: BuildCache | None = None,
                  ancestors: dict[str, tuple[str | None, bool]] | None = None
                  ) -> list[ParentGrant]:
    """The directories through which the targets of an allow rule must be granted
    (`rights_for(kind)`: the rule's Landlock rights on a FILE, DIR or TREE target;
    `may_create(path)`: whether the profile, by any rule, lets the program create `path`, so
    that `x.log r` beside `x.log w` reads the new file too).

    Existing files and names missing at launch that the rule lets the program create go
    through their parent; anything beneath a directory the program itself makes goes, with
    its own rights, through the nearest existing ancestor; a glob in the last component
    goes through its literal directory. `fs`: the build's filesystem answers; `ancestors`:
    the build's `existing_ancestor` answers (the same `may_make_dir` and `fs` throughout).
    """
    fs = fs or BuildCache()
    last_glob = _last_component_glob(exp)
    if not exp.targets and len(exp.missing) == 1 and not last_glob:
        # one name missing at launch (most rules of a large profile): nothing is granted
        # when add() below would stop before granting (no setup for those)
        only = exp.missing[0]
        if not _replaceable(only.path, only.kind, fs) or existing_ancestor(
                only.path, may_make_dir, fs, ancestors)[0] in (None, "/"):
            return []
    # rights as plain ints (IntFlag arithmetic costs a microsecond per operation, and this
    # runs for every target of every rule), asked of `rights_for` once per kind
    by_dir: dict[str, tuple[int, list[str]]] = {}
    of_kind: dict[str, int] = {}
    writes = bool(int(perms) & _WRITE)

    def rights_of(kind: str) -> int:
        got = of_kind.get(kind)
        if got is None:
            got = of_kind[kind] = int(rights_for(kind))
        return got

    def grant(where: str | None, rights: int, name: str) -> None:
        if not rights or where in (None, "/") or not _replaceable(where, DIR, fs):
            return
        assert where is not None
        old, names = by_dir.get(where, (0, []))
        by_dir[where] = (old | rights, [*names, name])

    def add(path: str, kind: str) -> None:
        if not _replaceable(path, kind, fs):
            return
        where, climbed = existing_ancestor(path, may_make_dir, fs, ancestors)
        if where in (None, "/"):  # nothing is granted there (grant): skip the lookups
            return
        file_rights = rights_of(FILE)
        rights = creation_rights(perms, kind, file_rights)
        # another rule lets the program make it (a lookup: not when it could add nothing)
        if kind == FILE and (file_rights | rights) != rights and may_create(path):
            rights |= file_rights
        if kind == TREE:  # `D/new/** w` with new/ missing: the program may make new/, fill it
            rights = _MAKE_DIR | rights_of(TREE) if writes else 0
        if climbed:
            rights |= rights_of(kind)
        grant(where, rights, path)

    for t in exp.targets:
        if t.kind in (FILE, DIR):
            add(t.path, t.kind)
    for t in exp.missing:
        add(t.path, t.kind)
    if last_glob:
        kind = DIR if exp.pattern.endswith("/") else FILE  # `D/*/ w`: mkdir in D
        made = creation_rights(perms, kind, rights_of(FILE))
        if fs.isdir(exp.region):
            grant(exp.region, made, exp.pattern)
        else:
            where, _ = existing_ancestor(exp.region + "/", may_make_dir, fs, ancestors)
            grant(where, made | rights_of(kind), exp.pattern)
    return [ParentGrant(d, AccessFs(r), tuple(dict.fromkeys(n))) for d, (r, n) in by_dir.items()]
