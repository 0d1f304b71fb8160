"""libapparmor's log grammar (libraries/libapparmor/src/grammar.y) over the scanner's tokens."""

from __future__ import annotations

from collections.abc import Mapping

from stockade.audit.readers.aalog.record import AaLogRecord
from stockade.audit.readers.aalog.scanner import _KEYS as _SCANNED_KEYS
from stockade.audit.readers.aalog.scanner import Tok, tokens

_TYPE_EVENT = {1501: "AA_RECORD_AUDIT", 1502: "AA_RECORD_ALLOWED", 1503: "AA_RECORD_DENIED",
               1504: "AA_RECORD_HINT", 1505: "AA_RECORD_STATUS", 1506: "AA_RECORD_ERROR"}

# af_protos.h: glibc's IPPROTO_* in header order, the first name of a number wins
_IPPROTO = {0: "ip", 1: "icmp", 2: "igmp", 4: "ipip", 6: "tcp", 8: "egp", 12: "pup", 17: "udp",
            22: "idp", 29: "tp", 33: "dccp", 41: "ipv6", 46: "rsvp", 47: "gre", 50: "esp",
            51: "ah", 92: "mtp", 94: "beetph", 98: "encap", 103: "pim", 108: "comp",
            132: "sctp", 136: "udplite", 137: "mpls", 143: "ethernet", 255: "raw",
            262: "mptcp", 43: "routing", 44: "fragment", 58: "icmpv6", 59: "none",
            60: "dstopts", 135: "mh"}


# ---- the grammar (grammar.y) ---------------------------------------------------------------------
class _Stop(Exception):
    """A syntax error: bison stops, yyerror marks the record invalid."""


_QUOTED_KEYS = {"operation": "operation", "mask": "denied_mask", "denied_mask": "denied_mask",
                "requested_mask": "requested_mask", "attribute": "attribute",
                "info": "info", "peer_info": "peer_info", "peer": "peer",
                "family": "net_family", "sock_type": "net_sock_type", "capname": "name",
                "bus": "dbus_bus", "path": "dbus_path", "interface": "dbus_interface",
                "member": "dbus_member", "fstype": "fs_type", "flags": "flags",
                "srcname": "src_name", "execpath": "execpath", "class": "rule_class"}
_SAFE_KEYS = {"name": "name", "namespace": "namespace", "name2": "name2",
              "profile": "profile", "peer_profile": "peer_profile", "label": "profile",
              "peer_label": "peer_profile", "exe": "comm", "comm": "comm",
              "target": "name2"}
_DIGIT_KEYS = {"task": "task", "parent": "parent", "magic_token": "magic_token",
               "pid": "pid", "peer_pid": "peer_pid", "fsuid": "fsuid", "ouid": "ouid",
               "lport": "net_local_port", "fport": "net_foreign_port", "sauid": None,
               "capability": None, "offset": None}


def log_masks(fields: Mapping[str, str]) -> tuple[str, str]:
    """(requested_mask, denied_mask) of a record's `key=value` fields as libapparmor's grammar
    sets them: `mask=`, `denied_mask=` and `denied=` are the denied mask, `requested_mask=` and
    `requested=` the requested one; a later key overwrites an earlier one; '' when absent.
    Every reader of AppArmor records (interpret: import, logprof, notify) asks this."""
    found = [key for key in _MASK_KEYS if key in fields]
    if not found:
        return "", ""
    out = {"requested_mask": "", "denied_mask": ""}
    if len(found) > 1 and len({_MASK_KEYS[key] for key in found}) < len(found):
        found = [key for key in fields if key in _MASK_KEYS]  # two for one member: line order
    for key in found:
        out[_MASK_KEYS[key]] = fields[key]
    return out["requested_mask"], out["denied_mask"]


# the keys the scanner gives a mask token, and the member the grammar sets from each
_MASK_KEYS = {key: _QUOTED_KEYS[canonical] for key, (canonical, _) in _SCANNED_KEYS.items()
              if _QUOTED_KEYS.get(canonical) in ("requested_mask", "denied_mask")}


class _Parser:
    def __init__(self, toks: list[Tok], rec: AaLogRecord) -> None:
        self.toks = toks
        self.i = 0
        self.rec = rec

    def peek(self, k: int = 0) -> Tok:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else ("END", None)

    def take(self, kind: str, value: object = None) -> object:
        tok = self.peek()
        if tok[0] != kind or (value is not None and tok[1] != value):
            raise _Stop
        self.i += 1
        return tok[1]

    def is_(self, kind: str, value: object = None, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok[0] == kind and (value is None or tok[1] == value)

    # log_message: audit_type | dmesg_type | syslog_type | audit_dispatch
    def log_message(self) -> None:
        if self.is_("KEY", "type"):
            self.take("KEY")
            self.take("=")
            self.type_syntax()
        elif self.is_("DMESG_STAMP"):
            self.take("DMESG_STAMP")
            self.take("AUDIT")
            self.take(":")
            self.key_type()
            self.audit_id()
            self.key_list()
        elif self.is_("DATE_MONTH") or self.is_("DATE"):
            self.syslog_type()
        else:
            self.audit_msg()
            self.key_list()
        self.take("END")

    def type_syntax(self) -> None:
        kind, value = self.peek()
        self.i += 1
        rec = self.rec
        if kind.startswith("TYPE_AA_"):
            self.audit_msg()
            self.key_list()
            self.take("END")
            rec.event = "AA_RECORD_" + kind[8:]
        elif kind == "TYPE_UNKNOWN":
            self.audit_msg()
            self.key_list()
            self.take("END")
            rec.event = _TYPE_EVENT.get(value, "AA_RECORD_INVALID")  # type: ignore[arg-type]
        elif kind == "TYPE_LSM_AVC":
            self.audit_msg()
            self.key_list()
        elif kind == "TYPE_USER_AVC":
            self.take("KEY", "msg")
            self.take("=")
            self.audit_id()
            self.user_msg_tail(closed=True)
        elif kind == "TYPE_OTHER":
            self.audit_msg()
            rest = self.take("MSG_REST")
            rec.operation = str(value)
            rec.event = "AA_RECORD_INVALID"
            rec.info = str(rest)
        else:
            raise _Stop

    def syslog_type(self) -> None:
        if self.is_("DATE_MONTH"):
            self.take("DATE_MONTH")
            self.take("DIGITS")
        else:
            self.take("DATE")
        self.take("TIME")
        if self.is_("ID") and self.is_("SYSLOG_USER", k=1):
            self.i += 2
            self.key_list()
            return
        if self.is_("SOCKLOGD_KERNEL"):
            self.i += 1
        else:
            self.take("ID")
            self.take("SYSLOG_KERNEL")
        stamp = self.is_("DMESG_STAMP")
        if stamp:
            self.i += 1
        if self.is_("AUDIT") and self.is_(":", k=1):
            self.i += 2
            self.key_type()
            self.audit_id()
            if stamp and self.is_("KEY", "pid") and self.is_("KEY", "uid", k=3):
                self.user_msg_tail(closed=None)
            else:
                self.key_list()
            return
        if self.is_("KEY", "type"):
            self.key_type()
        self.audit_id()
        self.key_list()

    def audit_msg(self) -> None:
        self.take("KEY", "msg")
        self.take("=")
        self.audit_id()

    def user_msg_tail(self, closed: bool | None) -> None:
        """pid= uid= auid= ses= msg='KEYS' (the closing quote optional in syslog)."""
        for key in ("pid", "uid", "auid", "ses"):
            self.take("KEY", key)
            self.take("=")
            self.take("DIGITS")
        self.take("KEY", "msg")
        self.take("=")
        self.take("'")
        self.key_list(stop="'")
        if self.is_("'") or closed:
            self.take("'")

    def audit_id(self) -> None:
        self.take("AUDIT")
        self.take("(")
        sec = str(self.take("AUDIT_DIGITS"))
        self.take(".")
        frac = str(self.take("AUDIT_DIGITS"))
        self.take(":")
        serial = str(self.take("AUDIT_DIGITS"))
        self.take(")")
        self.take(":")
        rec = self.rec
        rec.audit_id = f"{sec}.{frac}:{serial}"
        rec.epoch = int(sec)
        rec.audit_sub_id = int(serial) & 0xFFFFFFFF

    def key_type(self) -> None:
        self.take("KEY", "type")
        self.take("=")
        self.rec.event = _TYPE_EVENT.get(self.take("DIGITS"), "AA_RECORD_INVALID")  # type: ignore[arg-type]

    def key_list(self, stop: str = "END") -> None:
        self.key()
        while not self.is_(stop) and not self.is_("END"):
            self.key()

    def safe(self) -> str:
        kind, value = self.peek()
        if kind not in ("QUOTED", "HEXSTRING"):
            raise _Stop
        self.i += 1
        return str(value)

    def key(self) -> None:
        rec = self.rec
        kind, value = self.peek()
        if kind == "MSG_REST":
            self.i += 1
            rec.event = "AA_RECORD_INVALID"
            rec.info = str(value)
            return
        key = str(self.take("KEY"))
        self.take("=")
        if key in _QUOTED_KEYS:
            setattr(rec, _QUOTED_KEYS[key], str(self.take("QUOTED")))
        elif key in _SAFE_KEYS:
            setattr(rec, _SAFE_KEYS[key], self.safe())
        elif key in _DIGIT_KEYS:
            number = int(self.take("DIGITS"))  # type: ignore[arg-type]
            if _DIGIT_KEYS[key]:
                setattr(rec, _DIGIT_KEYS[key], number)
        elif key == "apparmor":
            rec.event = "AA_RECORD_" + str(self.take("AA_EVENT"))
        elif key == "type":
            rec.event = _TYPE_EVENT.get(self.take("DIGITS"), "AA_RECORD_INVALID")  # type: ignore[arg-type]
        elif key == "protocol":
            if self.is_("DIGITS"):
                num = int(self.take("DIGITS"))  # type: ignore[arg-type]
                rec.net_protocol = _IPPROTO.get(num, f"unknown({num})")
            else:
                rec.net_protocol = str(self.take("QUOTED"))
        elif key == "error":
            if self.is_("-"):
                self.i += 1
            rec.error_code = int(self.take("DIGITS"))  # type: ignore[arg-type]
        elif key in ("FSUID", "OUID"):
            self.take("QUOTED")
        elif key in ("hostname", "terminal", "addr", "peer_addr"):
            if (self.is_("?") and key != "peer_addr") or (self.is_("NONE") and key in ("addr", "peer_addr")):
                self.i += 1
            else:
                text = self.safe()
                if key == "addr":
                    rec.net_addr = text
                elif key == "peer_addr":
                    rec.peer_addr = text
        elif key in ("laddr", "faddr"):
            addr = str(self.take("IP_ADDR"))
            if key == "laddr":
                rec.net_local_addr = addr
            else:
                rec.net_foreign_addr = addr
        elif key == "signal":
            rec.signal = str(self.take("ID"))
        else:  # msg, uid, auid, ses: not keys of a key list
            raise _Stop


def parse_record(text: str) -> AaLogRecord:
    """What libapparmor's parse_record() returns for `text` (one log line)."""
    rec = AaLogRecord()
    parser = _Parser(tokens(text), rec)
    try:
        parser.log_message()
    except _Stop:
        rec.event = "AA_RECORD_INVALID"
    return rec
