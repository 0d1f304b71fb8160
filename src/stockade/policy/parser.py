"""Statements of apparmor.d(5) from tokens: preamble, profiles, hats, blocks and rules.

The parser is context-free about where a file is included: an abstraction and a tunables
file parse alike, and the loader checks that each statement suits the place it lands.
"""

from __future__ import annotations

from stockade.policy import ast
from stockade.policy import constants as c
from stockade.policy.ast import Qualifiers, SourcePos
from stockade.policy.errors import PolicySemanticError, PolicySyntaxError
from stockade.policy.lexer import Lexer, T, Token
from stockade.policy.limits import MAX_CONDITION_DEPTH, MAX_NESTING
from stockade.policy.modes import Perm, looks_like_mode, parse_mode
from stockade.policy.ruleparse import PARSERS, RuleContext, Term

_PATH_START = ("/", "@{", "{")


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
        self.depth = 0  # blocks open (profiles, hats, qualifier blocks, conditionals)
        self.cond_depth = 0  # operators and parentheses open in a condition

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
        while self.peek().kind not in (T.EOF, T.RBRACE):
            out.append(self.statement(top))
        return out

    def nest(self, tok: Token) -> None:
        """One more block open at `tok`; past MAX_NESTING an error, not a RecursionError."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail(f"nesting too deep: more than {MAX_NESTING} levels of profiles, "
                            "hats, blocks and conditionals", tok)

    def nest_condition(self, tok: Token) -> None:
        """One more operator or parenthesis in a condition (bounded as blocks are)."""
        self.cond_depth += 1
        if self.cond_depth > MAX_CONDITION_DEPTH:
            raise self.fail(f"condition nested too deep: more than {MAX_CONDITION_DEPTH} "
                            "operators and parentheses", tok)

    def block(self, opener: Token) -> list[ast.Node]:
        """`{ statements }`: the LBRACE was already read as `opener`."""
        self.nest(opener)
        body = self.statements()
        if self.peek().kind is not T.RBRACE:
            raise self.fail("unterminated '{' (missing '}')", opener)
        self.next()
        self.depth -= 1
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
            if v == "alias":
                return self.alias()
            if v.startswith("@{") and nxt.kind in (T.EQUALS, T.PLUSEQ):
                return self.var_assign()
            if v.startswith("${") and nxt.kind is T.EQUALS:
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
                return self.profile(tok, is_hat=False)
        elif tok.kind is T.STRING and self._header_ahead():
            return self.profile(tok, is_hat=False)
        return self.rule_or_block(Qualifiers())

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
        kw = self.next()
        if_exists = False
        if self.is_word(self.peek(), "if") and self.is_word(self.peek(1), "exists"):
            self.next()
            self.next()
            if_exists = True
        tok = self.next()
        if tok.kind is T.ANGLE:
            magic = True
        elif tok.kind is T.STRING or (tok.kind is T.WORD and tok.value.startswith("/")):
            magic = False
        else:
            raise self.fail(f"expected <path> or \"path\" after include, found {tok.describe()}",
                            tok)
        if not tok.value:
            raise self.fail("empty include path", tok)
        return ast.Include(pos=self.pos(kw), text=self.src(kw, tok), path=tok.value,
                           magic=magic, if_exists=if_exists)

    def _comma(self, last: Token) -> Token:
        if self.peek().kind is not T.COMMA:
            raise self.fail_after("missing ',' at end of statement", last)
        return self.next()

    def abi(self) -> ast.Abi:
        kw = self.next()
        tok = self.next()
        if tok.kind not in (T.ANGLE, T.STRING):
            raise self.fail(f"expected <path> or \"path\" after abi, found {tok.describe()}", tok)
        end = self._comma(tok)
        return ast.Abi(pos=self.pos(kw), text=self.src(kw, end), path=tok.value)

    def alias(self) -> ast.Alias:
        kw = self.next()
        src = self.next()
        if not _is_path(src):
            raise self.fail(f"expected a path after alias, found {src.describe()}", src)
        self.expect(T.ARROW, "'->'")
        dst = self.next()
        if not _is_path(dst):
            raise self.fail(f"expected a path after '->', found {dst.describe()}", dst)
        end = self._comma(dst)
        return ast.Alias(pos=self.pos(kw), text=self.src(kw, end), source=src.value,
                         target=dst.value)

    def var_assign(self) -> ast.VarAssign:
        name_tok = self.next()
        name = name_tok.value
        if not (name.endswith("}") and len(name) > 3 and "{" not in name[2:] and "}" not in
                name[2:-1]):
            raise self.fail(f"invalid variable name {name}", name_tok)
        op = self.next()
        values: list[str] = []
        last = op
        while self.peek().kind in (T.WORD, T.STRING) and self.peek().line == op.line:
            last = self.next()
            values.append(last.value)
        if not values:
            raise self.fail_after("expected a value after variable assignment", op)
        return ast.VarAssign(pos=self.pos(name_tok), text=self.src(name_tok, last),
                             name=name[2:-1], values=tuple(values), append=op.kind is T.PLUSEQ)

    def bool_assign(self) -> ast.BoolAssign:
        name_tok = self.next()
        self.next()
        val = self.next()
        if val.kind is not T.WORD or val.value.lower() not in ("true", "false"):
            raise self.fail(f"boolean variable needs true or false, found {val.describe()}", val)
        return ast.BoolAssign(pos=self.pos(name_tok), text=self.src(name_tok, val),
                              name=name_tok.value[2:-1], value=val.value.lower() == "true")

    # -- conditionals --------------------------------------------------------------------
    def conditional(self) -> ast.Conditional:
        kw = self.next()
        self.cond_depth = 0
        cond = self.cond_or()
        opener = self.expect(T.LBRACE, "'{' after condition")
        body = self.block(opener)
        else_body: list[ast.Node] = []
        if self.is_word(self.peek(), "else"):
            self.next()
            if self.is_word(self.peek(), "if"):
                self.nest(self.peek())  # an `else if` chain nests as deep as braces do
                else_body = [self.conditional()]
                self.depth -= 1
            else:
                opener = self.expect(T.LBRACE, "'{' after else")
                else_body = self.block(opener)
        return ast.Conditional(pos=self.pos(kw), text=self.src(kw, kw), cond=cond, body=body,
                               else_body=else_body)

    def cond_or(self) -> ast.Cond:
        left = self.cond_and()
        while self.is_word(self.peek(), "or"):
            self.nest_condition(self.next())  # the tree grows one level per operator
            left = ast.Cond(op="or", args=(left, self.cond_and()))
        return left

    def cond_and(self) -> ast.Cond:
        left = self.cond_not()
        while self.is_word(self.peek(), "and"):
            self.nest_condition(self.next())
            left = ast.Cond(op="and", args=(left, self.cond_not()))
        return left

    def cond_not(self) -> ast.Cond:
        tok = self.next()
        if self.is_word(tok, "not"):
            self.nest_condition(tok)
            return ast.Cond(op="not", args=(self.cond_not(),))
        if tok.kind is T.LPAREN:
            self.nest_condition(tok)
            inner = self.cond_or()
            self.expect(T.RPAREN, "')'")
            return inner
        if self.is_word(tok, "defined"):
            var = self.next()
            if var.kind is not T.WORD or not var.value.startswith(("@{", "${")) \
                    or not var.value.endswith("}"):
                raise self.fail(f"expected a variable after defined, found {var.describe()}",
                                var)
            return ast.Cond(op="defined", name=var.value)
        if tok.kind is T.WORD and tok.value.startswith("${") and tok.value.endswith("}"):
            return ast.Cond(op="bool", name=tok.value[2:-1])
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
        if not is_hat and (tok.kind is T.STRING or (
                tok.kind is T.WORD and tok.value not in ("flags", "xattrs"))):
            if not _is_path(tok):
                raise self.fail(f"expected an attachment path, flags or '{{', found "
                                f"{tok.describe()}", tok)
            attachment = self.next().value
        while True:
            tok = self.peek()
            if self.is_word(tok, "flags"):
                self.next()
                flags += self.flag_list()
            elif self.is_word(tok, "xattrs") and not is_hat:
                self.next()
                if self.peek().kind is T.EQUALS:
                    self.next()
                xattrs.update(self.paren_conds(self.expect(T.LPAREN, "'(' after xattrs=")))
            else:
                break
        opener = self.expect(T.LBRACE, "'{' to open the profile")
        body = self.block(opener)
        return ast.Profile(pos=self.pos(first), text=self.src(first, opener), name=name,
                           attachment=attachment, flags=flags, xattrs=xattrs, body=body,
                           is_hat=is_hat)

    def flag_list(self) -> tuple[str, ...]:
        if self.peek().kind is T.EQUALS:
            self.next()
        self.expect(T.LPAREN, "'(' after flags")
        out: list[str] = []
        while True:
            tok = self.next()
            if tok.kind is T.RPAREN:
                break
            if tok.kind is T.COMMA:
                continue
            if tok.kind is not T.WORD:
                raise self.fail(f"expected a flag, found {tok.describe()}", tok)
            if self.peek().kind is T.EQUALS:
                self.next()
                val = self.next()
                if tok.value not in c.VALUED_FLAGS or val.kind not in (T.WORD, T.STRING):
                    raise self.fail(f"Invalid profile flag: {tok.value}.", tok, semantic=True)
                out.append(f"{tok.value}={val.value}")
                continue
            if tok.value not in c.PROFILE_FLAGS:
                raise self.fail(f"Invalid profile flag: {tok.value}.", tok, semantic=True)
            out.append(tok.value)
        modes = [f for f in out if f in c.MODE_FLAGS]
        if len(set(modes)) > 1:
            raise self.fail(f"conflicting profile modes: {', '.join(modes)}", self.peek(-1),
                            semantic=True)
        return tuple(out)

    def paren_conds(self, opener: Token) -> ast.Conds:
        """`(key=value key=(a b) ...)` after its '('."""
        out: ast.Conds = {}
        while True:
            tok = self.next()
            if tok.kind is T.RPAREN:
                return out
            if tok.kind is T.COMMA:
                continue
            if tok.kind is T.EOF:
                raise self.fail("unterminated '(' (missing ')')", opener)
            if tok.kind is not T.WORD or self.peek().kind is not T.EQUALS:
                raise self.fail(f"expected key=value, found {tok.describe()}", tok)
            self.next()
            val = self.next()
            if val.kind is T.LPAREN:
                out[tok.value] = tuple(self.paren_words(val))
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
        q: dict[str, object] = {}
        first: Token | None = None
        while True:
            tok = self.peek()
            if tok.kind is not T.WORD:
                break
            if tok.value in c.QUALIFIERS and self.peek(1).kind is not T.COMMA:
                if tok.value in q:
                    raise self.fail(f"duplicate qualifier '{tok.value}'", tok)
                q[tok.value] = True
            elif tok.value == "priority" and self.peek(1).kind is T.EQUALS:
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
            else:
                break
            first = first or tok
            self.next()
        quals = Qualifiers(**q)  # type: ignore[arg-type]
        if quals.deny and quals.allow:
            raise self.fail("a rule cannot be both 'allow' and 'deny'", first or self.peek())
        if quals.owner and quals.other:
            raise self.fail("a rule cannot be both 'owner' and 'other'", first or self.peek())
        return quals, first

    def rule_or_block(self, outer: Qualifiers) -> ast.Node:
        quals, qtok = self.qualifiers()
        tok = self.peek()
        if tok.kind is T.LBRACE and qtok is not None:
            self.next()
            body = self.block(tok)
            return ast.QualifierBlock(pos=self.pos(qtok), text=self.src(qtok, tok),
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
        return self.rule(terms_toks, quals, self.pos(first), text, end)

    def _starts_statement(self, t: Token) -> bool:
        """A token on a new line that cannot continue a rule (a missing comma before it)."""
        if t.kind is T.STRING:
            return False
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
                nested: ast.Conds = {}
                k = 0
                while k < len(inner):
                    if inner[k].kind is T.COMMA:
                        k += 1
                        continue
                    if k + 2 >= len(inner) + 0 and not (k + 2 < len(inner) + 1):
                        raise self.fail("expected key=value", inner[k])
                    if inner[k].kind is not T.WORD or k + 2 >= len(inner) + 1 \
                            or inner[k + 1].kind is not T.EQUALS:
                        raise self.fail("expected key=value", inner[k])
                    if k + 2 >= len(inner):
                        raise self.fail("expected a value", inner[k])
                    nested[inner[k].value] = (inner[k + 2].value,)
                    k += 3
                out.append(Term("cond", key, value=key.value, nested=nested))
            else:
                vals = tuple(x.value for x in inner if x.kind in (T.WORD, T.STRING))
                out.append(Term("cond", key, value=key.value, values=vals))
            return close + 1
        if val.kind not in (T.WORD, T.STRING):
            raise self.fail(f"expected a value after '{key.value}=', found {val.describe()}", val)
        out.append(Term("cond", key, value=key.value, values=(val.value,)))
        return j + 1

    def file_rule(self, toks: list[Token], quals: Qualifiers, pos: SourcePos, text: str,
                  end: Token) -> ast.FileRule:
        keyword = self.is_word(toks[0], "file")
        rest = toks[1:] if keyword else toks
        if keyword and not rest:
            perms = Perm.READ | Perm.WRITE | Perm.APPEND | Perm.LINK | Perm.LOCK | Perm.MMAP \
                | Perm.EXEC
            return ast.FileRule(pos=pos, text=text, qualifiers=quals, path="/{**,}",
                                perms=perms, exec_mode=None if quals.deny else "ix",
                                path_col=toks[0].col)
        target_tok: Token | None = None
        for k, t in enumerate(rest):
            if t.kind is T.ARROW:
                if k + 2 != len(rest) or rest[k + 1].kind not in (T.WORD, T.STRING):
                    raise self.fail("expected one target after '->'", t)
                target_tok = rest[k + 1]
                rest = rest[:k]
                break
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
        try:
            perms, exec_mode = parse_mode(mode_tok.value, deny=quals.deny)
        except ValueError as err:
            raise self.fail(str(err), mode_tok, semantic=True) from None
        exec_target = link_target = None
        if target_tok is not None:
            if perms & Perm.EXEC and not quals.deny:
                exec_target = target_tok.value
            elif perms & Perm.LINK:
                link_target = target_tok.value
            else:
                raise self.fail("'->' needs an exec mode (or 'l') in the rule", target_tok,
                                semantic=True)
        return ast.FileRule(pos=pos, text=text, qualifiers=quals, path=path_tok.value,
                            perms=perms, exec_mode=exec_mode, exec_target=exec_target,
                            link_target=link_target, path_col=path_tok.col)


def parse_text(text: str, filename: str = "<text>") -> list[ast.Node]:
    """Parse one file's text into statements (includes not followed)."""
    return Parser(text, filename).parse()
