"""The plan's Landlock domain as a model: which rights the plan grants on a path, the rows
its answers are written as, and the words they use. `explain --profile` (plan/explain.py), the
supervisor's plan decisions (supervisor/plan_guard.py) and `run`'s hints ask this one model; it
is its own module so that a plain `run` loads it without the rest of explain (start-up)."""

from __future__ import annotations

import errno
import os

from stockade.enforce import landlock as ll
from stockade.enforce.landlock import AccessFs, AccessNet, Scope
from stockade.enforce.plan.types import EnforcementPlan, FsRule
from stockade.files import realpaths
from stockade.slotted import Frozen

LANDLOCK = "landlock"
ALLOW, DENY, NA = "allow", "deny", "n/a"


class PlanRow(Frozen):
    """One kernel layer's answer: verdict allow, deny or n/a, the errno name and why."""

    FIELDS = ("layer", "verdict", "errno", "reason", "rule", "missing", "path")
    __slots__ = FIELDS
    layer: str
    verdict: str
    errno: str | None
    reason: str
    rule: str
    #: a Landlock denial: the rights missing (`fs.execute,fs.read_file`) on `path`
    missing: str
    path: str

    def __init__(self, layer: str, verdict: str, errno: str | None = None, reason: str = "",
                 rule: str = "", missing: str = "", path: str = "") -> None:
        object.__setattr__(self, "layer", layer)
        object.__setattr__(self, "verdict", verdict)
        object.__setattr__(self, "errno", errno)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "rule", rule)
        object.__setattr__(self, "missing", missing)
        object.__setattr__(self, "path", path)


def errname(err: int) -> str:
    return errno.errorcode.get(err, str(err))


def names(access: AccessFs | AccessNet | Scope) -> str:
    return "|".join(ll.flag_names(access)) or "none"


class LandlockModel:
    """The plan's Landlock domain as the running kernel (or ABI `abi`) would build it."""

    def __init__(self, plan: EnforcementPlan, abi: int, pid: int | None = None,
                 real: frozenset[str] = frozenset()) -> None:
        """`real`: grants' paths seen to be their own real paths (`Prepared.real_paths`)."""
        self.plan = plan
        self.abi = abi
        self.handled_fs = plan.handled_fs & ll.rights_for_abi(AccessFs, abi)
        self.handled_net = plan.handled_net & ll.rights_for_abi(AccessNet, abi)
        self.scopes = plan.scopes & ll.rights_for_abi(Scope, abi)
        self.pid = pid
        self.rules = list(zip(realpaths([r.path for r in plan.fs_rules], real), plan.fs_rules,
                              strict=True))
        #: rule path -> (position, rule): `granted` looks up a path's ancestors, not every rule
        self._by_path: dict[str, list[tuple[int, FsRule]]] = {}
        for i, (rpath, rule) in enumerate(self.rules):
            self._by_path.setdefault(rpath, []).append((i, rule))
        if pid:
            self.own_pid(pid)

    def own_pid(self, pid: int) -> None:
        """Add what the launcher grants the program with pid `pid` on its own /proc/PID."""
        self.pid = pid
        if not self.plan.own_proc:  # nothing to add (and no glob expander to import)
            return
        from stockade.enforce.plan.proc import own_proc_rules

        for rule in own_proc_rules(self.plan, pid):
            self._by_path.setdefault(rule.path, []).append((len(self.rules), rule))
            self.rules.append((rule.path, rule))

    @property
    def exists(self) -> bool:
        """A domain is created only when the plan handles something on this ABI."""
        return self.abi >= 1 and bool(self.handled_fs or self.handled_net or self.scopes)

    def granted(self, path: str) -> tuple[AccessFs, list[FsRule]]:
        """Rights granted on `path` by rules on it or on its ancestors (they add up)."""
        found: list[tuple[int, FsRule]] = []
        here = path
        while True:  # the path itself, then each ancestor up to "/"
            found += self._by_path.get(here, ())
            parent = os.path.dirname(here)
            if not parent or parent == here:
                break
            here = parent
        if here != "/":
            found += self._by_path.get("/", ())
        rights, used = AccessFs(0), []
        for _, rule in sorted(found, key=lambda pair: pair[0]):  # in the plan's order
            rights |= rule.access
            used.append(rule)
        return rights, used

    def check(self, needs: list[tuple[str, AccessFs]], err: int = errno.EACCES) -> PlanRow:
        """`needs`: (path, rights) pairs; deny on the first path missing a handled right."""
        if not self.exists:
            return PlanRow(LANDLOCK, NA, reason=self._no_domain())
        notes, rules = [], []
        for path, want in needs:
            handled = want & self.handled_fs
            if not handled:
                notes.append(f"{names(want)} on {path}: not handled by this plan/ABI")
                continue
            have, used = self.granted(path)
            rules += [str(r) for r in used if r.access & handled]
            missing = handled & ~have
            if missing:
                src = f"; granted there: {names(have & self.handled_fs)}" if used else \
                    "; no rule covers it"
                return PlanRow(LANDLOCK, DENY, errname(err),
                               f"{names(missing)} not granted on {path}{src}",
                               "; ".join(str(r) for r in used),
                               ",".join(f"fs.{n}" for n in ll.flag_names(missing)), path)
            notes.append(f"{names(handled)} granted on {path}")
        return PlanRow(LANDLOCK, ALLOW, None, "; ".join(notes), "; ".join(dict.fromkeys(rules)))

    def _no_domain(self) -> str:
        if self.abi < 1:
            return "no Landlock on this kernel"
        return "the plan handles no Landlock right: no domain"
