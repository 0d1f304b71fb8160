"""Rule bodies: grouping a rule's tokens into terms and parsing file rules (parser_yacc.y
frule, file_rule_tail; parser_misc.c parse_perms)."""

from __future__ import annotations

from functools import lru_cache

from stockade.policy import ast
from stockade.policy.ast import Qualifiers, SourcePos
from stockade.policy.lexer import T, Token
from stockade.policy.modes import (
    Perm,
    canonical_exec_mode,
    looks_like_mode,
    parse_mode,
    perms_of,
)
from stockade.policy.parsebase import ParserBase, is_path
from stockade.policy.ruleparse import Term

_NO_QUALIFIERS = Qualifiers()


@lru_cache(maxsize=1024)  # a large profile repeats a few dozen modes
def _plain_mode(word: str, deny: bool) -> tuple[Perm, str | None] | None:
    """parse_mode of a plain rule's mode (unnamed), or None when the word is not a valid
    mode (the general path then reports it)."""
    if not looks_like_mode(word):
        return None
    try:
        return parse_mode(word, deny=deny, named=False)
    except ValueError:
        return None


class RuleTermParser(ParserBase):
    """The term grouping and file rule part of the statement parser."""

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

    def plain_file_rule(self, tok: Token) -> ast.FileRule | None:
        """`PATH MODE,` with PATH a word starting with `/` and MODE on its line, at `tok`
        (the current token): the FileRule the statement parser builds for it (qualifier
        blocks around it included), without its general steps; None (nothing consumed) for
        anything else, or an error, which the general path then reports.
        tests/policy/test_parser.py compares both on generated profiles."""
        toks, i = self.toks, self.i
        if i + 2 >= len(toks):
            return None
        mode_tok, end = toks[i + 1], toks[i + 2]
        if end.kind is not T.COMMA or mode_tok.kind is not T.WORD or mode_tok.line != tok.line:
            return None
        outer = self.block_quals[-1]
        mode = _plain_mode(mode_tok.value, outer.deny and not outer.prompt)
        if mode is None:
            return None
        perms, exec_mode = mode
        self.i = i + 3
        return ast.FileRule(pos=SourcePos(self.file, tok.line, tok.col),
                            text=self.text[tok.start : end.end], qualifiers=_NO_QUALIFIERS,
                            path=tok.value, perms=perms,
                            exec_mode=None if outer.prompt else exec_mode, path_col=tok.col)

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
            if head.kind is T.WORD and not is_path(head) and not looks_like_mode(head.value):
                raise self.fail(f"unknown rule '{head.value}'", head)
            if len(rest) < 2:
                raise self.fail_after("expected a path and a mode", (rest or toks)[-1])
            raise self.fail_after("missing ',' at end of rule", rest[1])
        a, b = rest
        if is_path(a):
            path_tok, mode_tok = a, b
        elif is_path(b):
            mode_tok, path_tok = a, b
        else:
            if a.kind is T.WORD and not looks_like_mode(a.value):
                raise self.fail(f"unknown rule '{a.value}'", a)
            raise self.fail(f"expected a path, found {b.describe()}", b)
        if path_tok.kind is T.STRING and not path_tok.value.startswith(("/", "@{")):
            # parser_lex.l QPATHNAME: a quoted path in a rule opens with '/' or a variable
            raise self.fail("Lexer found unexpected character: '\"': a quoted path must start "
                            "with '/' or '@{'", path_tok)
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
