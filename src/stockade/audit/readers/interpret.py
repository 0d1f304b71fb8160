"""One audit event (the records sharing an `audit(TIME:SERIAL)` stamp) → `AuditRecord`s.

Every AppArmor, SELinux, Landlock and seccomp record becomes one AuditRecord of its module,
with the event's SYSCALL, PROCTITLE, CWD and PATH records folded into it (pid, comm, exe,
the syscall, the full path). An event without such a record becomes one `kernel` record that
keeps the whole event's text in `raw`; nothing is dropped.
"""

from __future__ import annotations

import errno as _errno
import re
from collections.abc import Sequence

from stockade.audit.readers.aalog.grammar import log_masks
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
AA_RESULT = {"DENIED": "DENIED", "ALLOWED": "ALLOWED", "AUDIT": "AUDIT", "KILL": "DENIED"}

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
# The head is atomic: giving any of it back cannot move where ` ppid=` may start (it is a space
# and the head's spaces are followed by `syscall=`, `success=` and `exit=`), so backtracking
# into it would only repeat the failed search; without (?>) a failing body costs ~10x more.
_SYSCALL = re.compile(
    r"(?>arch=(?P<arch>\w+) syscall=(?P<syscall>\d+)(?: success=(?P<success>\w+) exit=(?P<exit>-?\d+))?)"
    r".*? ppid=(?P<ppid>\d+) pid=(?P<pid>\d+) auid=(?P<auid>\d+) uid=(?P<uid>\d+) "
    r".*? ses=(?P<ses>\d+) comm=(?P<comm>\S+) exe=(?P<exe>\S+)(?:.* key=(?P<key>\S+))?")
# The same fields from a body exactly as audit_log_exit() writes it (matched from its start,
# no lazy scan: ~2.5x faster). Where this matches, _SYSCALL.search gives the same groups: the
# tokens it names hold no space, so the first ` ppid=` and ` ses=` are the ones named here.
SYSCALL_EXACT = re.compile(
    r"arch=(?P<arch>\w+) syscall=(?P<syscall>\d+) success=(?P<success>\w+) exit=(?P<exit>-?\d+)"
    r" a0=\w+ a1=\w+ a2=\w+ a3=\w+ items=\d+ ppid=(?P<ppid>\d+) pid=(?P<pid>\d+)"
    r" auid=(?P<auid>\d+) uid=(?P<uid>\d+) gid=\d+ euid=\d+ suid=\d+ fsuid=\d+ egid=\d+ sgid=\d+"
    r" fsgid=\d+ tty=\S+ ses=(?P<ses>\d+) comm=(?P<comm>\S+) exe=(?P<exe>\S+)(?:.* key=(?P<key>\S+))?")


def _unquote(key: str, value: str | None) -> str | None:
    if value is not None and value[:1] != '"':
        return field_value(key, value)
    return value[1:-1] if value is not None else None


def syscall_fields(body: str) -> dict[str, str | None]:
    """The fields of a SYSCALL record that matter here: one regex match, else a full parse."""
    match = SYSCALL_EXACT.match(body) or _SYSCALL.search(body)
    if match is None:
        return parse_fields(body)  # type: ignore[return-value]
    out = match.groupdict()
    for key in ("comm", "exe", "key"):
        out[key] = _unquote(key, out[key])
    return out


def to_int(value: str | None, default: int = 0) -> int:
    """int(value), or `default` when value is None or not a number."""
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


_INDEX = tuple(str(i) for i in range(512))  # record_index values, shared


def _index(index: int) -> str:
    return _INDEX[index] if 0 <= index < 512 else str(index)


class _Context:
    """The syscall side of an event: SYSCALL, PROCTITLE, CWD and PATH records, read on demand.

    Everything is computed once per event and shared by the event's records: the stamp's time
    and serial, the SYSCALL fields, the context fields, the errno, the cwd and the first path.
    """

    __slots__ = ("_cwd", "_errno", "_fields", "_first_path", "_syscall", "cwd_body",
                 "path_bodies", "proctitle_body", "serial", "stamp", "syscall_body", "time")

    def __init__(self, event: Sequence[RawRecord] = ()) -> None:
        self.syscall_body = ""
        self.proctitle_body = ""
        self.cwd_body = ""
        self.path_bodies: list[str] = []
        self.stamp = ""
        self.time = 0.0
        self.serial = 0
        self._syscall: dict[str, str | None] | None = None
        self._fields: dict[str, str] | None = None
        self._cwd: str | None = None
        self._first_path: str | None = None
        self._errno: int | None = None
        for rec in event:
            self.note(rec)

    def note(self, rec: RawRecord) -> None:
        """Take in one auxiliary record (the last SYSCALL, PROCTITLE and CWD count)."""
        t = rec.type
        if t == AUDIT_SYSCALL:
            self.syscall_body = rec.body
        elif t == AUDIT_PATH:
            self.path_bodies.append(rec.body)
        elif t == AUDIT_PROCTITLE:
            self.proctitle_body = rec.body
        elif t == AUDIT_CWD:
            self.cwd_body = rec.body

    def when(self, rec: RawRecord) -> tuple[float, int]:
        """(time, serial) of a record's stamp, parsed once for the event."""
        stamp = rec.stamp
        if stamp != self.stamp:
            self.stamp = stamp
            self.time, self.serial = stamp_time(stamp)
        return self.time, self.serial

    def syscall(self) -> dict[str, str | None]:
        """The SYSCALL record's fields (empty without one), parsed once."""
        syscall = self._syscall
        if syscall is None:
            syscall = self._syscall = syscall_fields(self.syscall_body) if self.syscall_body else {}
        return syscall

    def get(self, key: str) -> str | None:
        """One field of the SYSCALL record."""
        return self.syscall().get(key)

    @property
    def cwd(self) -> str:
        cwd = self._cwd
        if cwd is None:
            cwd = self._cwd = (get_field(self.cwd_body, "cwd") or "") if self.cwd_body else ""
        return cwd

    def fields(self) -> dict[str, str]:
        """The context worth keeping beside a decision (shared: copy before changing it)."""
        out = self._fields
        if out is not None:
            return out
        out = {}
        if self.syscall_body:
            get = self.syscall().get
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
        self._fields = out
        return out

    def first_path(self) -> str:
        """The first PATH record's name, absolute when a CWD record says where it was."""
        first = self._first_path
        if first is None:
            first = ""
            for body in self.path_bodies:
                name = get_field(body, "name")
                if name and name != "(null)":
                    first = self._absolute(name)
                    break
            self._first_path = first
        return first

    def _absolute(self, name: str) -> str:
        if not name.startswith("/"):
            cwd = self.cwd
            if cwd:
                return cwd.rstrip("/") + "/" + name
        return name

    def full_path(self, name: str, inode: str | None) -> str:
        """A PATH record's absolute name for `name` (a basename in SELinux AVCs); two fields
        of each PATH record are read (a space or `=` in a name is hex encoded)."""
        for body in self.path_bodies:
            candidate = get_field(body, "name") or ""
            if not candidate or candidate == "(null)":
                continue
            if (inode and get_field(body, "inode") == inode) \
                    or candidate.rsplit("/", 1)[-1] == name:
                return self._absolute(candidate)
        return name

    def errno(self) -> int:
        errno = self._errno
        if errno is None:
            exit_code = to_int(self.get("exit"))
            errno = self._errno = -exit_code if exit_code < 0 else 0
        return errno


def _base(rec: RawRecord, index: int, module: str, ctx: _Context) -> AuditRecord:
    time, serial = ctx.when(rec)
    get = ctx.syscall().get
    uid = get("uid")
    # positional, in AuditRecord's field order (checked at import below): this is a hot path
    return AuditRecord(
        time, serial, "", module, "AUDIT", to_int(get("pid")), get("comm") or "", get("exe") or "",
        to_int(uid) if uid is not None else None, "", "", "", "", "", "enforce", ctx.errno(), False,
        "", rec.type, {"record_index": _index(index), **ctx.fields()}, rec.line,
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
    out.result = AA_RESULT.get(verdict, "AUDIT")
    out.mode = "complain" if verdict == "ALLOWED" else "enforce"
    out.operation = f.get("operation", "")
    out.profile = f.get("profile") or f.get("label", "")
    out.subject = out.profile
    if out.operation == "capable" or "capname" in f:
        out.object = f.get("capname") or cap_name(to_int(f.get("capability"), -1))
    elif "name" in f and out.operation not in ("signal", "ptrace"):
        out.object = f["name"]
    elif "peer" in f or "peer_label" in f:
        out.object = f.get("peer") or f.get("peer_label", "")
    elif "family" in f:
        out.object = _address(f) or f"{f['family']} {f.get('sock_type', '')}".strip()
    else:
        out.object = f.get("path", "")
    # the masks as libapparmor reads them (`mask=` is the denied mask); a record that names
    # only what was denied asked for at least that
    requested, denied = log_masks(f)
    out.requested = requested or denied
    out.denied = denied
    if out.result == "DENIED" and not out.denied:
        out.denied = out.requested
    out.pid = to_int(f.get("pid")) or out.pid
    out.comm = f.get("comm") or out.comm
    out.exe = f.get("exe") or out.exe
    if "fsuid" in f:
        out.uid = to_int(f["fsuid"])
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
        number = to_int(f["capability"], -1)
        out.object = cap_name(number + (32 if tclass == "capability2" else 0))
    else:
        out.object = _address(f) or f.get("tcontext", "")
    out.requested = ",".join(perms)
    out.denied = out.requested if out.result != "AUDIT" else ""
    out.pid = to_int(f.get("pid")) or out.pid
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
            out.pid = to_int(creator.get("pid"))
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
        out.pid = to_int(f.get("pid")) or out.pid
        out.uid = to_int(f["uid"]) if "uid" in f else out.uid
        out.exe = f.get("exe") or out.exe
        out.comm = f.get("comm") or out.comm
        out.object = out.exe
    out.errno = 0
    out.fields.update(f)
    return out


def seccomp(rec: RawRecord, index: int, ctx: _Context) -> AuditRecord:
    """A SECCOMP (1326) record: `... sig= arch= syscall= compat= ip= code=0x50000`.

    The kernel logs only the filter's action in `code` (seccomp_log() masks the return value
    with SECCOMP_RET_ACTION_FULL), never the errno it carried: that comes from the event's
    SYSCALL record (`exit=-N`) when one was logged, and is otherwise unknown (`errno`). Data
    bits in `code` (a log written by something else) are taken as the errno.
    clone3 answered with errno is the known fallback (stockade's, docker's and systemd's
    filters answer ENOSYS because seccomp cannot read clone3's flags, and libc then calls
    clone, which the filter can check): an AUDIT record marked `expected`, not a denial.
    """
    f = rec.fields
    out = _base(rec, index, "seccomp", ctx)
    try:
        code = int(f.get("code", "0"), 16)
    except ValueError:
        code = 0
    action = SECCOMP_ACTIONS.get(code & 0xFFFF0000, f"action {code & 0xFFFF0000:#x}")
    out.result = _SECCOMP_RESULT.get(action, "AUDIT")
    out.operation = "syscall"
    name = syscall_name(f.get("arch", ""), f.get("syscall", ""))
    out.object = out.requested = name
    errno = (code & 0xFFFF or ctx.errno()) if action == "errno" else 0
    if action == "errno" and name in FALLBACK_ENOSYS and errno in (0, _errno.ENOSYS):
        out.result, errno = "AUDIT", _errno.ENOSYS
        out.fields["expected"] = FALLBACK_ENOSYS[name]
    out.errno = errno
    out.denied = (errno_action(errno) if action == "errno" else action) \
        if out.result == "DENIED" else ""
    out.pid = to_int(f.get("pid")) or out.pid
    out.comm = f.get("comm") or out.comm
    out.exe = f.get("exe") or out.exe
    if "uid" in f:
        out.uid = to_int(f["uid"])
    out.subject = f.get("subj", "")
    out.fields.update(f)
    out.fields["action"] = action
    out.fields["syscall_name"] = name
    return out


# syscalls a seccomp filter answers with ENOSYS so that libc falls back to one it can check
FALLBACK_ENOSYS = {
    "clone3": "clone3 answered ENOSYS: libc falls back to clone (seccomp cannot read clone3's "
              "flags); not a denial",
}


def errno_action(errno: int) -> str:
    """`errno(EPERM)` for a known errno, `errno` when the log did not say which."""
    if not errno:
        return "errno"
    return f"errno({_errno.errorcode.get(errno, errno)})"


def kernel(rec: RawRecord, index: int, ctx: _Context, raw: str) -> AuditRecord:
    """Any other record: kept whole, module `kernel`, result AUDIT (the fast path of a log)."""
    time, serial = ctx.when(rec)
    if ctx.syscall_body:
        get = ctx.syscall().get
        pid, uid, comm, exe = get("pid"), get("uid"), get("comm"), get("exe")
    else:
        body = rec.body
        pid, uid = get_field(body, "pid"), get_field(body, "uid")
        comm, exe = get_field(body, "comm"), get_field(body, "exe")
    names = _KERNEL_OPS.get(rec.type)
    if names is None:
        name = type_name(rec.type)
        names = (name, name.lower())
        if len(_KERNEL_OPS) < _KERNEL_OPS_MAX:  # a hostile log can name any number of types
            _KERNEL_OPS[rec.type] = names
    return AuditRecord(
        time, serial, names[1], "kernel", "AUDIT", to_int(pid), comm or "", exe or "",
        to_int(uid) if uid is not None else None, "", ctx.first_path(), "", "", "", "enforce", 0,
        False, "", rec.type, {"record_index": _index(index), "type": names[0]}, raw,
    )


_KERNEL_OPS: dict[int, tuple[str, str]] = {}
_KERNEL_OPS_MAX = 4096  # the compiled reader (_fastread.c) keeps the same bound
_ORDER = ("time", "serial", "operation", "module", "result", "pid", "comm", "exe", "uid", "subject",
          "object", "requested", "denied", "reason", "mode", "errno", "quiet", "profile",
          "record_type", "fields", "raw")
if tuple(AuditRecord.__dataclass_fields__) != _ORDER:  # pragma: no cover - a guard for _base/kernel
    raise ImportError("AuditRecord's fields changed order: update interpret._base and kernel()")


def _user_avc_inner(body: str) -> str:
    start = body.find("msg='")
    if start < 0:
        return body
    end = body.rfind("'")
    return body[start + 5:end] if end > start + 5 else body[start + 5:]


def _decision(rec: RawRecord, index: int, ctx: _Context,
              event: Sequence[RawRecord]) -> AuditRecord | None:
    """The AuditRecord of a security module's record; None for any other record."""
    t = rec.type
    if t in (AUDIT_AVC, AUDIT_USER_AVC):
        body = _user_avc_inner(rec.body) if t == AUDIT_USER_AVC else rec.body
        if "apparmor=" in body:
            inner = rec.fields if t == AUDIT_AVC else parse_fields(body)
            if t == AUDIT_USER_AVC:
                inner = {**{k: v for k, v in rec.fields.items() if k != "msg"}, **inner}
            return apparmor(rec, index, ctx, inner)
        if "avc:" in body:
            inner = rec.fields if t == AUDIT_AVC else parse_fields(body)
            return selinux(rec, index, ctx, body, inner)
        return None
    if AUDIT_APPARMOR_FIRST <= t <= AUDIT_APPARMOR_LAST:
        return apparmor(rec, index, ctx, rec.fields)
    if t == AUDIT_LANDLOCK_ACCESS:
        domains = {r.fields.get("domain", ""): r.fields for r in event
                   if r.type == AUDIT_LANDLOCK_DOMAIN and r.fields.get("status") == "allocated"}
        return landlock_access(rec, index, ctx, domains)
    if t == AUDIT_LANDLOCK_DOMAIN:
        return landlock_domain(rec, index, ctx)
    if t == AUDIT_SECCOMP:
        return seccomp(rec, index, ctx)
    return None


def _may_decide(rec: RawRecord) -> bool:
    """Whether `_decision` gives this record a module of its own (cheap: no field is parsed)."""
    t = rec.type
    if t == AUDIT_AVC:
        body = rec.body
        return "apparmor=" in body or "avc:" in body
    if t == AUDIT_USER_AVC:
        body = _user_avc_inner(rec.body)
        return "apparmor=" in body or "avc:" in body
    return t in _DECIDING


_DECIDING = frozenset({AUDIT_LANDLOCK_ACCESS, AUDIT_LANDLOCK_DOMAIN, AUDIT_SECCOMP,
                       *range(AUDIT_APPARMOR_FIRST, AUDIT_APPARMOR_LAST + 1)})


def interpret(event: Sequence[RawRecord], first: int = 0) -> list[AuditRecord]:
    """The AuditRecords of one event, in the order of its records.

    `first` is the position of the first record in its event (non-zero for the later part of
    an event cut in two); `fields["record_index"]` is each record's position.

    One pass sorts the event's records into the syscall context (SYSCALL, PATH, CWD, PROCTITLE,
    read lazily and once) and the rest. An event of context records only (a syscall rule) or of
    one other record becomes a single `kernel` record holding the whole event's text; otherwise
    each security record becomes its module's record and each other record a `kernel` one.
    """
    ctx = _Context()
    auxiliary = AUXILIARY
    rest: list[tuple[int, RawRecord]] = []
    primary = -1  # the first SYSCALL record
    paths = ctx.path_bodies
    for index, rec in enumerate(event, first):
        t = rec.type
        if t in auxiliary:  # _Context.note(), inlined
            if t == AUDIT_SYSCALL:
                ctx.syscall_body = rec.body
                if primary < 0:
                    primary = index - first
            elif t == AUDIT_PATH:
                paths.append(rec.body)
            elif t == AUDIT_PROCTITLE:
                ctx.proctitle_body = rec.body
            elif t == AUDIT_CWD:
                ctx.cwd_body = rec.body
        else:
            rest.append((index, rec))
    if not rest:
        # an event of auxiliary records only (a syscall rule): one record, the whole text
        primary = max(primary, 0)
        raw = event[0].line if len(event) == 1 else "\n".join([r.line for r in event])
        return [kernel(event[primary], first + primary, ctx, raw)]
    if len(rest) == 1:
        index, rec = rest[0]
        if not _may_decide(rec):
            raw = rec.line if len(event) == 1 else "\n".join([r.line for r in event])
            return [kernel(rec, index, ctx, raw)]
    out: list[AuditRecord] = []
    for index, rec in rest:
        record = _decision(rec, index, ctx, event)
        out.append(record if record is not None else kernel(rec, index, ctx, rec.line))
    return out
