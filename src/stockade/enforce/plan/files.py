"""File rules -> Landlock path-beneath rules, with `deny` compiled by splitting directories.

Mapping (AppArmor mode -> Landlock rights; a tree is `PREFIX/**`, a file a non-directory):

* r: tree read_file, read_dir (+ ioctl_dev); file read_file. Exact.
* w: tree write_file, truncate, make_{reg,dir,sym,fifo,sock}, remove_{file,dir}; file
  write_file, truncate. Exact on trees; narrower on files (creating and deleting are rights
  of the parent directory).
* a: write_file (+ make_reg on trees). Approximated: Landlock cannot force O_APPEND.
* ix, Px, Cx, Ux, ...: execute and read_file (execve opens the program for reading, which
  Landlock checks). ix exact; transitions approximated (no change on exec).
* m: execute, approximated: the kernel opens an ELF interpreter for execute, which Landlock
  checks; mmap(PROT_EXEC) itself is not mediated.
* l: refer on trees, approximated. k: nothing (locks are not mediated).

A `deny` inside a granted tree G is compiled by granting G only the rights the deny leaves,
then each entry of G that is not on the way to the denied path with all of G's rights,
recursing into the one that is. Entries created later in such a split directory get only
the reduced rights (fail closed), and the report says which directories were split.

A deny whose targets are not all known (more than 256 alternatives, a glob walk stopped by its
budget, a pattern that cannot be expanded) fails closed: its rights are taken from everything
beneath the pattern's literal directory, and its coverage line names the rights and grants lost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from stockade.enforce.landlock import FILE_RIGHTS, AccessFs, flag_names
from stockade.enforce.plan.common import APPROX, EXACT, NOT_ENFORCED, Context, Verdict
from stockade.enforce.plan.glob import DIR, FILE, TREE, BuildCache, Expansion, Target, expand
from stockade.enforce.plan.proc import (
    NET_NOTE,
    deny_rule,
    may_reach_proc,
    own_proc_note,
    proc_net_dir,
    proc_owned,
)
from stockade.enforce.plan.replace import ParentGrant, parent_grants
from stockade.enforce.plan.types import CoverageStatus, FsRule, OwnProcRule
from stockade.policy import FileRule, LinkRule, Perm
from stockade.policy.aare import AareError, Pattern

F = AccessFs
NO_FS = AccessFs(0)
READ_TREE = F.READ_FILE | F.READ_DIR
MAKE = F.MAKE_REG | F.MAKE_DIR | F.MAKE_SYM | F.MAKE_FIFO | F.MAKE_SOCK
WRITE_TREE = F.WRITE_FILE | F.TRUNCATE | MAKE | F.REMOVE_FILE | F.REMOVE_DIR
WRITE_FILE = F.WRITE_FILE | F.TRUNCATE
DEVICES = F.MAKE_CHAR | F.MAKE_BLOCK

_TRANSITION = {"p": "profile", "c": "child profile"}
_CREATES = int(Perm.WRITE | Perm.APPEND)  # either lets the program create a file
_NO_NAMES: frozenset[str] = frozenset()


@dataclass
class Grant:
    """Rights on an existing path (a tree covers everything beneath it)."""

    path: str
    rights: AccessFs
    kind: str
    source: str


def _beneath(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def allow_rights(perms: Perm, kind: str, ctx: Context, v: Verdict,
                 exec_mode: str | None, exec_target: str | None,
                 readable: bool = False, replaced: bool = False) -> AccessFs:
    """Landlock rights for an allow rule's perms on one kind of target; findings go to `v`
    (`replaced`: the target is also granted through its directory, plan_replace)."""
    rights = NO_FS
    if perms & Perm.READ:
        rights |= {TREE: READ_TREE, FILE: F.READ_FILE, DIR: F.READ_DIR}[kind] | F.IOCTL_DEV
    if perms & Perm.WRITE:
        if kind == TREE:
            rights |= WRITE_TREE | F.IOCTL_DEV
            if ctx.has_cap("mknod"):
                rights |= DEVICES
        elif kind == FILE:
            rights |= WRITE_FILE | F.IOCTL_DEV
            if not replaced:
                v.part(APPROX, "w on a single file: narrower, creating, deleting or renaming it is "
                       "refused (Landlock grants those per directory)")
        elif not replaced:
            v.part(APPROX, "w on a directory: narrower, mkdir/rmdir of it is a right of its "
                   "parent (not granted)")
    elif perms & Perm.APPEND:
        rights |= F.WRITE_FILE | (F.MAKE_REG if kind == TREE else NO_FS)
        v.part(APPROX, "a: wider, Landlock cannot force O_APPEND (writes at any offset)")
    if perms & Perm.EXEC and kind != DIR:
        # execve opens the program O_RDONLY|__FMODE_EXEC: Landlock checks read_file too
        rights |= F.EXECUTE | F.READ_FILE
        if not perms & Perm.READ and not readable:  # (another rule may grant r anyway)
            v.part(APPROX, "x without r: wider, the program can also be read (Landlock checks "
                   "read_file when execve opens it)")
        _exec_mode(exec_mode, exec_target, v)
    if perms & Perm.LINK:
        if kind == TREE:
            rights |= F.REFER
            v.part(APPROX, "l: refer granted on the tree (links and renames within granted "
                   "trees); AppArmor's link-target subset check is not made")
        else:
            v.part(APPROX, "l on a single path: narrower, Landlock grants linking per directory")
    if perms & Perm.LOCK:
        v.part(NOT_ENFORCED if perms == Perm.LOCK else APPROX,
               "k: file locks are not mediated by Landlock (any opened file can be locked)")
    if perms & Perm.MMAP and kind != DIR:
        # The kernel opens an ELF interpreter (ld.so) for execute, and Landlock checks that
        # open against EXECUTE, while AppArmor profiles grant the loader only `mr`.
        rights |= F.EXECUTE
        v.part(APPROX, "m: mapped to execute (so the dynamic loader can be opened as an ELF "
               "interpreter): wider, the file may also be run with execve; mmap(PROT_EXEC) "
               "itself is not mediated by Landlock (any readable file can be mapped executable)")
    return rights


def _exec_mode(mode: str | None, target: str | None, v: Verdict) -> None:
    if mode in (None, "ix"):
        v.part(EXACT, "ix: the program inherits this sandbox")
        return
    low = mode.lower()
    if low[0] in "pc":
        what = _TRANSITION[low[0]] + (f" {target}" if target else "")
        fallback = " (or ix)" if "i" in low else " (or unconfined)" if "u" in low else ""
        v.part(APPROX, f"{mode}: runs under this profile's sandbox, not the {what}{fallback}: "
               "Landlock domains are inherited, there is no transition on exec (`run` refuses "
               "to start unless --inherit-transitions)", "AppArmor")
    else:
        v.part(APPROX, f"{mode}: narrower, the program stays confined by this sandbox")
    if any(c.isupper() for c in mode):
        v.part(APPROX, f"{mode}: the environment is not scrubbed (no AT_SECURE)")


def deny_rights(perms: Perm) -> AccessFs:
    """Landlock rights a deny rule removes."""
    rights = NO_FS
    if perms & Perm.READ:
        rights |= READ_TREE
    if perms & Perm.WRITE:
        rights |= WRITE_TREE | DEVICES
    elif perms & Perm.APPEND:
        rights |= F.WRITE_FILE
    if perms & Perm.EXEC:
        rights |= F.EXECUTE
    if perms & Perm.LINK:
        rights |= F.REFER
    return rights


def _expand(rule: FileRule | LinkRule, v: Verdict, deny: bool, fs: BuildCache,
            parsed: Pattern | None) -> Expansion:
    try:
        return expand(rule.path, fs=fs, parsed=parsed)
    except (AareError, ValueError) as err:
        if deny:  # fail closed: the rights go from everything (finish says so)
            return Expansion(truncated=True, cut=f"pattern not expanded: {err}", region="/")
        v.part(NOT_ENFORCED, f"pattern not expanded: {err}")
        return Expansion()


def _target_notes(exp: Expansion, v: Verdict, *, deny: bool, via: frozenset[str] = frozenset(),
                  own: str | None = None) -> None:
    missing = [t.path for t in exp.missing if t.path not in via]
    if missing and not deny:
        names = _some(missing)
        v.part(APPROX, f"not present at launch: {names} (not granted; created later: refused)")
    if own:
        v.part(APPROX, own)
    elif exp.glob and exp.pattern.startswith("/proc/"):
        v.part(APPROX, "/proc entries of processes started later (the program itself "
               "included) are not covered: Landlock rules name existing inodes")
    if exp.glob and exp.pattern not in via:
        what = "denied" if deny else "granted"
        v.part(APPROX, f"glob expanded at launch to {len(exp.targets)} path(s) {what}; paths "
               f"created later are not covered by this rule")
    for note in exp.notes:
        if note == exp.cut:
            if not deny:  # a deny's cut is reported by FileCompiler.finish (what is lost)
                v.part(APPROX, f"{note}: the rest is not granted")
            continue
        v.part(APPROX if exp.truncated else EXACT, note)


class _Recorder(Verdict):
    """A verdict that keeps its findings in order, to replay them into another."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[tuple] = []

    def part(self, status: CoverageStatus, detail: str = "", by: str = "") -> None:
        self.parts.append((status, detail, by))


class _Ignored(Verdict):
    """A verdict whose findings nobody reads (rights asked for a parent grant)."""

    def part(self, status: CoverageStatus, detail: str = "", by: str = "") -> None:
        pass


_IGNORED = _Ignored()


class FileCompiler:
    """Collects grants and denials of one profile, then writes the plan's fs rules."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.grants: list[Grant] = []
        self.denials: list[tuple[FileRule | LinkRule, Verdict, Expansion, AccessFs]] = []
        self.verdicts: list[tuple[FileRule | LinkRule, Verdict]] = []
        self.fs = BuildCache()  # this build's directory listings
        self._parsed = {id(e.rule): e.pattern for e in ctx.profile.file_entries}
        # allow_rights depends only on its arguments (and the build's ctx): 100,000 rules
        # repeat a few dozen combinations; the findings are replayed into each verdict
        self._rights_memo: dict[tuple, tuple[AccessFs, list[tuple]]] = {}
        self._makes_dir: dict[str, bool] = {}
        self._ancestors: dict[str, tuple[str | None, bool]] = {}  # replace.existing_ancestor

    def _rights(self, perms: Perm, kind: str, v: Verdict, exec_mode: str | None,
                exec_target: str | None, readable: bool = False,
                replaced: bool = False) -> AccessFs:
        """allow_rights, memoized for this build."""
        key = (perms, kind, exec_mode, exec_target, readable, replaced)
        hit = self._rights_memo.get(key)
        if hit is None:
            rec = _Recorder()
            hit = (allow_rights(perms, kind, self.ctx, rec, exec_mode, exec_target, readable,
                                replaced), rec.parts)
            if len(self._rights_memo) < 4096:
                self._rights_memo[key] = hit
        if v is not _IGNORED:
            for part in hit[1]:
                v.part(*part)
        return hit[0]

    def grant(self, path: str, rights: AccessFs, kind: str, source: str) -> None:
        """Add a grant that does not come from a file rule (e.g. `all,`)."""
        self.grants.append(Grant(path, rights, kind, source))

    def add(self, rule: FileRule | LinkRule) -> None:
        """One file or link rule."""
        v = Verdict(enforced_by="Landlock")
        self.verdicts.append((rule, v))
        q = rule.qualifiers
        perms = rule.perms if isinstance(rule, FileRule) else Perm.LINK
        exp = _expand(rule, v, q.deny, self.fs, self._parsed.get(id(rule)))
        if (q.owner or q.other) and not q.deny:
            exp.targets, left = proc_owned(exp.targets, mine=q.owner)
            if left:
                v.part(APPROX, f"{'owner' if q.owner else 'other'}: in /proc, {left} entries "
                       "of processes owned by " + ("other users" if q.owner else "this user")
                       + " at launch are left out")
        parents: list[ParentGrant] = []
        # only the profile's own rules: abstractions name other programs' optional sockets
        # and logs, whose directories (/run, /var/log) must not open up for every includer
        if not q.deny and isinstance(rule, FileRule) and rule.pos.file == self.ctx.profile.pos.file:
            def rights_for(kind: str) -> AccessFs:
                return self._rights(perms, kind, _IGNORED, rule.exec_mode, rule.exec_target,
                                    True)

            parents = parent_grants(exp, perms, rights_for, self._may_make_dir,
                                    self._may_create, self.fs, self._ancestors)
        via = frozenset(n for pg in parents for n in pg.names) if parents else _NO_NAMES
        own_proc = own_proc_note(rule.path) if not q.deny and isinstance(rule, FileRule) \
            else None
        _target_notes(exp, v, deny=q.deny, via=via, own=own_proc)
        if q.audit:
            v.part(EXACT, "audit: allowed accesses are not logged (Landlock logs denials)"
                   if not q.deny else "audit: denials are logged by the kernel when audit is on")
        if q.priority:
            v.part(APPROX, f"priority={q.priority} ignored: deny always beats allow")
        src = f"{rule.pos.file}:{rule.pos.line}"
        if q.deny:
            rights = deny_rights(perms)
            if q.owner or q.other:
                v.part(APPROX, f"{'owner' if q.owner else 'other'} deny applied to every file "
                       "(narrower: Landlock cannot check ownership)", "supervisor")
            if not rights:
                v.part(NOT_ENFORCED, "deny of k/m only: not mediated by Landlock")
            elif may_reach_proc(rule.path):  # also from the program's own /proc/PID
                self.ctx.plan.own_proc.append(deny_rule(rule.path, rights, src))
            self.denials.append((rule, v, exp, rights))
            return
        if q.owner or q.other:
            v.part(APPROX, f"{'owner' if q.owner else 'other'}: wider, Landlock cannot check "
                   "file ownership, granted for every owner (in /proc: as owned at launch)",
                   "supervisor")
        if isinstance(rule, LinkRule):
            v.part(APPROX, "link rule: narrower, Landlock grants linking per directory "
                   "(make_reg on the destination, refer across directories)")
            return
        if own_proc:
            kinds = tuple((k, allow_rights(perms, k, self.ctx, Verdict(), rule.exec_mode,
                                           rule.exec_target, True)) for k in (FILE, DIR, TREE))
            self.ctx.plan.own_proc.append(OwnProcRule(rule.path, kinds, src))
        listed: list[str] = []
        dirs: list[str] = []
        trees = {t.path for t in exp.targets if t.kind == TREE}
        for target in exp.targets:
            if target.kind == DIR and target.path in trees:
                continue  # `/x/{,**}`: the tree rule covers the directory itself
            rights = self._rights(perms, target.kind, v, rule.exec_mode, rule.exec_target,
                                  self._readable(target, perms), target.path in via)
            if target.kind == TREE and rights & F.READ_DIR:
                own = self.ctx.profile.file_perms(target.path, is_dir=True)
                if not own.allows(Perm.READ):
                    listed.append(target.path)
            if target.kind == DIR and rights & F.READ_DIR:
                probe = os.path.join(target.path, "\x01probe")  # does r cover subdirectories?
                if not self.ctx.profile.file_perms(probe, is_dir=True).allows(Perm.READ):
                    dirs.append(target.path)
            net = proc_net_dir(target.path) if target.kind == FILE else None
            if net is not None and rights:
                self.grants.append(Grant(net, rights & FILE_RIGHTS, TREE, src))
                v.part(APPROX, NET_NOTE)
            elif rights:
                self.grants.append(Grant(target.path, rights, target.kind, src))
        for pg in parents:
            self.grants.append(Grant(pg.directory, pg.rights, TREE, src))
            v.part(APPROX, pg.note())
        if listed:
            v.part(APPROX, f"wider: {_some(listed)} itself can be listed too (a Landlock rule "
                   "covers the directory it is on)")
        if dirs:
            v.part(APPROX, f"wider: read_dir on {_some(dirs)} also lists subdirectories "
                   "(Landlock rules cover everything beneath)")

    def _may_make_dir(self, path: str) -> bool:
        """Whether the profile names the directory `path` as one the program may make (a
        `DIR/ w` rule). Not when any directory beneath it may be made too: that is a tree
        rule (`/srv/**`), which binds at its own root and covers new inodes beneath it."""
        def makes(d: str) -> bool:
            return self.ctx.profile.allows(d, Perm.WRITE, is_dir=True)

        known = self._makes_dir.get(path)
        if known is None:
            known = makes(path.rstrip("/") + "/") and not makes(path.rstrip("/") + "/\x01probe/")
            if len(self._makes_dir) < 65_536:
                self._makes_dir[path] = known
        return known

    def _may_create(self, path: str) -> bool:
        """Whether the profile lets the program create the file `path` (w or a)."""
        return bool(self.ctx.profile.matcher.allowed_within(path, _CREATES))

    def _readable(self, target: Target, perms: Perm) -> bool:
        """Whether the profile lets `target` (a file, or everything in a tree) be read."""
        if not perms & Perm.EXEC or perms & Perm.READ:
            return False
        path = os.path.join(target.path, "\x01probe") if target.kind == TREE else target.path
        return self.ctx.profile.file_perms(path).allows(Perm.READ)

    # -- deny ---------------------------------------------------------------------------
    def _apply_deny(self, target: Target, deny: AccessFs, split: set[str]) -> int:
        """Take `deny` away from `target`; returns how many grants it touched."""
        self.grants, touched = deny_beneath(self.grants, target, deny, split, self.fs)
        return touched

    def _deny_region(self, exp: Expansion, rights: AccessFs, v: Verdict) -> None:
        """A deny whose targets are not all known: take its rights from everything beneath
        the pattern's literal directory (splitting the granted trees above it), and say
        exactly what that costs."""
        region = Target(exp.region, TREE)
        before = {g.path: g.rights for g in self.grants}
        split: set[str] = set()
        touched = self._apply_deny(region, rights, split)
        lost = sorted(p for p, r in before.items()
                      if _beneath(p, exp.region) and r & rights)
        what = "|".join(flag_names(rights))
        if not touched:
            v.part(EXACT, f"{exp.cut}; nothing is granted beneath {exp.region}, so nothing "
                   "is lost (Landlock denies by default)")
            return
        where = f"; split above it: {_some(sorted(split))}" if split else ""
        grants = f" (grants {_some(lost)})" if lost else ""
        v.part(APPROX, f"{exp.cut}: fail closed, {what} removed from everything beneath "
               f"{exp.region}{grants}{where}: narrower, more is denied than the rule names")

    def finish(self) -> list[FsRule]:
        """Apply the denials, record every verdict, return the merged fs rules."""
        for _rule, v, exp, rights in self.denials:
            if not rights:
                continue
            split: set[str] = set()
            if exp.truncated:
                self._deny_region(exp, rights, v)
                continue
            touched = sum(self._apply_deny(t, rights, split) for t in exp.targets + exp.missing)
            if split:
                shown = _some(sorted(split))
                v.part(APPROX, f"split {len(split)} granted directory(ies) ({shown}): other "
                       "entries are granted one by one, entries created there later are refused "
                       "(fail closed)")
            elif not touched:
                v.part(EXACT, "nothing is granted there (Landlock denies by default)")
        for rule, v in self.verdicts:
            self.ctx.record(rule, v)
        merged: dict[str, AccessFs] = {}
        sources: dict[str, str] = {}
        for g in self.grants:
            merged[g.path] = merged.get(g.path, NO_FS) | g.rights
            sources.setdefault(g.path, g.source)
        return [FsRule(path, rights, sources[path], optional=True)
                for path, rights in merged.items()]


def deny_beneath(grants: list[Grant], target: Target, deny: AccessFs,
                 split: set[str], fs: BuildCache | None = None) -> tuple[list[Grant], int]:
    """`grants` with `deny` taken away from `target` (a granted tree that holds it is split:
    its own rights lose `deny`, its other entries keep every right, one by one); the new
    grants and how many were touched. The directories split are added to `split`; they are
    listed through `fs`, the build's cache (the listing its globs saw)."""
    fs = fs or BuildCache()
    touched = 0
    out: list[Grant] = []
    for g in grants:
        inside = g.path == target.path or (target.kind in (TREE,) and _beneath(g.path,
                                                                           target.path))
        if not g.rights & deny:
            out.append(g)
        elif inside and not (g.kind == TREE and target.kind == DIR):
            touched += 1
            if g.rights & ~deny:
                out.append(Grant(g.path, g.rights & ~deny, g.kind, g.source))
        elif g.kind == TREE and _beneath(target.path, g.path):
            touched += 1
            if g.rights & ~deny:
                out.append(Grant(g.path, g.rights & ~deny, TREE, g.source))
            _descend(g, g.path, target, out, split, fs)
        else:
            out.append(g)
    return out, touched


def _descend(g: Grant, directory: str, target: Target, out: list[Grant],
             split: set[str], fs: BuildCache) -> None:
    split.add(directory)
    if directory == target.path:  # only the directory itself is denied (`/x/`)
        for entry in _entries(directory, fs):
            out.append(Grant(entry[0], g.rights, entry[1], g.source))
        return
    first = os.path.relpath(target.path, directory).split("/")[0]
    for path, kind in _entries(directory, fs):
        if os.path.basename(path) != first:
            out.append(Grant(path, g.rights, kind, g.source))
        elif kind == TREE and (path != target.path or target.kind == DIR):
            _descend(g, path, target, out, split, fs)


def _some(paths: list[str], n: int = 3) -> str:
    """The first `n` paths, and how many more."""
    more = f" and {len(paths) - n} more" if len(paths) > n else ""
    return ", ".join(paths[:n]) + more


def _entries(directory: str, fs: BuildCache) -> list[tuple[str, str]]:
    """(path, TREE or FILE) of a directory's entries; symbolic links are left out (AppArmor
    mediates their targets)."""
    out: list[tuple[str, str]] = []
    for entry in fs.listing(directory).entries:
        try:
            if entry.is_symlink():
                continue
            out.append((entry.path, TREE if entry.is_dir(follow_symlinks=False) else FILE))
        except OSError:
            continue
    return out
