"""Seconds per phase of turning a profile into kernel objects (`compile --timings`).

Phases, in order: parse (the profile's own text), includes (reading and parsing what it
includes), compile (the compiled profile: variables, patterns, the file matcher), plan (the
Landlock/seccomp plan, globs expanded against the filesystem), ruleset (opening the paths
and building the kernel objects).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

PHASES = ("parse", "includes", "compile", "plan", "ruleset")


class PhaseTimer:
    """Wall-clock seconds per named phase (a phase entered twice adds up)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the body as phase `name`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        """Add `seconds` to phase `name`."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def lines(self) -> list[str]:
        """One line per phase (in PHASES order, then any other), and the total."""
        names = [p for p in PHASES if p in self.seconds]
        names += [p for p in self.seconds if p not in PHASES]
        out = [f"{name:<9} {self.seconds[name]:8.3f} s" for name in names]
        out.append(f"{'total':<9} {sum(self.seconds.values()):8.3f} s")
        return out

    def to_json(self) -> dict[str, float]:
        """Phase -> seconds (rounded to microseconds)."""
        return {name: round(s, 6) for name, s in self.seconds.items()}
