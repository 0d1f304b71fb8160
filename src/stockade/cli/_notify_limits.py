"""What `stockade notify` shows of a busy host: only some profiles' denials (`--profile`), and
at most so many lines per second of the records' own time (`--rate`), with one line saying
how many were left out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stockade.audit.record import AuditRecord

#: denial lines per second of record time, by default
DEFAULT_RATE = 10


def profile_of(record: AuditRecord) -> str:
    """The name `notify` shows for a record's confinement: its profile, else its subject."""
    return record.profile or record.subject or "-"


def wanted(record: AuditRecord, profiles: Sequence[str]) -> bool:
    """Whether `record` belongs to one of `profiles` (all when none given): the profile's own
    name, or a child or hat of it (`NAME//child`, AppArmor's naming)."""
    if not profiles:
        return True
    name = profile_of(record)
    return any(name == p or name.startswith(p + "//") for p in profiles)


class RateLimit:
    """At most `rate` lines per second of record time (0: no limit). A record in a later
    second, or a backwards one (another source), opens a new window; what the last window
    left out is reported once (`suppressed_line`)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._start: float | None = None
        self._shown = 0
        self.suppressed = 0
        self.total_suppressed = 0

    def _in_window(self, when: float) -> bool:
        return self._start is not None and self._start <= when < self._start + 1.0

    def before(self, when: float) -> str | None:
        """The suppressed line of the window a record at `when` closes, if any (print it before
        that record's line)."""
        return None if self._in_window(when) else self.suppressed_line()

    def admit(self, when: float) -> bool:
        """Whether the line of a record at time `when` is shown; counts it if not."""
        if self.rate <= 0:
            return True
        if not self._in_window(when):
            self._start, self._shown = when, 0
        if self._shown < self.rate:
            self._shown += 1
            return True
        self.suppressed += 1
        self.total_suppressed += 1
        return False

    def window_over(self, now: float) -> bool:
        """Whether the current window has ended by `now` (a live follow's idle tick)."""
        return self._start is not None and now >= self._start + 1.0

    def suppressed_line(self) -> str | None:
        """'N more denials suppressed ...' for what was left out since the last report, once."""
        if not self.suppressed:
            return None
        count, self.suppressed = self.suppressed, 0
        return (f"... {count} more denial{'s' if count != 1 else ''} suppressed (over "
                f"{self.rate} per second; --rate 0 shows all, --summary counts them)")
