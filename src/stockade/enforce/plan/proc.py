"""The program's own /proc/PID: `@{PROC}/@{pid}/...` rules, granted once its pid is known.

In AppArmor `@{pid}` (and `@{pids}`, `@{tid}`) is a glob of any pid, so a rule such as
`@{PROC}/@{pid}/net/tcp r,` lets the program read its own /proc/self/net/tcp (which resolves
to /proc/PID/net/tcp). Landlock rules name existing inodes, and the program's /proc/PID does
not exist when the plan is compiled. The launcher knows the pid between fork and exec: the
child waits on the `go` pipe before landlock_restrict_self, and the parent adds these rules,
expanded in /proc/PID only (`plan_glob.expand(pid=...)`), to the ruleset the child then
enforces (a ruleset is one kernel object, shared across fork).

What stays approximated: processes the program starts later and threads it creates later have
their own /proc entries, which no rule covers; other pids are granted as they exist at
launch (the plan's ordinary glob expansion). `deny` rules that can match in /proc take their
rights from these grants: a file or directory when the pattern matches it, a whole tree
whenever the deny could match beneath it (fail closed).

`explain --profile` and the supervisor ask the same function (`own_proc_rules`) with the pid
the question is about (the subject's pid), so they and the launcher give one answer.
"""

from __future__ import annotations

import os

from stockade import fsview
from stockade.enforce.landlock import FILE_RIGHTS, AccessFs
from stockade.enforce.plan.glob import TREE, Target, expand, literal_region
from stockade.enforce.plan.types import EnforcementPlan, FsRule, OwnProcRule
from stockade.lazy_re import LazyPattern
from stockade.policy import aare
from stockade.policy.aare import AareError

#: the note every such rule's coverage entry carries
NOTE = ("@{pid}: granted at launch on the program's own /proc/PID as well (its pid is known "
        "after fork); processes and threads it starts later are not covered (Landlock rules "
        "name existing inodes)")
NET_NOTE = ("wider: files in /proc/PID/net are granted through that directory (procfs looks "
            "them up afresh on every open, so a rule on one of them would cover nothing)")


def own_proc_note(pattern: str) -> str | None:
    """The coverage note when `pattern` names entries of a process's own /proc/PID through a
    pid glob (tested on this process's /proc/PID: every process has the same entries), else
    None."""
    if not pattern.startswith("/proc/"):
        return None
    pid = os.getpid()
    try:
        targets = expand(pattern, pid=pid).targets
    except (AareError, ValueError):
        return None
    return NOTE if targets else None


def may_reach_proc(pattern: str) -> bool:
    """Whether a deny `pattern` can match in /proc (its literal directory is /, /proc or
    beneath /proc)."""
    try:
        region = literal_region(list(aare.parse(pattern).seq))
    except (AareError, ValueError):
        return True
    return region in ("/", "/proc") or region.startswith("/proc/")


def region_of(pattern: str) -> str:
    """The literal directory beneath which `pattern` matches ("/" if it cannot be parsed)."""
    try:
        return literal_region(list(aare.parse(pattern).seq))
    except (AareError, ValueError):
        return "/"


def _beneath(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def proc_net_dir(path: str) -> str | None:
    """/proc/PID/net when `path` is a file in it (`/proc/[1-9][0-9]*/net/[^/]+`, on strings:
    a plan cache hit asks it of its own /proc grants and imports no `re`). procfs looks those
    files up afresh on every open (proc_net_d_revalidate always fails: the network namespace
    may have changed), so a Landlock rule on one of them covers nothing; the directory stays,
    and its rule does."""
    if not path.startswith("/proc/"):
        return None
    pid, sep, name = path[6:].partition("/net/")
    if sep and name and "/" not in name and pid.isascii() and pid.isdigit() and pid[0] != "0":
        return path[:6 + len(pid) + 4]
    return None


_PID_ENTRY = LazyPattern(r"/proc/[1-9][0-9]*(?:/|$)")


def is_pid_entry(path: str) -> bool:
    """Whether `path` is a process's /proc/PID or beneath it."""
    return bool(_PID_ENTRY.match(path))


def proc_owned(targets: list[Target], *, mine: bool) -> tuple[list[Target], int]:
    """An `owner` (`mine`) or `other` rule's targets: entries of a process's /proc/PID only
    when the process's owner is (or is not) this user now, as AppArmor compares the file's
    owner with the task's fsuid (a process's /proc entries belong to its effective uid).
    Everything else is kept. Returns the targets kept and how many were left out."""
    me = os.geteuid()
    kept: list[Target] = []
    for t in targets:
        if _PID_ENTRY.match(t.path):
            try:
                owned = fsview.process_owned(t.path, me)
            except OSError:
                continue
            if owned != mine:
                continue
        kept.append(t)
    return kept, len(targets) - len(kept)


#: the last answer: (the rules, pid, its start time, the grants). The launcher (adding them to
#: the ruleset) and the supervisor's plan model ask for the same process between its fork and
#: its exec: the second gets the same answer without walking /proc again
_last: tuple[list[OwnProcRule], int, int, list[FsRule]] | None = None


def own_proc_rules(plan: EnforcementPlan, pid: int) -> list[FsRule]:
    """The fs rules the plan grants on /proc/`pid` as the program's own (denials applied)."""
    global _last
    if not plan.own_proc:
        return []
    from stockade.enforce.status_record import start_time

    try:
        started = start_time(pid)  # a reused pid is another process: asked afresh
    except (OSError, ValueError, IndexError):
        started = -1
    if (_last is not None and started >= 0 and _last[1:3] == (pid, started)
            and _last[0] == plan.own_proc):
        return list(_last[3])
    out = _expand_own(plan, pid)
    _last = (list(plan.own_proc), pid, started, out)
    return list(out)


def _expand_own(plan: EnforcementPlan, pid: int) -> list[FsRule]:
    grants: dict[str, tuple[str, AccessFs, str]] = {}
    for rule in plan.own_proc:
        if rule.deny:
            continue
        rights = dict(rule.rights)
        try:
            targets = expand(rule.pattern, pid=pid).targets
        except (AareError, ValueError):
            continue
        for t in targets:
            kind, have, src = grants.get(t.path, (t.kind, AccessFs(0), rule.source))
            grants[t.path] = (kind, have | rights.get(t.kind, AccessFs(0)), src)
    for path, (kind, rights, src) in list(grants.items()):
        net = proc_net_dir(path)
        if net is not None and kind == "file":  # see proc_net_dir
            del grants[path]
            have = grants.get(net, ("dir", AccessFs(0), src))
            grants[net] = ("dir", have[1] | (rights & FILE_RIGHTS), have[2])
    out: list[FsRule] = []
    for path, (kind, rights, src) in grants.items():
        for deny in (r for r in plan.own_proc if r.deny):
            lost = dict(deny.rights).get(kind, AccessFs(0))
            if not rights & lost:
                continue
            if kind == TREE:
                hit = _beneath(deny.region, path) or _beneath(path, deny.region)
            else:
                # here only: the matcher's module (and the rule AST it needs) costs a plan
                # cache hit about 10 ms to import, and most plans have no deny in /proc
                from stockade.policy.matcher import pattern_matches

                hit = pattern_matches(deny.pattern, path, is_dir=kind != "file")
            if hit:
                rights &= ~lost
        if rights:
            out.append(FsRule(path, rights, src, optional=True))
    return out


def deny_rule(pattern: str, rights: AccessFs, source: str) -> OwnProcRule:
    """An `OwnProcRule` for a deny rule that can match in /proc."""
    return OwnProcRule(pattern, tuple((k, rights) for k in ("file", "dir", TREE)), source,
                       deny=True, region=region_of(pattern))
