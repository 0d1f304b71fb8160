"""Policy analysis: who can read or write a type, information flow, domain transitions, MLS.

Information flow follows seinfoflow's model: a permission that reads moves information from
the object to the subject, one that writes from the subject to the object, each with the weight
1-10 of SETools' own permission map (permmap.py; unmapped permissions carry no flow, a type
never flows to itself). Domain transitions follow sedta: a transition counts when the source
may execute an entrypoint of the target and either a type_transition names the target or the
source has setexec; a dyntransition counts when the source has setcurrent. Conditional rules
count at the booleans' current values, or all of them with `all_rules=True` (SETools' CLIs
count them all). Flows land in a
`FlowGraph` whose nodes are `module:label` strings, so other label-based modules can add their
own edges (`FLOW_PROVIDERS`) and be analysed in the same graph.
"""

from __future__ import annotations

import subprocess
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache

from stockade.errors import StockadeError
from stockade.host import tools
from stockade.modules.selinux import permmap
from stockade.modules.selinux.mls import Level, Range
from stockade.modules.selinux.policy import (
    ALLOW,
    SELF,
    AvRule,
    Context,
    Policy,
    TypeRule,
    eval_cond,
)

PERM_MAP = permmap.BUILTIN  # the fallback map (see permmap.py)
READ_VERBS = {"read": {"read"}, "write": {"write", "append"}}


@dataclass(frozen=True, slots=True)
class Flow:
    """One direct flow: information moves from `src` to `dst`."""

    src: str
    dst: str
    weight: int
    evidence: tuple[str, ...] = ()


@dataclass
class FlowGraph:
    """A directed graph of flows between labels (`selinux:etc_t`, `smack:_`, ...)."""

    edges: dict[str, dict[str, Flow]] = field(default_factory=dict)

    def add(self, flow: Flow) -> None:
        """Add a flow, keeping the heaviest evidence for a pair."""
        row = self.edges.setdefault(flow.src, {})
        old = row.get(flow.dst)
        if old is None or flow.weight > old.weight:
            row[flow.dst] = flow

    def paths(self, src: str, dst: str, *, min_weight: int = 1, max_depth: int = 6,
              limit: int = 10) -> list[list[Flow]]:
        """Shortest flow paths from src to dst (BFS), at most `limit` of them."""
        found: list[list[Flow]] = []
        queue: deque[tuple[str, list[Flow]]] = deque([(src, [])])
        depth_of = {src: 0}
        while queue and len(found) < limit:
            node, path = queue.popleft()
            if len(path) >= max_depth:
                continue
            for nxt, flow in sorted(self.edges.get(node, {}).items()):
                if flow.weight < min_weight:
                    continue
                if nxt == dst:
                    found.append([*path, flow])
                    continue
                if nxt not in depth_of:
                    depth_of[nxt] = len(path) + 1
                    queue.append((nxt, [*path, flow]))
        return found

    def to_dot(self, title: str = "flows", highlight: Iterable[str] = ()) -> str:
        """Graphviz DOT text."""
        marked = set(highlight)
        lines = [f'digraph "{title}" {{', "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
        nodes = set(self.edges) | {d for row in self.edges.values() for d in row}
        for node in sorted(nodes):
            style = ", style=filled, fillcolor=lightyellow" if node in marked else ""
            lines.append(f'  "{node}" [label="{node.split(":", 1)[-1]}"{style}];')
        for src, row in sorted(self.edges.items()):
            for dst, flow in sorted(row.items()):
                label = "\\n".join(flow.evidence[:3])
                lines.append(f'  "{src}" -> "{dst}" [label="{label}", penwidth={1 + flow.weight / 4:.1f}];')
        lines.append("}")
        return "\n".join(lines) + "\n"


def write_dot(dot: str, path: str) -> str | None:
    """Write DOT to `path`; also render `path`.svg when Graphviz is installed. Returns the SVG."""
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(dot)
    except OSError as err:
        raise StockadeError(f"cannot write {path}: {err.strerror}") from None
    dot_program = tools.find("dot")
    if dot_program is None:
        return None
    svg = (path[:-4] if path.endswith(".dot") else path) + ".svg"
    proc = subprocess.run([dot_program, "-Tsvg", path, "-o", svg], capture_output=True, text=True,
                          timeout=120, check=False)
    return svg if proc.returncode == 0 else None


class Analyzer:
    """Queries over one policy, with rules indexed by the ids they name."""

    def __init__(self, policy: Policy, *, all_rules: bool = False,
                 perm_map: permmap.PermMap | None = None) -> None:
        self.p = policy
        self.all_rules = all_rules
        self.perm_map = perm_map or _default_map()
        self.by_source: dict[int, list[AvRule]] = {}
        self.by_target: dict[int, list[AvRule]] = {}
        for rule in policy.rules:
            if rule.kind != ALLOW:
                continue
            self.by_source.setdefault(rule.source, []).append(rule)
            self.by_target.setdefault(rule.target, []).append(rule)

    def _name(self, tid: int) -> str:
        return self.p.type_names[tid]

    def _type(self, name: str) -> int:
        tid = self.p.type_id(name)
        if tid in self.p.attributes:
            raise StockadeError(f"{name} is an attribute; name a type")
        return tid

    def _active(self, rule: AvRule | TypeRule) -> bool:
        if self.all_rules or rule.cond is None:
            return True
        return eval_cond(rule.cond, self.p.booleans) == rule.branch

    # -- who can ---------------------------------------------------------------------------

    def who_can(self, verb: str, type_name: str, tclass: str = "") -> list[tuple[str, str, list[str]]]:
        """(domain, class, permissions) for every domain allowed `verb` on the type."""
        perms = READ_VERBS.get(verb, {verb})
        target = self._type(type_name)
        seen: dict[tuple[int, str], int] = {}
        rules = [r for a in self.p.attrs_of(target) for r in self.by_target.get(a, ())]
        rules += [r for r in self.by_target.get(SELF, ()) if target in self.p.expand(r.source)]
        for rule in rules:
            if (tclass and rule.tclass != tclass) or not self._active(rule):
                continue
            cls = self.p.classes[rule.tclass]
            wanted = cls.mask(p for p in perms if p in cls.perms)
            if not rule.mask & wanted:
                continue
            sources = (target,) if rule.target == SELF else self.p.expand(rule.source)
            for s in sources:
                seen[(s, rule.tclass)] = seen.get((s, rule.tclass), 0) | (rule.mask & wanted)
        return sorted((self._name(s), c, self.p.classes[c].names(m)) for (s, c), m in seen.items())

    # -- information flow ------------------------------------------------------------------

    def direct_flows(self, tid: int, min_weight: int = 1) -> Iterator[Flow]:
        """Flows out of a type: what it writes (as a subject) and who reads it (as an object)."""
        return self._flows(tid, min_weight, into=False)

    def flows_into(self, tid: int, min_weight: int = 1) -> Iterator[Flow]:
        """Flows into a type: who writes it (as an object) and what it reads (as a subject)."""
        return self._flows(tid, min_weight, into=True)

    def _flows(self, tid: int, min_weight: int, *, into: bool) -> Iterator[Flow]:
        me = f"selinux:{self._name(tid)}"
        # as a subject its writes flow out and its reads flow in; as an object the reverse
        for as_subject in (True, False):
            index = self.by_source if as_subject else self.by_target
            direction = "r" if as_subject == into else "w"
            for a in self.p.attrs_of(tid):
                for rule in index.get(a, ()):
                    if (as_subject and rule.target == SELF) or not self._active(rule):
                        continue
                    w, ev = self._weight(rule, direction)
                    if w < min_weight:
                        continue
                    others = self.p.expand(rule.target if as_subject else rule.source) - {tid}
                    for other in others:
                        them = f"selinux:{self._name(other)}"
                        yield Flow(them, me, w, ev) if into else Flow(me, them, w, ev)

    def _weight(self, rule: AvRule, direction: str) -> tuple[int, tuple[str, ...]]:
        """The heaviest permission of the rule that flows in `direction`, and the evidence."""
        best, ev = 0, []
        for perm in self.p.classes[rule.tclass].names(rule.mask):
            d, w = self.perm_map.get(rule.tclass, perm)
            if d == direction or d == "b":
                best = max(best, w)
                ev.append(perm)
        return best, (f"{rule.tclass} {{ {' '.join(ev)} }}",) if ev else ()

    def flow_graph(self, source: str, *, min_weight: int = 1, max_depth: int = 2,
                   max_nodes: int = 2000) -> FlowGraph:
        """The flow graph reachable from `source` within `max_depth` steps."""
        graph = FlowGraph()
        start = self._type(source)
        frontier, seen = [start], {start}
        for _ in range(max_depth):
            nxt: list[int] = []
            for tid in frontier:
                for flow in self.direct_flows(tid, min_weight):
                    graph.add(flow)
                    other = self.p.type_id(flow.dst.split(":", 1)[1])
                    if other not in seen and len(seen) < max_nodes:
                        seen.add(other)
                        nxt.append(other)
            frontier = nxt
        return graph

    # -- domain transitions ----------------------------------------------------------------

    def _process_rules(self, source: int, perm: str) -> set[int]:
        """Types `source` has process:`perm` on (a self rule gives `source` itself)."""
        return self._targets(source, "process", perm)

    def _targets(self, domain: int, tclass: str, perm: str) -> set[int]:
        bit = self.p.classes[tclass].perms.get(perm, 0) if tclass in self.p.classes else 0
        out: set[int] = set()
        for a in self.p.attrs_of(domain):
            for rule in self.by_source.get(a, ()):
                if rule.tclass == tclass and rule.mask & bit and self._active(rule):
                    out |= {domain} if rule.target == SELF else self.p.expand(rule.target)
        return out

    def _process_type_trans(self, source: int) -> dict[int, set[int]]:
        """entrypoint type -> defaults of the process type_transitions out of `source`."""
        out: dict[int, set[int]] = {}
        for rule in self.p.type_rules:
            if (rule.kind == "type_transition" and rule.tclass == "process" and not rule.name
                    and source in self.p.expand(rule.source) and self._active(rule)):
                for t in self.p.expand(rule.target):
                    out.setdefault(t, set()).add(rule.default)
        return out

    def transitions(self, source: int) -> list[tuple[str, str, bool]]:
        """(target domain, entrypoint type, automatic) for each transition out of `source`,
        as sedta counts them; a dyntransition has the entrypoint "" (none is involved)."""
        if "process" not in self.p.classes:
            return []
        out: list[tuple[str, str, bool]] = []
        setexec = bool(self._process_rules(source, "setexec"))
        setcurrent = bool(self._process_rules(source, "setcurrent"))
        type_trans = self._process_type_trans(source)
        executable = self._targets(source, "file", "execute")
        for target in sorted(self._process_rules(source, "transition") - {source}):
            entries = self._targets(target, "file", "entrypoint") & executable
            if not setexec and not any(target in type_trans.get(e, ()) for e in entries):
                continue
            for entry in sorted(entries):
                if setexec or entry in type_trans:
                    out.append((self._name(target), self._name(entry),
                                target in type_trans.get(entry, ())))
        if setcurrent:
            for target in sorted(self._process_rules(source, "dyntransition") - {source}):
                out.append((self._name(target), "", False))
        return out

    def transition_paths(self, source: str, target: str, max_depth: int = 3,
                         limit: int = 10) -> list[list[tuple[str, str, str, bool]]]:
        """sedta-style paths: [(from, to, entrypoint, automatic), ...]."""
        start, goal = self._type(source), self._type(target)
        found: list[list[tuple[str, str, str, bool]]] = []
        queue: deque[tuple[int, list[tuple[str, str, str, bool]]]] = deque([(start, [])])
        seen = {start}
        while queue and len(found) < limit:
            node, path = queue.popleft()
            if len(path) >= max_depth:
                continue
            for dom, entry, auto in self.transitions(node):
                step = (self._name(node), dom, entry, auto)
                tid = self.p.type_id(dom)
                if tid == goal:
                    found.append([*path, step])
                elif tid not in seen:
                    seen.add(tid)
                    queue.append((tid, [*path, step]))
        return found

    # -- MLS -------------------------------------------------------------------------------

    def mls_write_down(self, domain: str = "", limit: int = 100) -> list[tuple[str, str, str, list[str]]]:
        """Allow rules whose write permissions survive MLS constraints from a high subject to a
        low object: (source, target, class, permissions)."""
        p = self.p
        if not p.mls.enabled:
            return []
        top = Level(len(p.mls.sensitivities) - 1, (1 << len(p.mls.categories)) - 1)
        bottom = Level(0, 0)
        only = self._type(domain) if domain else None
        found: list[tuple[str, str, str, list[str]]] = []
        cache: dict[tuple[int, int, str], int] = {}
        for s, t, tclass, mask, _rule in p.expanded_rules():
            if only is not None and s != only:
                continue
            if not p.constraints.get(tclass):
                continue
            cls = p.classes[tclass]
            writes = cls.mask(n for n in cls.names(mask) if self.perm_map.get(tclass, n)[0] == "w")
            if not writes:
                continue
            key = (s, t, tclass)
            if key not in cache:
                high = Context("u", "r", p.type_names[s], Range(top, top), "")
                low = Context("u", "r", p.type_names[t], Range(bottom, bottom), "")
                ok = writes
                for con in p.constraints[tclass]:
                    if con.mls and con.mask & ok and not p.eval_constraint(con.expr, high, low):
                        ok &= ~con.mask
                cache[key] = ok
            if cache[key] & writes:
                found.append((p.type_names[s], p.type_names[t], tclass, cls.names(cache[key] & writes)))
                if len(found) >= limit:
                    break
        return found


@cache
def _default_map() -> permmap.PermMap:
    return permmap.load()


# Other label-based modules register `name -> (policy-like object) -> flows` here.
FLOW_PROVIDERS: dict[str, Callable[[object], Iterable[Flow]]] = {}
