"""The token cursor and error helpers every part of the statement parser shares."""

from __future__ import annotations

import re

from stockade.policy import ast
from stockade.policy.ast import Qualifiers, SourcePos
from stockade.policy.errors import PolicySemanticError, PolicySyntaxError
from stockade.policy.lexer import Lexer, T, Token

_PATH_START = ("/", "@{", "{")
#: parser_lex.l SET_VARIABLE / BOOL_VARIABLE: `@{NAME}` or `@NAME` (`$` for booleans),
#: NAME = [[:alpha:]][[:alnum:]_]*.
SET_VAR = re.compile(r"@(?:\{([A-Za-z][A-Za-z0-9_]*)\}|([A-Za-z][A-Za-z0-9_]*))")
BOOL_VAR = re.compile(r"\$(?:\{([A-Za-z][A-Za-z0-9_]*)\}|([A-Za-z][A-Za-z0-9_]*))")


def var_name(pattern: re.Pattern[str], word: str) -> str | None:
    """The NAME of `@{NAME}`/`@NAME` (or `${NAME}`/`$NAME`), or None when not one."""
    m = pattern.fullmatch(word)
    return (m.group(1) or m.group(2)) if m else None


def is_path(tok: Token) -> bool:
    """Whether a token can be a path (a quoted string, or a word starting like one)."""
    return tok.kind is T.STRING or (tok.kind is T.WORD and tok.value.startswith(_PATH_START))


def unquote(value: str) -> str:
    """`<"a b">` names `a b`."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


class ParserBase:
    """A cursor over one file's tokens, with the errors it raises."""

    lexer: Lexer
    text: str
    file: str
    toks: list[Token]
    i: int
    #: Qualifiers of the enclosing `audit { ... }`-style blocks (merged), innermost last.
    block_quals: list[Qualifiers]

    def block(self, opener: Token) -> list[ast.Node]:
        """`{ statements }` after its '{' (the statement parser provides it)."""
        raise NotImplementedError

    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind is not T.EOF:
            self.i += 1
        return tok

    def fail(self, message: str, tok: Token, semantic: bool = False) -> Exception:
        src = self.lexer.lines[tok.line - 1] if 0 < tok.line <= len(self.lexer.lines) else None
        cls = PolicySemanticError if semantic else PolicySyntaxError
        return cls(message, self.file, tok.line, tok.col, src)

    def fail_after(self, message: str, tok: Token) -> Exception:
        """An error just after `tok` (e.g. a missing comma)."""
        line, col = self.lexer.position(tok.end)
        src = self.lexer.lines[line - 1] if 0 < line <= len(self.lexer.lines) else None
        return PolicySyntaxError(message, self.file, line, col, src)

    def expect(self, kind: T, what: str) -> Token:
        tok = self.peek()
        if tok.kind is not kind:
            raise self.fail(f"expected {what}, found {tok.describe()}", tok)
        return self.next()

    def pos(self, tok: Token) -> SourcePos:
        return SourcePos(self.file, tok.line, tok.col)

    def src(self, first: Token, last: Token) -> str:
        return self.text[first.start : last.end]

    def is_word(self, tok: Token, *values: str) -> bool:
        return tok.kind is T.WORD and tok.value in values
