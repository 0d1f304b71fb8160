"""Whether two AARE patterns can match a common path (NFA product emptiness).

Used at compile time to find overlapping rules with conflicting exec modes (as
apparmor_parser's "conflicting x modifiers") and by lint to find writable+executable
paths. Edge labels are character predicates: (negated, chars) means "in chars" or
"not in chars"; the alphabet is unbounded, so two negated predicates always meet.
"""

from __future__ import annotations

from collections import deque

from stockade.policy.aare import Pattern, Seq

Pred = tuple[bool, frozenset[str]]
_NOT_SLASH: Pred = (True, frozenset("/"))
_ANY: Pred = (True, frozenset())
_MAX_CLASS = 4096


def _class_pred(node: tuple) -> Pred:
    """The predicate of a one-character node: a class, `any` or a one-character literal."""
    if node[0] == "any":
        return _NOT_SLASH
    if node[0] == "lit":
        return (False, frozenset(node[1]))
    chars: set[str] = set()
    for lo, hi in node[2]:
        if ord(hi) - ord(lo) > _MAX_CLASS:
            hi = chr(ord(lo) + _MAX_CLASS)
        chars.update(chr(c) for c in range(ord(lo), ord(hi) + 1))
    return (node[1], frozenset(chars))


class Nfa:
    """A Thompson NFA: edges[state] = list of (pred or None for epsilon, target)."""

    def __init__(self, seq: Seq) -> None:
        self.edges: list[list[tuple[Pred | None, int]]] = [[]]
        self.start = 0
        self.accept = self._seq(seq, 0)
        self._closure: dict[int, frozenset[int]] = {}

    def _new(self) -> int:
        self.edges.append([])
        return len(self.edges) - 1

    def _edge(self, a: int, pred: Pred | None, b: int) -> None:
        self.edges[a].append((pred, b))

    def _seq(self, seq: Seq, state: int) -> int:
        for node in seq:
            state = self._node(node, state)
        return state

    def _node(self, node: tuple, state: int) -> int:
        kind = node[0]
        if kind == "lit":
            for ch in node[1]:
                nxt = self._new()
                self._edge(state, (False, frozenset(ch)), nxt)
                state = nxt
            return state
        if kind in ("star", "dstar"):
            loop_pred = _NOT_SLASH if kind == "star" else _ANY
            if node[1]:
                first = self._new()
                self._edge(state, _NOT_SLASH, first)
                state = first
            self._edge(state, loop_pred, state)
            return state
        if kind == "any":
            nxt = self._new()
            self._edge(state, _NOT_SLASH, nxt)
            return nxt
        if kind == "class":
            nxt = self._new()
            self._edge(state, _class_pred(node), nxt)
            return nxt
        if kind == "loop":
            # node[2] is one character; node[1] the least number of repetitions (0 or 1)
            if node[1]:
                state = self._node(node[2], state)
            loop = self._new()
            self._edge(state, None, loop)
            self._edge(self._node(node[2], loop), None, loop)
            return loop
        end = self._new()
        for branch in node[1]:
            b_start = self._new()
            self._edge(state, None, b_start)
            self._edge(self._seq(branch, b_start), None, end)
        return end

    def closure(self, state: int) -> frozenset[int]:
        """States reachable from `state` by epsilon edges."""
        got = self._closure.get(state)
        if got is not None:
            return got
        seen = {state}
        stack = [state]
        while stack:
            s = stack.pop()
            for pred, t in self.edges[s]:
                if pred is None and t not in seen:
                    seen.add(t)
                    stack.append(t)
        result = frozenset(seen)
        self._closure[state] = result
        return result


def _meet(a: Pred, b: Pred) -> bool:
    if a[0] and b[0]:
        return True
    if not a[0] and not b[0]:
        return not a[1].isdisjoint(b[1])
    pos, neg = (a, b) if not a[0] else (b, a)
    return not pos[1] <= neg[1]


_NFA_CACHE: dict[str, Nfa] = {}


def _nfa(p: Pattern) -> Nfa:
    nfa = _NFA_CACHE.get(p.text)
    if nfa is None:
        if len(_NFA_CACHE) > 4096:
            _NFA_CACHE.clear()
        nfa = _NFA_CACHE[p.text] = Nfa(p.seq)
    return nfa


def _prefix_compatible(a: str, b: str) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def intersects(a: Pattern, b: Pattern) -> bool:
    """Whether some path matches both patterns."""
    if not _prefix_compatible(a.literal_prefix, b.literal_prefix):
        return False
    if a.exact and b.exact and len(a.seq) == len(b.seq) == 1:
        return a.seq == b.seq
    na, nb = _nfa(a), _nfa(b)
    start = (na.start, nb.start)
    seen = {start}
    queue = deque([start])
    while queue:
        sa, sb = queue.popleft()
        ca, cb = na.closure(sa), nb.closure(sb)
        if na.accept in ca and nb.accept in cb:
            return True
        for x in ca:
            for pa, ta in na.edges[x]:
                if pa is None:
                    continue
                for y in cb:
                    for pb, tb in nb.edges[y]:
                        if pb is None or not _meet(pa, pb):
                            continue
                        pair = (ta, tb)
                        if pair not in seen:
                            seen.add(pair)
                            queue.append(pair)
    return False
