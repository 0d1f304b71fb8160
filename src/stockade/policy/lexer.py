"""Tokens of the profile language with 1-based line and column.

Paths are words: inside `{...}` a comma belongs to the word (`/usr/{bin,sbin}/x`), outside
it ends the rule, except that a path (a word starting with `/` or `@`) goes on over a comma
followed by a word character (`/foo,bar`), as upstream's ID lexeme does. `=` ends a word
except inside a path (`@{FOO}/=/x`). A backslash before a newline joins lines.
`#` starts a comment at the start of a token, except in `#include`.
"""

from __future__ import annotations

import bisect
import re
from enum import Enum
from typing import NamedTuple

from stockade.policy.errors import PolicySyntaxError


class T(Enum):
    """Token kinds."""

    WORD = "word"
    STRING = "string"  # "quoted", value without quotes
    ANGLE = "angle"  # <magic/path>, value without brackets
    LBRACE = "{"
    RBRACE = "}"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    EQUALS = "="
    PLUSEQ = "+="
    CONDEQ = "?="  # assign only if not yet defined
    OVERRIDE = ":="  # replace an earlier definition
    ARROW = "->"
    LE = "<="
    EOF = "end of file"


class Token(NamedTuple):
    """One token; `start`/`end` are offsets into the text. (A named tuple: made 2.4x faster
    than a frozen dataclass, and 100,000 plain rules make 300,000.)"""

    kind: T
    value: str
    line: int
    col: int
    start: int
    end: int

    def describe(self) -> str:
        """How an error message names this token."""
        if self.kind in (T.WORD, T.STRING):
            return repr(self.value)
        if self.kind is T.ANGLE:
            return f"<{self.value}>"
        return self.kind.value if self.kind is T.EOF else repr(self.kind.value)


_new = tuple.__new__
_SINGLE = {"(": T.LPAREN, ")": T.RPAREN, ",": T.COMMA, "=": T.EQUALS}
_ASSIGN = {"+": T.PLUSEQ, "?": T.CONDEQ, ":": T.OVERRIDE}
_ASSIGNMENT_KINDS = (T.EQUALS, T.PLUSEQ, T.CONDEQ, T.OVERRIDE)
#: `<x>` is a file name only after these words (include and abi statements).
_ANGLE_AFTER = ("include", "#include", "exists", "abi")
_VARIABLE = re.compile(r"[@$]\{?[A-Za-z0-9_]*\}?")
_SPACE = " \t\r\n\f\v"
_WORD_END = _SPACE + "\"!,"
_NEWLINE = re.compile("\n")
#: what separates tokens: blanks, and a backslash joining lines (skipped in one step)
_BLANKS = re.compile(r"(?:[ \t\r\n\f\v]|\\\n)*")
#: a run of characters none of _word's cases looks at (skipped in one step)
_PLAIN = re.compile(r'[^\\\s"!{},=+?:()<\-]+')
#: a plain file rule from its path on (`/PATH MODE,`: characters _word takes without a second
#: look, `-` not before `>`, blanks, letters, a comma): the tokens _word, _word and the comma
#: give, made in one step (most lines of a large profile)
_PLAIN_RULE = re.compile(r'(/(?:[^\\\s"!{},=+?:()<\-]|-(?!>))*)[ \t]+([A-Za-z]+),')


class Lexer:
    """Turns profile text into tokens."""

    #: lex plain file rules in one step (tests compare with the general way)
    plain_rules = True

    def __init__(self, text: str, filename: str = "<text>") -> None:
        self.text = text
        self.filename = filename
        self.lines = text.split("\n")
        self._line_starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]

    def position(self, offset: int) -> tuple[int, int]:
        """(line, col) of a text offset, both 1-based."""
        lo = bisect.bisect_right(self._line_starts, offset) - 1 if offset >= 0 else 0
        return lo + 1, offset - self._line_starts[lo] + 1

    def error(self, message: str, offset: int) -> PolicySyntaxError:
        """A syntax error at `offset`."""
        line, col = self.position(offset)
        src = self.lines[line - 1] if line - 1 < len(self.lines) else None
        return PolicySyntaxError(message, self.filename, line, col, src)

    def _tok(self, kind: T, value: str, start: int, end: int) -> Token:
        line, col = self.position(start)
        return Token(kind, value, line, col, start, end)

    def tokens(self) -> list[Token]:
        """All tokens, ending with one EOF token."""
        text, n, i = self.text, len(self.text), 0
        out: list[Token] = []
        while True:
            i = _BLANKS.match(text, i).end()  # type: ignore[union-attr]  # (always matches)
            if i >= n:
                out.append(self._tok(T.EOF, "", n, n))
                return out
            ch = text[i]
            if ch == "/" and self.plain_rules:
                m = _PLAIN_RULE.match(text, i)
                if m is not None:
                    i = self._plain_rule(m, out)
                    continue
            nxt = text[i + 1] if i + 1 < n else ""
            if ch == "#":
                if text.startswith("#include", i) and (i + 8 >= n or text[i + 8] in _SPACE):
                    out.append(self._tok(T.WORD, "#include", i, i + 8))
                    i += 8
                    continue
                while i < n and text[i] != "\n":
                    i += 1
                continue
            if ch == '"':
                i = self._string(i, out)
                continue
            if ch == "<":
                if nxt == "=":
                    out.append(self._tok(T.LE, "<=", i, i + 2))
                    i += 2
                    continue
                if not (out and out[-1].kind is T.WORD and out[-1].value in _ANGLE_AFTER):
                    out.append(self._tok(T.WORD, "<", i, i + 1))  # a comparison in `if`
                    i += 1
                    continue
                end = text.find(">", i)
                nl = text.find("\n", i)
                if end < 0 or (0 <= nl < end):
                    raise self.error("unterminated '<' (expected '>')", i)
                out.append(self._tok(T.ANGLE, text[i + 1 : end].strip(), i, end + 1))
                i = end + 1
                continue
            if ch == "{" and not self._value_follows(out, i):
                # parser_lex.l: a '{' starting a token opens a block, except where a value
                # is lexed (after '=' and in variable assignments)
                out.append(self._tok(T.LBRACE, "{", i, i + 1))
                i += 1
                continue
            if ch == "}":
                out.append(self._tok(T.RBRACE, "}", i, i + 1))
                i += 1
                continue
            if nxt == "=" and ch in _ASSIGN:
                out.append(self._tok(_ASSIGN[ch], ch + "=", i, i + 2))
                i += 2
                continue
            if ch == "-" and nxt == ">":
                out.append(self._tok(T.ARROW, "->", i, i + 2))
                i += 2
                continue
            if ch == "!" and nxt == "=":
                out.append(self._tok(T.WORD, "!=", i, i + 2))  # a comparison in `if`
                i += 2
                continue
            if ch == "!":
                # parser_lex.l: `!` ends an unquoted name and starts no token of its own
                raise self.error("unexpected character '!' (quote the name or escape it as "
                                 "'\\!')", i)
            if ch in _SINGLE:
                out.append(self._tok(_SINGLE[ch], ch, i, i + 1))
                i += 1
                continue
            i = self._word(i, out)

    def _plain_rule(self, m: re.Match[str], out: list[Token]) -> int:
        """The path, mode and comma of a `_PLAIN_RULE` match (one line: one position)."""
        start, mode, end = m.start(), m.start(2), m.end(2)
        line, col = self.position(start)
        path, perms = m.groups()
        # Token(...) as the tuple it is, without the named tuple's Python-level __new__
        # (made 300,000 times for 100,000 rules: 0.03 s)
        out += (_new(Token, (T.WORD, path, line, col, start, start + len(path))),
                _new(Token, (T.WORD, perms, line, col + mode - start, mode, end)),
                _new(Token, (T.COMMA, ",", line, col + end - start, end, end + 1)))
        return end + 1

    def _value_follows(self, out: list[Token], i: int) -> bool:
        """Whether the token at `i` is a value: right after '=' (a conditional's value) or
        '->' (a target), or on the logical line of a variable assignment (`@{X} = a {b,c}`)."""
        if out and out[-1].kind in (*_ASSIGNMENT_KINDS, T.ARROW):
            return True
        for k in range(len(out) - 1, -1, -1):
            tok = out[k]
            if "\n" in self.text[tok.end : i].replace("\\\n", ""):
                return False
            if tok.kind in _ASSIGNMENT_KINDS:
                return k > 0 and out[k - 1].kind is T.WORD and out[k - 1].value[:1] in "@$"
            i = tok.start
        return False

    def _string(self, i: int, out: list[Token]) -> int:
        text, n = self.text, len(self.text)
        j = i + 1
        buf: list[str] = []
        while j < n and text[j] != '"':
            if text[j] == "\\" and j + 1 < n:
                if text[j + 1] == '"':
                    buf.append('"')
                else:
                    buf.append(text[j : j + 2])
                j += 2
                continue
            if text[j] == "\n":
                break
            buf.append(text[j])
            j += 1
        if j >= n or text[j] != '"':
            raise self.error("unterminated quoted string", i)
        out.append(self._tok(T.STRING, "".join(buf), i, j + 1))
        return j + 1

    def _word(self, i: int, out: list[Token]) -> int:
        text, n = self.text, len(self.text)
        start, depth, parens, j = i, 0, 0, i
        # names that go on over `,x` as upstream's ID: paths, variables, hats and the
        # profile name after `profile`/`hat`
        path = text[i] in "/@^" or (bool(out) and out[-1].kind is T.WORD
                                     and out[-1].value in ("profile", "hat"))
        while j < n:
            plain = _PLAIN.match(text, j)
            if plain is not None:
                j = plain.end()
                if j >= n:
                    break
            ch = text[j]
            nxt = text[j + 1] if j + 1 < n else ""
            if ch == "\\" and j + 1 < n:
                if nxt == "\n":
                    break
                j += 2
                continue
            if ch in _SPACE or ch in '"!':
                break
            if ch == "{":
                depth += 1  # inside a name '{' always belongs to it (`t{` is one ID)
            elif ch == "}":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and ch == "," and path and nxt and nxt not in _WORD_END:
                pass  # `/foo,bar` is one path
            elif path and text[start] in "/@" and (ch == "(" or (ch == ")" and parens)):
                # upstream's path characters include parentheses (`script (dev).tmpl`, which
                # learn writes as `script\ (dev).tmpl`); a `)` it did not open ends the path
                # (`peer=(label=/usr/bin/foo)`)
                parens += 1 if ch == "(" else -1
            elif depth == 0 and (ch == "=" or (nxt == "=" and ch in _ASSIGN)):
                if not path or _VARIABLE.fullmatch(text[start:j]):
                    break
            elif (depth == 0 and (
                ch in "(),"
                or (ch == "-" and nxt == ">")
                or (ch == "<" and nxt == "=")
            )) or (depth > 0 and ch == "\n"):
                break
            j += 1
        if depth > 0:
            raise self.error("unbalanced '{' in word (expected '}')", start)
        if j == start:
            raise self.error(f"unexpected character {text[start]!r}", start)
        out.append(self._tok(T.WORD, text[start:j], start, j))
        return j
