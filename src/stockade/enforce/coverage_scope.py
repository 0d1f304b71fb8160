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
from stockade.policy_dirs import BUNDLED_DIR, SYSTEM_DIR

#: Sub-directories of a policy directory that hold distro-shipped shared rules.
SHARED_SUBDIRS = ("abstractions", "tunables")
#: `--strict` values: judge the profile's own rules, or every rule.
STRICT_SCOPES = ("own", "all")


def _shared_roots(include_dirs: Sequence[str]) -> list[str]:
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
    path = source_file(entry)
    if not path:
        return False
    known = memo.get(path) if memo is not None else None
    if known is None:
        real = os.path.realpath(path)
        known = any(real.startswith(root) for root in roots)
        if memo is not None:
            memo[path] = known
    return known


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
    worst: dict[tuple[str, str], CoverageEntry] = {}
    for e in entries:
        key = ("", e.source) if source_file(e) else (e.rule, e.source)
        have = worst.get(key)
        if have is None or _WORST_FIRST.index(e.status) < _WORST_FIRST.index(have.status):
            worst[key] = e
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
    counts = Counter(e.status.value for e in entries)
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def summary(entries: Sequence[CoverageEntry], what: str, hint: str,
            include_dirs: Sequence[str] = ()) -> str | None:
    """One line of information about the weakened `entries` of `what` (None when there are
    none), e.g. "note: p.profile runs with 3 of its rules enforced differently than written (3
    approximated), and 64 from shared abstractions (64 approximated); -v lists them".
    Worded as a note: the run goes on, and each status is a choice the docs explain."""
    if not entries:
        return None
    own, shared = split_own(per_rule(entries), include_dirs)
    if own:
        text = (f"note: {what} runs with {len(own)} of its rules enforced differently than "
                f"written ({status_counts(own)})")
        if shared:
            text += f", and {len(shared)} from shared abstractions ({status_counts(shared)})"
    else:
        text = (f"note: {what} runs with {len(shared)} rule{'s' if len(shared) != 1 else ''} "
                f"of shared abstractions enforced differently than written "
                f"({status_counts(shared)}); its own rules are exact")
    return f"{text}; {hint}"
