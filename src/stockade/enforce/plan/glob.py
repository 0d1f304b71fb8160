"""AppArmor path patterns -> the filesystem objects they name now (for Landlock rules).

Landlock grants rights on existing inodes (a rule on a directory covers everything beneath
it), so a pattern is expanded at launch against the filesystem as it is then:

* a plain path names itself (`/etc/passwd`; `/var/log/` names the directory only);
* `PREFIX/**` names the whole tree beneath the literal directory PREFIX (one rule);
* anything else (`*`, `?`, `[...]`, `{a,b}` with globs, `**` before the end) is walked from
  its deepest literal directory, component by component, bounded by `max_visits` entries;
  each match becomes its own target, so files created later are not covered (fail closed).

AppArmor matches the resolved path of an object, so symbolic links are never followed during
a walk, and a literal prefix that resolves elsewhere (`/lib` on a merged-/usr system) matches
nothing.
"""

from __future__ import annotations

import bisect
import errno
import os
import stat
from collections.abc import Sequence

from stockade import fsview
from stockade.lazy_re import escape
from stockade.policy import aare
from stockade.slotted import Frozen, Slotted, slot_setters

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import re

TREE = "tree"  # everything beneath the path (and, in Landlock, the directory itself)
FILE = "file"  # a non-directory
DIR = "dir"  # the directory itself (AppArmor's trailing `/`)

MAX_ALTERNATIVES = 256
MAX_VISITS = 20_000
MAX_TARGETS = 4_096
MAX_LISTED = 262_144  # directory entries a BuildCache keeps (about 40 MB of DirEntry objects)
MAX_ANSWERS = 262_144  # stat/lstat/realpath answers a BuildCache keeps (about 30 MB)


def _plain_path(text: str) -> bool:
    """Whether `text` is a path BuildCache.gone_above answers for: absolute, ASCII printable,
    no name starting with `.`, no `//`, no trailing `/` (on strings, as fast as the regex it
    replaced: a plan cache hit's own /proc expansion asks it, and imports no `re`)."""
    return (text[:1] == "/" and text[-1:] != "/" and text.isascii() and text.isprintable()
            and "//" not in text and "/." not in text)


class Target(Frozen):
    """One filesystem object a pattern names: `path` (real, absolute) and `kind`."""

    FIELDS = ("path", "kind")
    __slots__ = FIELDS
    path: str
    kind: str

    def __init__(self, path: str, kind: str) -> None:
        _PATH(self, path)  # (slot_setters: one per path a profile's rules name)
        _KIND(self, kind)


_PATH, _KIND = slot_setters(Target)


class Expansion(Slotted):
    """What a pattern names now; `missing` lists plain paths that do not exist; `notes` says
    what was left out (bounds, symlinks) and `glob` whether a walk was needed. `cut` says
    why the expansion is incomplete ("" when it is complete; also in `notes`), `region` is
    the directory beneath which everything the pattern can match lies (its literal prefix)."""

    FIELDS = ("targets", "missing", "notes", "glob", "truncated", "pattern", "cut", "region")
    __slots__ = FIELDS
    targets: list[Target]
    missing: list[Target]
    notes: list[str]
    glob: bool
    truncated: bool
    pattern: str
    cut: str
    region: str

    def __init__(self, targets: list[Target] | None = None, missing: list[Target] | None = None,
                 notes: list[str] | None = None, glob: bool = False, truncated: bool = False,
                 pattern: str = "", cut: str = "", region: str = "/") -> None:
        self.targets = [] if targets is None else targets
        self.missing = [] if missing is None else missing
        self.notes = [] if notes is None else notes
        self.glob = glob
        self.truncated = truncated
        self.pattern = pattern
        self.cut = cut
        self.region = region


class Listing:
    """One directory's entries; sorted by name in pattern form (latin-1 view of the bytes)
    when first asked for a prefix (a deep walk only iterates them)."""

    __slots__ = ("_names", "_sorted", "entries")

    def __init__(self, found: list[os.DirEntry[str]]) -> None:
        self.entries = found
        self._names: list[str] = []
        self._sorted: list[os.DirEntry[str]] = []

    def __len__(self) -> int:
        return len(self.entries)

    def starting(self, prefix: str) -> list[tuple[str, os.DirEntry[str]]]:
        """The entries whose (pattern-form) name starts with `prefix`."""
        if len(self._names) != len(self.entries):
            pairs = sorted(((_to_pattern(e.name), e) for e in self.entries), key=lambda p: p[0])
            self._names = [n for n, _ in pairs]
            self._sorted = [e for _, e in pairs]
        names = self._names
        i = bisect.bisect_left(names, prefix)
        out = []
        while i < len(names) and names[i].startswith(prefix):
            out.append((names[i], self._sorted[i]))
            i += 1
        return out


class BuildCache:
    """One plan build's memo of directory listings, stat answers (read through
    `stockade.fsview`, which records them for the plan cache) and compiled regexes: each
    directory is listed, and each path stat'ed, once per build however many patterns ask
    (a profile of 30,000 rules walked the same directories 5,000 times; 100,000 rules asked
    400,000 stat questions about 95,000 paths). So one build sees one answer per question,
    the one the plan cache records. Bounded by MAX_LISTED entries and MAX_ANSWERS answers
    (past them, answers are read but not kept); make a new one per build: nothing is kept
    across runs."""

    def __init__(self, max_listed: int = MAX_LISTED, max_answers: int = MAX_ANSWERS) -> None:
        self.max_listed = max_listed
        self.max_answers = max_answers
        self.listed = 0
        self._listings: dict[str, Listing] = {}
        self._regex: dict[str, re.Pattern[str]] = {}
        self._lstat: dict[str, int] = {}
        self._stat: dict[str, int] = {}
        self._real: dict[str, str] = {}
        self._gone: dict[str, bool] = {}  # directory -> whether it is known not to exist

    def _keep(self, memo: dict, path: str, answer: object) -> None:
        if len(self._lstat) + len(self._stat) + len(self._real) + len(self._gone) < \
                self.max_answers:
            memo[path] = answer

    def lstat_mode(self, path: str) -> int:
        """`st_mode` of `fsview.lstat(path)`, or minus the errno it failed with."""
        mode = self._lstat.get(path)
        if mode is None:
            if self.gone_above(path):
                mode = -errno.ENOENT
            else:
                try:
                    mode = fsview.lstat(path).st_mode
                except OSError as err:
                    mode = -(err.errno or 1)
            self._keep(self._lstat, path, mode)
        return mode

    def stat_mode(self, path: str) -> int:
        """`st_mode` of `fsview.stat_mode(path)` (follows links), or -1 when it fails."""
        mode = self._stat.get(path)
        if mode is None:
            if self.gone_above(path):
                mode = -1
            else:
                found = fsview.stat_mode(path)
                mode = -1 if found is None else found
            self._keep(self._stat, path, mode)
        return mode

    def gone_above(self, path: str) -> bool:
        """Whether a directory above `path` does not exist (its lstat, asked through fsview
        so that the plan cache records and re-checks it, failed with ENOENT): then looking
        `path` up fails at that component with ENOENT as well, with or without following
        links, so `path` is neither asked nor recorded (100,000 rules over missing
        directories asked 95,000 such questions; their first missing directories are 6,000).
        Only for plain absolute paths (no `.`-names, `//`, NUL or trailing `/`) too short
        for ENAMETOOLONG; each parent is asked once per build."""
        cut = path.rfind("/")
        if cut <= 0 or len(path) > 255:
            return False
        parent = path[:cut]
        gone = self._gone.get(parent)
        # only plain paths' parents are kept: then only the last name is left to check
        if not _plain_path(path[cut:] if gone is not None else path):
            return False
        if gone is None:
            gone = self.gone_above(parent) or self.lstat_mode(parent) == -errno.ENOENT
            self._keep(self._gone, parent, gone)
        return gone

    def lexists(self, path: str) -> bool:
        """os.path.lexists."""
        return self.lstat_mode(path) >= 0

    def isdir(self, path: str) -> bool:
        """os.path.isdir."""
        mode = self.stat_mode(path)
        return mode >= 0 and stat.S_ISDIR(mode)

    def realpath(self, path: str) -> str:
        """fsview.realpath."""
        real = self._real.get(path)
        if real is None:
            real = fsview.realpath(path)
            self._keep(self._real, path, real)
        return real

    def listing(self, directory: str) -> Listing:
        """The entries of `directory` (empty when it cannot be listed)."""
        got = self._listings.get(directory)
        if got is not None:
            return got
        try:
            with fsview.scandir(directory) as it:  # noted for the plan cache
                found = list(it)
        except OSError:
            found = []
        got = Listing(found)
        if self.listed + len(found) <= self.max_listed:
            self.listed += len(found)
            self._listings[directory] = got
        return got

    def regex(self, text: str) -> re.Pattern[str]:
        """`re.compile(text, re.S)`, kept for the build (bounded like the listings)."""
        rx = self._regex.get(text)
        if rx is None:
            import re  # not at import: a plan cache hit's own /proc expansion needs no regex

            rx = re.compile(text, re.S)
            if len(self._regex) < 65_536:
                self._regex[text] = rx
        return rx


def _to_fs(text: str) -> str:
    """Pattern text (latin-1 view of UTF-8 bytes) -> a file name."""
    if text.isascii():
        return text
    return text.encode("latin-1").decode("utf-8", "surrogateescape")


def _to_pattern(name: str) -> str:
    if name.isascii():
        return name
    return name.encode("utf-8", "surrogateescape").decode("latin-1")


def _node_re(node: tuple) -> str:
    kind = node[0]
    if kind == "lit":
        return escape(node[1])
    if kind == "star":
        return "[^/]+" if node[1] else "[^/]*"
    if kind == "dstar":
        return "[^/].*" if node[1] else ".*"
    if kind == "any":
        return "[^/]"
    if kind == "class":
        body = "".join(escape(lo) if lo == hi else f"{escape(lo)}-{escape(hi)}"
                       for lo, hi in node[2])
        return f"[{'^/' if node[1] else ''}{body}]"
    raise ValueError(f"unexpected pattern node {kind}")


def _components(flat: list[tuple]) -> list[list[tuple]]:
    """Split a flat (alternation-free) node list at every literal `/`."""
    comps: list[list[tuple]] = [[]]
    for node in flat:
        if node[0] != "lit":
            comps[-1].append(node)
            continue
        parts = node[1].split("/")
        for i, part in enumerate(parts):
            if i:
                comps.append([])
            if part:
                comps[-1].append(("lit", part))
    return comps


def _literal(comp: list[tuple]) -> bool:
    return all(n[0] == "lit" for n in comp)


def _has_dstar(comp: list[tuple]) -> bool:
    return any(n[0] == "dstar" for n in comp)


def _lead(comp: list[tuple]) -> str:
    """The literal text a component starts with (pattern form)."""
    out = []
    for node in comp:
        if node[0] != "lit":
            break
        out.append(node[1])
    return "".join(out)


class _Walker:
    def __init__(self, exp: Expansion, max_visits: int, max_targets: int, fs: BuildCache) -> None:
        self.exp = exp
        self.fs = fs
        self.visits = 0
        self.max_visits = max_visits
        self.max_targets = max_targets

    def budget(self) -> bool:
        if self.visits > self.max_visits or len(self.exp.targets) >= self.max_targets:
            if not self.exp.truncated:
                _cut(self.exp, f"expansion stopped after {self.visits} entries / "
                     f"{len(self.exp.targets)} matches (bounds {self.max_visits} / "
                     f"{self.max_targets})")
            return False
        return True

    def add(self, path: str, kind: str) -> None:
        if self.budget():
            self.exp.targets.append(Target(path, kind))

    def entries(self, directory: str) -> Listing:
        found = self.fs.listing(directory)
        self.visits += len(found)
        return found

    def walk(self, base: str, comps: list[list[tuple]]) -> None:
        """Match `comps` (components after `base`, a real directory) against the tree."""
        if not self.budget():
            return
        if not comps:
            self.add(base, DIR)
            return
        comp, rest = comps[0], comps[1:]
        if comp == [] and not rest:  # trailing `/`: the directory itself
            self.add(base, DIR)
            return
        if _has_dstar(comp):
            if all(n[0] == "dstar" for n in comp) and not rest:
                self.add(base, TREE)
                return
            self.deep(base, comps)
            return
        if _literal(comp):
            path = os.path.join(base, _to_fs("".join(n[1] for n in comp)))
            self.step(path, rest)
            return
        candidates = self.entries(base).starting(_lead(comp))
        if not candidates:
            return
        rx = self.fs.regex("".join(_node_re(n) for n in comp))
        for name, entry in candidates:
            if rx.fullmatch(name):
                self.step(entry.path, rest)

    def step(self, path: str, rest: list[list[tuple]]) -> None:
        mode = self.fs.lstat_mode(path)
        if mode < 0:
            self.missing(path, rest)
            return
        if stat.S_ISLNK(mode):
            return  # AppArmor mediates the link's target under its own path
        if stat.S_ISDIR(mode):
            if rest:
                self.walk(path, rest)
        elif not rest:
            self.add(path, FILE)

    def missing(self, path: str, rest: list[list[tuple]]) -> None:
        """A name spelled literally from a matched directory to its end that is not there
        yet (`@{HOME}/w/out.xz`: /home/u/w/out.xz): missing, as a plain path's is, so that a
        rule that lets the program create it is granted through its directory. Bounded as
        the matches are."""
        last = len(rest) - 1
        if (len(self.exp.missing) >= self.max_targets
                or not all(_literal(c) and (c or i == last) for i, c in enumerate(rest))):
            return
        tail = "/".join(_to_fs("".join(n[1] for n in c)) for c in rest)
        kind = DIR if rest and rest[-1] == [] else FILE
        self.exp.missing.append(Target(os.path.join(path, tail) if tail else path, kind))

    def deep(self, base: str, comps: list[list[tuple]]) -> None:
        """A `**` that is not the last whole component: walk the subtree, match whole paths."""
        text = "/".join("".join(_node_re(n) for n in c) for c in comps)
        rx = self.fs.regex(text)
        stack = [base]
        cut = len(base.rstrip("/")) + 1
        while stack and self.budget():
            directory = stack.pop()
            for entry in self.entries(directory).entries:
                rel = _to_pattern(entry.path[cut:])
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if entry.is_symlink():
                        continue
                except OSError:
                    continue
                if is_dir:
                    stack.append(entry.path)
                    if rx.fullmatch(rel + "/"):
                        self.add(entry.path, DIR)
                elif rx.fullmatch(rel):
                    self.add(entry.path, FILE)


def _cut(exp: Expansion, why: str) -> None:
    exp.truncated = True
    exp.cut = why
    exp.notes.append(why)


def literal_region(seq: Sequence[tuple]) -> str:
    """The deepest directory named literally at the start of a parsed pattern: every path the
    pattern matches lies beneath it ("/" when the pattern starts with a glob)."""
    text = ""
    for node in seq:
        if node[0] != "lit":
            break
        text += node[1]
    head = aare.fold_slashes(text).rpartition("/")[0]
    if not head.startswith("/"):
        return "/"
    if "/." in head or not head.isascii():  # (otherwise normpath would return it as it is)
        return os.path.normpath(_to_fs(head))
    return head


def literal_head(comps: list[list[tuple]]) -> tuple[str, list[list[tuple]]]:
    """(the literal prefix, the components after it) of an absolute pattern's components
    after the root: the components before the first glob (a literal component is a single
    "lit" node: _components splits literals at "/" and fold_flat joined them)."""
    n = 0
    while n < len(comps) and comps[n] and _literal(comps[n]):
        n += 1
    return "/" + "/".join([_to_fs("".join([x[1] for x in c])) for c in comps[:n]]), comps[n:]


def head_split(folded: list[tuple]) -> tuple[str, list[list[tuple]]] | None:
    """What literal_head gives for a folded node list that starts with a plain absolute
    ASCII literal without `//` (the common case), without splitting that literal into
    components; None for anything else (the general way)."""
    if not folded or folded[0][0] != "lit":
        return None
    text = folded[0][1]
    if not text.startswith("/") or "//" in text or not text.isascii():
        return None
    if len(folded) == 1:
        return (text[:-1] or "/", [[]]) if text.endswith("/") else (text, [])
    head, _, lead = text.rpartition("/")  # the next node is a glob (fold_flat joined lits)
    return head or "/", _components([("lit", lead), *folded[1:]] if lead else folded[1:])


def _resolves_to_itself(path: str, fs: BuildCache) -> str | None:
    """None when `path` is its own real path, else the real path it resolves to."""
    real = fs.realpath(path)
    return None if real == os.path.normpath(path) else real


def _pid_component(comp: list[tuple], pid: int) -> bool:
    """Whether a glob component (`@{pid}`, `*`, `[0-9]*`) matches the pid's directory name."""
    if not comp or _literal(comp) or _has_dstar(comp):
        return False
    if all(n[0] in _ONE_BY_ONE for n in comp):  # each alternative of `@{pid}`: no regex
        return _spells(comp, str(pid))
    import re

    return re.fullmatch("".join(_node_re(n) for n in comp), str(pid), re.S) is not None


#: nodes that match their own text (a literal) or one character (a class, `?`)
_ONE_BY_ONE = frozenset(("lit", "class", "any"))


def _spells(comp: list[tuple], name: str) -> bool:
    """Whether `name` matches `comp`, made of _ONE_BY_ONE nodes only, as _node_re's regex of
    it would (a literal its text; `?` and a negated class any character but `/`)."""
    i = 0
    for node in comp:
        if node[0] == "lit":
            if not name.startswith(node[1], i):
                return False
            i += len(node[1])
            continue
        if i == len(name):
            return False
        ch = name[i]
        if node[0] == "any":
            matched = ch != "/"
        else:
            inside = any(lo <= ch <= hi for lo, hi in node[2])
            matched = ch != "/" and not inside if node[1] else inside
        if not matched:
            return False
        i += 1
    return i == len(name)


def expand(text: str, *, max_visits: int = MAX_VISITS, max_targets: int = MAX_TARGETS,
           fs: BuildCache | None = None, parsed: aare.Pattern | None = None,
           pid: int | None = None) -> Expansion:
    """The targets of the (variable-expanded) pattern `text` on the filesystem now (`fs`:
    the build's view, shared by the patterns of one plan; `parsed`: `text` already parsed).

    With `pid`, only what the pattern names in /proc/PID through a glob in the pid's place
    (`@{PROC}/@{pid}/...`): the program's own entries, expanded once its pid is known.
    """
    exp = Expansion(pattern=text)
    # the node tree only: the matcher's regex (aare.parse) is not needed to walk
    seq = parsed.seq if parsed is not None and parsed.text == text else aare.compile_seq(text)
    exp.region = literal_region(seq)
    flats = aare.expand_alternations(seq, MAX_ALTERNATIVES)
    if flats is None:
        _cut(exp, f"more than {MAX_ALTERNATIVES} alternatives: not expanded")
        return exp
    fs = fs or BuildCache()
    walker = _Walker(exp, max_visits, max_targets, fs)
    seen: set[tuple[str, ...]] = set()
    single = len(flats) == 1
    for flat in flats:
        folded = aare.fold_flat(flat)
        split = head_split(folded) if single else None
        if split is None:
            comps = _components(folded)
            if not single:  # alternatives that spell the same components: walked once
                key = tuple(repr(c) for c in comps)
                if key in seen:
                    continue
                seen.add(key)
            if not comps or comps[0] != []:
                exp.notes.append(f"'{text}' is not an absolute path: nothing granted")
                continue
            split = literal_head(comps[1:])
        prefix, rest = split
        if pid is not None:
            if prefix == "/proc" and rest and _pid_component(rest[0], pid):
                exp.glob = True
                walker.step(f"/proc/{pid}", rest[1:])
            continue
        whole_tree = len(rest) == 1 and bool(rest[0]) and all(x[0] == "dstar" for x in rest[0])
        if rest and not (rest == [[]] or whole_tree):
            exp.glob = True
        if not fs.lexists(prefix):
            kind = FILE if not rest else (DIR if rest == [[]] else TREE)
            exp.missing.append(Target(prefix, kind))
            continue
        elsewhere = _resolves_to_itself(prefix, fs)
        if elsewhere is not None:
            exp.notes.append(f"{prefix} resolves to {elsewhere}: AppArmor mediates the "
                             "resolved path, so this alternative grants nothing")
            continue
        if not rest:
            if fs.isdir(prefix):
                exp.notes.append(f"{prefix} is a directory and the pattern has no trailing "
                                 "'/': it matches only non-directories, nothing granted")
                continue
            walker.add(prefix, FILE)
        elif not fs.isdir(prefix):
            exp.missing.append(Target(prefix, TREE))
        else:
            walker.walk(prefix, rest)
    return exp
