"""The plan's own decision on calls Landlock does not mediate (chmod, chown, utime*, xattrs).

AppArmor decides these by the profile's rights on the path (path_chmod, path_chown,
inode_setattr and the xattr hooks need `w`; reading xattrs needs `r`). The plan's Landlock
grants are what the kernel enforces for the same profile (or the ad-hoc flags), so the
supervisor asks that one model (`landlock_model.LandlockModel`, the one `explain --profile`
uses): the call is allowed when the plan grants write_file (read_file/read_dir for queries)
on the resolved inode's path. Objects without a path (pipes, sockets, anonymous inodes) are
not the filesystem's and pass.
"""

from __future__ import annotations

import errno
import stat
from collections.abc import Callable

from stockade.enforce.landlock import AccessFs, AccessNet
from stockade.enforce.plan.landlock_model import DENY, LandlockModel, names
from stockade.enforce.plan.types import EnforcementPlan, FsRule
from stockade.slotted import replace

_CHANGE = (AccessFs.MAKE_CHAR | AccessFs.MAKE_DIR | AccessFs.MAKE_REG | AccessFs.MAKE_SOCK
           | AccessFs.MAKE_FIFO | AccessFs.MAKE_BLOCK | AccessFs.MAKE_SYM | AccessFs.REMOVE_DIR
           | AccessFs.REMOVE_FILE)


def _may_change(model: LandlockModel, directory: str) -> bool:
    if not model.exists:
        return True
    handled = model.handled_fs
    have, _ = model.granted(directory)
    return bool(_CHANGE & ~handled or (_CHANGE | AccessFs.REFER) & handled & have)

#: processes whose own-/proc grants a PlanGuard keeps (the supervisor's task cache holds 1024)
OWN_LIMIT = 64


class PlanGuard:
    """Answers "does the plan grant write (or read) on this path?" for the supervisor."""

    def __init__(self, plan: EnforcementPlan, abi: int,
                 real: frozenset[str] = frozenset()) -> None:
        """`real`: the grants' paths prepare opened with no link on the way (their own real
        paths: the rules are on what they name), so the models need not resolve them."""
        # rights the supervisor exercises after a module decided (TOMOYO's file policy) are no
        # grant of the plan's own: counting them would allow utime/xattrs everywhere
        own = [r for r in plan.fs_rules if not r.supervised]
        self.model = LandlockModel(replace(plan, fs_rules=own) if len(own) < len(plan.fs_rules)
                                   else plan, abi, real=real)
        #: the whole ruleset: what the program or the supervisor on its behalf may do at all
        self.kernel = (self.model if len(own) == len(plan.fs_rules)
                       else LandlockModel(plan, abi, real=real))
        self.supervised_changes = tuple(plan.supervised_changes)
        #: the whole ruleset without any process's own /proc/PID (program_started adds the
        #: program's to the others): what `check_proc` adds a task's own entries to
        self.shared = LandlockModel(plan, abi, real=real) if plan.own_proc else self.kernel
        #: (pid, its thread group's start time) -> the own-/proc grants of that process
        self._own: dict[tuple[int, int], list[FsRule]] = {}

    def program_started(self, pid: int) -> None:
        """The program's pid is known: its own /proc/PID grants count (plan_proc)."""
        self.model.own_pid(pid)
        if self.kernel is not self.model:
            self.kernel.own_pid(pid)

    def may_change_entries(self, directory: str) -> bool:
        """Whether the ruleset lets the program rename or replace an entry of `directory`:
        a MAKE_* or REMOVE_* right it does not handle, or one (or REFER) it grants there.
        REFER alone changes nothing (a rename also needs MAKE_* and REMOVE_*). Supervised
        rights count only beneath a directory where the module's policy changes names."""
        if _may_change(self.model, directory):
            return True
        if self.kernel is self.model:
            return False
        beneath = any(directory == d or directory.startswith(d.rstrip("/") + "/")
                      for d in self.supervised_changes)
        return beneath and _may_change(self.kernel, directory)

    def check(self, path: str, mode: int, write: bool) -> tuple[int, str]:
        """(0, "") when allowed, else (EACCES, why) as Landlock would refuse an open."""
        if not self.model.exists:
            return 0, ""
        if not path:  # fd_path could not read it (ENAMETOOLONG past PATH_MAX): fail closed
            return errno.EACCES, "plan: the file's path cannot be read (longer than PATH_MAX)"
        if not path.startswith("/"):  # a pipe, socket or anonymous inode: no path to grant
            return 0, ""
        if write:
            want = AccessFs.WRITE_FILE
        else:
            want = AccessFs.READ_DIR if stat.S_ISDIR(mode) else AccessFs.READ_FILE
        row = self.model.check([(path, want)])
        if row.verdict == DENY:
            return errno.EACCES, f"plan: {row.reason}"
        return 0, ""

    def own_rules(self, pid: int, start: int,
                  expand: Callable[[], list[FsRule]]) -> list[FsRule]:
        """The own-/proc grants of the task `pid` of a thread group started at `start` (clock
        ticks; 0: unknown, never kept): `expand()` once, then kept (at most OWN_LIMIT)."""
        key = (pid, start)
        got = self._own.get(key) if start else None
        if got is None:
            got = expand()
            if start:
                if len(self._own) >= OWN_LIMIT:
                    self._own.clear()
                self._own[key] = got
        return got

    def check_proc(self, path: str, mode: int, access: AccessFs,
                   own: list[FsRule]) -> tuple[int, str]:
        """(0, "") when the program's own domain would let the task open `path` (in /proc)
        with `access`, else (EACCES, why): the whole ruleset's grants plus `own`, the plan's
        own-/proc rules expanded for that task (`own_proc_rules`). The supervisor thread's
        ruleset grants all of /proc with those rules' rights (prepare._supervisor_ruleset),
        so an emulated open in /proc is decided here, never left to that ruleset."""
        model = self.shared
        if not model.exists:
            return 0, ""
        if not path:  # fd_path could not read it: fail closed
            return errno.EACCES, "plan: the file's path cannot be read (longer than PATH_MAX)"
        if stat.S_ISDIR(mode):
            access = (access & ~AccessFs.READ_FILE) | (
                AccessFs.READ_DIR if access & AccessFs.READ_FILE else AccessFs(0))
        want = access & model.handled_fs
        have, _ = model.granted(path)
        for rule in own:
            if path == rule.path or path.startswith(rule.path.rstrip("/") + "/"):
                have |= rule.access
        missing = want & ~have
        if missing:
            return errno.EACCES, (f"plan: {names(missing)} not granted on {path} (the "
                                  "supervisor's own ruleset grants /proc only for the plan's "
                                  "own-/proc rules, decided here for the task's own pid)")
        return 0, ""

    def may_write(self, path: str) -> bool:
        """Whether the whole ruleset (the program's own grants and the supervised rules) lets
        the file at `path` be opened for writing."""
        if not self.kernel.exists:
            return True
        return self.kernel.check([(path, AccessFs.WRITE_FILE)]).verdict != DENY

    def may_autobind(self) -> bool:
        """Whether an implicit bind to an ephemeral port (listen, connect of an unbound
        socket) is within the plan: TCP bind not handled, or port 0 granted."""
        model = self.model
        if not model.exists or not model.handled_net & AccessNet.BIND_TCP:
            return True
        return any(r.port == 0 and r.access & AccessNet.BIND_TCP for r in model.plan.net_rules)
