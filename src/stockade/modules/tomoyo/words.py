"""TOMOYO's words: line normalisation, the naming rules of names and domains, numbers, and
the `\\ooo` encoding of bytes a name may not carry, as security/tomoyo/util.c defines them.

A TOMOYO name is printable ASCII without spaces: a byte <= 0x20 or >= 0x7F is written as a
backslash and three octal digits, a backslash as two backslashes. Patterns add `\\*`, `\\@`,
`\\?`, `\\$`, `\\+`, `\\X`, `\\x`, `\\A`, `\\a`, `\\-` and `/\\{dir\\}/`.
"""

from __future__ import annotations

import re

MAX_DOMAINNAME_LEN = 4096 - 10
_WILDCARDS = frozenset("$+?*@xXaA-")
_DOMAIN_SPLIT = re.compile(r" (?!/)")


def normalize_line(line: str) -> str:
    """Blanks and control bytes collapse to one space; leading and trailing ones go."""
    words: list[str] = []
    cur: list[str] = []
    for ch in line:
        if " " < ch < "\x7f":
            cur.append(ch)
        elif cur:
            words.append("".join(cur))
            cur = []
    if cur:
        words.append("".join(cur))
    return " ".join(words)


def _invalid(code: int) -> bool:
    return code <= 0x20 or code >= 0x7F


def correct_word(word: str) -> bool:
    """tomoyo_correct_word: only valid bytes, well-formed escapes, `\\{` after `/`, `\\}`
    before `/`, no `/` inside a repetition, an `\\ooo` only for bytes that need it."""
    if not word:
        return False
    n = len(word)
    i = 0
    in_rep = False
    while i < n:
        c = word[i]
        i += 1
        if c == "\\":
            if i >= n:
                return False
            c = word[i]
            i += 1
            if c == "\\" or c in _WILDCARDS:
                continue
            if c == "{":
                if i - 3 < 0 or word[i - 3] != "/":
                    return False
                in_rep = True
                continue
            if c == "}":
                if i >= n or word[i] != "/" or not in_rep:
                    return False
                in_rep = False
                continue
            if c in "0123" and i + 2 <= n:
                d, e = word[i], word[i + 1]
                i += 2
                # \000 passes as tomoyo-checkpolicy lets it (the kernel refuses it)
                if "0" <= d <= "7" and "0" <= e <= "7" and \
                        _invalid((int(c) << 6) + (int(d) << 3) + int(e)):
                    continue
            return False
        if in_rep and c == "/":
            return False
        if _invalid(ord(c)):
            return False
    return not in_rep


def correct_path(word: str) -> bool:
    """An absolute name (`/...`) that follows the naming rules."""
    return word.startswith("/") and correct_word(word)


def domain_def(text: str) -> bool:
    """Whether `text` may be a domain name: its first word is `<...>` with a valid inside."""
    if not text.startswith("<"):
        return False
    first = text.split(" ", 1)[0]
    return len(first) >= 2 and first.endswith(">") and correct_word(first[1:-1])


def correct_domain(text: str, *, tool: bool = False) -> bool:
    """tomoyo_correct_domain: `<ns>` then absolute names, one space apart (with `tool`, as
    tomoyo-checkpolicy checks a domain header: each name only needs a `/` somewhere)."""
    if not domain_def(text):
        return False
    rest = text.split(" ", 1)
    if len(rest) == 1:
        return True
    parts = rest[1].split(" ")
    if tool:
        return all("/" in p and correct_word(p) for p in parts)
    return all(p.startswith("/") and correct_word(p) for p in parts)


def split_domain(words: list[str], start: int) -> int:
    """The index after a domain name beginning at words[start]: `<ns>` and every following
    word that starts with `/` (how the tools cut a domain out of a line)."""
    i = start + 1
    while i < len(words) and words[i].startswith("/"):
        i += 1
    return i


def parse_ulong(text: str) -> tuple[int, str, str] | None:
    """tomoyo_parse_ulong: (value, base kind, rest) for `0x1F`, `0755` or `42`; None if no
    digits. The base follows the prefix: `0x` hexadecimal, `0` + octal digit octal."""
    base, kind, pos = 10, "dec", 0
    if text.startswith("0") and len(text) > 1:
        c = text[1]
        if c in "xX":
            base, kind, pos = 16, "hex", 2
        elif "0" <= c <= "7":
            base, kind, pos = 8, "oct", 1
    digits = "0123456789abcdefABCDEF"[: {16: 22, 10: 10, 8: 8}[base]]
    end = pos
    while end < len(text) and text[end] in digits:
        end += 1
    if end == pos:
        return None
    return int(text[pos:end], base), kind, text[end:]


def number_range(text: str) -> tuple[int, int] | None:
    """`N` or `N-M` (N <= M) as (min, max); None when malformed."""
    first = parse_ulong(text)
    if first is None:
        return None
    low, _, rest = first
    if not rest:
        return low, low
    if not rest.startswith("-"):
        return None
    second = parse_ulong(rest[1:])
    if second is None or second[2] or second[0] < low:
        return None
    return low, second[0]


def encode_name(raw: bytes | str) -> str:
    """A kernel-side name as TOMOYO prints it: `\\\\` for a backslash, `\\ooo` for bytes
    <= 0x20 or >= 0x7F."""
    data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
    out: list[str] = []
    for byte in data:
        if byte == 0x5C:
            out.append("\\\\")
        elif _invalid(byte):
            out.append(f"\\{byte:03o}")
        else:
            out.append(chr(byte))
    return "".join(out)


def decode_name(name: str) -> bytes:
    """The bytes an encoded name stands for (wildcards are left as written)."""
    out = bytearray()
    i = 0
    while i < len(name):
        c = name[i]
        if c == "\\" and i + 1 < len(name):
            nxt = name[i + 1]
            if nxt == "\\":
                out.append(0x5C)
                i += 2
                continue
            if nxt in "0123" and re.fullmatch(r"[0-7]{2}", name[i + 2:i + 4]):
                out.append(int(name[i + 1:i + 4], 8))
                i += 4
                continue
        out.extend(c.encode("utf-8", "surrogateescape"))
        i += 1
    return bytes(out)


def is_patterned(name: str) -> bool:
    """True when `name` holds a wildcard (not only `\\\\` and `\\ooo` escapes)."""
    i = 0
    while i < len(name):
        if name[i] == "\\":
            nxt = name[i + 1] if i + 1 < len(name) else ""
            if nxt == "\\":
                i += 2
                continue
            if nxt in "0123" and re.match(r"[0-7]{2}", name[i + 2:i + 4]):
                i += 4
                continue
            return True
        i += 1
    return False
