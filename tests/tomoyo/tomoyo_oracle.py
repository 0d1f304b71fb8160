"""A character-by-character transcription of the kernel's tomoyo_path_matches_pattern()
(security/tomoyo/util.c), kept separate from (and structured unlike) the module's
regex-based matcher, as the oracle of the wildcard tests. Strings are indexed like C
pointers; a NUL past the end is "".
"""

from __future__ import annotations


def _at(s: str, i: int) -> str:
    return s[i] if 0 <= i < len(s) else ""


def _byte_range(s: str, i: int) -> bool:
    a, b, c = _at(s, i), _at(s, i + 1), _at(s, i + 2)
    return "0" <= a <= "3" and "0" <= b <= "7" and "0" <= c <= "7" and a != "" and b != "" \
        and c != ""


def _isdigit(c: str) -> bool:
    return c != "" and "0" <= c <= "9"


def _isxdigit(c: str) -> bool:
    return c != "" and (c in "0123456789abcdefABCDEF")


def _alpha(c: str) -> bool:
    return c != "" and ("A" <= c <= "Z" or "a" <= c <= "z")


def file_matches_pattern2(s: str, f: int, f_end: int, p: str, pp: int, p_end: int) -> bool:
    while f < f_end and pp < p_end:
        if p[pp] != "\\":
            if s[f] != p[pp]:
                return False
            f += 1
            pp += 1
            continue
        c = s[f]
        pp += 1
        w = p[pp]
        if w == "?":
            if c == "/":
                return False
            if c == "\\":
                if _at(s, f + 1) == "\\":
                    f += 1
                elif _byte_range(s, f + 1):
                    f += 3
                else:
                    return False
        elif w == "\\":
            if c != "\\":
                return False
            f += 1
            if _at(s, f) != "\\":
                return False
        elif w == "+":
            if not _isdigit(c):
                return False
        elif w == "x":
            if not _isxdigit(c):
                return False
        elif w == "a":
            if not _alpha(c):
                return False
        elif w in "0123":
            if c == "\\" and _byte_range(s, f + 1) and s[f + 1:f + 4] == p[pp:pp + 3]:
                f += 3
                pp += 2
            else:
                return False
        elif w in "*@":
            i = 0
            while i <= f_end - f:
                if file_matches_pattern2(s, f + i, f_end, p, pp + 1, p_end):
                    return True
                c = _at(s, f + i)
                if c == "." and w == "@":
                    break
                if c != "\\":
                    i += 1
                    continue
                if _at(s, f + i + 1) == "\\":
                    i += 1
                elif _byte_range(s, f + i + 1):
                    i += 3
                else:
                    break
                i += 1
            return False
        else:
            j = 0
            if w == "$":
                while _isdigit(_at(s, f + j)):
                    j += 1
            elif w == "X":
                while _isxdigit(_at(s, f + j)):
                    j += 1
            elif w == "A":
                while _alpha(_at(s, f + j)):
                    j += 1
            return any(file_matches_pattern2(s, f + i, f_end, p, pp + 1, p_end)
                       for i in range(1, j + 1))
        f += 1
        pp += 1
    while _at(p, pp) == "\\" and _at(p, pp + 1) in ("*", "@") and _at(p, pp + 1) != "":
        pp += 2
    return f == f_end and pp == p_end


def file_matches_pattern(s: str, f: int, f_end: int, p: str, pp: int, p_end: int) -> bool:
    start = pp
    first = True
    while pp < p_end - 1:
        if p[pp] != "\\":
            pp += 1
            continue
        pp += 1
        if p[pp] != "-":
            pp += 1
            continue
        pp += 1
        result = file_matches_pattern2(s, f, f_end, p, start, pp - 2)
        if first:
            result = not result
        if result:
            return False
        first = False
        start = pp
    result = file_matches_pattern2(s, f, f_end, p, start, p_end)
    return result if first else not result


def _delim(s: str, i: int) -> int:
    j = s.find("/", i)
    return len(s) if j < 0 else j


def path_matches_pattern2(s: str, f: int, p: str, pp: int) -> bool:
    while _at(s, f) and _at(p, pp):
        fd = _delim(s, f)
        pd = _delim(p, pp)
        if p[pp] == "\\" and _at(p, pp + 1) == "{":
            if _at(p, pp - 1) != "/" or pd <= pp + 3 or _at(p, pd) != "/" or \
                    _at(p, pd - 1) != "}" or _at(p, pd - 2) != "\\":
                return False
            while True:
                if not file_matches_pattern(s, f, fd, p, pp + 2, pd - 2):
                    break
                f = fd
                if not _at(s, f):
                    break
                f += 1
                if path_matches_pattern2(s, f, p, pd + 1):
                    return True
                nxt = s.find("/", f)
                if nxt < 0:
                    break
                fd = nxt
            return False
        if not file_matches_pattern(s, f, fd, p, pp, pd):
            return False
        f = fd
        if _at(s, f):
            f += 1
        pp = pd
        if _at(p, pp):
            pp += 1
    while _at(p, pp) == "\\" and _at(p, pp + 1) in ("*", "@") and _at(p, pp + 1) != "":
        pp += 2
    return not _at(s, f) and not _at(p, pp)


def const_part_length(p: str) -> int:
    n = 0
    i = 0
    while i < len(p):
        c = p[i]
        i += 1
        if c != "\\":
            n += 1
            continue
        c = _at(p, i)
        i += 1
        if c == "\\":
            n += 2
            continue
        if c in "0123" and c != "":
            c = _at(p, i)
            i += 1
            if c != "" and "0" <= c <= "7":
                c = _at(p, i)
                i += 1
                if c != "" and "0" <= c <= "7":
                    n += 4
                    continue
        break
    return n


def path_matches_pattern(name: str, pattern: str) -> bool:
    n = const_part_length(pattern)
    if n == len(pattern):
        return name == pattern
    if name.endswith("/") != pattern.endswith("/"):
        return False
    if name[:n] != pattern[:n]:
        return False
    return path_matches_pattern2(name, n, pattern, n)
