"""`AuditRecord`: one audited event, from stockade's own stack or read from the kernel's log."""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass, field
from typing import Any

from stockade.lsm.caps import cap_name
from stockade.lsm.stack import AuditEvent
from stockade.lsm.types import access_names

RESULTS = ("DENIED", "ALLOWED", "AUDIT")


@dataclass(slots=True)
class AuditRecord:
    """A normalised audit record.

    `module` names the layer that decided (dac, capability, yama, apparmor, selinux, landlock,
    seccomp, ...), `operation` the hook or the kernel's operation name, `result` one of
    DENIED, ALLOWED (complain mode let it through) and AUDIT (allowed, recorded on request).
    `fields` holds the module's own fields (profile, requested_mask, scontext, blockers, ...);
    `raw` the original kernel text for records read from a log.
    """

    time: float
    serial: int
    operation: str
    module: str
    result: str
    pid: int = 0
    comm: str = ""
    exe: str = ""
    uid: int | None = None
    subject: str = ""  # the subject's label: profile, scontext, Smack label, or uid
    object: str = ""  # path, host:port, pid or capability name
    requested: str = ""
    denied: str = ""
    reason: str = ""
    mode: str = "enforce"
    errno: int = 0
    quiet: bool = False
    profile: str = ""
    record_type: int | None = None  # the kernel's audit type (1400, 1423, ...) when read
    fields: dict[str, str] = field(default_factory=dict)
    raw: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for JSON (`fields` copied: its values are text, so this is what
        dataclasses.asdict gives, without its recursive deep copy: a hot path of import)."""
        out = dict(zip(_NAMES, _values(self), strict=True))
        out["fields"] = dict(self.fields)
        return out

    def to_json(self) -> str:
        """One JSON line."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditRecord:
        """The inverse of `to_dict`; unknown keys are kept in `fields`. A value of the wrong
        type (a JSON line written by something else) is a TypeError."""
        if not isinstance(data, dict):
            raise TypeError("an audit record is a JSON object")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key, value in known.items():
            if not isinstance(value, _TYPES[key]):
                raise TypeError(f"{key}: {type(value).__name__} is not a valid value")
        extra = {k: str(v) for k, v in data.items() if k not in cls.__dataclass_fields__}
        record = cls(**known)
        record.fields = {str(k): v if isinstance(v, str) else str(v)
                         for k, v in (*record.fields.items(), *extra.items())}
        return record


_NAMES = tuple(AuditRecord.__dataclass_fields__)
_values = operator.attrgetter(*_NAMES)
_TEXT = ("operation", "module", "result", "comm", "exe", "subject", "object", "requested",
         "denied", "reason", "mode", "profile", "raw")
_TYPES: dict[str, type | tuple[type, ...]] = {
    **dict.fromkeys(_TEXT, str), "time": (int, float), "serial": int, "pid": int, "errno": int,
    "uid": (int, type(None)), "record_type": (int, type(None)), "quiet": bool, "fields": dict,
}


def describe_object(event: AuditEvent) -> str:
    """The object of an event as one string: a path, a peer address, a pid or a capability."""
    req = event.request
    if req.hook == "capable":
        return cap_name(req.cap)
    obj = req.obj
    if obj is None:
        return req.what
    if obj.kind == "socket":
        return f"{obj.address}:{obj.port}" if obj.address or obj.port else f"family={obj.family}"
    if obj.kind == "task" and obj.task is not None:
        return str(obj.task.pid)
    return obj.path or req.what


def record_from_event(event: AuditEvent) -> AuditRecord:
    """The AuditRecord of one stack event (a verdict's `name` field overrides the object, as
    AppArmor's rename_dest and link name the second path)."""
    req, verdict = event.request, event.verdict
    fields = dict(verdict.fields)
    requested = fields.pop("requested", "") or ",".join(access_names(req.access))
    denied = fields.pop("denied", "") or (requested if event.result != "AUDIT" else "")
    subject = req.subject
    label = subject.context(verdict.module) or fields.get("profile", "") or f"uid={subject.fsuid}"
    return AuditRecord(
        time=event.timestamp, serial=event.serial, operation=req.hook, module=verdict.module,
        result=event.result, pid=subject.pid, comm=subject.comm, exe=subject.exe,
        uid=subject.uid, subject=label, object=fields.pop("name", "") or describe_object(event),
        requested=requested,
        denied=denied if event.result != "AUDIT" else "", reason=verdict.reason,
        mode=event.mode.value, errno=verdict.errno, quiet=verdict.quiet,
        profile=fields.get("profile", ""), fields=fields,
    )
