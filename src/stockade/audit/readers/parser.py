"""Kernel audit text → `RawRecord`s: the type, the `audit(TIME:SERIAL)` stamp and the fields.

Handles the three shapes the same record takes: auditd's `audit.log` (`type=AVC msg=audit(...):`,
optionally `node=` first and auditd's ENRICHED suffix after a 0x1d byte), the kernel log as
dmesg or journald show it (`audit: type=1400 audit(...):`), and netlink payloads (`audit(...):`
with the type in the message header). Field values are parsed lazily: most records in a busy
log are never looked at field by field.
"""

from __future__ import annotations

import re

from stockade.audit.readers.types import type_name, type_number

# key=value, key="quoted", key='quoted (USER_* msg=)', key= (empty): the value as written.
# A key is the rest of a run of [\w-] from its first [A-Za-z_]; the run is read once (the
# lookbehind and the possessive repeats), since `[A-Za-z_][\w-]*=` alone retried from every
# letter of a long run without `=`: quadratic (a 200,000-letter line took 80 s).
_PAIR = re.compile(r"""(?<![\w-])(?:[^\W_A-Za-z]|-)*+([A-Za-z_][\w-]*+)=("[^"]*"|'[^']*'|\S*)""")
_HEX = re.compile(r"(?:[0-9A-F]{2})+")
_AVC_PERMS = re.compile(r"avc:\s+(denied|granted)\s+\{\s*([^}]*?)\s*\}")
# the head of an audit.log line: node, type token, stamp; the body follows
_STAMP = re.compile(r"\d+(?:\.\d+)?:\d+")
HEAD = re.compile(r"(?:node=(\S+) )?type=(\S+) msg=audit\((\d+(?:\.\d+)?:\d+)\): ?")

# Fields the kernel writes with audit_log_untrustedstring()/audit_log_n_untrustedstring():
# quoted when clean, hex when they hold a space, a quote or a control character.
# (Numeric fields such as SYSCALL's a0= or CONFIG_CHANGE's old= are never decoded.)
UNTRUSTED = frozenset({
    "comm", "exe", "name", "path", "cwd", "proctitle", "profile", "ocomm", "key", "cmd",
    "data", "target", "peer", "label", "peer_label", "info", "srcname", "root_dir",
})  # fmt: skip


def decode_hex(value: str, *, nul_as_space: bool = False) -> str:
    """The text audit encoded as hex; NUL separators (proctitle, argv) become spaces."""
    raw = bytes.fromhex(value)
    if nul_as_space:
        raw = raw.rstrip(b"\x00").replace(b"\x00", b" ")
    return raw.decode("utf-8", "backslashreplace")


# The same comm, exe, path and proctitle come back again and again in a log: decoded hex is
# remembered, up to _MEMO_MAX values per table (the table is emptied when it is full).
_MEMO_MAX = 4096
_hex_memo: dict[str, str] = {}
_title_memo: dict[str, str] = {}


def _bare(key: str, value: str) -> str:
    if key not in UNTRUSTED or value == "(null)":
        return value
    memo = _title_memo if key == "proctitle" else _hex_memo
    decoded = memo.get(value)
    if decoded is None:
        if not _HEX.fullmatch(value):
            return value
        decoded = decode_hex(value, nul_as_space=key == "proctitle")
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[value] = decoded
    return decoded


def field_value(key: str, value: str) -> str:
    """One field's text with its quotes removed and, for untrusted strings, hex decoded."""
    if not value:
        return value
    first = value[0]
    if first == '"' or first == "'":
        return value[1:-1] if len(value) > 1 and value[-1] == first else value[1:]
    return _bare(key, value)


def parse_fields(body: str) -> dict[str, str]:
    """Every `key=value` of a record body, decoded; a repeated key keeps its first value.

    One `findall` gives (key, value-as-written) pairs and `dict()` builds the table in C; then
    quoted values lose their quotes and bare untrusted values are hex decoded. A value that
    starts with a quote and ends with the same quote was matched by a quoted alternative (a bare
    value can only start with a quote when no closing quote follows it anywhere).
    """
    pairs = _PAIR.findall(body)
    fields = dict(pairs)
    if len(fields) != len(pairs):
        fields = {}
        for key, value in pairs:
            if key not in fields:
                fields[key] = value
    untrusted = UNTRUSTED
    for key, value in fields.items():
        first = value[:1]
        if first == '"' or first == "'":
            if len(value) > 1 and value[-1] == first:
                fields[key] = value[1:-1]
        elif key in untrusted and value:
            fields[key] = _bare(key, value)
    return fields


def get_field(body: str, key: str) -> str | None:
    """One field of a body without parsing the others (the first `key=` after a space)."""
    probe = " " + key + "="
    at = body.find(probe)
    if at < 0:
        if not body.startswith(probe[1:]):
            return None
        start = len(probe) - 1
    else:
        start = at + len(probe)
    if body[start:start + 1] == '"':
        end = body.find('"', start + 1)
        return body[start + 1:end] if end >= 0 else body[start + 1:]
    end = body.find(" ", start)
    value = body[start:end] if end >= 0 else body[start:]
    return _bare(key, value) if key in UNTRUSTED else value


def avc_permissions(body: str) -> tuple[str, list[str]] | None:
    """`("denied", ["read", "write"])` from an SELinux `avc:  denied  { read write }` body."""
    match = _AVC_PERMS.search(body)
    if match is None:
        return None
    return match.group(1), match.group(2).split()


class RawRecord:
    """One line of kernel audit text: its type, stamp and body, fields parsed on demand."""

    __slots__ = ("_fields", "body", "line", "node", "stamp", "type")

    def __init__(self, type_: int, stamp: str, body: str, line: str, node: str = "") -> None:
        self.type = type_
        self.stamp = stamp  # "TIME:SERIAL", the event key
        self.body = body
        self.line = line
        self.node = node
        self._fields: dict[str, str] | None = None

    @property
    def time(self) -> float:
        """The event's time, seconds since the epoch."""
        return stamp_time(self.stamp)[0]

    @property
    def serial(self) -> int:
        """The event's serial number."""
        return stamp_time(self.stamp)[1]

    @property
    def fields(self) -> dict[str, str]:
        """The decoded `key=value` fields of the body."""
        if self._fields is None:
            self._fields = parse_fields(self.body)
        return self._fields

    def __repr__(self) -> str:
        return f"RawRecord({self.type}, {self.stamp!r}, {self.body[:40]!r})"


def stamp_time(stamp: str) -> tuple[float, int]:
    """(time, serial) of `1700000000.123:45`."""
    time_text, _, serial_text = stamp.partition(":")
    return float(time_text), int(serial_text) if serial_text.isdigit() else 0


def parse_line(line: str) -> RawRecord | None:
    """The record on one line of audit.log, dmesg or journal text; None for other lines.

    auditd's ENRICHED suffix (after a 0x1d byte) is not part of the kernel's record and is cut.
    """
    enriched = line.find("\x1d")
    line = line[:enriched] if enriched >= 0 else line.rstrip("\n")
    head = HEAD.match(line)
    if head is not None:
        node, token, stamp = head.groups()
        return RawRecord(type_number(token), stamp, line[head.end():], line, node or "")
    t = line.find("type=")
    if t < 0:
        return None
    end = line.find(" ", t)
    if end < 0:
        return None
    type_ = type_number(line[t + 5:end])
    a = line.find("audit(", end)
    if a < 0:
        return None
    close = line.find("):", a)
    if close < 0:
        return None
    stamp = line[a + 6:close]
    if not _STAMP.fullmatch(stamp):
        return None
    node = ""
    if line.startswith("node="):
        node = line[5:line.find(" ")]
    raw = line if t == 0 or node else line[t:]
    return RawRecord(type_, stamp, line[close + 2:].lstrip(" "), raw, node)


def parse_payload(type_: int, payload: str) -> RawRecord | None:
    """A netlink message's text (`audit(TIME:SERIAL): body`) with its header's type."""
    payload = payload.rstrip("\x00\n")
    if not payload.startswith("audit("):
        return None
    close = payload.find("):")
    if close < 0:
        return None
    stamp = payload[6:close]
    if not _STAMP.fullmatch(stamp):
        return None
    body = payload[close + 2:].lstrip(" ")
    return RawRecord(type_, stamp, body, f"type={type_name(type_)} msg=audit({stamp}): {body}")
