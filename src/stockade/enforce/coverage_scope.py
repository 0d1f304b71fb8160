"""Which coverage entries are a profile's own, which ones a run or --strict judges, and the
one-line summary `run` and `export` print about the rest.

A rule is the profile's own unless it comes from a shared include: a file under the
`abstractions/` or `tunables/` directory of a policy directory (/etc/apparmor.d, stockade's
bundled copy, or a `-I` directory). Local additions (`local/...`) and files a profile
includes by relative path are its own. Entries of no file (ad-hoc flags, the kernel's own
findings) are the run's own too. `--strict` judges own entries, `--strict=all` every entry.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence

from stockade.enforce.plan.types import CoverageEntry, CoverageStatus
from stockade.slotted import Frozen

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from stockade.enforce.plan.types import CoverageReport

#: Sub-directories of a policy directory that hold distro-shipped shared rules.
SHARED_SUBDIRS = ("abstractions", "tunables")
#: `--strict` values: judge the profile's own rules, or every rule.
STRICT_SCOPES = ("own", "all")
#: rules counted by (source file, status): what the summary line says (`tally`)
Tally = Counter[tuple[str, CoverageStatus]]


def _shared_roots(include_dirs: Sequence[str]) -> list[str]:
    from stockade.policy_dirs import BUNDLED_DIR, SYSTEM_DIR  # profiles only: not a plain run

    roots = []
    for base in (*include_dirs, SYSTEM_DIR, BUNDLED_DIR):
        real = os.path.realpath(base)
        roots += [os.path.join(real, sub) + os.sep for sub in SHARED_SUBDIRS]
    return roots


def source_file(entry: CoverageEntry) -> str:
    """The file of an entry's `file:line` source ('' when it has none)."""
    if not entry.source or ":" not in entry.source:
        return ""
    path, _, line = entry.source.rpartition(":")
    return path if line.isdigit() else ""


def _under(entry: CoverageEntry, roots: Sequence[str], memo: dict[str, bool] | None = None
           ) -> bool:
    """Whether the entry's source file lies beneath one of `roots` (`memo`: the answer per
    source file, kept by the caller: 100,000 rules of one file resolved it 100,000 times)."""
    return _beneath(source_file(entry), roots, memo)


def _beneath(path: str, roots: Sequence[str], memo: dict[str, bool] | None = None) -> bool:
    """Whether the file `path` ('' for none) lies beneath one of `roots`."""
    if not path:
        return False
    known = memo.get(path) if memo is not None else None
    if known is None:
        real = os.path.realpath(path)
        known = any(real.startswith(root) for root in roots)
        if memo is not None:
            memo[path] = known
    return known


def shared_file(path: str, include_dirs: Sequence[str] = ()) -> bool:
    """Whether the file `path` is a shared abstraction or tunables file (as `is_shared`)."""
    return _beneath(path, _shared_roots(include_dirs))


def is_shared(entry: CoverageEntry, include_dirs: Sequence[str] = ()) -> bool:
    """Whether the entry's rule comes from a shared abstraction or tunables file."""
    return _under(entry, _shared_roots(include_dirs))


def weakened(entries: Sequence[CoverageEntry], *, supervised: bool) -> list[CoverageEntry]:
    """Entries not enforced exactly in this run (supervisor entries count as enforced when
    the run has the supervisor)."""
    return [e for e in entries if e.status is not CoverageStatus.EXACT
            and not (supervised and e.status is CoverageStatus.SUPERVISOR)]


#: weakened statuses, the worst first
_WORST_FIRST = [CoverageStatus.NOT_ENFORCED, CoverageStatus.SUPERVISOR,
                CoverageStatus.APPROXIMATED, CoverageStatus.EXACT]


def per_rule(entries: Sequence[CoverageEntry]) -> list[CoverageEntry]:
    """One entry per rule (its worst): a rule's expanded paths that are gone at launch (e.g.
    /proc/PID of a process that exited since its `@{pid}` glob was expanded) add entries of
    the same source, and counting those would change the count from run to run. Entries of
    no `file:line` source (ad-hoc flags, the kernel's findings) stay one each."""
    return [e for _, e in _worst(entries)]


_RANK = {status: i for i, status in enumerate(_WORST_FIRST)}


def _worst(entries: Sequence[CoverageEntry]) -> list[tuple[str, CoverageEntry]]:
    """`per_rule`'s entries, each with its source file."""
    worst: dict[tuple[str, str], tuple[str, CoverageEntry]] = {}
    for e in entries:
        path = source_file(e)
        key = ("", e.source) if path else (e.rule, e.source)
        have = worst.get(key)
        if have is None or _RANK[e.status] < _RANK[have[1].status]:
            worst[key] = (path, e)
    return list(worst.values())


def strict_refusal(weak: Sequence[CoverageEntry]) -> str:
    """The one line of a --strict refusal: the worst entry first, and how many more."""
    worst = sorted(per_rule(weak), key=lambda e: _WORST_FIRST.index(e.status))
    more = f" (and {len(worst) - 1} more)" if len(worst) > 1 else ""
    return f"--strict: {worst[0].line()}{more}"


def judged(entries: Sequence[CoverageEntry], scope: str,
           include_dirs: Sequence[str] = ()) -> list[CoverageEntry]:
    """The entries `--strict=SCOPE` judges: own ones ('own') or every one ('all')."""
    if scope == "all":
        return list(entries)
    return split_own(entries, include_dirs)[0]


def split_own(entries: Sequence[CoverageEntry], include_dirs: Sequence[str] = ()
              ) -> tuple[list[CoverageEntry], list[CoverageEntry]]:
    """(own entries, entries from shared includes)."""
    roots = _shared_roots(include_dirs)
    own: list[CoverageEntry] = []
    shared: list[CoverageEntry] = []
    memo: dict[str, bool] = {}  # one answer per source file, for this call only
    for e in entries:
        (shared if _under(e, roots, memo) else own).append(e)
    return own, shared


def status_counts(entries: Sequence[CoverageEntry]) -> str:
    """'3 approximated, 1 not-enforced': how many of `entries` have each status."""
    return _status_counts(Counter(e.status for e in entries))


def _status_counts(counts: Counter[CoverageStatus]) -> str:
    return ", ".join(f"{n} {status.value}"
                     for status, n in sorted(counts.items(), key=lambda c: c[0].value))


def tally(entries: Sequence[CoverageEntry], *, supervised: bool) -> Tally:
    """The rules of `entries` not enforced exactly in this run (`weakened`), one per rule
    (`per_rule`: its worst entry), counted by source file and status."""
    return Counter((path, e.status) for path, e in _worst(weakened(entries, supervised=supervised)))


#: at most this many weakened sources' worst statuses are kept in a precount (`Precount.worst`)
MAX_WORST = 4096


class Precount(Frozen):
    """What the summary line needs of a report's entries without holding them (a plan cache
    entry keeps its coverage entries in a file read only when something lists them): the
    tally of the entries of a `file:line` source, without and with a supervisor, the
    entries of no such source (`loose`: few; the kernel's later entries may share a rule with
    them), and `worst`: the worst status of each weakened source, without and with a
    supervisor, so that entries added later with such a source (a /proc/PID grant gone at
    launch) are counted with their rule; None past MAX_WORST sources (then those need every
    entry)."""

    FIELDS = ("unsupervised", "supervised", "loose", "worst")
    __slots__ = FIELDS
    unsupervised: Tally
    supervised: Tally
    loose: tuple[CoverageEntry, ...]
    worst: tuple[dict[str, CoverageStatus], dict[str, CoverageStatus]] | None

    def __init__(self, unsupervised: Tally, supervised: Tally,
                 loose: tuple[CoverageEntry, ...],
                 worst: tuple[dict[str, CoverageStatus], dict[str, CoverageStatus]] | None = None
                 ) -> None:
        object.__setattr__(self, "unsupervised", unsupervised)
        object.__setattr__(self, "supervised", supervised)
        object.__setattr__(self, "loose", loose)
        object.__setattr__(self, "worst", worst)

    @classmethod
    def of(cls, entries: Sequence[CoverageEntry]) -> Precount:
        """The precount of `entries`."""
        sourced: list[tuple[str, CoverageEntry]] = []  # each entry's source file found once
        loose: list[CoverageEntry] = []
        for e in entries:
            path = source_file(e)
            if path:
                sourced.append((path, e))
            else:
                loose.append(e)
        # the same entries are weakened either way unless some are left to the supervisor
        same = not any(e.status is CoverageStatus.SUPERVISOR for _, e in sourced)
        unsupervised, worst_u = _sourced_worst(sourced, supervised=False)
        supervised, worst_s = (unsupervised, worst_u) if same else \
            _sourced_worst(sourced, supervised=True)
        worst = None  # past MAX_WORST sources (100,000 rules of one file: no dicts made)
        if max(len(worst_u), len(worst_s)) <= MAX_WORST:
            statuses = {source: e.status for source, (_, e) in worst_u.items()}
            worst = (statuses, statuses if same else
                     {source: e.status for source, (_, e) in worst_s.items()})
        return cls(unsupervised, supervised, tuple(loose), worst)


def _sourced_worst(sourced: Sequence[tuple[str, CoverageEntry]], *, supervised: bool
                   ) -> tuple[Tally, dict[str, tuple[str, CoverageEntry]]]:
    """`tally` of entries that all have a `file:line` source (given with their source file),
    and the worst weakened entry of each source (with its file) that it counted (`per_rule`:
    a rule of such a source is one per source)."""
    worst: dict[str, tuple[str, CoverageEntry]] = {}
    for path, e in sourced:
        if e.status is CoverageStatus.EXACT or (supervised
                                                and e.status is CoverageStatus.SUPERVISOR):
            continue  # not weakened
        have = worst.get(e.source)
        if have is None or _RANK[e.status] < _RANK[have[1].status]:
            worst[e.source] = (path, e)
    # counted by the status's index: a (path, status) key would call Enum.__hash__, a Python
    # function, per rule; the few keys get their status back after
    by_index = Counter((path, _WORST_FIRST.index(e.status)) for path, e in worst.values())
    return Counter({(path, _WORST_FIRST[i]): n for (path, i), n in by_index.items()}), worst


def report_tally(report: CoverageReport, *, supervised: bool) -> Tally:
    """`tally` of the report's entries, from its precount while they are deferred: a rule
    of a `file:line` source is one per source (`per_rule`), so the precounted rules are
    apart from every entry without one; an entry added since (the kernel's) that is weakened
    and has such a source counts with its rule's precounted worst status (`Precount.worst`;
    without it, from every entry)."""
    pre, added = report.precount, report.added()
    if pre is None or added is None:
        return tally(report.entries, supervised=supervised)
    counted = pre.supervised if supervised else pre.unsupervised
    sourced = [e for e in weakened(added, supervised=supervised) if source_file(e)]
    if sourced:
        if pre.worst is None:
            return tally(report.entries, supervised=supervised)
        known = pre.worst[1 if supervised else 0]
        counted = counted.copy()
        for path, e in _worst(sourced):
            have = known.get(e.source)
            if have is None:
                counted[path, e.status] += 1
            elif _RANK[e.status] < _RANK[have]:  # the rule is worse than precounted
                counted[path, have] -= 1
                counted[path, e.status] += 1
    return counted + tally([*pre.loose, *(e for e in added if not source_file(e))],
                           supervised=supervised)


#: "wider" findings that only let the program read or list what its rule names or runs
_READ_OR_LIST_ONLY = ("x without r: wider", "itself can be listed too",
                      "also lists subdirectories")
#: past this many weakened rules of its own, a cached report's entries are not read to tell
#: which ones widen (`run_note` then says its line, as for a widening)
MAX_WIDENING_LOOK = 5000


def widens(entry: CoverageEntry) -> bool:
    """Whether the entry's rule is enforced with more access than written: a `wider` finding
    of the plan compiler, other than reading or listing what the rule names or runs (an
    `ix` file readable too, a granted directory listed with its subdirectories)."""
    if entry.status is not CoverageStatus.APPROXIMATED or "wider" not in entry.detail:
        return False
    weakened_parts = entry.detail.partition("; as written: ")[0].split("; ")
    return any("wider" in part and not any(m in part for m in _READ_OR_LIST_ONLY)
               for part in weakened_parts)


def run_note(report: CoverageReport, what: str, hint: str, include_dirs: Sequence[str] = (),
             *, supervised: bool) -> str | None:
    """The line `run -p` prints without -v (None: a quiet run, as AppArmor's): `tally_summary`'s
    line when a rule of the profile's own is weakened in a way each run must show: not
    enforced, left to a supervisor this run lacks, or enforced wider than written (`widens`,
    the first such rule named); a profile whose own rules are exact, narrower, or wider only
    in what may be read or listed, runs quietly: those differences, and those of shared
    abstractions, are listed by -v, `compile`, `check` and `explain`."""
    counts = report_tally(report, supervised=supervised)
    if not +counts:
        return None  # before the shared roots: policy_dirs is not on a plain run's path
    roots = _shared_roots(include_dirs)
    own: Counter[CoverageStatus] = Counter()
    for (path, status), n in counts.items():
        if n > 0 and not _beneath(path, roots):
            own[status] += n
    if not own:
        return None
    wide: list[CoverageEntry] = []
    if sum(own.values()) <= MAX_WIDENING_LOOK:
        memo: dict[str, bool] = {}
        wide = [e for e in per_rule(weakened(report.entries, supervised=supervised))
                if widens(e) and not _under(e, roots, memo)]
        if not wide and set(own) == {CoverageStatus.APPROXIMATED}:
            return None
    if wide:
        more = f" and {len(wide) - 1} more" if len(wide) > 1 else ""
        where = f" ({wide[0].source})" if wide[0].source else ""
        hint = f"wider than written: {wide[0].rule}{where}{more}; {hint}"
    return tally_summary(counts, what, hint, include_dirs)


def summary(entries: Sequence[CoverageEntry], what: str, hint: str,
            include_dirs: Sequence[str] = ()) -> str | None:
    """One line of information about the weakened `entries` of `what` (None when there are
    none), e.g. "note: p.profile runs with 3 of its rules enforced differently than written (3
    approximated), and 64 from shared abstractions (64 approximated); -v lists them".
    Worded as a note: the run goes on, and each status is a choice the docs explain."""
    counts = Counter((path, e.status) for path, e in _worst(entries))
    return tally_summary(counts, what, hint, include_dirs)


def tally_summary(counts: Tally, what: str, hint: str, include_dirs: Sequence[str] = ()
                  ) -> str | None:
    """`summary` of the rules `counts` counts (`tally`)."""
    if not +counts:
        return None
    roots = _shared_roots(include_dirs)
    own: Counter[CoverageStatus] = Counter()
    shared: Counter[CoverageStatus] = Counter()
    for (path, status), n in counts.items():
        if n > 0:
            (shared if _beneath(path, roots) else own)[status] += n
    if not own and not shared:
        return None
    n_own, n_shared = sum(own.values()), sum(shared.values())
    if own:
        text = (f"note: {what} runs with {n_own} of its rules enforced differently than "
                f"written ({_status_counts(own)})")
        if shared:
            text += (f", and {n_shared} from shared abstractions "
                     f"({_status_counts(shared)})")
    else:
        text = (f"note: {what} runs with {n_shared} rule{'s' if n_shared != 1 else ''} "
                f"of shared abstractions enforced differently than written "
                f"({_status_counts(shared)}); its own rules are exact")
    return f"{text}; {hint}"
