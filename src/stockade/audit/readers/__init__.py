"""Readers of the kernel's audit trail: parse, correlate into events, interpret as AuditRecords.

- `parser`: one line (audit.log, dmesg, journal) or netlink payload → `RawRecord`
- `correlate`: records → events by `audit(TIME:SERIAL)`, bounded → `AuditRecord`s
- `interpret`: AppArmor, SELinux, Landlock, seccomp and other records → `AuditRecord`
- `sources`: audit.log and its rotations, kernel log text, stockade JSONL
- `netlink`: the live multicast group (root)
"""

from stockade.audit.readers.correlate import Correlator, records_from_lines
from stockade.audit.readers.parser import RawRecord, parse_line
from stockade.audit.readers.sources import audit_log_files, read_audit_logs, read_records

__all__ = [
    "Correlator",
    "RawRecord",
    "audit_log_files",
    "parse_line",
    "read_audit_logs",
    "read_records",
    "records_from_lines",
]
