"""libapparmor's aa_log_record: the members its log parser fills, and test_multi's report."""

from __future__ import annotations

from dataclasses import dataclass, fields

# libaalogparse.c _init_log_record: fsuid/ouid start at (unsigned long)-1
UNSET_ID = (1 << 64) - 1

EVENTS = ("AA_RECORD_INVALID", "AA_RECORD_ERROR", "AA_RECORD_AUDIT", "AA_RECORD_ALLOWED",
          "AA_RECORD_DENIED", "AA_RECORD_HINT", "AA_RECORD_STATUS")
@dataclass
class AaLogRecord:
    """The fields of libapparmor's aa_log_record that its parser fills."""

    event: str = "AA_RECORD_INVALID"
    audit_id: str | None = None
    operation: str | None = None
    requested_mask: str | None = None
    denied_mask: str | None = None
    fsuid: int = UNSET_ID
    ouid: int = UNSET_ID
    profile: str | None = None
    peer_profile: str | None = None
    peer: str | None = None
    name: str | None = None
    comm: str | None = None
    name2: str | None = None
    namespace: str | None = None
    attribute: str | None = None
    task: int = 0
    parent: int = 0
    magic_token: int = 0
    info: str | None = None
    peer_info: str | None = None
    error_code: int = 0
    pid: int = 0
    peer_pid: int = 0
    active_hat: str | None = None
    net_addr: str | None = None
    peer_addr: str | None = None
    net_family: str | None = None
    net_sock_type: str | None = None
    net_protocol: str | None = None
    net_local_addr: str | None = None
    net_foreign_addr: str | None = None
    net_local_port: int = 0
    net_foreign_port: int = 0
    dbus_bus: str | None = None
    dbus_path: str | None = None
    dbus_interface: str | None = None
    dbus_member: str | None = None
    signal: str | None = None
    fs_type: str | None = None
    flags: str | None = None
    src_name: str | None = None
    execpath: str | None = None
    rule_class: str | None = None
    epoch: int = 0
    audit_sub_id: int = 0

    def as_fields(self) -> dict[str, str]:
        """The fields that are set, as strings, under libapparmor's member names."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value != _unset(f.name):
                out[f.name] = str(value)
        return out

    def items(self) -> list[tuple[str, object]]:
        """(label, value) of every set member, in test_multi's order and words."""
        out: list[tuple[str, object]] = [("Event type", self.event)]
        for label, attr in _REPORT:
            value = getattr(self, attr)
            if value is not None and value != _unset(attr):
                out.append((label, value))
        return out

    def report(self) -> str:
        """The record as libapparmor's test_multi prints it (testsuite/test_multi.c)."""
        return "".join(f"{label}: {value}\n" for label, value in self.items())


def _unset(attr: str) -> int | None:
    """The value libapparmor leaves in a numeric member nobody set."""
    if attr in ("fsuid", "ouid"):
        return UNSET_ID
    return 0 if attr in _NUMERIC else None


_NUMERIC = frozenset({"task", "parent", "magic_token", "error_code", "pid", "peer_pid",
                      "net_local_port", "net_foreign_port", "epoch", "audit_sub_id"})
_REPORT = [("Audit ID", "audit_id"), ("Operation", "operation"), ("Mask", "requested_mask"),
           ("Denied Mask", "denied_mask"), ("fsuid", "fsuid"), ("ouid", "ouid"),
           ("Profile", "profile"), ("Peer profile", "peer_profile"), ("Peer", "peer"),
           ("Name", "name"), ("Command", "comm"), ("Name2", "name2"),
           ("Namespace", "namespace"), ("Attribute", "attribute"), ("Task", "task"),
           ("Parent", "parent"), ("Token", "magic_token"), ("Info", "info"),
           ("Peer info", "peer_info"), ("ErrorCode", "error_code"), ("PID", "pid"),
           ("Peer PID", "peer_pid"), ("Active hat", "active_hat"), ("Net Addr", "net_addr"),
           ("Peer Addr", "peer_addr"), ("Network family", "net_family"),
           ("Socket type", "net_sock_type"), ("Protocol", "net_protocol"),
           ("Local addr", "net_local_addr"), ("Foreign addr", "net_foreign_addr"),
           ("Local port", "net_local_port"), ("Foreign port", "net_foreign_port"),
           ("DBus bus", "dbus_bus"), ("DBus path", "dbus_path"),
           ("DBus interface", "dbus_interface"), ("DBus member", "dbus_member"),
           ("Signal", "signal"), ("FS Type", "fs_type"), ("Flags", "flags"),
           ("Src name", "src_name"), ("Execpath", "execpath"), ("Class", "rule_class"),
           ("Epoch", "epoch"), ("Audit subid", "audit_sub_id")]
