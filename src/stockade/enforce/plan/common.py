"""Shared pieces of the plan compiler: the per-rule verdict and the compilation context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stockade.enforce import landlock as ll
from stockade.enforce.plan.types import CoverageReport, CoverageStatus, EnforcementPlan

if TYPE_CHECKING:  # the run path without -p does not load the policy compiler
    from stockade.policy import CompiledProfile, Rule

EXACT = CoverageStatus.EXACT
APPROX = CoverageStatus.APPROXIMATED
SUPERVISOR = CoverageStatus.SUPERVISOR
NOT_ENFORCED = CoverageStatus.NOT_ENFORCED

#: Worse statuses win when one rule has several parts (a status's rank is its index: found
#: by identity, where a dict would call Enum.__hash__, a Python function, per part)
_RANK = (EXACT, APPROX, SUPERVISOR, NOT_ENFORCED)


def by_abi(abi: int) -> str:
    """'Landlock ABI 6 (Linux 6.12)'."""
    return f"Landlock ABI {abi} (Linux {ll.ABI_KERNEL[abi]})"


def source_of(rule: Rule) -> str:
    """`file:line` of a rule."""
    return f"{rule.pos.file}:{rule.pos.line}"


def rule_text(rule: Rule) -> str:
    """The rule as written, on one line."""
    text = rule.text
    # already one line of single spaces (most rules: the split and join took 0.7 µs a rule);
    # isprintable() is False for every blank split() splits at but the space
    if text.isprintable() and "  " not in text and not text.startswith(" ") \
            and not text.endswith(" "):
        return text or rule.kind
    return " ".join(text.split()) or rule.kind


@dataclass
class Verdict:
    """The status of one rule, built from its parts: the worst part decides."""

    status: CoverageStatus = EXACT
    details: list[str] = field(default_factory=list)
    enforced_by: str = ""
    #: details of the parts enforced as written (e.g. `ix`): said after the weakened ones
    exact_details: list[str] = field(default_factory=list)

    def part(self, status: CoverageStatus, detail: str = "", by: str = "") -> None:
        """Add one finding; the worst status wins, details accumulate."""
        if status is not self.status and _RANK.index(status) > _RANK.index(self.status):
            self.status = status
        into = self.exact_details if status is EXACT else self.details
        if detail and detail not in into:
            into.append(detail)
        if by and (status is not EXACT or not self.enforced_by):
            self.enforced_by = by

    def detail(self) -> str:
        """The findings, weakened parts first; the parts enforced as written are marked as
        such when the rule as a whole is weakened."""
        if self.status is EXACT or not self.exact_details:
            return "; ".join(self.details + self.exact_details)
        return "; ".join(self.details) + "; as written: " + "; ".join(self.exact_details)

    def add_to(self, report: CoverageReport, rule: Rule) -> None:
        """Record this verdict for `rule`."""
        report.add(rule_text(rule), self.status, self.detail(),
                   source=source_of(rule), enforced_by=self.enforced_by)


@dataclass
class Context:
    """What one compilation shares: the profile, the target ABI, the plan being built."""

    profile: CompiledProfile
    abi: int
    plan: EnforcementPlan
    coverage: CoverageReport = field(default_factory=CoverageReport)
    notes: list[str] = field(default_factory=list)
    kept_caps: frozenset[str] = frozenset()  # lower-case AppArmor names
    allow_all: bool = False  # an `all,` rule
    _order: dict[int, int] = field(default_factory=dict)  # id(entry) -> rule index
    _index: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {id(r): i for i, r in enumerate(self.profile.rules)}

    def has_cap(self, *names: str) -> bool:
        """Whether the plan keeps any of these capabilities (AppArmor names)."""
        return any(n in self.kept_caps for n in names)

    def record(self, rule: Rule, verdict: Verdict) -> None:
        """Add the verdict of `rule` to the report."""
        verdict.add_to(self.coverage, rule)
        self._order[id(self.coverage.entries[-1])] = self._index.get(id(rule), len(self._index))

    def record_part(self, rule: Rule, status: CoverageStatus, detail: str, by: str = "") -> None:
        """Add `rule` to the report with a verdict of this one finding."""
        verdict = Verdict()
        verdict.part(status, detail, by)
        self.record(rule, verdict)

    def sort_report(self) -> None:
        """Put the rule entries in source order (entries of no rule, e.g. flags, first)."""
        self.coverage.entries.sort(key=lambda e: self._order.get(id(e), -1))
