"""Statements of apparmor.d(5) from tokens: preamble, profiles, hats, blocks and rules.

The parser is context-free about where a file is included: an abstraction and a tunables
file parse alike, and the loader checks that each statement suits the place it lands.
"""

from __future__ import annotations

from stockade.policy import ast
from stockade.policy import constants as c
from stockade.policy.ast import Qualifiers, SourcePos
from stockade.policy.conditions import ConditionParser
from stockade.policy.fileterms import RuleTermParser
from stockade.policy.headers import HeaderParser
from stockade.policy.lexer import Lexer, T, Token
from stockade.policy.limits import MAX_NESTING
from stockade.policy.parsebase import BOOL_VAR, SET_VAR, is_path, unquote, var_name
from stockade.policy.ruleparse import PARSERS, RuleContext

_ASSIGN_OPS = (T.EQUALS, T.PLUSEQ, T.CONDEQ, T.OVERRIDE)
class Parser(HeaderParser, RuleTermParser, ConditionParser):
    """Recursive descent over the tokens of one file."""

    def __init__(self, text: str, filename: str = "<text>") -> None:
        self.lexer = Lexer(text, filename)
        self.text = text
        self.file = filename
        self.toks = self.lexer.tokens()
        self.i = 0
        self.block_quals: list[Qualifiers] = [Qualifiers()]
        self.depth = 0  # blocks open (profiles, hats, qualifier blocks, conditionals)
        self.fast_rules = True  # plain `PATH MODE,` lines skip the general rule steps

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
            if tok.kind is T.WORD and tok.value[:1] == "/" and self.fast_rules:
                rule = self.plain_file_rule(tok)  # as statement() would, without its steps
                if rule is not None:
                    out.append(rule)
                    continue
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

    def nest(self, tok: Token) -> None:
        """One more block open at `tok`; past MAX_NESTING an error, not a RecursionError."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail(f"nesting too deep: more than {MAX_NESTING} levels of profiles, "
                            "hats, blocks and conditionals", tok)

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
        if tok.kind is T.WORD and tok.value[:1] == "/" and self.fast_rules:
            rule = self.plain_file_rule(tok)  # most lines of a large profile
            if rule is not None:
                return rule
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
            if v.startswith(":") or (is_path(tok) and self._header_ahead()):
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
        path = unquote(tok.value) if magic else tok.value
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
        path = unquote(tok.value) if tok.kind is T.ANGLE else tok.value
        if not path:
            raise self.fail("empty abi path", tok)
        end = self._comma(tok)
        return ast.Abi(pos=self.pos(kw), text=self.src(kw, end), path=path,
                       magic=tok.kind is T.ANGLE)

    def alias(self) -> ast.Alias:
        kw = self.next()
        src = self.next()
        if not is_path(src):
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
        name = var_name(SET_VAR, name_tok.value)
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
        name = var_name(BOOL_VAR, name_tok.value)
        if name is None:
            raise self.fail(f"invalid variable name {name_tok.value}", name_tok)
        op = self.next()
        if op.kind is T.PLUSEQ:
            raise self.fail("Invalid assignment += not allowed with boolean variables", op)
        val = self.peek()
        if val.kind is T.COMMA or not self._same_line(op, val):
            raise self.fail(f"boolean variable needs a value, found {val.describe()}", val)
        # parser_yacc.y `varassign: TOK_BOOL_VAR assign_op expr`: the value is a condition
        cond = self.line_condition(op)
        last = self.toks[self.i - 1]
        if self.peek().kind is T.COMMA and self._same_line(last, self.peek()):
            raise self.fail("Variable declarations do not accept trailing commas", self.peek())
        return ast.BoolAssign(pos=self.pos(name_tok), text=self.src(name_tok, last),
                              name=name, value=cond.op == "value" and cond.name == "true",
                              op=op.value, expr=None if cond.op == "value" else cond)

    # -- conditionals --------------------------------------------------------------------
    def conditional(self) -> ast.Conditional:
        kw = self.next()
        cond = self.condition()
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

    # -- profiles ------------------------------------------------------------------------





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
        if isinstance(rule, ast.RlimitRule) and own != Qualifiers():
            raise self.fail("rlimit rules take no qualifiers", where)
        if isinstance(rule, ast.AllRule) and own.priority:
            raise self.fail("priority prefix not allowed on all rules", where, semantic=True)
        # a block's owner reaches only the file rules in it (parser_yacc.y `rules opt_prefix
        # block` applies entry_add_prefix to file entries), so only the rule's own counts
        if (own.owner or own.other) and not isinstance(rule, ast.FileRule | ast.LinkRule):
            raise self.fail(f"owner prefix not allowed on {rule.kind} rules", where,
                            semantic=True)
        if (outer.deny and own.allow) or (outer.allow and own.deny):
            raise self.fail("conflicting mode prefix", where, semantic=True)
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
        if head.kind is not T.WORD or (head.value not in PARSERS
                                       and head.value not in ("set", "rlimit")):
            return self.file_rule(toks, quals, pos, text, end)  # the common case, first
        ctx = RuleContext(pos=pos, text=text, qualifiers=quals,
                          fail=lambda m, t: self.fail(m, t, semantic=True))
        if head.value == "rlimit":
            raise self.fail("expected 'set' before 'rlimit'", head)
        if head.value in PARSERS:
            return PARSERS[head.value](self.terms(toks[1:]), ctx)
        if len(toks) < 2 or not self.is_word(toks[1], "rlimit"):
            raise self.fail("expected 'rlimit' after 'set'", toks[1] if len(toks) > 1
                            else end)
        return PARSERS["rlimit"](self.terms(toks[2:]), ctx)







def parse_text(text: str, filename: str = "<text>") -> list[ast.Node]:
    """Parse one file's text into statements (includes not followed)."""
    return Parser(text, filename).parse()
