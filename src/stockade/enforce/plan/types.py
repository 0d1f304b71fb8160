"""What to enforce on a process (`EnforcementPlan`) and how well this kernel can (`CoverageReport`).

The profile compiler (profile -> plan) and the ad-hoc flags of `stockade run` both produce an
`EnforcementPlan`; `enforce.prepare` turns it into kernel objects for the running kernel and
fills a `CoverageReport` saying, rule by rule, whether it is enforced exactly, approximated,
left to the supervisor, or not enforced at all, and what kernel would enforce it.
"""

from __future__ import annotations

import enum
import errno
import functools
from collections.abc import Callable

from stockade.enforce.caps import cap_name
from stockade.enforce.landlock import (
    ALL_FS,
    ALL_NET,
    ALL_SCOPES,
    NO_RESTRICT_FLAGS,
    AccessFs,
    AccessNet,
    RestrictFlag,
    Scope,
    flag_names,
)
from stockade.enforce.seccomp import ALLOW, Action, ActionKind, ArgCmp, errno_action
from stockade.slotted import Frozen, Slotted, replace, slot_setters

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

    from stockade.enforce.coverage_scope import Precount


class FsRule(Frozen):
    """Grant Landlock filesystem `access` beneath `path` (a file or a directory tree).

    `optional`: found by expanding a profile's glob: if it is gone at launch, skip it
    (reported) instead of refusing to start. `supervised`: rights the supervisor exercises
    for the program after a module decided (TOMOYO's file policy): every call that uses them
    is routed, so they grant the program nothing alone.
    """

    FIELDS = ("path", "access", "source", "optional", "supervised")
    __slots__ = FIELDS
    path: str
    access: AccessFs
    source: str
    optional: bool
    supervised: bool

    def __init__(self, path: str, access: AccessFs, source: str = "", optional: bool = False,
                 supervised: bool = False) -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "access", access)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "optional", optional)
        object.__setattr__(self, "supervised", supervised)

    def __str__(self) -> str:
        return f"{self.path} {rights_text(self.access)}"


@functools.lru_cache(maxsize=1024)
def rights_text(access: AccessFs) -> str:
    """`access` as a rule prints it ("read_file|read_dir", "none"); memoized: a plan's
    thousands of grants have a few distinct rights, and a hit prints each into coverage."""
    return "|".join(flag_names(access)) or "none"


class OwnProcRule(Frozen):
    """A file rule on any pid's /proc entries (`@{PROC}/@{pid}/...`), granted at launch on the
    program's own /proc/PID once its pid is known (enforce/plan/proc.py).

    `rights` by target kind (file, dir, tree); a `deny` rule takes them away instead, and
    `region` is the directory beneath which it can match (fail closed on trees there).
    """

    FIELDS = ("pattern", "rights", "source", "deny", "region")
    __slots__ = FIELDS
    pattern: str
    rights: tuple[tuple[str, AccessFs], ...]
    source: str
    deny: bool
    region: str

    def __init__(self, pattern: str, rights: tuple[tuple[str, AccessFs], ...], source: str = "",
                 deny: bool = False, region: str = "/") -> None:
        object.__setattr__(self, "pattern", pattern)
        object.__setattr__(self, "rights", rights)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "deny", deny)
        object.__setattr__(self, "region", region)


class NetRule(Frozen):
    """Grant Landlock TCP `access` (bind and/or connect) on `port`."""

    FIELDS = ("port", "access", "source")
    __slots__ = FIELDS
    port: int
    access: AccessNet
    source: str

    def __init__(self, port: int, access: AccessNet, source: str = "") -> None:
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "access", access)
        object.__setattr__(self, "source", source)

    def __str__(self) -> str:
        return f"tcp port {self.port} {'|'.join(flag_names(self.access))}"


class SeccompRule(Frozen):
    """`action` for `syscall` when all `conditions` hold; `reason` is for people."""

    FIELDS = ("syscall", "action", "conditions", "reason", "source")
    __slots__ = FIELDS
    syscall: str
    action: Action
    conditions: tuple[ArgCmp, ...]
    reason: str
    source: str

    def __init__(self, syscall: str, action: Action, conditions: tuple[ArgCmp, ...] = (),
                 reason: str = "", source: str = "") -> None:
        object.__setattr__(self, "syscall", syscall)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "conditions", conditions)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "source", source)

    def __str__(self) -> str:
        cond = f" if {' && '.join(map(str, self.conditions))}" if self.conditions else ""
        return f"{self.syscall}{cond} -> {self.action}"


#: what `clear_env` keeps
_ENV_KEEP = ("PATH", "TERM", "LANG", "LC_ALL", "HOME", "USER", "LOGNAME", "TZ")


class EnforcementPlan(Slotted):
    """Everything the launcher applies to a child between fork and exec.

    Landlock: everything in `handled_fs` / `handled_net` is denied except what `fs_rules` /
    `net_rules` grant; `scopes` cut abstract unix sockets and signals off from outside the
    domain; `landlock_log` holds LANDLOCK_RESTRICT_SELF_LOG_* flags. seccomp: `seccomp_rules`
    over `seccomp_default`; other architectures and the x32 ABI take `seccomp_bad_arch`;
    `seccomp_log` asks the kernel to audit every non-allow action (SECCOMP_FILTER_FLAG_LOG).
    Capabilities: only `keep_caps` (numbers) survive. `no_new_privs` is always True.
    Environment: with `clear_env`, only `env_keep` names pass, then `env_set` is applied.
    `rlimits`: RLIMIT_* number -> hard limit set in the child (the soft limit is lowered to
    it). `own_proc`: rules on the program's own /proc/PID, granted at launch (the pid is known
    after fork). `supervised_changes`: directories beneath which a module's policy lets the
    supervisor change names for the program with its `supervised` rights (TOMOYO's
    create/unlink/rename... ACLs); elsewhere those rights change no name
    (supervisor/execve/names.py).
    """

    FIELDS = ("name", "fs_rules", "handled_fs", "net_rules", "handled_net", "scopes",
              "landlock_log", "seccomp_default", "seccomp_bad_arch", "seccomp_rules",
              "seccomp_log", "keep_caps", "no_new_privs", "clear_env", "env_keep", "env_set",
              "die_with_parent", "rlimits", "own_proc", "supervised_changes")
    __slots__ = FIELDS

    def __init__(self, name: str = "adhoc", fs_rules: list[FsRule] | None = None,
                 handled_fs: AccessFs = ALL_FS, net_rules: list[NetRule] | None = None,
                 handled_net: AccessNet = ALL_NET, scopes: Scope = ALL_SCOPES,
                 landlock_log: RestrictFlag = NO_RESTRICT_FLAGS, seccomp_default: Action = ALLOW,
                 seccomp_bad_arch: Action | None = None,
                 seccomp_rules: list[SeccompRule] | None = None, seccomp_log: bool = True,
                 keep_caps: frozenset[int] = frozenset(), no_new_privs: bool = True,
                 clear_env: bool = False, env_keep: tuple[str, ...] = _ENV_KEEP,
                 env_set: dict[str, str] | None = None, die_with_parent: bool = True,
                 rlimits: dict[int, int] | None = None, own_proc: list[OwnProcRule] | None = None,
                 supervised_changes: list[str] | None = None) -> None:
        self.name = name
        self.fs_rules: list[FsRule] = [] if fs_rules is None else fs_rules
        self.handled_fs = handled_fs
        self.net_rules: list[NetRule] = [] if net_rules is None else net_rules
        self.handled_net = handled_net
        self.scopes = scopes
        self.landlock_log = landlock_log
        self.seccomp_default = seccomp_default
        self.seccomp_bad_arch = (errno_action(errno.ENOSYS) if seccomp_bad_arch is None
                                 else seccomp_bad_arch)
        self.seccomp_rules: list[SeccompRule] = [] if seccomp_rules is None else seccomp_rules
        self.seccomp_log = seccomp_log
        self.keep_caps = keep_caps
        self.no_new_privs = no_new_privs
        self.clear_env = clear_env
        self.env_keep = env_keep
        self.env_set: dict[str, str] = {} if env_set is None else env_set
        self.die_with_parent = die_with_parent
        self.rlimits: dict[int, int] = {} if rlimits is None else rlimits
        self.own_proc: list[OwnProcRule] = [] if own_proc is None else own_proc
        self.supervised_changes: list[str] = ([] if supervised_changes is None
                                              else supervised_changes)
        self.check()

    def check(self) -> None:
        """ValueError for a plan without no_new_privs or with a TCP port out of range."""
        if not self.no_new_privs:
            raise ValueError("an EnforcementPlan always sets no_new_privs")
        for rule in self.net_rules:
            if not 0 <= rule.port <= 65535:
                raise ValueError(f"TCP port out of range: {rule.port}")

    def notify_rules(self) -> list[SeccompRule]:
        """The user-notif rules: system calls a profile leaves to the supervisor."""
        return [r for r in self.seccomp_rules if r.action.kind is ActionKind.NOTIFY]

    def merged(self, extra: EnforcementPlan) -> EnforcementPlan:
        """This plan plus `extra` (e.g. a profile's plan plus ad-hoc flags).

        Grants add up (fs and net rules, kept capabilities, env), restrictions add up (handled
        rights, scopes, seccomp rules, clear_env). A non-allow seccomp default wins over
        allow, so an allow-list profile stays an allow-list.
        """
        default = self.seccomp_default
        if default.kind is ActionKind.ALLOW:
            default = extra.seccomp_default
        rules = list(self.seccomp_rules)
        rules += [r for r in extra.seccomp_rules if r not in rules]
        rlimits = dict(self.rlimits)
        for res, limit in extra.rlimits.items():
            rlimits[res] = min(rlimits.get(res, limit), limit, key=_limit_key)
        return replace(
            self,
            name=self.name if extra.name in ("", "adhoc") else f"{self.name}+{extra.name}",
            fs_rules=self.fs_rules + [r for r in extra.fs_rules if r not in self.fs_rules],
            handled_fs=self.handled_fs | extra.handled_fs,
            net_rules=self.net_rules + [r for r in extra.net_rules if r not in self.net_rules],
            handled_net=self.handled_net | extra.handled_net,
            scopes=self.scopes | extra.scopes,
            landlock_log=self.landlock_log | extra.landlock_log,
            seccomp_default=default,
            seccomp_rules=rules,
            seccomp_log=self.seccomp_log or extra.seccomp_log,
            keep_caps=self.keep_caps | extra.keep_caps,
            clear_env=self.clear_env or extra.clear_env,
            env_keep=tuple(dict.fromkeys(self.env_keep + extra.env_keep)),
            env_set={**self.env_set, **extra.env_set},
            rlimits=rlimits,
            own_proc=self.own_proc + [r for r in extra.own_proc if r not in self.own_proc],
            supervised_changes=list(dict.fromkeys(self.supervised_changes
                                                  + extra.supervised_changes)),
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description (for `--audit` and `compile --json`)."""
        return {
            "name": self.name,
            "landlock": {
                "handled_fs": flag_names(self.handled_fs),
                "handled_net": flag_names(self.handled_net),
                "scopes": flag_names(self.scopes),
                "log_flags": flag_names(self.landlock_log),
                "fs_rules": [{"path": r.path, "access": flag_names(r.access),
                              "source": r.source} for r in self.fs_rules],
                "net_rules": [{"port": r.port, "access": flag_names(r.access),
                               "source": r.source} for r in self.net_rules],
                "own_proc_rules": [{"pattern": r.pattern, "deny": r.deny, "source": r.source,
                                    "access": {k: flag_names(a) for k, a in r.rights}}
                                   for r in self.own_proc],
            },
            "seccomp": {
                "default": str(self.seccomp_default),
                "bad_arch": str(self.seccomp_bad_arch),
                "log": self.seccomp_log,
                "rules": [{"rule": str(r), "reason": r.reason, "source": r.source}
                          for r in self.seccomp_rules],
            },
            "keep_caps": sorted(cap_name(c) for c in self.keep_caps),
            "rlimits": {str(k): v for k, v in sorted(self.rlimits.items())},
            "no_new_privs": self.no_new_privs,
            "clear_env": self.clear_env,
        }


def _limit_key(limit: int) -> float:
    """Order rlimit values with RLIM_INFINITY (-1) as the largest."""
    return float("inf") if limit < 0 else float(limit)


class CoverageStatus(enum.Enum):
    """How a rule is enforced on this kernel."""

    EXACT = "exact"
    APPROXIMATED = "approximated"
    SUPERVISOR = "supervisor"
    NOT_ENFORCED = "not-enforced"


class CoverageEntry(Frozen):
    """One rule: its text and origin, its status, why, and what would enforce it exactly."""

    FIELDS = ("rule", "source", "status", "detail", "enforced_by")
    __slots__ = FIELDS
    rule: str
    source: str
    status: CoverageStatus
    detail: str
    enforced_by: str

    def __init__(self, rule: str, source: str, status: CoverageStatus, detail: str = "",
                 enforced_by: str = "") -> None:
        _RULE(self, rule)  # (slot_setters: one entry per rule of a profile)
        _SOURCE(self, source)
        _STATUS(self, status)
        _DETAIL(self, detail)
        _ENFORCED_BY(self, enforced_by)

    def line(self) -> str:
        """One line for people (best-effort mode prints these for weakened rules)."""
        where = f" ({self.source})" if self.source else ""
        more = f": {self.detail}" if self.detail else ""
        if self.status is CoverageStatus.EXACT:
            by = f" [{self.enforced_by}]" if self.enforced_by else ""
            return f"exact: {self.rule}{where}{more}{by}"
        need = f"; needs {self.enforced_by}" if self.enforced_by else ""
        return f"{self.status.value}: {self.rule}{where}{more}{need}"


_RULE, _SOURCE, _STATUS, _DETAIL, _ENFORCED_BY = slot_setters(CoverageEntry)


class CoverageReport(Slotted):
    """The per-rule verdict of one plan on one kernel.

    A report from the plan cache may be `deferred`: its entries stay in their file until
    something reads `entries` (a run that prints only the summary line asks the precount,
    enforce/coverage_scope.py: decoding 100,000 entries was most of a 100,000-rule hit).
    Entries added meanwhile follow the loaded ones, as they would have. A report whose
    entries were just precounted (for the cache) keeps the precount the same way (`counted`);
    entries are only added after them, never changed.
    """

    FIELDS = ("entries",)
    __slots__ = ("_added", "_counted", "_load", "entries", "precount")

    def __init__(self, entries: list[CoverageEntry] | None = None) -> None:
        self.entries: list[CoverageEntry] = [] if entries is None else entries
        self._load: Callable[[], list[CoverageEntry]] | None = None
        self._added: list[CoverageEntry] = []  # while deferred: the entries added since
        #: coverage_scope.Precount of the first `_counted` entries (or of the deferred ones)
        self.precount: Precount | None = None
        self._counted = 0

    @classmethod
    def deferred(cls, load: Callable[[], list[CoverageEntry]], precount: Precount
                 ) -> CoverageReport:
        """A report whose entries `load()` returns when first read; `precount` is theirs."""
        report = cls()
        del report.entries  # read next by __getattr__
        report._load, report.precount = load, precount
        return report

    def __getattr__(self, name: str) -> Any:
        """The entries of a deferred report, loaded (only an unset slot gets here)."""
        if name != "entries" or self._load is None:
            raise AttributeError(f"{type(self).__qualname__!r} object has no attribute {name!r}")
        loaded = self._load()  # raises again on every read if it cannot (fail closed)
        self.entries, self._counted = loaded + self._added, len(loaded)
        self._load, self._added = None, []
        return self.entries

    def counted(self, precount: Precount) -> None:
        """`precount` is that of the entries so far."""
        self.precount, self._counted = precount, len(self.entries)

    @property
    def pending(self) -> bool:
        """Whether the entries are still in their file (deferred, not read yet)."""
        return self._load is not None

    def added(self) -> list[CoverageEntry] | None:
        """The entries added since the precount (None without one)."""
        if self.precount is None:
            return None
        return self._added if self._load is not None else self.entries[self._counted:]

    def _tail(self) -> list[CoverageEntry]:
        """Where entries are added (not loading a deferred report's own)."""
        return self._added if self._load is not None else self.entries

    def add(self, rule: str, status: CoverageStatus, detail: str = "", *, source: str = "",
            enforced_by: str = "") -> None:
        """Record one rule."""
        self._tail().append(CoverageEntry(rule, source, status, detail, enforced_by))

    def add_entries(self, entries: list[CoverageEntry]) -> None:
        """Record these rules, in order (`add` of each: a hit records thousands of grants)."""
        self._tail().extend(entries)

    def weakened(self) -> list[CoverageEntry]:
        """Entries that are not enforced exactly by the kernel."""
        return [e for e in self.entries if e.status is not CoverageStatus.EXACT]

    @property
    def exact(self) -> bool:
        """True when every rule is enforced exactly."""
        return not self.weakened()

    def extend(self, other: CoverageReport) -> None:
        """Append another report's entries (e.g. the compiler's and the kernel's)."""
        self._tail().extend(other.entries)

    def to_json(self) -> list[dict[str, str]]:
        """JSON-ready entries."""
        return [{"rule": e.rule, "source": e.source, "status": e.status.value,
                 "detail": e.detail, "enforced_by": e.enforced_by} for e in self.entries]


class ProfilePlan(Slotted):
    """The profile compiler's output (enforce/plan/profile.py): the plan, one coverage entry per rule,
    notes for people. Defined here so that a cached plan loads without the compiler."""

    FIELDS = ("profile", "abi", "plan", "coverage", "notes", "mode", "transitions", "inputs")
    __slots__ = FIELDS

    def __init__(self, profile: str, abi: int, plan: EnforcementPlan, coverage: CoverageReport,
                 notes: list[str] | None = None, mode: str = "enforce",
                 transitions: list[str] | None = None, inputs: list[str] | None = None,
                 ) -> None:
        self.profile = profile
        self.abi = abi
        self.plan = plan
        self.coverage = coverage
        self.notes: list[str] = [] if notes is None else notes
        self.mode = mode
        #: one line per exec transition (px/cx) and hat the kernel cannot apply (select.py)
        self.transitions: list[str] = [] if transitions is None else transitions
        #: what the policy was read from (policy.includes.Loader.inputs): `run` refuses a plan
        #: whose program could change one of them (enforce/own_code.py)
        self.inputs: list[str] = [] if inputs is None else inputs
