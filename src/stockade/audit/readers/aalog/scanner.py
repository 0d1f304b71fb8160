"""libapparmor's log scanner (libraries/libapparmor/src/scanner.l): start conditions,
longest match and its key table, as a token list."""

from __future__ import annotations

import re

# ---- the scanner (scanner.l) ---------------------------------------------------------------------
# A token is (kind, value). Keys are ("KEY", canonical key name); the next state follows.
_SAFE, _TYPES, _SUB, _IP = "safe_string", "audit_types", "sub_id", "ip_addr"
_KEYS: dict[str, tuple[str, str | None]] = {
    "apparmor": ("apparmor", _TYPES), "type": ("type", _TYPES), "msg": ("msg", None),
    "operation": ("operation", None), "name": ("name", _SAFE), "name2": ("name2", _SAFE),
    "namespace": ("namespace", _SAFE), "mask": ("mask", None),
    "denied_mask": ("denied_mask", None), "requested_mask": ("requested_mask", None),
    "denied": ("denied_mask", None), "requested": ("requested_mask", None),
    "attribute": ("attribute", _SUB), "task": ("task", None), "parent": ("parent", None),
    "magic_token": ("magic_token", None), "info": ("info", None),
    "peer_info": ("peer_info", None), "pid": ("pid", None), "peer_pid": ("peer_pid", None),
    "profile": ("profile", _SAFE), "peer_profile": ("peer_profile", _SAFE),
    "label": ("label", _SAFE), "peer_label": ("peer_label", _SAFE),
    "tcontext": ("peer_label", _SAFE), "family": ("family", None),
    "sock_type": ("sock_type", None), "protocol": ("protocol", None),
    "error": ("error", None), "fsuid": ("fsuid", None), "FSUID": ("FSUID", None),
    "ouid": ("ouid", None), "OUID": ("OUID", None), "uid": ("uid", None),
    "auid": ("auid", None), "sauid": ("sauid", None), "ses": ("ses", None),
    "hostname": ("hostname", None), "addr": ("addr", _SAFE), "terminal": ("terminal", None),
    "exe": ("exe", _SAFE), "comm": ("comm", _SAFE), "capability": ("capability", None),
    "capname": ("capname", None), "offset": ("offset", None), "target": ("target", None),
    "laddr": ("laddr", _IP), "saddr": ("laddr", _IP), "faddr": ("faddr", _IP),
    "daddr": ("faddr", _IP), "lport": ("lport", None), "src": ("lport", None),
    "fport": ("fport", None), "dest": ("fport", None), "bus": ("bus", None),
    "path": ("path", None), "interface": ("interface", None), "member": ("member", None),
    "method": ("member", None), "signal": ("signal", _SUB), "peer": ("peer", _SAFE),
    "fstype": ("fstype", None), "flags": ("flags", _SAFE), "srcname": ("srcname", _SAFE),
    "peer_addr": ("peer_addr", _SAFE), "execpath": ("execpath", _SAFE),
    "class": ("class", _SAFE),
}
_KEY_RE = re.compile("|".join(sorted((re.escape(k) for k in _KEYS), key=len, reverse=True)))
_MONTH = (r"Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|"
          r"Aug(?:ust)?|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?")
_DATE = r"\d{4}-\d{2}-\d{2}"
_TIME = r"\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:\d{2})?"
_DMESG = r"\[[\d ]{5,}\.\d{6,}\]"
# INITIAL's rules in scanner.l order: the longest match wins, the first rule on a tie
_INITIAL: list[tuple[re.Pattern[str], str]] = [(re.compile(p), k) for p, k in [
    (r"=", "="), (r"\d+", "DIGITS"), (r":", ":"), (r"-", "-"), (r"\(", "("), (r"\)", ")"),
    (r"\.", "."), (r"\?", "?"), (r"'", "'"), (r"none", "NONE"), (_KEY_RE.pattern, "KEY"),
    (r"kern\.notice:", "SOCKLOGD_KERNEL"), (r"kernel:", "SYSLOG_KERNEL"),
    (r"[A-Za-z0-9_-]+\[\d+\]:", "SYSLOG_USER"), (_MONTH, "DATE_MONTH"), (_DATE, "DATE"),
    (_DATE + r"T(?=" + _TIME + ")", "DATE_T"), (_TIME, "TIME"), (r"audit", "AUDIT"),
    (_DMESG, "DMESG_STAMP"),
]]
_DIGITS = "0123456789"
_ALNUM = _DIGITS + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# the characters each rule can start with: only those rules are tried at a position
_FIRST = {"DIGITS": _DIGITS, "NONE": "n", "KEY": "".join({k[0] for k in _KEYS}),
          "SOCKLOGD_KERNEL": "k", "SYSLOG_KERNEL": "k", "SYSLOG_USER": _ALNUM + "_-",
          "DATE_MONTH": "JFMASOND", "DATE": _DIGITS, "DATE_T": _DIGITS, "TIME": _DIGITS,
          "AUDIT": "a", "DMESG_STAMP": "["}
_BY_FIRST: dict[str, list[tuple[re.Pattern[str], str]]] = {}
for _rx, _kind in _INITIAL:
    for _c in _FIRST.get(_kind, _kind):
        _BY_FIRST.setdefault(_c, []).append((_rx, _kind))
_WS = " \t\r\n\x1d"
_HEXSTRING = re.compile(r"(?:[A-F0-9]{2})+")
_IP_ADDR = re.compile(r"[a-f0-9.:]{3,}")
_ID = re.compile(r"[^ \t\n()=\"'!]+")
_AA_TYPES = {'"DENIED"': "DENIED", '"AUDIT"': "AUDIT", '"ALLOWED"': "ALLOWED",
             '"HINT"': "HINT", '"STATUS"': "STATUS", '"ERROR"': "ERROR"}
_AUDIT_TYPES = {"APPARMOR_DENIED": "AA_DENIED", "APPARMOR_AUDIT": "AA_AUDIT",
                "APPARMOR_ALLOWED": "AA_ALLOWED", "APPARMOR_HINT": "AA_HINT",
                "APPARMOR_STATUS": "AA_STATUS", "APPARMOR_ERROR": "AA_ERROR",
                "AVC": "LSM_AVC", "USER_AVC": "USER_AVC"}
_TYPE_TOKEN = re.compile(r'"(?:DENIED|AUDIT|ALLOWED|HINT|STATUS|ERROR)"|[A-Za-z0-9\[\]_-]+')
_UNKNOWN_TYPE = re.compile(r"UNKNOWN\[\d+\]")
_HOSTNAME = re.compile(r"kern\.notice:|[A-Za-z0-9._-]+")

Tok = tuple[str, object]


def _unhex(text: str) -> str:
    return bytes.fromhex(text).split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")


def tokens(text: str) -> list[Tok]:
    """The token stream libapparmor's scanner produces for one log line (or file)."""
    out: list[Tok] = []
    state = "INITIAL"
    stack: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if state == "unknown_message":
            if ch == "\n":
                i += 1
                continue
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(("MSG_REST", text[i:end]))
            i = end
            continue
        if state == "quoted":
            buf: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    buf.append(text[i + 1])
                    i += 2
                elif text[i] == "\n":
                    i += 1
                else:
                    buf.append(text[i])
                    i += 1
            if i >= n:
                break
            out.append(("QUOTED", "".join(buf)))
            state = "INITIAL"
            i += 1
            continue
        if state == _SAFE:
            if ch == '"':
                state, i = "quoted", i + 1
            elif ch == "=":
                out.append(("=", None))
                i += 1
            elif (m := _HEXSTRING.match(text, i)) is not None:
                out.append(("HEXSTRING", _unhex(m.group())))
                state, i = "INITIAL", m.end()
            else:
                state = "INITIAL"
            continue
        if state == _IP:
            if ch == "=":
                out.append(("=", None))
                i += 1
            elif (m := _IP_ADDR.match(text, i)) is not None:
                out.append(("IP_ADDR", m.group()))
                state = stack.pop() if stack else "INITIAL"
                i = m.end()
            else:
                state = "INITIAL"
            continue
        if state == _TYPES:
            if ch == "=":
                out.append(("=", None))
                i += 1
                continue
            m = _TYPE_TOKEN.match(text, i)
            if m is None:
                state = "unknown_message"
                continue
            word = m.group()
            i = m.end()
            state = "INITIAL"
            if word in _AA_TYPES:
                out.append(("AA_EVENT", _AA_TYPES[word]))
            elif word.isdigit():
                out.append(("DIGITS", int(word)))
            elif _UNKNOWN_TYPE.fullmatch(word):
                out.append(("TYPE_UNKNOWN", int(word[8:-1])))
            elif word in _AUDIT_TYPES:
                out.append(("TYPE_" + _AUDIT_TYPES[word], None))
            else:
                out.append(("TYPE_OTHER", word))
                state = "other_audit"
            continue
        if state == "audit_id":
            m = re.compile(r"\d+").match(text, i)
            if m is not None:
                out.append(("AUDIT_DIGITS", m.group()))
                i = m.end()
            elif ch == ":":
                out.append((":", None))
                i += 1
                if i < n and text[i] in _WS:
                    i += 1
                    state = stack.pop() if stack else "INITIAL"
            elif ch in ".(":
                out.append((ch, None))
                i += 1
            elif ch == ")":
                out.append((")", None))
                i += 1
                state = stack.pop() if stack else "INITIAL"
            else:
                state = "unknown_message"
            continue
        if ch in _WS and state in ("INITIAL", "hostname", "dmesg_timestamp", "other_audit",
                                   _SUB):
            i += 1
            continue
        if state == _SUB:
            if ch == "(":
                out.append(("(", None))
                i += 1
            elif ch == ")":
                out.append((")", None))
                state, i = "INITIAL", i + 1
            elif ch == '"':
                state, i = "quoted", i + 1
            elif ch == "=":
                out.append(("=", None))
                i += 1
            elif (m := _ID.match(text, i)) is not None:
                out.append(("ID", m.group()))
                state, i = "INITIAL", m.end()
            else:
                i += 1  # flex's default rule echoes the character
            continue
        if state == "hostname":
            m = _HOSTNAME.match(text, i)
            if m is None:
                i += 1
            elif m.group() == "kern.notice:":
                out.append(("SOCKLOGD_KERNEL", None))
                state, i = "dmesg_timestamp", m.end()
            else:
                out.append(("ID", m.group()))
                state, i = "INITIAL", m.end()
            continue
        if state == "dmesg_timestamp":
            m = re.compile(_DMESG).match(text, i)
            if m is not None:
                out.append(("DMESG_STAMP", m.group()))
                i = m.end()
            state = "INITIAL"
            continue
        if state == "other_audit":
            if text.startswith("audit", i):
                out.append(("AUDIT", None))
                stack.append(state)
                state, i = "audit_id", i + 5
            elif text.startswith("msg", i):
                out.append(("KEY", "msg"))
                i += 3
            elif ch in "=:":
                out.append((ch, None))
                i += 1
            else:
                state = "unknown_message"
            continue
        # INITIAL
        if ch == '"':
            state, i = "quoted", i + 1
            continue
        best: tuple[int, str] | None = None
        for rx, kind in _BY_FIRST.get(ch, ()):
            m = rx.match(text, i)
            if m is not None and m.end() > i and (best is None or m.end() > best[0]):
                best = (m.end(), kind)
        if best is None:
            state = "unknown_message"
            continue
        end, kind = best
        word = text[i:end]
        i = end
        if kind == "KEY":
            key, nxt = _KEYS[word]
            out.append(("KEY", key))
            if nxt == _IP:
                stack.append(state)
            if nxt is not None:
                state = nxt
        elif kind == "DIGITS":
            out.append(("DIGITS", int(word)))
        elif kind == "(":
            out.append(("(", None))
            state = _SUB
        elif kind in ("SOCKLOGD_KERNEL", "SYSLOG_KERNEL"):
            out.append((kind, None))
            state = "dmesg_timestamp"
        elif kind == "TIME":
            out.append(("TIME", word))
            state = "hostname"
        elif kind == "AUDIT":
            out.append(("AUDIT", None))
            stack.append(state)
            state = "audit_id"
        elif kind == "DATE_T":
            out.append(("DATE", word[:-1]))
        else:
            out.append((kind, word))
    return out
