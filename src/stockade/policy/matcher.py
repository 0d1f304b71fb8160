"""One multi-pattern matcher per profile for all its file rules, and permission merging.

Why RE2's `Set` (google-re2): it compiles every rule's pattern into one automaton and
returns the indices of all patterns that match, in one pass over the path, with a lazily
built DFA whose cost depends on the path length, not on the number of rules (measured by
benchmarks/match.py: well under 1 µs for the match itself at 10 to 10,000 rules). Hyperscan
is as fast but x86-only with a callback per match into Python; a DFA of our own in Python
would cost a dict lookup per byte and a subset construction we would have to bound
ourselves. RE2 bounds its DFA memory (`max_mem`) and is available as a wheel.

Exact paths (no glob; alternations of plain text too) are not in the Set: a dict from
their bytes answers them, so the automaton grows with globs only. In a profile with many whole
trees (`DIR/**`, from TREES_FROM of them), those leave the Set too, for a dict of `DIR/`
looked up at each `/` of the path: the Set's compile grows faster than linearly with its
size. For the same reason, from DIRS_FROM globs, a glob whose matches all lie directly in one
literal directory (`/etc/*.conf`) goes to that directory's own small Set, compiled when a
path in that directory is first asked (a 100,000-rule plan asks 5 of 22,000). Splitting the
Set into bounded Sets was measured and not kept (docs/performance.md):
each more Set adds its match to every uncached lookup.

Scaling (benchmarks/match.py, 2 shared cores under load, median µs per uncached lookup on
20,000 distinct paths, half of them hits at every size, 10 → 10,000 rules): 2.4 → 3.6 (1.5x);
before the exact dict and the regex slash folding 3.0 → 4.65. Tried and rejected: the
`hyperscan` wheel (bundled libhs; one block-mode database with SINGLEMATCH, anchored): 0.31
→ 2.36 µs per scan and 9 s to compile 10,000 rules; one RE2 Set per literal first path
component (names grouped into at most 256 sets) plus a shared one: measured in the
same process beside the single Set, the match alone was 0.75 vs 0.43 µs at 10 rules, 2.2 vs
0.97 at 1,000 and 4.1 vs 1.7 at 10,000: many small automata touch more memory per lookup
than one large one, and on a loaded machine that memory is cold.

Merging follows apparmor: allow = union of matching allow rules minus the union of
matching deny rules; `owner` rules count only when the file's owner is the subject's fsuid
(`owner=True`), `other` rules only when it is not; an exact path's exec mode beats a glob's;
audit and quiet masks are kept; higher `priority=` levels decide a permission before lower
ones. Results are cached per profile in a bounded LRU (`cache_size`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import re2

from stockade.policy.aare import (
    MAX_EXPANSIONS,
    Pattern,
    expand_alternations,
    fold_flat,
    fold_slashes,
    parse,
    query_bytes,
)
from stockade.policy.ast import FileRule
from stockade.policy.modes import Perm

_NONE = Perm.NONE


@dataclass(frozen=True, slots=True)
class FilePerms:
    """The result of a file lookup: masks over Perm, the exec transition, the rules."""

    allow: Perm = _NONE
    deny: Perm = _NONE
    audit: Perm = _NONE
    quiet: Perm = _NONE
    exec_mode: str | None = None
    exec_target: str | None = None
    rules: tuple[FileRule, ...] = field(default=())

    def allows(self, want: Perm) -> bool:
        """Whether every permission in `want` is allowed."""
        return not (want & ~self.allow)


class FileEntry(NamedTuple):
    """A file rule ready for matching (variables expanded, pattern parsed). A named tuple:
    immutable as a frozen dataclass, and made in a quarter of its time (a profile makes one
    per file rule: 100,000 frozen dataclasses took 0.19 s to build)."""

    rule: FileRule
    pattern: Pattern
    perms: Perm
    deny: bool
    audit: bool
    quiet: bool
    owner: bool
    other: bool
    priority: int
    exec_mode: str | None
    exec_target: str | None

    @property
    def exact(self) -> bool:
        """A plain path (no glob, no alternation)."""
        return self.pattern.exact

    def applies(self, owner: bool) -> bool:
        """Whether the rule counts for a file owned (or not) by the subject."""
        return not (self.owner and not owner) and not (self.other and owner)


def _options(n: int) -> re2.Options:
    opts = re2.Options()
    opts.encoding = re2.Options.Encoding.LATIN1
    opts.never_capture = True
    opts.log_errors = False
    opts.max_mem = max(64 << 20, min(n * (64 << 10), 1 << 30))
    return opts


MAX_EXACT = 1 << 20  # exact paths kept in the dict; past it, patterns go to the RE2 Set
#: whole-tree patterns (`DIR/**`) from which they leave the RE2 Set for a dict: compiling
#: the Set grows faster than linearly past ~20,000 patterns (75,000 globs: 0.58 s; without
#: their 25,000 trees 0.3 s), while the dict's walk adds ~0.5 µs to every uncached lookup
TREES_FROM = 4096
#: globs whose matches all lie directly in one literal directory (`DIR/*.conf`) leave the
#: Set, from DIRS_FROM globs on (where its compile grows faster than linearly), for one
#: small Set per directory, built when a path there is first asked; below it the extra
#: dict lookup is not worth it (benchmarks/match.py's 10,000 rules keep one Set)
DIRS_FROM = 16_384
_FEW = 16  # a directory with at most this many globs is first asked by their leading names


def literal_paths(pattern: Pattern) -> set[bytes] | None:
    """The paths (as bytes) an exact pattern names, or None for a glob (or past
    MAX_EXPANSIONS alternatives)."""
    if not pattern.exact:
        return None
    seq = pattern.seq
    if len(seq) == 1 and seq[0][0] == "lit":  # one plain path (what the steps below give)
        return {seq[0][1].encode("latin-1")}
    flats = expand_alternations(seq, MAX_EXPANSIONS)
    if flats is None:
        return None
    return {"".join(node[1] for node in fold_flat(f)).encode("latin-1") for f in flats}


_WHOLE_TREE = ("dstar", True)


def tree_prefix(pattern: Pattern) -> bytes | None:
    """DIR/ (as bytes) of a pattern that is exactly `DIR/**` (a literal directory, then a
    whole-component `**`), else None."""
    seq = pattern.seq
    if len(seq) != 2 or seq[1] != _WHOLE_TREE or seq[0][0] != "lit" or \
            not seq[0][1].endswith("/"):
        return None
    return seq[0][1].encode("latin-1")


def _slashless(node: tuple) -> bool:
    """Whether no string the node matches holds a `/`."""
    kind = node[0]
    if kind in ("star", "any"):
        return True
    if kind == "lit":
        return "/" not in node[1]
    if kind == "class":  # negated: `/` must be among the excluded ranges
        inside = any(lo <= "/" <= hi for lo, hi in node[2])
        return inside if node[1] else not inside
    if kind == "loop":
        return _slashless(node[2])
    if kind == "alt":
        return all(_slashless(n) for branch in node[1] for n in branch)
    return False  # dstar (and anything unknown)


def dir_split(pattern: Pattern) -> tuple[bytes, bytes] | None:
    """(DIR/, LEAD) as bytes for a pattern every match of which is a name directly in the
    literal directory DIR, starting with the literal text LEAD (`/etc/*.conf`: (/etc/, ``),
    `/usr/lib/lib.[0-9]`: (/usr/lib/, lib.)): it starts with literal text that holds a `/`,
    and nothing after that text's last `/` can match a `/`. So a path the pattern matches
    is DIR/ up to its own last `/`. None for anything else."""
    seq = pattern.seq
    if not seq or seq[0][0] != "lit":
        return None
    lead = seq[0][1]
    cut = lead.rfind("/")
    if cut < 0 or not all(_slashless(n) for n in seq[1:]):
        return None
    return lead[: cut + 1].encode("latin-1"), lead[cut + 1:].encode("latin-1")


@lru_cache(maxsize=256)
def _compiled(text: str) -> re2._Regexp:
    """One pattern's automaton, built once: a plan asks it of every path it grants."""
    return re2.compile(parse(text).regex.encode("latin-1"), _options(1))


def pattern_matches(text: str, path: str, *, is_dir: bool = False) -> bool:
    """Whether the (variable-expanded) pattern `text` matches `path`, as a rule would."""
    return _compiled(text).fullmatch(query_bytes(path, is_dir)) is not None


def _masks(live: list[FileEntry]) -> tuple[int, int, int, int]:
    """(allow, deny, audit, quiet) of the rules that match one path and count for its owner,
    as plain ints (IntFlag arithmetic costs a microsecond per operation): allow and deny by
    priority level, highest first, each permission decided at the first level that names it;
    allow without what is denied."""
    allow = deny = audit = quiet = decided = 0
    levels = {e.priority for e in live}
    for level in sorted(levels, reverse=True) if len(levels) > 1 else levels:
        a = d = 0
        for e in live:
            if e.priority != level:
                continue
            bits = int(e.perms)
            if e.deny:
                d |= bits
                if e.audit:
                    audit |= bits & ~decided
                else:
                    quiet |= bits & ~decided
            else:
                a |= bits
                if e.audit:
                    audit |= bits & ~decided
                if e.quiet:
                    quiet |= bits & ~decided
        allow |= a & ~decided
        deny |= d & ~decided
        decided |= a | d
    return allow & ~deny, deny, audit, quiet


def merge(entries: list[FileEntry], owner: bool) -> FilePerms:
    """Combine the rules that match one path into a FilePerms."""
    live = [e for e in entries if e.applies(owner)]
    if not live:
        return _EMPTY
    allow, deny, audit, quiet = _masks(live)
    exec_mode = exec_target = None
    if allow & _EXEC:
        xs = [e for e in live if not e.deny and e.exec_mode]
        top = max(e.priority for e in xs)
        xs = [e for e in xs if e.priority == top]
        exact = [e for e in xs if e.exact]
        chosen = (exact or xs)[0]
        exec_mode, exec_target = chosen.exec_mode, chosen.exec_target
    return FilePerms(_PERM[allow], _PERM[deny], _PERM[audit], _PERM[quiet & ~audit],
                     exec_mode, exec_target, tuple(e.rule for e in live))


_EXEC = int(Perm.EXEC)
_PERM = [Perm(i) for i in range(128)]
_EMPTY = FilePerms()


class FileMatcher:
    """All file rules of a profile in one RE2 Set, with a bounded path -> result cache."""

    def __init__(self, entries: list[FileEntry], cache_size: int = 8192,
                 aliases: Sequence[tuple[str, str]] = (), trees_from: int = TREES_FROM,
                 dirs_from: int = DIRS_FROM) -> None:
        self.entries = entries
        self.aliases = tuple(aliases)
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, bool, bool], FilePerms] = OrderedDict()
        # exact paths (no glob; alternations of plain text too) by their bytes: a dict
        # lookup instead of states in the automaton, whose size then grows with globs only
        self._exact: dict[bytes, list[int]] = {}
        # whole trees (`DIR/**`) by DIR/'s bytes: looked up once per `/` of the path
        self._trees: dict[bytes, list[int]] = {}
        globs: list[int] = []
        for i, e in enumerate(entries):
            literals = literal_paths(e.pattern) if len(self._exact) < MAX_EXACT else None
            if literals is None:
                tree = tree_prefix(e.pattern) if len(self._trees) < MAX_EXACT else None
                if tree is None:
                    globs.append(i)
                else:
                    self._trees.setdefault(tree, []).append(i)
            for lit in literals or ():
                self._exact.setdefault(lit, []).append(i)
        if sum(len(v) for v in self._trees.values()) < trees_from:
            # few trees: in the Set (a lookup there costs nothing more; the dict walk
            # costs about 0.5 µs per lookup, worth it only where the Set's compile grows)
            globs = sorted(globs + [i for v in self._trees.values() for i in v])
            self._trees = {}
        # globs in one literal directory by DIR/'s bytes: a path is looked up only among
        # those of the directory it is in (up to its last `/`), in a Set built for that
        # directory when a path there is first asked; a plan's paths touch few of them
        self._dirs: dict[bytes, list[int]] = {}
        self._leads: dict[bytes, list[bytes]] = {}  # the members' leading literal names
        self._dir_sets: dict[bytes, Callable[[bytes], list[int]]] = {}  # one per DIR/
        if len(globs) >= dirs_from:
            kept = []
            for i in globs:
                split = dir_split(entries[i].pattern)
                if split is None:
                    kept.append(i)
                else:
                    self._dirs.setdefault(split[0], []).append(i)
                    self._leads.setdefault(split[0], []).append(split[1])
            globs = kept
        self._globs = globs  # set index -> entry index
        self._set: re2.Set | None = None
        if globs:
            regset = re2.Set(re2._Anchor.ANCHOR_BOTH, _options(len(globs)))
            for i in globs:
                regset.Add(entries[i].pattern.regex.encode("latin-1"))
            regset.Compile()
            self._set = regset
        self._match = self._set._set.Match if self._set is not None else None
        # mask -> the directories (DIR/ as bytes) beneath which the allow rules granting a
        # bit of the mask match, or None when one of them may match anywhere (allowed_within)
        self._granting: dict[int, frozenset[bytes] | None] = {}

    def matching(self, path: str, *, is_dir: bool = False) -> list[FileEntry]:
        """Every entry whose pattern matches the path (owner not considered)."""
        query = query_bytes(path, is_dir)
        found = self._match(query) if self._match is not None else None
        exact = self._exact.get(query)
        trees = self._tree_hits(query) if self._trees else None
        dirs = self._dir_hits(query) if self._dirs else None
        if not found and not exact and not trees and not dirs:
            return []
        # an entry is a glob (in the Set), exact (in the dict, once per path), a tree (in
        # its dict, once per path: one prefix per `/`) or in one directory's Set (asked once
        # per path), so the lists are disjoint
        globs = self._globs
        hits = [globs[i] for i in found] if found else []
        if exact:
            hits += exact
        if trees:
            hits += trees
        if dirs:
            hits += dirs
        entries = self.entries
        return [entries[i] for i in sorted(hits)]

    def _tree_hits(self, query: bytes) -> list[int]:
        """Entries `DIR/**` matching `query`: it starts with DIR/ and goes on with a byte
        other than `/` (the regex `DIR/[^/](?s:.)*`)."""
        hits: list[int] = []
        trees = self._trees
        end = len(query) - 1
        i = query.find(b"/")
        while 0 <= i < end:
            got = trees.get(query[: i + 1])
            if got is not None and query[i + 1] != 0x2F:
                hits += got
            i = query.find(b"/", i + 1)
        return hits

    def _dir_hits(self, query: bytes) -> list[int] | None:
        """Entries of the directory `query` is in (up to its last `/`) that match it."""
        where = query[: query.rfind(b"/") + 1]
        members = self._dirs.get(where)
        if members is None:
            return None
        match = self._dir_sets.get(where)
        if match is None:
            if len(members) <= _FEW:  # no Set built for a name none of them can start
                name = query[len(where):]
                if not any(name.startswith(lead) for lead in self._leads[where]):
                    return None
            regset = re2.Set(re2._Anchor.ANCHOR_BOTH, _options(len(members)))
            for i in members:
                regset.Add(self.entries[i].pattern.regex.encode("latin-1"))
            regset.Compile()
            match = self._dir_sets[where] = regset._set.Match
        found = match(query)
        return [members[j] for j in found] if found else None

    def lookup(self, path: str, *, is_dir: bool = False, owner: bool = True) -> FilePerms:
        """The merged permissions for a path (cached, LRU-bounded)."""
        key = (path, is_dir, owner)
        cache = self._cache
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
            return hit
        found = self.matching(path, is_dir=is_dir)
        if self.aliases:
            found = self._aliased(path, is_dir, found)
        result = merge(found, owner)
        cache[key] = result
        if len(cache) > self.cache_size:
            cache.popitem(last=False)
        return result

    def _aliased(self, path: str, is_dir: bool, found: list[FileEntry]) -> list[FileEntry]:
        """`found` (the entries matching the path) with those of its aliases (source order)."""
        for src, dst in self.aliases:
            # `alias SRC -> DST,`: rules written for SRC/... also apply to DST/...
            if path.startswith(dst):
                extra = self.matching(src + path[len(dst):], is_dir=is_dir)
                found = sorted({id(e): e for e in found + extra}.values(),
                               key=self.entries.index)
        return found

    def allowed(self, path: str, *, is_dir: bool = False, owner: bool = True) -> Perm:
        """`lookup(...).allow` without the rest of the result and not cached: for callers
        that ask many paths once each and need only the allowed permissions (a plan asks
        whether each of 20,000 directories may be made; building and caching the whole
        result was most of the time of such a question)."""
        return _PERM[self.allowed_bits(path, is_dir=is_dir, owner=owner)]

    def allowed_bits(self, path: str, *, is_dir: bool = False, owner: bool = True) -> int:
        """`allowed` as a plain int (IntFlag arithmetic costs a microsecond per operation)."""
        found = self.matching(path, is_dir=is_dir)
        if self.aliases:
            found = self._aliased(path, is_dir, found)
        live = [e for e in found if e.applies(owner)]
        return _masks(live)[0] if live else 0

    def allowed_within(self, path: str, mask: int, *, is_dir: bool = False,
                       owner: bool = True) -> int:
        """`allowed_bits(...) & mask`, answered 0 without a lookup when the path lies beneath
        none of the directories named literally at the start of the allow rules that grant a
        bit of `mask` (a plan asks whether each of 22,000 directories may be made, and most
        lie where no rule grants a write)."""
        if not self.aliases:  # (an alias's rules match paths beneath another directory)
            dirs = self._granting.get(mask, False)
            if dirs is False:
                dirs = self._granting_dirs(mask)
                if len(self._granting) < 64:
                    self._granting[mask] = dirs
            if dirs is not None:
                query = query_bytes(path, is_dir)
                cut = query.find(b"/")
                while cut >= 0:
                    if query[: cut + 1] in dirs:
                        break
                    cut = query.find(b"/", cut + 1)
                else:
                    return 0
        return self.allowed_bits(path, is_dir=is_dir, owner=owner) & mask

    def _granting_dirs(self, mask: int) -> frozenset[bytes] | None:
        """The literal directories (DIR/, slashes folded, as matched) at the start of every
        allow rule granting a bit of `mask`: a path such a rule matches starts with one of
        them. None when a rule starts with no literal directory."""
        dirs: set[bytes] = set()
        for e in self.entries:
            if e.deny or not int(e.perms) & mask:
                continue
            seq = e.pattern.seq
            if not seq or seq[0][0] != "lit":
                return None
            lead = fold_slashes(seq[0][1])
            cut = lead.rfind("/")
            if cut < 0:
                return None
            dirs.add(lead[: cut + 1].encode("latin-1"))
        return frozenset(dirs)

    def clear_cache(self) -> None:
        """Forget cached lookups (benchmarks measure uncached lookups with this)."""
        self._cache.clear()
