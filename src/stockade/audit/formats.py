"""Kernel-style text lines for audit records, each module family in its own format."""

from __future__ import annotations

from collections.abc import Callable

from stockade.audit.record import AuditRecord


def _q(value: object) -> str:
    """A value as the kernel's audit_log_untrustedstring would print it (quoted or hex)."""
    text = str(value)
    if any(c in text for c in ' "\\') or any(ord(c) < 0x21 or ord(c) > 0x7e for c in text):
        if '"' not in text and all(0x20 <= ord(c) < 0x7f for c in text):
            return f'"{text}"'
        return text.encode("utf-8", "surrogateescape").hex().upper()  # the raw bytes
    return f'"{text}"'


def _stamp(record: AuditRecord) -> str:
    return f"audit({record.time:.3f}:{record.serial})"


_AA_QUOTED = frozenset({"target", "peer", "family", "sock_type", "info"})  # as the kernel prints


def apparmor_line(record: AuditRecord) -> str:
    """`apparmor="DENIED" operation="open" profile="p" name="/x" ... requested_mask="r"`."""
    f = record.fields
    parts = [f'apparmor="{record.result}"', f'operation="{f.get("operation", record.operation)}"']
    if "class" in f:
        parts.append(f'class="{f["class"]}"')
    parts.append(f"profile={_q(record.profile or record.subject)}")
    if record.operation == "capable":
        parts.append(f'capability={f.get("capability", "")}  capname="{record.object}"')
    elif record.object:
        parts.append(f"name={_q(record.object)}")
    parts.append(f"pid={record.pid} comm={_q(record.comm)}")
    if record.requested:
        parts.append(f'requested_mask="{record.requested}"')
    if record.denied:
        parts.append(f'denied_mask="{record.denied}"')
    for key in ("fsuid", "ouid", "target", "signal", "peer", "family", "sock_type", "protocol",
                "info", "kill"):
        if key in f:
            parts.append(f"{key}={_q(f[key]) if key in _AA_QUOTED else f[key]}")
    return f"type=AVC msg={_stamp(record)}: " + " ".join(parts)


def selinux_line(record: AuditRecord) -> str:
    """`avc:  denied  { read } for  pid=1 comm="cat" name="x" scontext=... tclass=file`."""
    f = record.fields
    verdict = "granted" if record.result == "AUDIT" else "denied"
    perms = f.get("perms", record.denied or record.requested).replace(",", " ")
    permissive = "1" if record.result == "ALLOWED" else "0"
    return (
        f"type=AVC msg={_stamp(record)}: avc:  {verdict}  {{ {perms} }} for  pid={record.pid} "
        f"comm={_q(record.comm)} name={_q(record.object)} scontext={f.get('scontext', '')} "
        f"tcontext={f.get('tcontext', '')} tclass={f.get('tclass', 'file')} "
        f"permissive={permissive}"
    )


def landlock_line(record: AuditRecord) -> str:
    """Landlock's `LANDLOCK_ACCESS` record: `domain=... blockers=fs.read_file path=...`."""
    f = record.fields
    parts = [f"domain={f.get('domain', '0')}", f"blockers={f.get('blockers', record.denied)}"]
    if record.object:
        key = "path" if record.object.startswith("/") else "object"
        parts.append(f"{key}={_q(record.object)}")
    return f"type=LANDLOCK_ACCESS msg={_stamp(record)}: " + " ".join(parts)


def yama_line(record: AuditRecord) -> str:
    """Yama's report: `ptrace attach of "comm"[pid] was attempted by "comm"[pid]`."""
    f = record.fields
    return (
        f"type=AVC msg={_stamp(record)}: op=ptrace ptrace attach of {_q(f.get('target_comm', ''))}"
        f"[{record.object}] was attempted by {_q(record.comm)}[{record.pid}] "
        f"scope={f.get('scope', '')}"
    )


def lockdown_line(record: AuditRecord) -> str:
    """`Lockdown: comm: /dev/mem,kmem,port is restricted; see man kernel_lockdown.7`."""
    return (
        f"type=AVC msg={_stamp(record)}: lockdown_reason={_q(record.fields.get('description', ''))} "
        f"Lockdown: {record.comm}: {record.fields.get('description', record.object)} is "
        "restricted; see man kernel_lockdown.7"
    )


def loadpin_line(record: AuditRecord) -> str:
    """`loadpin: kernel-module denied obj="/x.ko" pid=1 cmdline="insmod"`."""
    f = record.fields
    return (
        f"type=AVC msg={_stamp(record)}: LoadPin: {f.get('origin', 'kernel-file')} "
        f"{f.get('action', 'denied')} obj={_q(record.object)} pid={record.pid} "
        f"cmdline={_q(record.comm)}"
    )


def smack_line(record: AuditRecord) -> str:
    """Smack's record: `lsm=SMACK fn=smack_inode_permission action=denied subject="a"
    object="b" requested=r pid=1 comm="cat" name="/x" dev="..." ino=2`."""
    f = record.fields
    action = "granted" if record.result == "AUDIT" else "denied"
    requested = record.requested if record.requested else ""
    parts = [f"lsm=SMACK fn={f.get('fn', 'unknown')} action={action}",
             f"subject={_q(f.get('subject', record.subject))}",
             f"object={_q(f.get('object', ''))}",
             f"requested={requested}" if requested else "labels_differ",
             f"pid={record.pid} comm={_q(record.comm)}"]
    if record.object:
        key = "name" if record.object.startswith("/") else "opid" if record.object.isdigit() else "daddr"
        parts.append(f"{key}={_q(record.object)}")
    if f.get("dev"):
        parts.append(f"dev={_q(f['dev'])} ino={f.get('ino', '')}")
    return f"type=AVC msg={_stamp(record)}: " + " ".join(parts)


def _label_model_line(record: AuditRecord, keys: tuple[str, ...]) -> str:
    """stockade's generic line with the model's decisive fields first."""
    f = record.fields
    parts = [f'stockade="{record.result}"', f'module="{record.module}"',
             f'operation="{record.operation}"']
    parts += [f"{key}={_q(f[key])}" for key in keys if f.get(key)]
    parts.append(f"name={_q(record.object)}")
    parts.append(f"pid={record.pid} comm={_q(record.comm)}")
    if record.uid is not None:
        parts.append(f"uid={record.uid}")
    if record.requested:
        parts.append(f'requested="{record.requested}"')
    if record.reason:
        parts.append(f"reason={_q(record.reason)}")
    return f"type=USER_AVC msg={_stamp(record)}: " + " ".join(parts)


def biba_line(record: AuditRecord) -> str:
    """`stockade="DENIED" module="biba" operation="file_open" model="strict"
    subject_level="high" object_level="low" name="/x" ... reason="no read down: ..."`."""
    return _label_model_line(record, ("model", "subject_level", "object_level"))


def abac_line(record: AuditRecord) -> str:
    """`stockade="DENIED" module="abac" operation="file_open" rule="office-hours" ...`."""
    return _label_model_line(record, ("rule", "effect"))


def stockade_line(record: AuditRecord) -> str:
    """The generic key=value line for layers the kernel does not log (DAC, commoncap)."""
    parts = [f'stockade="{record.result}"', f'module="{record.module}"',
             f'operation="{record.operation}"', f"name={_q(record.object)}",
             f"pid={record.pid} comm={_q(record.comm)}"]
    if record.uid is not None:
        parts.append(f"uid={record.uid}")
    if record.requested:
        parts.append(f'requested="{record.requested}"')
    if record.denied:
        parts.append(f'denied="{record.denied}"')
    for key, value in sorted(record.fields.items()):
        parts.append(f"{key}={_q(value)}")
    if record.reason:
        parts.append(f"reason={_q(record.reason)}")
    return f"type=USER_AVC msg={_stamp(record)}: " + " ".join(parts)


FORMATTERS: dict[str, Callable[[AuditRecord], str]] = {
    "apparmor": apparmor_line,
    "selinux": selinux_line,
    "landlock": landlock_line,
    "yama": yama_line,
    "lockdown": lockdown_line,
    "loadpin": loadpin_line,
    "smack": smack_line,
    "biba": biba_line,
    "abac": abac_line,
}


def kernel_line(record: AuditRecord) -> str:
    """The record as the kernel (or its module's family) would print it."""
    if record.raw:
        return record.raw
    return FORMATTERS.get(record.module, stockade_line)(record)
