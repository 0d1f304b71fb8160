"""Statements of apparmor.d(5) from tokens: preamble, profiles, hats, blocks and rules.

The parser is context-free about where a file is included: an abstraction and a tunables
file parse alike, and the loader checks that each statement suits the place it lands.
"""

from __future__ import annotations

import re

from stockade.policy import ast
from stockade.policy import constants as c
from stockade.policy.ast import Qualifiers, SourcePos
from stockade.policy.errors import PolicySemanticError, PolicySyntaxError
from stockade.policy.lexer import Lexer, T, Token
from stockade.policy.modes import (
    Perm,
    canonical_exec_mode,
    looks_like_mode,
    parse_mode,
    perms_of,
)
from stockade.policy.ruleparse import PARSERS, RuleContext, Term

_PATH_START = ("/", "@{", "{")
_ASSIGN_OPS = (T.EQUALS, T.PLUSEQ, T.CONDEQ, T.OVERRIDE)
#: parser_lex.l SET_VARIABLE / BOOL_VARIABLE: `@{NAME}` or `@NAME` (`$` for booleans),
#: NAME = [[:alpha:]][[:alnum:]_]*.
_SET_VAR = re.compile(r"@(?:\{([A-Za-z][A-Za-z0-9_]*)\}|([A-Za-z][A-Za-z0-9_]*))")
_BOOL_VAR = re.compile(r"\$(?:\{([A-Za-z][A-Za-z0-9_]*)\}|([A-Za-z][A-Za-z0-9_]*))")


def _unquote(value: str) -> str:
    """`<"a b">` names `a b`."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def var_name(pattern: re.Pattern[str], word: str) -> str | None:
    """The NAME of `@{NAME}`/`@NAME` (or `${NAME}`/`$NAME`), or None when not one."""
    m = pattern.fullmatch(word)
    return (m.group(1) or m.group(2)) if m else None


def _is_path(tok: Token) -> bool:
    return tok.kind is T.STRING or (tok.kind is T.WORD and tok.value.startswith(_PATH_START))


class Parser:
    """Recursive descent over the tokens of one file."""

    def __init__(self, text: str, filename: str = "<text>") -> None:
        self.lexer = Lexer(text, filename)
        self.text = text
        self.file = filename
        self.toks = self.lexer.tokens()
        self.i = 0
        #: Qualifiers of the enclosing `audit { ... }`-style blocks (merged), innermost last.
        self.block_quals: list[Qualifiers] = [Qualifiers()]

    # -- helpers -------------------------------------------------------------------------
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

    # -- statements ----------------------------------------------------------------------
    def parse(self) -> list[ast.Node]:
        """All statements of the file."""
        out = self.statements(top=True)
        tok = self.peek()
        if tok.kind is not T.EOF:
            raise self.fail(f"unexpected {tok.describe()} (no '{{' is open)", tok)
        return out

    def statements(self, top: bool = False) -> list[ast.Node]:
        out: list[ast.Node] = []
        seen_profile = False
        while self.peek().kind not in (T.EOF, T.RBRACE):
            tok = self.peek()
            node = self.statement(top)
            if top and isinstance(node, ast.Conditional):
                # parser_yacc.y: `if` is a rule (cond_rule), not a preamble statement
                raise self.fail("conditionals are only allowed inside a profile", tok)
            if top and seen_profile and isinstance(
                    node, ast.VarAssign | ast.BoolAssign | ast.Alias | ast.Abi):
                # parser_yacc.y `list: preamble profilelist`
                raise self.fail("variables, aliases and abi must come before the first "
                                "profile", tok)
            seen_profile = seen_profile or isinstance(node, ast.Profile)
            out.append(node)
        return out

    def block(self, opener: Token) -> list[ast.Node]:
        """`{ statements }`: the LBRACE was already read as `opener`."""
        body = self.statements()
        if self.peek().kind is not T.RBRACE:
            raise self.fail("unterminated '{' (missing '}')", opener)
        self.next()
        return body

    def statement(self, top: bool) -> ast.Node:
        tok = self.peek()
        nxt = self.peek(1)
        if tok.kind is T.WORD:
            v = tok.value
            if v in ("include", "#include"):
                return self.include()
            if v == "abi":
                return self.abi()
            if v in ("alias", "rewrite"):
                return self.alias()
            if v.startswith("@") and nxt.kind in _ASSIGN_OPS:
                return self.var_assign()
            if v.startswith("$") and nxt.kind in _ASSIGN_OPS:
                return self.bool_assign()
            if v == "if":
                return self.conditional()
            if v == "profile" and nxt.kind is not T.COMMA:
                self.next()
                return self.profile(tok, is_hat=False)
            if v == "hat" and nxt.kind is not T.COMMA:
                self.next()
                return self.profile(tok, is_hat=True)
            if v.startswith("^"):
                return self.profile(tok, is_hat=True)
            if v.startswith(":") or (_is_path(tok) and self._header_ahead()):
                return self._bare_profile(tok, top)
        elif tok.kind is T.STRING and self._header_ahead():
            return self._bare_profile(tok, top)
        return self.rule_or_block(Qualifiers())

    def _bare_profile(self, tok: Token, top: bool) -> ast.Profile:
        """`/path {` or `:ns:name {`: only at the top level (parser_yacc.y local_profile
        needs the `profile` keyword)."""
        if not top:
            raise self.fail("a child profile needs the 'profile' keyword (or '^' for a hat)",
                            tok)
        return self.profile(tok, is_hat=False)

    def _header_ahead(self) -> bool:
        """Whether a `{` comes before the next `,` (a profile header, not a rule)."""
        depth = 0
        j = self.i
        while j < len(self.toks):
            k = self.toks[j].kind
            if k is T.LPAREN:
                depth += 1
            elif k is T.RPAREN:
                depth -= 1
            elif depth <= 0 and k is T.LBRACE:
                return True
            elif depth <= 0 and k in (T.COMMA, T.RBRACE, T.EOF):
                return False
            j += 1
        return False

    def include(self) -> ast.Include:
        """`include <x>`, `include <"x y">`, `include "x"`, `include x` (parser_lex.l INCLUDE:
        an unquoted name is a plain path, like a quoted one)."""
        kw = self.next()
        if_exists = False
        if self.is_word(self.peek(), "if") and self.is_word(self.peek(1), "exists"):
            self.next()
            self.next()
            if_exists = True
        tok = self.next()
        magic = tok.kind is T.ANGLE
        if tok.kind not in (T.ANGLE, T.STRING, T.WORD) or tok.line != kw.line:
            raise self.fail(f"expected <path> or \"path\" after include, found {tok.describe()}",
                            tok)
        path = _unquote(tok.value) if magic else tok.value
        if not path:
            raise self.fail("empty include path", tok)
        return ast.Include(pos=self.pos(kw), text=self.src(kw, tok), path=path,
                           magic=magic, if_exists=if_exists)

    def _comma(self, last: Token) -> Token:
        if self.peek().kind is not T.COMMA:
            raise self.fail_after("missing ',' at end of statement", last)
        return self.next()

    def abi(self) -> ast.Abi:
        kw = self.next()
        tok = self.next()
        if tok.kind not in (T.ANGLE, T.STRING, T.WORD):
            raise self.fail(f"expected <path> or \"path\" after abi, found {tok.describe()}", tok)
        path = _unquote(tok.value) if tok.kind is T.ANGLE else tok.value
        if not path:
            raise self.fail("empty abi path", tok)
        end = self._comma(tok)
        return ast.Abi(pos=self.pos(kw), text=self.src(kw, end), path=path,
                       magic=tok.kind is T.ANGLE)

    def alias(self) -> ast.Alias:
        kw = self.next()
        src = self.next()
        if not _is_path(src):
            raise self.fail(f"expected a path after alias, found {src.describe()}", src)
        self.expect(T.ARROW, "'->'")
        dst = self.next()
        if dst.kind not in (T.WORD, T.STRING):
            raise self.fail(f"expected a path after '->', found {dst.describe()}", dst)
        end = self._comma(dst)
        return ast.Alias(pos=self.pos(kw), text=self.src(kw, end), source=src.value,
                         target=dst.value)

    def var_assign(self) -> ast.VarAssign:
        name_tok = self.next()
        name = var_name(_SET_VAR, name_tok.value)
        if name is None:
            raise self.fail(f"invalid variable name {name_tok.value}", name_tok)
        op = self.next()
        values: list[str] = []
        last = op
        while self.peek().kind in (T.WORD, T.STRING) and self._same_line(last, self.peek()):
            last = self.next()
            values.append(last.value)
        if self.peek().kind is T.COMMA and self._same_line(last, self.peek()):
            raise self.fail("Variable declarations do not accept trailing commas", self.peek())
        if not values:
            raise self.fail_after("expected a value after variable assignment", op)
        return ast.VarAssign(pos=self.pos(name_tok), text=self.src(name_tok, last),
                             name=name, values=tuple(values), append=op.kind is T.PLUSEQ,
                             op=op.value)

    def _same_line(self, last: Token, tok: Token) -> bool:
        """Whether `tok` continues the line of `last` (a `\\` before a newline joins lines)."""
        gap = self.text[last.end : tok.start]
        return "\n" not in gap.replace("\\\n", "")

    def bool_assign(self) -> ast.BoolAssign:
        name_tok = self.next()
        name = var_name(_BOOL_VAR, name_tok.value)
        if name is None:
            raise self.fail(f"invalid variable name {name_tok.value}", name_tok)
        op = self.next()
        if op.kind is T.PLUSEQ:
            raise self.fail("Invalid assignment += not allowed with boolean variables", op)
        val = self.next()
        if val.kind is not T.WORD or val.value.lower() not in ("true", "false"):
            raise self.fail(f"boolean variable needs true or false, found {val.describe()}", val)
        if self.peek().kind is T.COMMA and self._same_line(val, self.peek()):
            raise self.fail("Variable declarations do not accept trailing commas", self.peek())
        return ast.BoolAssign(pos=self.pos(name_tok), text=self.src(name_tok, val),
                              name=name, value=val.value.lower() == "true", op=op.value)

    # -- conditionals --------------------------------------------------------------------
    def conditional(self) -> ast.Conditional:
        kw = self.next()
        cond = self.cond_or()
        opener = self.expect(T.LBRACE, "'{' after condition")
        body = self.block(opener)
        else_body: list[ast.Node] = []
        if self.is_word(self.peek(), "else"):
            self.next()
            if self.is_word(self.peek(), "if"):
                else_body = [self.conditional()]
            else:
                opener = self.expect(T.LBRACE, "'{' after else")
                else_body = self.block(opener)
        return ast.Conditional(pos=self.pos(kw), text=self.src(kw, kw), cond=cond, body=body,
                               else_body=else_body)

    def cond_or(self) -> ast.Cond:
        left = self.cond_and()
        while self.is_word(self.peek(), "or"):
            self.next()
            left = ast.Cond(op="or", args=(left, self.cond_and()))
        return left

    def cond_and(self) -> ast.Cond:
        left = self.cond_not()
        while self.is_word(self.peek(), "and"):
            self.next()
            left = ast.Cond(op="and", args=(left, self.cond_not()))
        return left

    def cond_not(self) -> ast.Cond:
        tok = self.next()
        if self.is_word(tok, "not"):
            return ast.Cond(op="not", args=(self.cond_not(),))
        if tok.kind is T.LPAREN:
            inner = self.cond_or()
            self.expect(T.RPAREN, "')'")
            return inner
        if self.is_word(tok, "defined"):
            var = self.next()
            set_name = var_name(_SET_VAR, var.value) if var.kind is T.WORD else None
            bool_name = var_name(_BOOL_VAR, var.value) if var.kind is T.WORD else None
            if set_name is None and bool_name is None:
                raise self.fail(f"expected a variable after defined, found {var.describe()}",
                                var)
            return ast.Cond(op="defined", name=f"@{{{set_name}}}" if set_name
                            else f"${{{bool_name}}}")
        bool_name = var_name(_BOOL_VAR, tok.value) if tok.kind is T.WORD else None
        if bool_name is not None:
            return ast.Cond(op="bool", name=bool_name)
        raise self.fail(f"expected a condition, found {tok.describe()}", tok)

    # -- profiles ------------------------------------------------------------------------
    def profile(self, first: Token, is_hat: bool) -> ast.Profile:
        if first.kind is T.WORD and first.value.startswith("^"):
            self.next()
            name = first.value[1:]
            if not name:
                raise self.fail("hat name expected after '^'", first)
        elif first.kind is T.WORD and first.value in ("profile", "hat"):
            tok = self.next()
            if tok.kind not in (T.WORD, T.STRING):
                raise self.fail(f"expected a profile name, found {tok.describe()}", tok)
            name = tok.value
        else:
            name = self.next().value
        attachment = None
        flags: tuple[str, ...] = ()
        xattrs: ast.Conds = {}
        tok = self.peek()
        if tok.kind is T.STRING or (tok.kind is T.WORD and tok.value not in (
                "flags", "xattrs", "+")):
            if not _is_path(tok):
                raise self.fail(f"expected an attachment path, flags or '{{', found "
                                f"{tok.describe()}", tok)
            if tok.value.startswith("{"):
                raise self.fail("Profile attachment must begin with a '/' or variable.", tok)
            attachment = self.next().value
        # parser_yacc.y profile_base: name [attachment] [xattrs=(...)] [+ identities=(...)]
        # [flags=(...) | (...)] '{'
        if self.is_word(self.peek(), "xattrs"):
            xtok = self.next()
            if is_hat:
                raise self.fail("hat profiles can't use xattrs matches", xtok)
            self.expect(T.EQUALS, "'=' after xattrs")
            xattrs.update(self.paren_conds(self.expect(T.LPAREN, "'(' after xattrs="),
                                           bare_keys=True))
        while self.peek().kind is T.WORD and self.peek().value == "+":
            self.identities()
        if self.is_word(self.peek(), "flags"):
            self.next()
            self.expect(T.EQUALS, "'=' after flags")
            flags = self.flag_list(self.expect(T.LPAREN, "'(' after flags="))
        elif self.peek().kind is T.LPAREN:
            flags = self.flag_list(self.next())
        opener = self.expect(T.LBRACE, "'{' to open the profile")
        body = self.block(opener)
        return ast.Profile(pos=self.pos(first), text=self.src(first, opener), name=name,
                           attachment=attachment, flags=flags, xattrs=xattrs, body=body,
                           is_hat=is_hat)

    def identities(self) -> None:
        """`+ identities=(a b)` (parser_yacc.y identities): accepted and checked, unused."""
        self.next()
        kw = self.next()
        if not self.is_word(kw, "identities"):
            raise self.fail(f"expected identities=(...) after '+', found {kw.describe()}", kw)
        self.expect(T.EQUALS, "'=' after identities")
        vals = self.paren_words(self.expect(T.LPAREN, "'(' after identities="))
        if not vals:
            raise self.fail("identities=() needs a value", kw)
        for v in vals:
            if not v.startswith("/") and " " in v:
                raise self.fail(f"Space character not allowed in identities: '{v}'", kw,
                                semantic=True)

    def flag_list(self, opener: Token) -> tuple[str, ...]:
        """The flags in `(...)` after its '(' (profile.h flagvals::init and merge)."""
        out: list[str] = []
        while True:
            tok = self.next()
            if tok.kind is T.RPAREN:
                break
            if tok.kind is T.COMMA:
                continue
            if tok.kind is T.EOF:
                raise self.fail("unterminated '(' (missing ')')", opener)
            if tok.kind is not T.WORD:
                raise self.fail(f"expected a flag, found {tok.describe()}", tok)
            if self.peek().kind is T.EQUALS:
                self.next()
                val = self.next()
                if tok.value not in c.VALUED_FLAGS or val.kind not in (T.WORD, T.STRING):
                    raise self.fail(f"Invalid profile flag: {tok.value}.", tok, semantic=True)
                why = c.flag_value_error(tok.value, val.value)
                if why:
                    raise self.fail(why, val, semantic=True)
                out.append(f"{tok.value}={val.value}")
                continue
            if tok.value not in c.PROFILE_FLAGS:
                raise self.fail(f"Invalid profile flag: {tok.value}.", tok, semantic=True)
            out.append(tok.value)
        if not out:
            raise self.fail("expected a flag, found ')'", self.peek(-1) if self.i else opener)
        modes = sorted({f for f in out if f in c.MODE_FLAGS})
        if len(modes) > 1:
            raise self.fail(f"Profile flag '{modes[0]}' conflicts with '{modes[1]}'",
                            opener, semantic=True)
        names = {f.split("=", 1)[0] for f in out}
        for a, b in c.CONFLICTING_FLAGS:
            if a in names and b in names:
                raise self.fail(f"Profile flag {a} conflicts with {b}", opener, semantic=True)
        for key in ("attach_disconnected.path", "attach_disconnected.ipc", "kill.signal",
                    "error"):
            vals = {f for f in out if f.startswith(key + "=")}
            if len(vals) > 1:
                raise self.fail(f"Profile flag {key} set to conflicting values", opener,
                                semantic=True)
        return tuple(out)

    def paren_conds(self, opener: Token, bare_keys: bool = False) -> ast.Conds:
        """`(key=value key=(a b) ...)` after its '('; with `bare_keys` a key alone is
        allowed (parser_yacc.y `cond: TOK_CONDID`, as in `xattrs=(user.foo)`)."""
        out: ast.Conds = {}
        while True:
            tok = self.next()
            if tok.kind is T.RPAREN:
                return out
            if tok.kind is T.COMMA:
                continue
            if tok.kind is T.EOF:
                raise self.fail("unterminated '(' (missing ')')", opener)
            if tok.kind is T.WORD and bare_keys and self.peek().kind is not T.EQUALS:
                out[tok.value] = ()
                continue
            if tok.kind is not T.WORD or self.peek().kind is not T.EQUALS:
                raise self.fail(f"expected key=value, found {tok.describe()}", tok)
            self.next()
            val = self.next()
            if val.kind is T.LPAREN:
                vals = tuple(self.paren_words(val))
                if bare_keys and len(vals) != 1:
                    raise self.fail(f"xattr \"{tok.value}\" takes one value", tok)
                out[tok.value] = vals
            elif val.kind in (T.WORD, T.STRING):
                out[tok.value] = (val.value,)
            else:
                raise self.fail(f"expected a value, found {val.describe()}", val)

    def paren_words(self, opener: Token) -> list[str]:
        vals: list[str] = []
        while True:
            tok = self.next()
            if tok.kind is T.RPAREN:
                return vals
            if tok.kind is T.COMMA:
                continue
            if tok.kind not in (T.WORD, T.STRING):
                raise self.fail(f"expected a value or ')', found {tok.describe()}",
                                tok if tok.kind is not T.EOF else opener)
            vals.append(tok.value)

    # -- rules ---------------------------------------------------------------------------
    def qualifiers(self) -> tuple[Qualifiers, Token | None]:
        """`[priority=N] [audit|quiet] [allow|deny] [owner|user|other]`, in that order.

        Upstream's opt_prefix (parser_yacc.y) takes each slot at most once and in this
        order, so `deny audit` and `owner deny` are syntax errors.
        """
        q: dict[str, object] = {}
        first: Token | None = None
        last_slot, last_tok = -1, None
        while True:
            tok = self.peek()
            if tok.kind is not T.WORD:
                break
            if tok.value == "priority" and self.peek(1).kind is T.EQUALS:
                slot = 0
            elif tok.value in c.QUALIFIER_SLOTS and self.peek(1).kind is not T.COMMA:
                slot = c.QUALIFIER_SLOTS[tok.value]
            else:
                break
            if slot <= last_slot:
                assert last_tok is not None
                if tok.value == last_tok.value:
                    raise self.fail(f"duplicate qualifier '{tok.value}'", tok)
                raise self.fail(f"qualifier '{tok.value}' must come before "
                                f"'{last_tok.value}'", tok)
            last_slot, last_tok = slot, tok
            first = first or tok
            if slot == 0:
                self.next()
                self.next()
                val = self.peek()
                try:
                    q["priority"] = int(val.value)
                except ValueError:
                    raise self.fail(f"invalid priority {val.describe()}", val) from None
                if not -1000 <= int(val.value) <= 1000:
                    raise self.fail("priority must be between -1000 and 1000", val,
                                    semantic=True)
            elif tok.value == "prompt":
                q["prompt"] = q["deny"] = True
            else:
                q["owner" if tok.value == "user" else tok.value] = True
            self.next()
        return Qualifiers(**q), first  # type: ignore[arg-type]

    def _check_prefix(self, rule: ast.Rule, own: Qualifiers, qtok: Token | None,
                      head: Token) -> None:
        """Prefix rules of upstream's add_prefix/valid_prefix: owner only on file rules,
        no prefix on rlimit, and a rule inside a qualifier block may not contradict it."""
        outer = self.block_quals[-1]
        where = qtok or head
        if isinstance(rule, ast.RlimitRule) and (own != Qualifiers() or outer != Qualifiers()):
            raise self.fail("rlimit rules take no qualifiers", where)
        # a block's owner reaches only the file rules in it (parser_yacc.y `rules opt_prefix
        # block` applies entry_add_prefix to file entries), so only the rule's own counts
        if (own.owner or own.other) and not isinstance(rule, ast.FileRule | ast.LinkRule):
            raise self.fail(f"owner prefix not allowed on {rule.kind} rules", where,
                            semantic=True)
        if (outer.deny and own.allow) or (outer.allow and own.deny):
            raise self.fail("conflicting mode prefix", where, semantic=True)
        if (outer.owner and own.other) or (outer.other and own.owner):
            raise self.fail("conflicting owner prefix", where, semantic=True)
        if (outer.audit and own.quiet) or (outer.quiet and own.audit):
            raise self.fail("conflicting audit prefix", where, semantic=True)

    def rule_or_block(self, outer: Qualifiers) -> ast.Node:
        quals, qtok = self.qualifiers()
        tok = self.peek()
        if tok.kind is T.LBRACE:
            self.next()
            outer = self.block_quals[-1]
            merged = outer.merged(quals)
            if (outer.deny and quals.allow) or (outer.allow and quals.deny):
                raise self.fail("conflicting mode prefix", qtok or tok, semantic=True)
            if (outer.owner and quals.other) or (outer.other and quals.owner):
                raise self.fail("conflicting owner prefix", qtok or tok, semantic=True)
            if quals.priority:
                raise self.fail("priority is not allowed on rule blocks", qtok or tok)
            self.block_quals.append(merged)
            try:
                body = self.block(tok)
            finally:
                self.block_quals.pop()
            return ast.QualifierBlock(pos=self.pos(qtok or tok), text=self.src(qtok or tok, tok),
                                      qualifiers=quals, body=body)
        first = qtok or tok
        terms_toks: list[Token] = []
        depth = 0
        while True:
            t = self.peek()
            if t.kind is T.COMMA and depth == 0:
                break
            if t.kind in (T.EOF, T.LBRACE, T.RBRACE) or (
                    terms_toks and t.line != terms_toks[-1].line and depth == 0
                    and self._starts_statement(t)):
                if not terms_toks:
                    raise self.fail(f"expected a rule, found {t.describe()}", t)
                raise self.fail_after("missing ',' at end of rule", terms_toks[-1])
            if t.kind is T.LPAREN:
                depth += 1
            elif t.kind is T.RPAREN:
                depth -= 1
            terms_toks.append(self.next())
        end = self.next()
        if not terms_toks:
            raise self.fail("expected a rule before ','", end)
        text = self.src(first, end)
        rule = self.rule(terms_toks, quals, self.pos(first), text, end)
        self._check_prefix(rule, quals, qtok, terms_toks[0])
        return rule

    def _starts_statement(self, t: Token) -> bool:
        """A token on a new line that cannot continue a rule (a missing comma before it)."""
        if t.kind is T.STRING:
            return False
        nxt = self.peek(1)
        if nxt.kind is T.EQUALS or (t.value == "set" and not self.is_word(nxt, "rlimit")):
            return False  # a conditional (`set=(hup)`) continuing the rule
        return t.kind is T.WORD and (
            t.value in c.RULE_KEYWORDS or t.value in c.QUALIFIERS
            or t.value in ("include", "#include", "profile", "hat", "^")
            or t.value.startswith("^")
        )

    def rule(self, toks: list[Token], quals: Qualifiers, pos: SourcePos, text: str,
             end: Token) -> ast.Rule:
        head = toks[0]
        ctx = RuleContext(pos=pos, text=text, qualifiers=quals,
                          fail=lambda m, t: self.fail(m, t, semantic=True))
        if self.is_word(head, "rlimit"):
            raise self.fail("expected 'set' before 'rlimit'", head)
        if head.kind is T.WORD and head.value in PARSERS:
            return PARSERS[head.value](self.terms(toks[1:]), ctx)
        if self.is_word(head, "set"):
            if len(toks) < 2 or not self.is_word(toks[1], "rlimit"):
                raise self.fail("expected 'rlimit' after 'set'", toks[1] if len(toks) > 1
                                else end)
            return PARSERS["rlimit"](self.terms(toks[2:]), ctx)
        return self.file_rule(toks, quals, pos, text, end)

    def terms(self, toks: list[Token]) -> list[Term]:
        """Group rule tokens into terms: words, lists, key=value conditionals, '->', '<='."""
        out: list[Term] = []
        i = 0
        while i < len(toks):
            t = toks[i]
            if t.kind in (T.WORD, T.STRING):
                if (i + 1 < len(toks) and toks[i + 1].kind is T.EQUALS) or (
                        t.kind is T.WORD and i + 2 < len(toks) and toks[i + 1].value == "in"
                        and toks[i + 2].kind is T.LPAREN):
                    i = self._cond_term(toks, i, out)
                    continue
                out.append(Term("word", t, value=t.value, quoted=t.kind is T.STRING))
            elif t.kind is T.LPAREN:
                j = self._close(toks, i)
                vals = tuple(x.value for x in toks[i + 1 : j] if x.kind in (T.WORD, T.STRING))
                if any(x.kind not in (T.WORD, T.STRING, T.COMMA) for x in toks[i + 1 : j]):
                    raise self.fail("expected words inside '( )'", t)
                out.append(Term("list", t, values=vals))
                i = j
            elif t.kind is T.ARROW:
                out.append(Term("arrow", t, value="->"))
            elif t.kind is T.LE:
                out.append(Term("le", t, value="<="))
            else:
                raise self.fail(f"unexpected {t.describe()}", t)
            i += 1
        return out

    def _close(self, toks: list[Token], i: int) -> int:
        depth = 0
        for j in range(i, len(toks)):
            if toks[j].kind is T.LPAREN:
                depth += 1
            elif toks[j].kind is T.RPAREN:
                depth -= 1
                if depth == 0:
                    return j
        raise self.fail("unterminated '(' (missing ')')", toks[i])

    def _cond_term(self, toks: list[Token], i: int, out: list[Term]) -> int:
        key = toks[i]
        j = i + 2
        if j >= len(toks):
            raise self.fail(f"expected a value after '{key.value}='", key)
        val = toks[j]
        if val.kind is T.LPAREN:
            close = self._close(toks, j)
            inner = toks[j + 1 : close]
            if any(x.kind is T.EQUALS for x in inner):
                nested = self._nested_conds(inner)
                out.append(Term("cond", key, value=key.value, nested=nested, paren=True))
            else:
                vals = tuple(x.value for x in inner if x.kind in (T.WORD, T.STRING))
                out.append(Term("cond", key, value=key.value, values=vals, paren=True,
                                op=toks[i + 1].value if toks[i + 1].value == "in" else "="))
            return close + 1
        if val.kind not in (T.WORD, T.STRING):
            raise self.fail(f"expected a value after '{key.value}=', found {val.describe()}", val)
        out.append(Term("cond", key, value=key.value, values=(val.value,)))
        return j + 1

    def _nested_conds(self, inner: list[Token]) -> ast.Conds:
        """`key=value key=(value) ...` inside `peer=( )` (parser_lex.l LIST_COND_MODE: a
        parenthesised value holds one value, as the grammar's `cond` takes one TOK_VALUE)."""
        nested: ast.Conds = {}
        k = 0
        while k < len(inner):
            if inner[k].kind is T.COMMA:
                k += 1
                continue
            if (inner[k].kind is not T.WORD or k + 2 >= len(inner) + 1
                    or k + 1 >= len(inner) or inner[k + 1].kind is not T.EQUALS):
                raise self.fail("expected key=value", inner[k])
            if k + 2 >= len(inner):
                raise self.fail("expected a value", inner[k])
            name, val = inner[k], inner[k + 2]
            if val.kind is T.LPAREN:
                close = self._close(inner, k + 2)
                vals = [x for x in inner[k + 3 : close] if x.kind is not T.COMMA]
                if len(vals) != 1 or vals[0].kind not in (T.WORD, T.STRING):
                    raise self.fail(f"conditional \"{name.value}\" takes one value", name)
                val, k = vals[0], close + 1
            elif val.kind in (T.WORD, T.STRING):
                k += 3
            else:
                raise self.fail(f"expected a value, found {val.describe()}", val)
            if name.value in nested:
                raise self.fail(f"conditional \"{name.value}\" can only be specified once",
                                name, semantic=True)
            nested[name.value] = (val.value,)
        return nested

    def file_rule(self, toks: list[Token], quals: Qualifiers, pos: SourcePos, text: str,
                  end: Token) -> ast.FileRule:
        keyword = self.is_word(toks[0], "file")
        rest = toks[1:] if keyword else toks
        prompt = quals.prompt or self.block_quals[-1].prompt
        # a prompt rule takes exec qualifiers (check_x_qualifier tests RULE_DENY only)
        deny = (quals.deny or self.block_quals[-1].deny) and not prompt
        safety = None  # parser_yacc.y file_rule_tail: opt_exec_mode frule
        if len(rest) > 2 and rest[0].kind is T.WORD and rest[0].value in ("safe", "unsafe"):
            safety = rest[0]
            rest = rest[1:]
        if keyword and not rest:
            if deny:
                raise self.fail("Invalid perms, in deny rules 'x' must not be preceded by exec "
                                "qualifier 'i', 'p', or 'u' ('file,' grants ix)", toks[0],
                                semantic=True)
            perms = Perm.READ | Perm.WRITE | Perm.APPEND | Perm.LINK | Perm.LOCK | Perm.MMAP \
                | Perm.EXEC
            return ast.FileRule(pos=pos, text=text, qualifiers=quals, path="/{**,}",
                                perms=perms, exec_mode="ix",
                                path_col=toks[0].col)
        target_tok: Token | None = None
        for k, t in enumerate(rest):
            if t.kind is T.ARROW:
                if k + 2 != len(rest) or rest[k + 1].kind not in (T.WORD, T.STRING):
                    raise self.fail("expected one target after '->'", t)
                target_tok = rest[k + 1]
                rest = rest[:k]
                break
        subset = None
        if len(rest) == 3 and (self.is_word(rest[1], "subset") or rest[1].kind is T.LE):
            subset = rest[1]
            rest = [rest[0], rest[2]]
        if len(rest) != 2:
            head = rest[0] if rest else toks[0]
            if head.kind is T.WORD and not _is_path(head) and not looks_like_mode(head.value):
                raise self.fail(f"unknown rule '{head.value}'", head)
            if len(rest) < 2:
                raise self.fail_after("expected a path and a mode", (rest or toks)[-1])
            raise self.fail_after("missing ',' at end of rule", rest[1])
        a, b = rest
        if _is_path(a):
            path_tok, mode_tok = a, b
        elif _is_path(b):
            mode_tok, path_tok = a, b
        else:
            if a.kind is T.WORD and not looks_like_mode(a.value):
                raise self.fail(f"unknown rule '{a.value}'", a)
            raise self.fail(f"expected a path, found {b.describe()}", b)
        if mode_tok.kind is not T.WORD or not looks_like_mode(mode_tok.value):
            if mode_tok is a and mode_tok.kind is T.WORD and not keyword:
                raise self.fail(f"unknown rule '{a.value}'", a)
            raise self.fail(f"expected a file mode, found {mode_tok.describe()}", mode_tok)
        if subset is not None and (mode_tok is not a or perms_of(mode_tok.value) != Perm.LINK):
            raise self.fail("subset can only be used with link rules.", subset, semantic=True)
        try:
            perms, exec_mode = parse_mode(mode_tok.value, deny=deny,
                                          named=target_tok is not None)
        except ValueError as err:
            raise self.fail(str(err), mode_tok, semantic=True) from None
        if prompt and exec_mode is not None:
            exec_mode = None  # no listener: the prompt is a deny, which carries no transition
        if (mode_tok is a and target_tok is not None and perms & Perm.LINK
                and perms & Perm.EXEC):
            raise self.fail("link and exec perms conflict on a file rule using ->", mode_tok,
                            semantic=True)
        if safety is not None:
            if not perms & Perm.EXEC:
                raise self.fail("unsafe rule missing exec permissions", safety, semantic=True)
            if exec_mode is not None and exec_mode not in ("ix",):
                exec_mode = (exec_mode.lower() if safety.value == "unsafe"
                             else canonical_exec_mode(exec_mode.upper()))
        exec_target = link_target = None
        if target_tok is not None:
            if perms & Perm.EXEC and not deny:
                exec_target = target_tok.value
            elif perms & Perm.LINK:
                link_target = target_tok.value
            elif mode_tok is a:
                raise self.fail("'->' needs an exec mode (or 'l') in the rule", target_tok,
                                semantic=True)
            # `PATH MODE -> NAME` without x or l: upstream keeps the unused transition
        if prompt:
            exec_target = None
        return ast.FileRule(pos=pos, text=text, qualifiers=quals, path=path_tok.value,
                            perms=perms, exec_mode=exec_mode, exec_target=exec_target,
                            link_target=link_target, path_col=path_tok.col)


def parse_text(text: str, filename: str = "<text>") -> list[ast.Node]:
    """Parse one file's text into statements (includes not followed)."""
    return Parser(text, filename).parse()
