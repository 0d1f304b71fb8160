"""One audit event (the records sharing an `audit(TIME:SERIAL)` stamp) → `AuditRecord`s.

Every AppArmor, SELinux, Landlock and seccomp record becomes one AuditRecord of its module,
with the event's SYSCALL, PROCTITLE, CWD and PATH records folded into it (pid, comm, exe,
the syscall, the full path). An event without such a record becomes one `kernel` record that
keeps the whole event's text in `raw`; nothing is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from stockade.audit.readers.parser import (
    RawRecord,
    avc_permissions,
    field_value,
    get_field,
    parse_fields,
    stamp_time,
)
from stockade.audit.readers.syscalls import syscall_name
from stockade.audit.readers.types import (
    AUDIT_APPARMOR_FIRST,
    AUDIT_APPARMOR_LAST,
    AUDIT_AVC,
    AUDIT_AVC_PATH,
    AUDIT_CWD,
    AUDIT_EOE,
    AUDIT_EXECVE,
    AUDIT_LANDLOCK_ACCESS,
    AUDIT_LANDLOCK_DOMAIN,
    AUDIT_PATH,
    AUDIT_PROCTITLE,
    AUDIT_SECCOMP,
    AUDIT_SOCKADDR,
    AUDIT_SYSCALL,
    AUDIT_USER_AVC,
    type_name,
)
from stockade.audit.record import AuditRecord
from stockade.lsm.caps import cap_name

# Records that describe the event's syscall rather than a decision of their own.
AUXILIARY = frozenset({AUDIT_SYSCALL, AUDIT_PATH, AUDIT_CWD, AUDIT_PROCTITLE, AUDIT_EOE,
                       AUDIT_EXECVE, AUDIT_SOCKADDR, AUDIT_AVC_PATH})
_LEGACY_APPARMOR = {1500: "AUDIT", 1501: "AUDIT", 1502: "ALLOWED", 1503: "DENIED",
                    1504: "HINT", 1505: "STATUS", 1506: "ERROR", 1507: "KILL"}
_AA_RESULT = {"DENIED": "DENIED", "ALLOWED": "ALLOWED", "AUDIT": "AUDIT", "KILL": "DENIED"}

# seccomp return actions (include/uapi/linux/seccomp.h), SECCOMP_RET_ACTION_FULL = 0xffff0000
SECCOMP_ACTIONS = {
    0x80000000: "kill_process", 0x00000000: "kill_thread", 0x00030000: "trap",
    0x00050000: "errno", 0x7FC00000: "user_notif", 0x7FF00000: "trace",
    0x7FFC0000: "log", 0x7FFF0000: "allow",
}  # fmt: skip
_SECCOMP_RESULT = {"kill_process": "DENIED", "kill_thread": "DENIED", "trap": "DENIED",
                   "errno": "DENIED", "allow": "ALLOWED"}


# kernel/auditsc.c audit_log_exit(): "arch=%x syscall=%d success=%s exit=%ld a0=... items=%d
# ppid=%d pid=%d auid=%u uid=%u gid=%u ... ses=%u comm= exe= [subj=] key="
_SYSCALL = re.compile(
    r"arch=(?P<arch>\w+) syscall=(?P<syscall>\d+)(?: success=(?P<success>\w+) exit=(?P<exit>-?\d+))?"
    r".*? ppid=(?P<ppid>\d+) pid=(?P<pid>\d+) auid=(?P<auid>\d+) uid=(?P<uid>\d+) "
    r".*? ses=(?P<ses>\d+) comm=(?P<comm>\S+) exe=(?P<exe>\S+)(?:.* key=(?P<key>\S+))?")


def syscall_fields(body: str) -> dict[str, str]:
    """The fields of a SYSCALL record that matter here: one regex match, else a full parse."""
    match = _SYSCALL.search(body)
    if match is None:
        return parse_fields(body)
    out = match.groupdict()
    for key in ("comm", "exe", "key"):
        value = out[key]
        if value is not None and value[:1] != '"':
            out[key] = field_value(key, value)
        elif value is not None:
            out[key] = value[1:-1]
    return out


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


class _Context:
    """The syscall side of an event: SYSCALL, PROCTITLE, CWD and PATH records, read on demand."""

    __slots__ = ("_paths", "_syscall", "cwd_body", "path_bodies", "proctitle_body",
                 "syscall_body")

    def __init__(self, event: Sequence[RawRecord]) -> None:
        self.syscall_body = ""
        self.proctitle_body = ""
        self.cwd_body = ""
        self.path_bodies: list[str] = []
        self._paths: list[dict[str, str]] | None = None
        self._syscall: dict[str, str | None] | None = None
        for rec in event:
            t = rec.type
            if t == AUDIT_SYSCALL:
                self.syscall_body = rec.body
            elif t == AUDIT_PATH:
                self.path_bodies.append(rec.body)
            elif t == AUDIT_PROCTITLE:
                self.proctitle_body = rec.body
            elif t == AUDIT_CWD:
                self.cwd_body = rec.body

    def get(self, key: str) -> str | None:
        """One field of the SYSCALL record."""
        syscall = self._syscall
        if syscall is None:
            syscall = self._syscall = syscall_fields(self.syscall_body) if self.syscall_body else {}
        return syscall.get(key)

    @property
    def cwd(self) -> str:
        return (get_field(self.cwd_body, "cwd") or "") if self.cwd_body else ""

    @property
    def paths(self) -> list[dict[str, str]]:
        if self._paths is None:
            self._paths = [parse_fields(body) for body in self.path_bodies]
        return self._paths

    def fields(self) -> dict[str, str]:
        """The context worth keeping beside a decision."""
        out: dict[str, str] = {}
        if self.syscall_body:
            get = self.get
            out["syscall"] = syscall_name(get("arch") or "", get("syscall") or "")
            for key in ("success", "exit", "ppid", "auid", "ses", "key"):
                value = get(key)
                if value is not None:
                    out[key] = value
        if self.proctitle_body:
            out["proctitle"] = get_field(self.proctitle_body, "proctitle") or ""
        cwd = self.cwd
        if cwd:
            out["cwd"] = cwd
        return out

    def first_path(self) -> str:
        """The first PATH record's name, absolute when a CWD record says where it was."""
        for body in self.path_bodies:
            name = get_field(body, "name")
            if name and name != "(null)":
                return self._absolute(name)
        return ""

    def _absolute(self, name: str) -> str:
        if not name.startswith("/"):
            cwd = self.cwd
            if cwd:
                return cwd.rstrip("/") + "/" + name
        return name

    def full_path(self, name: str, inode: str | None) -> str:
        """A PATH record's absolute name for `name` (a basename in SELinux AVCs)."""
        for item in self.paths:
            candidate = item.get("name", "")
            if not candidate or candidate == "(null)":
                continue
            if (inode and item.get("inode") == inode) or candidate.rsplit("/", 1)[-1] == name:
                return self._absolute(candidate)
        return name

    def errno(self) -> int:
        exit_code = _int(self.get("exit"))
        return -exit_code if exit_code < 0 else 0


def _base(rec: RawRecord, index: int, module: str, ctx: _Context) -> AuditRecord:
    time, serial = stamp_time(rec.stamp)
    uid = ctx.get("uid")
    return AuditRecord(
        time=time, serial=serial, operation="", module=module, result="AUDIT",
        pid=_int(ctx.get("pid")), comm=ctx.get("comm") or "", exe=ctx.get("exe") or "",
        uid=_int(uid) if uid is not None else None, errno=ctx.errno(), record_type=rec.type,
        raw=rec.line, fields={"record_index": str(index), **ctx.fields()},
    )


def _address(f: dict[str, str]) -> str:
    """`host:port` from lsm_audit's laddr/lport, faddr/fport, saddr/src, daddr/dest fields."""
    for addr_key, port_key in (("faddr", "fport"), ("daddr", "dest"), ("laddr", "lport"),
                               ("saddr", "src")):
        if addr_key in f or port_key in f:
            return f"{f.get(addr_key, '')}:{f.get(port_key, '')}".lstrip(":")
    return ""


def apparmor(rec: RawRecord, index: int, ctx: _Context, f: dict[str, str]) -> AuditRecord:
    """An AppArmor record (AVC 1400, USER_AVC 1107 or the legacy 1500-1507 types)."""
    out = _base(rec, index, "apparmor", ctx)
    verdict = f.get("apparmor") or _LEGACY_APPARMOR.get(rec.type, "AUDIT")
    out.result = _AA_RESULT.get(verdict, "AUDIT")
    out.mode = "complain" if verdict == "ALLOWED" else "enforce"
    out.operation = f.get("operation", "")
    out.profile = f.get("profile") or f.get("label", "")
    out.subject = out.profile
    if out.operation == "capable" or "capname" in f:
        out.object = f.get("capname") or cap_name(_int(f.get("capability"), -1))
    elif "name" in f and out.operation not in ("signal", "ptrace"):
        out.object = f["name"]
    elif "peer" in f or "peer_label" in f:
        out.object = f.get("peer") or f.get("peer_label", "")
    elif "family" in f:
        out.object = _address(f) or f"{f['family']} {f.get('sock_type', '')}".strip()
    else:
        out.object = f.get("path", "")
    out.requested = f.get("requested_mask") or f.get("mask", "")
    out.denied = f.get("denied_mask", "")
    if out.result == "DENIED" and not out.denied:
        out.denied = out.requested
    out.pid = _int(f.get("pid")) or out.pid
    out.comm = f.get("comm") or out.comm
    out.exe = f.get("exe") or out.exe
    if "fsuid" in f:
        out.uid = _int(f["fsuid"])
    if out.result == "DENIED" and not out.errno:
        out.errno = 13
    out.fields.update(f)
    return out


def selinux(rec: RawRecord, index: int, ctx: _Context, body: str,
            f: dict[str, str]) -> AuditRecord:
    """An SELinux `avc:  denied  { perms } for ...` record (AVC 1400 or USER_AVC 1107)."""
    out = _base(rec, index, "selinux", ctx)
    verdict, perms = avc_permissions(body) or ("denied", [])
    permissive = f.get("permissive") == "1"
    out.result = "AUDIT" if verdict == "granted" else ("ALLOWED" if permissive else "DENIED")
    out.mode = "permissive" if permissive else "enforce"
    tclass = f.get("tclass", "")
    out.operation = tclass
    out.subject = f.get("scontext", "")
    parts = out.subject.split(":")
    out.profile = parts[2] if len(parts) > 2 else out.subject
    if "path" in f:
        out.object = f["path"]
    elif "name" in f:
        out.object = ctx.full_path(f["name"], f.get("ino"))
    elif tclass in ("capability", "cap_userns", "capability2") and "capability" in f:
        number = _int(f["capability"], -1)
        out.object = cap_name(number + (32 if tclass == "capability2" else 0))
    else:
        out.object = _address(f) or f.get("tcontext", "")
    out.requested = ",".join(perms)
    out.denied = out.requested if out.result != "AUDIT" else ""
    out.pid = _int(f.get("pid")) or out.pid
    out.comm = f.get("comm") or out.comm
    if out.result == "DENIED" and not out.errno:
        out.errno = 13
    out.fields.update(f)
    out.fields["avc"] = verdict
    out.fields["perms"] = " ".join(perms)
    return out


def landlock_access(rec: RawRecord, index: int, ctx: _Context,
                    domains: dict[str, dict[str, str]]) -> AuditRecord:
    """A LANDLOCK_ACCESS (1423) record: `domain=ID blockers=fs.read_file path=... dev= ino=`."""
    f = rec.fields
    out = _base(rec, index, "landlock", ctx)
    out.result = "DENIED"
    blockers = f.get("blockers", "")
    out.operation = blockers
    out.requested = out.denied = blockers
    domain = f.get("domain", "")
    out.subject = f"domain={domain}"
    if "path" in f:
        out.object = f["path"]
    elif "opid" in f:
        out.object = f"pid {f['opid']}" + (f" ({f['ocomm']})" if f.get("ocomm") else "")
    else:
        out.object = _address(f)
    creator = domains.get(domain)
    if creator is not None:
        for key in ("pid", "uid", "exe", "comm", "mode"):
            if key in creator:
                out.fields[f"domain_{key}"] = creator[key]
        if not out.pid:
            out.pid = _int(creator.get("pid"))
            out.comm, out.exe = creator.get("comm", ""), creator.get("exe", "")
    if not out.errno:
        out.errno = 13
    out.fields.update(f)
    return out


def landlock_domain(rec: RawRecord, index: int, ctx: _Context) -> AuditRecord:
    """A LANDLOCK_DOMAIN (1424) record: a domain's allocation or its release."""
    f = rec.fields
    out = _base(rec, index, "landlock", ctx)
    status = f.get("status", "")
    out.operation = f"domain_{status}" if status else "domain"
    out.subject = f"domain={f.get('domain', '')}"
    if status == "allocated":
        out.pid = _int(f.get("pid")) or out.pid
        out.uid = _int(f["uid"]) if "uid" in f else out.uid
        out.exe = f.get("exe") or out.exe
        out.comm = f.get("comm") or out.comm
        out.object = out.exe
    out.errno = 0
    out.fields.update(f)
    return out


def seccomp(rec: RawRecord, index: int, ctx: _Context) -> AuditRecord:
    """A SECCOMP (1326) record: `... sig= arch= syscall= compat= ip= code=0x50001`."""
    f = rec.fields
    out = _base(rec, index, "seccomp", ctx)
    try:
        code = int(f.get("code", "0"), 16)
    except ValueError:
        code = 0
    action = SECCOMP_ACTIONS.get(code & 0xFFFF0000, f"action {code & 0xFFFF0000:#x}")
    data = code & 0xFFFF
    out.result = _SECCOMP_RESULT.get(action, "AUDIT")
    out.operation = "syscall"
    name = syscall_name(f.get("arch", ""), f.get("syscall", ""))
    out.object = out.requested = name
    out.denied = f"errno({data})" if action == "errno" else action
    if out.result != "DENIED":
        out.denied = ""
    out.errno = data if action == "errno" else 0
    out.pid = _int(f.get("pid")) or out.pid
    out.comm = f.get("comm") or out.comm
    out.exe = f.get("exe") or out.exe
    if "uid" in f:
        out.uid = _int(f["uid"])
    out.subject = f.get("subj", "")
    out.fields.update(f)
    out.fields["action"] = action
    out.fields["syscall_name"] = name
    return out


def kernel(rec: RawRecord, index: int, ctx: _Context, raw: str) -> AuditRecord:
    """Any other record: kept whole, module `kernel`, result AUDIT (the fast path of a log)."""
    time, serial = stamp_time(rec.stamp)
    if ctx.syscall_body:
        get = ctx.get
        pid, uid, comm, exe = get("pid"), get("uid"), get("comm"), get("exe")
    else:
        body = rec.body
        pid, uid = get_field(body, "pid"), get_field(body, "uid")
        comm, exe = get_field(body, "comm"), get_field(body, "exe")
    name = _KERNEL_OPS.get(rec.type)
    if name is None:
        name = _KERNEL_OPS[rec.type] = type_name(rec.type)
    return AuditRecord(
        time, serial, name.lower(), "kernel", "AUDIT", _int(pid), comm or "", exe or "",
        _int(uid) if uid is not None else None,
        object=ctx.first_path(), record_type=rec.type, raw=raw,
        fields={"record_index": str(index), "type": name},
    )


_KERNEL_OPS: dict[int, str] = {}


def _user_avc_inner(body: str) -> str:
    start = body.find("msg='")
    if start < 0:
        return body
    end = body.rfind("'")
    return body[start + 5:end] if end > start + 5 else body[start + 5:]


def interpret(event: Sequence[RawRecord], first: int = 0) -> list[AuditRecord]:
    """The AuditRecords of one event, in the order of its records.

    `first` is the position of the first record in its event (non-zero for the later part of
    an event cut in two); `fields["record_index"]` is each record's position.
    """
    ctx = _Context(event)
    domains = {r.fields.get("domain", ""): r.fields for r in event
               if r.type == AUDIT_LANDLOCK_DOMAIN and r.fields.get("status") == "allocated"}
    decisions: list[AuditRecord] = []
    others: list[tuple[int, RawRecord]] = []
    for index, rec in enumerate(event, first):
        t = rec.type
        if t in AUXILIARY:
            continue
        if t in (AUDIT_AVC, AUDIT_USER_AVC):
            body = _user_avc_inner(rec.body) if t == AUDIT_USER_AVC else rec.body
            if "apparmor=" in body:
                inner = rec.fields if t == AUDIT_AVC else parse_fields(body)
                if t == AUDIT_USER_AVC:
                    inner = {**{k: v for k, v in rec.fields.items() if k != "msg"}, **inner}
                decisions.append(apparmor(rec, index, ctx, inner))
                continue
            if "avc:" in body:
                inner = rec.fields if t == AUDIT_AVC else parse_fields(body)
                decisions.append(selinux(rec, index, ctx, body, inner))
                continue
        elif AUDIT_APPARMOR_FIRST <= t <= AUDIT_APPARMOR_LAST:
            decisions.append(apparmor(rec, index, ctx, rec.fields))
            continue
        elif t == AUDIT_LANDLOCK_ACCESS:
            decisions.append(landlock_access(rec, index, ctx, domains))
            continue
        elif t == AUDIT_LANDLOCK_DOMAIN:
            decisions.append(landlock_domain(rec, index, ctx))
            continue
        elif t == AUDIT_SECCOMP:
            decisions.append(seccomp(rec, index, ctx))
            continue
        others.append((index, rec))
    if not decisions and not others:
        # an event of auxiliary records only (a syscall rule): one record, the whole text
        primary = next((i for i, r in enumerate(event) if r.type == AUDIT_SYSCALL), 0)
        return [kernel(event[primary], first + primary, ctx, "\n".join(r.line for r in event))]
    if not decisions and len(others) == 1:
        index, rec = others[0]
        return [kernel(rec, index, ctx, "\n".join(r.line for r in event))]
    decisions.extend(kernel(rec, index, ctx, rec.line) for index, rec in others)
    decisions.sort(key=lambda r: int(r.fields["record_index"]))
    return decisions

