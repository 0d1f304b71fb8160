"""Would a plan still refuse what a kernel Landlock record shows was refused?

`logprof` proposes rules from denials; a rule that the plan compiler does not turn into the
grant the kernel needs (a glob over an empty directory, a rule bound to an inode that is
replaced) would be proposed again every round. This asks the one place that decides what a
profile enforces (the plan compiler, through `plan_explain.LandlockModel`) whether the
record's blocked rights on its path are granted.

A record on the denied process's own /proc/PID is asked as the launcher grants it: with the
plan's own-/proc rules (`@{PROC}/@{pid}/...`, granted at launch on the program's pid). That
process is gone by now, so the question is put on this process's /proc/PID instead, as
`proc.own_proc_note` does: every process has the same entries.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence

from stockade.audit.record import AuditRecord
from stockade.enforce import landlock as ll
from stockade.enforce.plan.explain import DENY, LandlockModel
from stockade.enforce.plan.profile import compile_file

_PROC_PID = re.compile(r"/proc/([1-9][0-9]*)(/.*)?")


def blocked_rights(record: AuditRecord) -> ll.AccessFs:
    """The filesystem rights a LANDLOCK_ACCESS record names (`blockers=fs.make_reg,...`)."""
    rights = ll.AccessFs(0)
    for blocker in record.denied.split(","):
        name = blocker.strip().removeprefix("fs.").upper()
        if blocker.strip().startswith("fs.") and name in ll.AccessFs.__members__:
            rights |= ll.AccessFs[name]
    return rights


def checkable(record: AuditRecord) -> bool:
    """A kernel Landlock filesystem denial with a path."""
    return (record.module == "landlock" and record.result == "DENIED"
            and record.object.startswith("/") and bool(blocked_rights(record)))


def _domain_creators(records: Sequence[AuditRecord]) -> dict[str, int]:
    """Landlock domain -> the pid that created it (the program `run` launched), from the
    first denial's `domain_pid` or the domain's allocation record. Only that process has its
    own /proc/PID granted: a process it starts later does not (its /proc/PID did not exist
    at launch)."""
    out: dict[str, int] = {}
    for r in records:
        domain = r.fields.get("domain", "")
        pid = r.fields.get("domain_pid") or (r.pid if r.operation == "domain_allocated" else None)
        if domain and pid:
            out.setdefault(domain, int(pid))
    return out


def still_denied(profile_path: str, text: str, records: Sequence[AuditRecord], *,
                 include_dirs: Sequence[str] = (), name: str | None = None,
                 ) -> list[AuditRecord]:
    """The `records` the plan of profile `text` (as if it were `profile_path`) still refuses."""
    wanted = [r for r in records if checkable(r)]
    if not wanted:
        return []
    directory = os.path.dirname(os.path.abspath(profile_path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".logprof-", suffix=".profile")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        plan = compile_file(tmp, include_dirs, name).plan
    finally:
        os.unlink(tmp)
    abi = ll.abi_version()
    model = LandlockModel(plan, abi)
    own: LandlockModel | None = None
    creators = _domain_creators(records)
    out = []
    for r in wanted:
        found = _PROC_PID.fullmatch(r.object)
        creator = creators.get(r.fields.get("domain", ""), r.pid)
        if found and r.pid and int(found.group(1)) == r.pid == creator and plan.own_proc:
            if own is None:
                own = LandlockModel(plan, abi, pid=os.getpid())
            asked, path = own, f"/proc/{os.getpid()}{found.group(2) or ''}"
        else:
            asked, path = model, r.object
        if asked.check([(path, blocked_rights(r))]).verdict == DENY:
            out.append(r)
    return out

