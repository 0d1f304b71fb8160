"""Complain mode for a profile: ask the profile's decision, let the access through, record it.

`stockade run --complain -p P` runs the program under the observe plan (its only Landlock
domain keeps stockade's own state out of reach: cli/run/complain.py), so the kernel blocks
none of the profile's file, TCP or signal accesses. For every access the
supervisor sees, `ProfileJudge` asks the same decision function that `explain --profile` and
`run -p` enforcement use (`plan_explain.explain_plan` on the profile's plan: Landlock's grants,
the plan's seccomp rules) and, where the profile would refuse it, writes one AppArmor-style
complain record (`apparmor="ALLOWED"`, operation, name, requested mask, profile) to the audit
file. The program continues. An access is recorded once per run: a later one with the same
operation and name and no new mask letter is not (a created file is decided again once it
exists), as AppArmor's complain cache keeps repeats out of the log.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from stockade.audit.record import AuditRecord
from stockade.enforce.plan.explain import DENY, LandlockModel, PlanRow, explain_plan
from stockade.enforce.plan.types import EnforcementPlan
from stockade.lsm.types import MAY_APPEND, MAY_EXEC, MAY_READ, MAY_WRITE, Object, Request

#: the LSM hook -> AppArmor's operation name in its records
_OPERATIONS = {
    "file_open": "open", "bprm_check_security": "exec", "inode_create": "mknod",
    "inode_mkdir": "mkdir", "inode_unlink": "unlink", "inode_rmdir": "rmdir",
    "inode_rename": "rename_src", "inode_link": "link", "inode_setattr": "setattr",
    "inode_setxattr": "setxattr", "inode_getxattr": "getxattr", "socket_connect": "connect",
    "socket_bind": "bind", "socket_create": "create", "task_kill": "signal",
    "ptrace_access_check": "ptrace", "sb_mount": "mount",
}
#: bound on the distinct (operation, name) remembered for deduplication
DEDUP_LIMIT = 65536

Sink = Callable[[AuditRecord], None]


def _mask(req: Request) -> str:
    """AppArmor's requested mask letters for one file request (c: create, d: delete)."""
    hook = req.hook
    if hook in ("inode_create", "inode_mkdir"):
        return "c"
    if hook in ("inode_unlink", "inode_rmdir"):
        return "d"
    if hook in ("inode_setattr", "inode_setxattr"):
        return "w"
    if hook == "bprm_check_security":
        return "x"
    letters = ""
    if req.access & MAY_READ or not req.access & (MAY_WRITE | MAY_APPEND | MAY_EXEC):
        letters += "r"
    if req.access & MAY_WRITE:
        letters += "w"
    elif req.access & MAY_APPEND:
        letters += "a"
    if req.access & MAY_EXEC:
        letters = letters.replace("r", "") + "x"
    return letters


def _merge(masks: list[str]) -> str:
    """Letters of several masks, once each, in AppArmor's order."""
    found = set("".join(masks))
    return "".join(c for c in "rwadclkmx" if c in found)


def _name(obj: Object | None, req: Request) -> str:
    if obj is None:
        return req.what
    if obj.kind == "socket":
        return f"{obj.address}:{obj.port}" if obj.address or obj.port else ""
    if obj.kind == "task" and obj.task is not None:
        return str(obj.task.pid)
    if (req.hook == "inode_mkdir" or obj.is_dir) and obj.path and not obj.path.endswith("/"):
        return obj.path + "/"  # AppArmor names a directory with its slash
    return obj.path


class ProfileJudge:
    """Asks the profile's plan about each supervised access; records would-be denials."""

    def __init__(self, plan: EnforcementPlan, abi: int, profile: str, sink: Sink | None) -> None:
        self.plan = plan
        self.abi = abi
        self.model = LandlockModel(plan, abi)  # resolves every rule's path once
        self.profile = profile
        self.sink = sink
        self.allowed = 0  # accesses the profile would deny that were let through
        self.recorded = 0  # of them, the distinct ones (one record each)
        self._seen: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()
        self._serial = 0

    def refusals(self, requests: list[Request]) -> list[tuple[Request, PlanRow]]:
        """Each request the profile's plan would refuse, with the refusing row."""
        out = []
        for req in requests:
            row = next((r for r in explain_plan(self.plan, req, model=self.model)
                        if r.verdict == DENY), None)
            if row is not None:
                out.append((req, row))
        return out

    def __call__(self, pid: int, comm: str, exe: str, uid: int,
                 requests: list[Request]) -> None:
        """Record, once, the accesses of one system call that the profile would refuse."""
        refused = self.refusals(requests)
        if not refused:
            return
        first, row = refused[0]
        with self._lock:
            self.allowed += 1
        fields: dict[str, str] = {"decided_by": f"plan:{row.layer}"}
        if first.obj is not None and first.obj.kind == "socket":
            fields |= _net_fields(first.obj)
        if first.hook == "task_kill":
            fields |= {"class": "signal", "signal": str(first.signal)}
        # a socket's family and type, a signal's number: part of what makes an access new
        # (every socket() and unix-socket connect has the same empty name)
        kind = "\0".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "decided_by")
        for op, name, mask in _entries(first, [req for req, _ in refused]):
            serial = self._first_time(op, f"{name}\0{kind}" if kind else name, mask)
            if serial and self.sink is not None:
                self.sink(AuditRecord(
                    time=time.time(), serial=serial, operation=op, module="apparmor",
                    result="ALLOWED", pid=pid, comm=comm, exe=exe, uid=uid,
                    subject=self.profile, object=name, requested=mask, denied=mask,
                    reason=row.reason, mode="complain", errno=0, profile=self.profile,
                    fields={"apparmor": "ALLOWED", "operation": op, "profile": self.profile,
                            "name": name, "requested_mask": mask, "denied_mask": mask,
                            **fields}))

    def _first_time(self, op: str, name: str, mask: str) -> int:
        """The record's serial, or 0 when the same access was recorded already (a created
        file is decided again once it exists)."""
        with self._lock:
            seen = self._seen.get((op, name))
            if seen is not None and set(mask) <= seen:
                return 0
            if seen is not None:
                seen.update(mask)
            elif len(self._seen) < DEDUP_LIMIT:
                self._seen[(op, name)] = set(mask)
            self._serial += 1
            self.recorded = self._serial
            return self._serial


def _entries(first: Request, refused: list[Request]) -> list[tuple[str, str, str]]:
    """(operation, name, mask) of each record one refused system call gives, as AppArmor's:
    rename names its source and its destination, link the new name."""
    files = [r for r in refused if r.obj is not None and r.obj.kind == "file"]
    mask = _merge([_mask(r) for r in files]) if files else ""
    name = _name(first.obj, first)
    if first.hook == "inode_rename" and first.target is not None:
        return [("rename_src", name, "wd"), ("rename_dest", _name(first.target, first), "wc")]
    if first.hook == "inode_link" and first.target is not None:
        return [("link", _name(first.target, first), "l")]
    if first.hook == "inode_create" and len(files) > 1:
        return [("open", name, mask)]  # open(O_CREAT): the creation and the open, as AppArmor
    if any(r.hook == "bprm_check_security" or r.access & MAY_EXEC for r in files):
        return [("exec", name, mask)]
    return [(_OPERATIONS.get(first.hook, first.hook), name, mask)]


#: socket family and type numbers -> AppArmor's names in its net records (inet, vsock, ...),
#: built once
_FAMILIES = {int(f): f.name[3:].lower() for f in socket.AddressFamily}
_SOCK_TYPES = {int(socket.SOCK_STREAM): "stream", int(socket.SOCK_DGRAM): "dgram",
               int(socket.SOCK_RAW): "raw", int(socket.SOCK_SEQPACKET): "seqpacket",
               int(socket.SOCK_RDM): "rdm", 10: "packet"}


def _net_fields(obj: Object) -> dict[str, str]:
    out = {"class": "net", "family": _FAMILIES.get(obj.family, str(obj.family))}
    if obj.sock_type & 0xF in _SOCK_TYPES:
        out["sock_type"] = _SOCK_TYPES[obj.sock_type & 0xF]
    return out
