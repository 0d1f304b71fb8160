"""Conditions of `if` and of boolean assignments (parser_yacc.y expr/term/notfactor/factor).

    expr   := term ('or' term)*
    term   := not ('and' not)*
    not    := 'not' not | factor
    factor := $BOOL | 'defined' @{SET} | 'defined' $BOOL | '(' expr ')'
            | value OP value      (OP: == != in > >= < <=; a value is @{SET} or a word)
            | value               (`true` or `false`)
"""

from __future__ import annotations

from stockade.policy import ast
from stockade.policy.lexer import T, Token
from stockade.policy.limits import MAX_CONDITION_DEPTH
from stockade.policy.parsebase import BOOL_VAR, SET_VAR, ParserBase, var_name

#: Comparison operators and how they are written as tokens.
COMPARISONS = ("==", "!=", "in", ">=", ">", "<=", "<")


class ConditionParser(ParserBase):
    """The condition part of the statement parser."""

    cond_depth = 0  # operators and parentheses so far in the condition being parsed

    def condition(self) -> ast.Cond:
        """One whole condition, at most MAX_CONDITION_DEPTH operators and parentheses."""
        self.cond_depth = 0
        return self.cond_or()

    def nest_condition(self, tok: Token) -> None:
        """One more operator or parenthesis in a condition; past the limit an error, not a
        RecursionError (evaluating the tree recurses too)."""
        self.cond_depth += 1
        if self.cond_depth > MAX_CONDITION_DEPTH:
            raise self.fail(f"condition nested too deep: more than {MAX_CONDITION_DEPTH} "
                            "operators and parentheses", tok)

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
            set_name = var_name(SET_VAR, var.value) if var.kind is T.WORD else None
            bool_name = var_name(BOOL_VAR, var.value) if var.kind is T.WORD else None
            if set_name is None and bool_name is None:
                raise self.fail(f"expected a variable after defined, found {var.describe()}",
                                var)
            return ast.Cond(op="defined", name=f"@{{{set_name}}}" if set_name
                            else f"${{{bool_name}}}")
        bool_name = var_name(BOOL_VAR, tok.value) if tok.kind is T.WORD else None
        if bool_name is not None:
            return ast.Cond(op="bool", name=bool_name)
        if tok.kind not in (T.WORD, T.STRING) or self.is_word(tok, "and", "or"):
            raise self.fail(f"expected a condition, found {tok.describe()}", tok)
        op = self._comparison()
        if op is None:
            if tok.kind is T.WORD and tok.value.lower() in ("true", "false"):
                return ast.Cond(op="value", name=tok.value.lower())
            raise self.fail(f"Invalid boolean : '{tok.value}' is not true or false", tok,
                            semantic=True)
        rhs = self.next()
        if rhs.kind not in (T.WORD, T.STRING) or rhs.value in COMPARISONS:
            raise self.fail(f"expected a value after '{op}', found {rhs.describe()}", rhs)
        return ast.Cond(op="cmp", name=op, lhs=tok.value, rhs=rhs.value)

    def _comparison(self) -> str | None:
        """The comparison operator at the cursor (consumed), or None."""
        tok, nxt = self.peek(), self.peek(1)
        if tok.kind is T.EQUALS and nxt.kind is T.EQUALS and nxt.start == tok.end:
            self.next()
            self.next()
            return "=="
        if tok.kind is T.LE:
            self.next()
            return "<="
        if tok.kind is T.WORD and tok.value in (">", "<") and nxt.kind is T.EQUALS \
                and nxt.start == tok.end:
            self.next()
            self.next()
            return tok.value + "="
        if tok.kind is T.WORD and tok.value in ("!=", "in", ">", "<"):
            self.next()
            return tok.value
        return None

    def line_condition(self, first: Token) -> ast.Cond:
        """A condition that ends with the logical line of `first` (boolean assignments;
        parser_lex.l ASSIGN_EXPR_MODE ends at a newline not preceded by a backslash)."""
        end = self.i
        while end < len(self.toks) - 1 and self._continues(first, self.toks[end]):
            end += 1
        saved = self.toks
        self.toks = [*saved[:end], Token(T.EOF, "", 0, 0, saved[end].start, saved[end].start)]
        try:
            cond = self.condition()
            if self.peek().kind is not T.EOF:
                raise self.fail(f"unexpected {self.peek().describe()} in a boolean value",
                                self.peek())
        finally:
            self.toks = saved
        return cond

    def _continues(self, first: Token, tok: Token) -> bool:
        gap = self.text[first.end : tok.start]
        return "\n" not in gap.replace("\\\n", "")
