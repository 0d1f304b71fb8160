"""The module stack: DAC, then capability, then the other modules in `lsm=` order.

Enforce semantics are the kernel's `call_int_hook` (security/security.c): each module's hook
is called in order and the first return that differs from the hook's default wins, so the
first denial ends the walk. DAC is not an LSM but the VFS checks it before calling the
hooks, so it is the stack's first layer. `explain` evaluates every layer and reports each.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping

from stockade.errors import StockadeError
from stockade.lsm.avc import DEFAULT_THRESHOLD, AccessVectorCache
from stockade.lsm.hooks import HOOKS
from stockade.lsm.module import HookFn, Mode, SecurityModule, Verdict
from stockade.lsm.types import Request

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from stockade.slotted import NamedTuple  # typing's, without importing typing

DENIED = "DENIED"
ALLOWED = "ALLOWED"  # a would-be denial let through by complain mode
AUDIT = "AUDIT"  # an allowed access that policy asked to record

_serials = itertools.count(1)


# AuditEvent and Decision are NamedTuples, not frozen dataclasses: they are built on the hot
# path (every decision, every replayed denial) and a tuple builds about three times faster,
# while staying immutable (cached decisions are shared).
class AuditEvent(NamedTuple):
    """What the stack reports for one record-worthy verdict; `stockade.audit` formats it."""

    request: Request
    verdict: Verdict
    result: str
    mode: Mode
    timestamp: float
    serial: int


class Decision(NamedTuple):
    """The stack's answer: 0 or an errno, every layer consulted, and the audit events."""

    errno: int
    layers: tuple[Verdict | None, ...]
    modules: tuple[str, ...]
    decider: Verdict | None = None
    events: tuple[AuditEvent, ...] = ()
    cached: bool = False

    @property
    def allowed(self) -> bool:
        """True when the request is allowed."""
        return self.errno == 0


AuditSink = Callable[[AuditEvent], None]


def complains(mode: Mode, verdict: Verdict) -> bool:
    """Whether a denying `verdict` of a module in `mode` is let through: the module is in
    complain mode or the verdict asks it (learning), unless the denial is hard."""
    return (mode is Mode.COMPLAIN or verdict.complain) and not verdict.hard


class Stack:
    """An ordered set of security modules with an AVC in front of them."""

    def __init__(self, modules: list[SecurityModule], *, audit_sink: AuditSink | None = None,
                 avc_threshold: int = DEFAULT_THRESHOLD) -> None:
        majors = [m.name for m in modules if m.exclusive and m.mode is not Mode.DISABLED]
        if len(majors) > 1:
            raise StockadeError(
                f"only one exclusive (major) module may be active; {majors[0]} and {majors[1]} "
                "are both exclusive"
            )
        names = [m.name for m in modules]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise StockadeError(f"module listed twice: {', '.join(sorted(dupes))}")
        self.modules = modules
        self.audit_sink = audit_sink
        self.avc = AccessVectorCache(avc_threshold)
        self.policy_seqno = 0
        self._local = threading.local()
        implemented = {id(m): m.hooks() for m in modules}
        unknown = {h for hooks in implemented.values() for h in hooks} - HOOKS.keys()
        if unknown:
            raise StockadeError(f"modules implement unknown hooks: {', '.join(sorted(unknown))}")
        self._table: dict[str, tuple[tuple[SecurityModule, HookFn], ...]] = {
            name: tuple((m, implemented[id(m)][name]) for m in modules
                        if m.mode is not Mode.DISABLED and name in implemented[id(m)])
            for name in HOOKS
        }
        capable_hooks = self._table["capable"]
        # commoncap's answer is a pure function of the effective set and is never audited,
        # so nested capability checks can ask it without building a Request.
        self._commoncap_first = bool(capable_hooks) and capable_hooks[0][0].effective_set_only \
            and capable_hooks[0][0].mode is Mode.ENFORCE
        self._capable_hooks = capable_hooks[1:] if self._commoncap_first else capable_hooks
        for module in modules:
            module.capable = self.capable
            module.on_reload = self._policy_changed

    @classmethod
    def from_lsm(cls, lsm: str, factories: Mapping[str, Callable[[], SecurityModule]],
                 *, dac: SecurityModule | None = None, **kw: object) -> Stack:
        """Build a stack from a kernel-style `lsm=` list: capability first, then that order."""
        names = [n.strip() for n in lsm.split(",") if n.strip()]
        for name in names:
            if name not in factories:
                known = ", ".join(sorted(factories))
                raise StockadeError(f"unknown security module {name!r} (known: {known})")
        ordered = ["capability"] + [n for n in names if n != "capability"]
        modules = ([dac] if dac is not None else []) + [factories[n]() for n in ordered]
        return cls(modules, **kw)  # type: ignore[arg-type]

    def module(self, name: str) -> SecurityModule:
        """The module called `name`."""
        for m in self.modules:
            if m.name == name:
                return m
        raise StockadeError(f"no module {name!r} in this stack")

    def reload(self) -> None:
        """Every module's policy changed: bump the sequence number and flush the AVC."""
        for m in self.modules:
            m.reload()

    def _policy_changed(self) -> None:
        self.policy_seqno += 1
        self.avc.reset(self.policy_seqno)

    # -- enforce ---------------------------------------------------------------------------

    def decide(self, req: Request) -> Decision:
        """Decide `req` as the kernel would: first non-default return wins."""
        cached = self.avc.lookup(req.key)
        if cached is not None:
            if cached.events:
                return self._replay(cached, req)
            return cached
        return self._decide_uncached(req)

    def decide_key(self, key: tuple, build: Callable[..., Request], *args: Any) -> Decision:
        """`decide(build(*args))` where `key` is that request's key: on an AVC hit without
        audit events to replay, the Request is never built."""
        cached = self.avc.lookup(key)
        if cached is not None:
            if cached.events:
                return self._replay(cached, build(*args))
            return cached
        return self._decide_uncached(build(*args))

    def _decide_uncached(self, req: Request) -> Decision:
        seqno = self.policy_seqno
        nested: list[AuditEvent] = []
        outer = getattr(self._local, "events", None)
        self._local.events = nested
        try:
            decision, cacheable = self._walk(req)
        finally:
            self._local.events = outer
        if nested:
            # nested capable() checks were audited: a replay could not reproduce them
            decision = decision._replace(events=tuple(nested) + decision.events)
            cacheable = False
        if cacheable:
            self.avc.insert(req.key, decision, seqno)
        return decision

    def _walk(self, req: Request, verdicts: list[Verdict | None] | None = None
              ) -> tuple[Decision, bool]:
        """call_int_hook over the hook's modules; `verdicts` replays precomputed answers."""
        default = HOOKS[req.hook].default
        layers: list[Verdict | None] = []
        names: list[str] = []
        events: list[AuditEvent] = []
        cacheable = True
        for i, (module, fn) in enumerate(self._table[req.hook]):
            verdict = fn(req) if verdicts is None else verdicts[i]
            layers.append(verdict)
            names.append(module.name)
            if verdict is None:
                continue
            cacheable = cacheable and verdict.cacheable
            if verdict.abstains:
                continue  # no opinion, read off the key: walked past, not cached
            if verdict.errno:
                if complains(module.mode, verdict):
                    events.append(self._event(req, verdict, ALLOWED, Mode.COMPLAIN))
                    continue
                events.append(self._event(req, verdict, DENIED, module.mode))
                return Decision(verdict.errno, tuple(layers), tuple(names), verdict,
                                tuple(events)), cacheable
            if verdict.audit:
                events.append(self._event(req, verdict, AUDIT, module.mode))
            if default:
                break  # a hook whose default is an error: an explicit 0 is a non-default win
        return Decision(-default if default else 0, tuple(layers), tuple(names), None,
                        tuple(events)), cacheable

    def _event(self, req: Request, verdict: Verdict, result: str, mode: Mode) -> AuditEvent:
        event = AuditEvent(req, verdict, result, mode, time.time(), next(_serials))
        if self.audit_sink is not None:
            self.audit_sink(event)
        return event

    def _replay(self, cached: Decision, req: Request) -> Decision:
        events = tuple([self._event(req, e.verdict, e.result, e.mode) for e in cached.events])
        return Decision(cached.errno, cached.layers, cached.modules, cached.decider, events, True)

    def capable(self, req: Request, cap: int) -> bool:
        """The kernel's `ns_capable()`: ask every module's `capable` hook about `cap`.

        Used by DAC's overrides and other built-in checks. As in the kernel, commoncap's
        verdict is never audited; other modules (AppArmor, SELinux) audit their denials.
        """
        hooks = self._capable_hooks
        if not req.subject.cap_effective >> cap & 1 and self._commoncap_first:
            return False  # commoncap, first in every stack, refuses silently: no Request needed
        if not hooks:
            return bool(req.subject.cap_effective >> cap & 1)
        nested = Request("capable", req.subject, cap=cap)
        for module, fn in hooks:
            verdict = fn(nested)
            if verdict is None or not verdict.errno:
                continue
            if module.name == "capability":
                return False
            complain = complains(module.mode, verdict)
            result = ALLOWED if complain else DENIED
            event = self._event(nested, verdict, result, Mode.COMPLAIN if complain else module.mode)
            sink = getattr(self._local, "events", None)
            if sink is not None:
                sink.append(event)
            if result == DENIED:
                return False
        return True

    # -- explain ---------------------------------------------------------------------------

    def explain(self, req: Request) -> Decision:
        """Evaluate every layer (no AVC, no sink); report each verdict and the enforce outcome.

        `layers` holds every module's verdict; `errno`, `decider` and `events` are what
        enforce mode would produce, first denial winning.
        """
        sink, self.audit_sink = self.audit_sink, None
        nested: list[AuditEvent] = []
        outer = getattr(self._local, "events", None)
        self._local.events = nested
        try:
            verdicts = [fn(req) for _, fn in self._table[req.hook]]
            enforced, _ = self._walk(req, verdicts)
        finally:
            self.audit_sink = sink
            self._local.events = outer
        names = tuple(m.name for m, _ in self._table[req.hook])
        return Decision(enforced.errno, tuple(verdicts), names, enforced.decider,
                        tuple(nested) + enforced.events)
