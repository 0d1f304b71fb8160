"""The access vector cache: remembered decisions, bounded, reclaimed, flushed on reload.

Modelled on SELinux's AVC (security/selinux/avc.c): entries are keyed by what the decision
depends on (there: source SID, target SID, class; here: the request's `key`), the cache has a
threshold (`/sys/fs/selinux/avc/cache_threshold`, 512 by default) and reclaims a batch of the
oldest entries when it is crossed, and a policy load resets it (`avc_ss_reset`) with a new
sequence number so that a decision computed against the old policy is never inserted.
"""

from __future__ import annotations

from collections.abc import Callable

from stockade.slotted import Slotted

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

DEFAULT_THRESHOLD = 512
RECLAIM_BATCH = 16


class AvcStats(Slotted):
    """Counters as /sys/fs/selinux/avc/cache_stats reports them."""

    FIELDS = ("lookups", "hits", "misses", "allocations", "reclaims", "frees")
    __slots__ = FIELDS

    def __init__(self, lookups: int = 0, hits: int = 0, misses: int = 0, allocations: int = 0,
                 reclaims: int = 0, frees: int = 0) -> None:
        self.lookups = lookups
        self.hits = hits
        self.misses = misses
        self.allocations = allocations
        self.reclaims = reclaims
        self.frees = frees


class AccessVectorCache:
    """A bounded map from request keys to decisions."""

    def __init__(self, threshold: int = DEFAULT_THRESHOLD, reclaim: int = RECLAIM_BATCH) -> None:
        if threshold < 0:
            raise ValueError("AVC threshold must not be negative")
        self.threshold = threshold  # 0 disables caching
        self.reclaim_batch = max(1, min(reclaim, threshold))
        self.seqno = 0
        self._entries: dict[tuple, Any] = {}
        self._hits = 0
        self._misses = 0
        self._allocations = 0
        self._reclaims = 0
        self._frees = 0
        #: called with the new sequence number after every reset (mirrors of this cache)
        self.on_reset: list[Callable[[int], None]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: tuple) -> Any:
        """The cached decision for `key`, or None (counted as a miss)."""
        found = self._entries.get(key)
        if found is None:
            self._misses += 1
        else:
            self._hits += 1
        return found

    def insert(self, key: tuple, decision: Any, seqno: int) -> None:
        """Remember `decision`, unless it was computed against an older policy."""
        if seqno < self.seqno or not self.threshold:
            return
        entries = self._entries
        if len(entries) >= self.threshold:
            # Insertion order is age: drop the oldest batch, as avc_reclaim_node frees a batch.
            for old in list(entries)[: self.reclaim_batch]:
                del entries[old]
            self._reclaims += self.reclaim_batch
        entries[key] = decision
        self._allocations += 1

    def reset(self, seqno: int) -> None:
        """Drop every entry: the policy changed (`avc_ss_reset`)."""
        self._frees += len(self._entries)
        self._entries.clear()
        self.seqno = max(self.seqno, seqno)
        for hook in list(self.on_reset):
            hook(self.seqno)

    def holds(self, key: tuple, decision: Any) -> bool:
        """Whether `decision` itself is cached under `key` (not counted as a lookup)."""
        return self._entries.get(key) is decision

    def stats(self) -> AvcStats:
        """A snapshot of the counters."""
        return AvcStats(
            lookups=self._hits + self._misses, hits=self._hits, misses=self._misses,
            allocations=self._allocations, reclaims=self._reclaims, frees=self._frees,
        )
