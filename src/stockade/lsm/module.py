"""`SecurityModule`, the base of every stacked module, and `Verdict`, what a hook returns."""

from __future__ import annotations

import errno
from collections.abc import Callable
from enum import Enum

from stockade.lsm.types import Request
from stockade.slotted import Frozen

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import ClassVar


class Mode(Enum):
    """A module's mode: enforce denials, complain (allow and record), or stay out."""

    ENFORCE = "enforce"
    COMPLAIN = "complain"
    DISABLED = "disabled"


class Verdict(Frozen):
    """One module's answer to one request.

    `errno` is 0 to allow, otherwise the positive errno the syscall would fail with.
    `audit` asks for an AUDIT record even though allowed (AppArmor's `audit` qualifier,
    SELinux's auditallow); `quiet` keeps a denial's record out of notifications (AppArmor's
    plain `deny` rules, SELinux's dontaudit); `hard` denies even in complain mode (explicit
    deny rules); `complain` lets this one denial through as complain mode would although the
    module is enforcing (AppArmor's per-profile `flags=(complain)`, SELinux's permissive
    domains): it becomes an ALLOWED record unless `hard`; `cacheable` says the answer depends
    only on the request's key; `abstains` makes it "no opinion" (the stack walks past it as
    it does None), kept only to carry `cacheable=False`.
    `fields` are the module's own audit fields (profile, requested_mask, scontext, ...).
    """

    FIELDS = ("module", "errno", "reason", "rule", "audit", "quiet", "hard", "complain",
              "cacheable", "fields", "abstains")
    __slots__ = FIELDS
    module: str
    errno: int
    reason: str
    rule: str
    audit: bool
    quiet: bool
    hard: bool
    complain: bool
    cacheable: bool
    fields: tuple[tuple[str, str], ...]
    abstains: bool

    def __init__(self, module: str, errno: int = 0, reason: str = "", rule: str = "",
                 audit: bool = False, quiet: bool = False, hard: bool = False,
                 complain: bool = False, cacheable: bool = True,
                 fields: tuple[tuple[str, str], ...] = (), abstains: bool = False) -> None:
        put = object.__setattr__
        put(self, "module", module)
        put(self, "errno", errno)
        put(self, "reason", reason)
        put(self, "rule", rule)
        put(self, "audit", audit)
        put(self, "quiet", quiet)
        put(self, "hard", hard)
        put(self, "complain", complain)
        put(self, "cacheable", cacheable)
        put(self, "fields", fields)
        put(self, "abstains", abstains)

    @property
    def allowed(self) -> bool:
        """True when this verdict allows."""
        return self.errno == 0

    @property
    def errno_name(self) -> str:
        """`EACCES` for 13; empty when allowed."""
        return errno.errorcode.get(self.errno, str(self.errno)) if self.errno else ""


# A module's handler for one hook: a Verdict, or None for the hook's default return
# ("no opinion"), which costs nothing on the hot path.
HookFn = Callable[[Request], "Verdict | None"]

# How a module asks "does the subject have capability N?": provided by the Stack, so that the
# question goes through every module's `capable` hook, as the kernel's `ns_capable()` goes
# through `security_capable()`.
CapableFn = Callable[[Request, int], bool]


class SecurityModule:
    """Base class of every module. Subclasses implement `hook_<name>` methods.

    `exclusive` marks a major module (AppArmor, SELinux, Smack): at most one per stack.
    `capable` is set by the stack so that modules can make the kernel's nested capability
    checks. A module whose policy changes calls `reload()`: its `policy_seqno` increments and
    the stack it sits in (through `on_reload`) flushes its AVC, as a policy load resets
    SELinux's.

    A plain class (a plain `run` loads it without `dataclasses`): `mode`, `policy_seqno`,
    `capable` and `on_reload` are class-level defaults that an instance's assignments
    override, so a subclass may be a dataclass of its own fields; the stack sets `mode`.
    """

    name: ClassVar[str] = ""
    exclusive: ClassVar[bool] = False
    # True for commoncap: capable() is exactly "in the effective set" and never audited, so
    # the stack may answer nested capability checks from the set without calling the hook.
    effective_set_only: ClassVar[bool] = False
    mode: Mode = Mode.ENFORCE
    policy_seqno: int = 0
    capable: CapableFn | None = None
    on_reload: Callable[[], None] | None = None

    def hooks(self) -> dict[str, HookFn]:
        """The hooks this module implements: every `hook_<name>` method."""
        found: dict[str, HookFn] = {}
        for attr in dir(type(self)):
            if attr.startswith("hook_"):
                found[attr.removeprefix("hook_")] = getattr(self, attr)
        return found

    def allow(self, reason: str = "", rule: str = "", *, audit: bool = False) -> Verdict:
        """An allowing verdict from this module."""
        return Verdict(self.name, 0, reason, rule, audit=audit)

    def deny(self, err: int, reason: str, rule: str = "", **kw: object) -> Verdict:
        """A denying verdict from this module with positive errno `err`."""
        return Verdict(self.name, err, reason, rule, **kw)  # type: ignore[arg-type]

    def no_opinion_uncached(self, hook: str) -> Verdict:
        """"No opinion" on `hook`, reached by reading something the request key leaves out
        (a pid, an exe, a clock, a program's state): a verdict that abstains, which the stack
        walks past as it does None (on every hook: on one whose default is an error, such as
        task_prctl, it is no non-default win) but does not cache."""
        return Verdict(self.name, 0, "no opinion (not cacheable)", cacheable=False,
                       abstains=True)

    def reload(self) -> None:
        """Mark the module's policy as changed so that cached decisions are dropped."""
        self.policy_seqno += 1
        if self.on_reload is not None:
            self.on_reload()
