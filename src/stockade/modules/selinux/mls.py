"""MLS levels and ranges: a sensitivity and a category set, dominance, and their text form.

A level is `s1:c0.c3,c7` (a sensitivity in `sensitivityorder`, categories in `categoryorder`,
`.` a range of categories); a range is `low-high` with high dominating low. Categories are an
int bitmask by their order, so dominance is two integer comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stockade.errors import StockadeError


class MlsError(StockadeError):
    """A level or range that does not parse or is not valid in the policy."""


@dataclass(frozen=True, slots=True)
class Level:
    """A sensitivity (its position in `sensitivityorder`) and a category bitmask."""

    sens: int
    cats: int = 0

    def dominates(self, other: Level) -> bool:
        """`dom`: at least as sensitive, and a superset of the categories."""
        return self.sens >= other.sens and other.cats & ~self.cats == 0

    def incomparable(self, other: Level) -> bool:
        """`incomp`: neither dominates the other."""
        return not self.dominates(other) and not other.dominates(self)


@dataclass(frozen=True, slots=True)
class Range:
    """A low and a high level (the high dominates the low)."""

    low: Level
    high: Level

    def contains(self, other: Range) -> bool:
        """`other` lies within this range (as a user's range must hold a context's range)."""
        return other.low.dominates(self.low) and self.high.dominates(other.high)


@dataclass
class MlsSpec:
    """The policy's sensitivities and categories, in order, and which categories go with which
    sensitivity (`sensitivitycategory`)."""

    sensitivities: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    sens_aliases: dict[str, str] = field(default_factory=dict)
    cat_aliases: dict[str, str] = field(default_factory=dict)
    sens_cats: dict[int, int] = field(default_factory=dict)
    _sens_index: dict[str, int] = field(default_factory=dict, repr=False)
    _cat_index: dict[str, int] = field(default_factory=dict, repr=False)

    def finish(self) -> None:
        """Index the orders; call after the declarations are complete."""
        self._sens_index = {name: i for i, name in enumerate(self.sensitivities)}
        self._cat_index = {name: i for i, name in enumerate(self.categories)}
        for alias, actual in self.sens_aliases.items():
            if actual in self._sens_index:
                self._sens_index[alias] = self._sens_index[actual]
        for alias, actual in self.cat_aliases.items():
            if actual in self._cat_index:
                self._cat_index[alias] = self._cat_index[actual]

    @property
    def enabled(self) -> bool:
        """True when the policy declares sensitivities."""
        return bool(self.sensitivities)

    def sens(self, name: str) -> int:
        """The position of sensitivity `name`."""
        try:
            return self._sens_index[name]
        except KeyError:
            raise MlsError(f"unknown sensitivity {name!r}") from None

    def cat(self, name: str) -> int:
        """The position of category `name`."""
        try:
            return self._cat_index[name]
        except KeyError:
            raise MlsError(f"unknown category {name!r}") from None

    def cat_range(self, low: str, high: str) -> int:
        """The bitmask of categories `low` through `high`."""
        a, b = self.cat(low), self.cat(high)
        if a > b:
            raise MlsError(f"category range {low}.{high} is backwards")
        return ((1 << (b - a + 1)) - 1) << a

    def parse_level(self, text: str) -> Level:
        """`s1` or `s1:c0.c3,c7`."""
        sens_text, _, cat_text = text.partition(":")
        cats = 0
        if cat_text:
            for part in cat_text.split(","):
                low, dot, high = part.partition(".")
                cats |= self.cat_range(low, high) if dot else 1 << self.cat(low)
        level = Level(self.sens(sens_text), cats)
        self.check_level(level, text)
        return level

    def check_level(self, level: Level, text: str = "") -> None:
        """Categories must be associated with the sensitivity (`sensitivitycategory`)."""
        allowed = self.sens_cats.get(level.sens, 0)
        if level.cats & ~allowed:
            raise MlsError(f"level {text or self.level_text(level)}: categories not associated "
                           f"with sensitivity {self.sensitivities[level.sens]}")

    def parse_range(self, text: str) -> Range:
        """`s0`, `s0-s1:c0.c3`."""
        low_text, dash, high_text = text.partition("-")
        low = self.parse_level(low_text)
        high = self.parse_level(high_text) if dash else low
        if not high.dominates(low):
            raise MlsError(f"range {text}: the high level does not dominate the low level")
        return Range(low, high)

    def level_text(self, level: Level) -> str:
        """The canonical text of a level, ranges of three or more categories as `cA.cB`."""
        name = self.sensitivities[level.sens] if level.sens < len(self.sensitivities) else "s?"
        if not level.cats:
            return name
        parts: list[str] = []
        bits = [i for i in range(level.cats.bit_length()) if level.cats >> i & 1]
        start = prev = bits[0]
        for b in [*bits[1:], -2]:
            if b == prev + 1:
                prev = b
                continue
            if prev - start >= 2:
                parts.append(f"{self.categories[start]}.{self.categories[prev]}")
            else:
                parts.extend(self.categories[i] for i in range(start, prev + 1))
            start = prev = b
        return f"{name}:{','.join(parts)}"

    def range_text(self, rng: Range) -> str:
        """`low` or `low-high`."""
        low = self.level_text(rng.low)
        return low if rng.low == rng.high else f"{low}-{self.level_text(rng.high)}"
