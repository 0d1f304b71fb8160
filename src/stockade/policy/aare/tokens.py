"""AARE steps 1-3 (see the package's docstring): escapes decoded (processunquoted), runs of `/`
folded (filter_slashes), globs converted to the regex lexer's tokens (convert_aaregex_to_pcre)."""

from __future__ import annotations

from stockade.policy.limits import MAX_ALTERNATION_DEPTH

MAX_ALT_DEPTH = MAX_ALTERNATION_DEPTH + 1  # upstream's MAX_ALT_DEPTH: refused at this depth


class AareError(ValueError):
    """A malformed pattern; `offset` is the index in the pattern text."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def fold_slashes(text: str) -> str:
    """Collapse runs of `/` in a plain path (what the kernel would pass)."""
    while "//" in text:  # a run of n slashes is one after log2(n) passes (no `re`: start-up)
        text = text.replace("//", "/")
    return text


# ---- step 1: escapes (processunquoted) --------------------------------------------------------
# A character is (char, offset in the pattern text).
Chars = list[tuple[str, int]]
_OCT = "01234567"
_NAMED = {"\\": "\\", '"': '"', "a": "\a", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r",
          "t": "\t"}
_KEEP_ESCAPED = "*?[]{}^,\\"


def _number(text: str, i: int, digits: str, base: int, most: int) -> tuple[int, int]:
    """Up to `most` digits of `base` at text[i:], stopping before the value passes 255."""
    val = 0
    j = i
    while j < len(text) and j - i < most and text[j].lower() in digits:
        nxt = val * base + int(text[j], base)
        if nxt > 255:
            break
        val = nxt
        j += 1
    return val, j


def escape_value(text: str, i: int) -> tuple[int, int] | None:
    """The byte an escape names, text[i] being the character after `\\`, and the index after
    it; None for an escape apparmor does not decode (lib.c strn_escseq)."""
    if i >= len(text):
        return None
    ch = text[i]
    if ch in _OCT:
        return _number(text, i, _OCT, 8, 3)
    if ch == "d":
        val, j = _number(text, i + 1, "0123456789", 10, 3)
        return None if j == i + 1 else (val, j)
    if ch == "x":
        val, j = _number(text, i + 1, "0123456789abcdef", 16, 2)
        return None if j == i + 1 else (val, j)
    if ch in _NAMED:
        return ord(_NAMED[ch]), i + 1
    return None


def _unescape(text: str) -> Chars:
    out: Chars = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        dec = escape_value(text, i + 1) if ch == "\\" and i + 1 < n else None
        if dec is None:
            out.append((ch, i))
            i += 1
            continue
        val, j = dec
        c = chr(val)
        if val == 0:
            out.extend((text[k], i) for k in range(i, j))
        elif c in _KEEP_ESCAPED:
            out.extend((("\\", i), (c, i)))
        else:
            out.append((c, i))
        i = j
    return out


# ---- step 2: filter_slashes ---------------------------------------------------------------------
def _filter_slashes(chars: Chars) -> Chars:
    if len(chars) < 2:
        return chars
    start = 0
    if chars[0][0] == "/" and chars[1][0] == "/" and (len(chars) < 3 or chars[2][0] != "/"):
        start = 2  # the `//` of a leading namespace-like prefix is kept
    out = chars[:start]
    seen = False
    for item in chars[start:]:
        if item[0] == "/":
            if seen:
                continue
            seen = True
        else:
            seen = False
        out.append(item)
    return out


def _fold_plain(text: str) -> str:
    """_filter_slashes of plain text (no glob characters), on the string."""
    if "//" not in text:
        return text
    if text.startswith("//") and text[2:3] != "/":
        return "//" + fold_slashes(text[2:])  # the kept leading `//`
    return fold_slashes(text)


# ---- step 3: convert_aaregex_to_pcre, emitted as the regex lexer's tokens -------------------
# A token is (kind, char, offset): kind "c" is a literal character, otherwise kind is one of
# the regex operators * + . | ^ - [ ] ( ).
Tok = tuple[str, str, int]
_OPS = frozenset("*+.|^-[]()")


def _class_toks(chars: str, off: int, negated: bool = True) -> list[Tok]:
    toks: list[Tok] = [("[", "", off)]
    if negated:
        toks.append(("^", "", off))
    toks.extend(("c", ch, off) for ch in chars)
    toks.append(("]", "", off))
    return toks


def _raw(ch: str, off: int) -> Tok:
    """How the regex lexer reads an unescaped character."""
    return (ch, "", off) if ch in _OPS else ("c", ch, off)


def _star(text: str, i: int, last: str, off: int, out: list[Tok]) -> int:
    """`*` or `**` at text[i]; returns the index of its last star."""
    if last == "/":
        j = i
        while j < len(text) and text[j] == "*":
            j += 1
        if j == len(text) or text[j] == "/":  # a whole component: at least one character
            out.extend(_class_toks("/\x00", off))
    double = i + 1 < len(text) and text[i + 1] == "*"
    out.extend(_class_toks("\x00" if double else "/\x00", off))
    out.append(("*", "", off))
    return i + 1 if double else i


def _convert(chars: Chars) -> list[Tok]:
    out: list[Tok] = []
    last = ""  # the last character of the regex text upstream would have written
    escape = False
    depth = 0
    in_class = False
    counts = [0] * (MAX_ALT_DEPTH + 1)
    i, n = 0, len(chars)
    text = "".join(c for c, _ in chars)
    while i < n:
        ch, off = chars[i]
        if ch == "\\" and not escape:
            escape = True
            i += 1
            continue
        prev, last = last, ch
        if (escape and ch in "\\*?[]{}") or (in_class and ch in "{}"):
            out.append(("c", ch, off))
        elif ch == "*":
            i = _star(text, i, prev, off, out)
        elif ch == "?":
            out.extend(_class_toks("/\x00", off))
            last = "]"
        elif ch in "[]":
            if ch == "]" and not in_class:
                raise AareError("invalid ']' with no matching '['", off)
            in_class = ch == "["
            out.append((ch, "", off))
        elif ch == "{":
            depth += 1
            if depth >= MAX_ALT_DEPTH:
                raise AareError(f"more than {MAX_ALT_DEPTH - 1} nested '{{'", off)
            counts[depth] = 0
            out.append(("(", "", off))
        elif ch == "}":
            if counts[depth] == 0:
                raise AareError("an alternation needs at least two items: '{a,b}'"
                                if depth else "invalid '}' with no matching '{'", off)
            depth -= 1
            out.append((")", "", off))
        elif ch == ",":
            if escape and in_class:
                out.extend((("c", "\\", off), ("c", ",", off)))
            elif depth and not in_class and not escape:
                counts[depth] += 1
                out.append(("|", "", off))
            else:
                out.append(("c", ",", off))
        elif ch == "^":
            out.append(("^", "", off) if in_class else ("c", "^", off))
        elif ch in ".+|()$":
            out.append(("c", ch, off))
        elif escape and (dec := escape_value(text, i)) is not None:
            out.append(("c", chr(dec[0]), off))
            last = text[dec[1] - 1]
            i = dec[1] - 1
        else:
            out.append(_raw(ch, off))
        escape = False
        i += 1
    if depth or in_class:
        where = chars[-1][1] if chars else 0
        raise AareError("unclosed '{' or '[' in pattern (expecting '}' or ']')", where)
    if escape:
        raise AareError("trailing '\\' escape character", chars[-1][1])
    return out

