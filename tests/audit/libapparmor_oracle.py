"""Run by /usr/bin/python3 (Debian's python3-libapparmor): JSON lines in, libapparmor's
aa_log_record for each out, with the field names of stockade.audit.readers.aalog."""

import json
import sys

import LibAppArmor as la

EVENTS = ["AA_RECORD_INVALID", "AA_RECORD_ERROR", "AA_RECORD_AUDIT", "AA_RECORD_ALLOWED",
          "AA_RECORD_DENIED", "AA_RECORD_HINT", "AA_RECORD_STATUS"]
FIELDS = ["audit_id", "operation", "requested_mask", "denied_mask", "fsuid", "ouid", "profile",
          "peer_profile", "peer", "name", "comm", "name2", "namespace", "attribute", "task",
          "parent", "magic_token", "info", "peer_info", "error_code", "pid", "peer_pid",
          "active_hat", "net_family", "net_sock_type", "net_protocol", "net_local_addr",
          "net_foreign_addr", "net_local_port", "net_foreign_port", "dbus_bus", "dbus_path",
          "dbus_interface", "dbus_member", "signal", "fs_type", "flags", "src_name", "epoch",
          "audit_sub_id"]

for line in sys.stdin:
    text = json.loads(line)
    rec = la.parse_record(text)
    out = {"event": EVENTS[rec.event] if 0 <= rec.event < len(EVENTS) else str(rec.event)}
    for name in FIELDS:
        out[name] = getattr(rec, name)
    la.free_record(rec)
    print(json.dumps(out), flush=True)
