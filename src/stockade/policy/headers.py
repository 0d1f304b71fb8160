"""Profile and hat headers: name, attachment, `xattrs=(...)`, `+ identities=(...)` and
flags (parser_yacc.y profile_base, profile.h flagvals)."""

from __future__ import annotations

from collections.abc import Iterator

from stockade.policy import ast
from stockade.policy import constants as c
from stockade.policy.lexer import T, Token
from stockade.policy.parsebase import ParserBase, is_path


class HeaderParser(ParserBase):
    """The profile header part of the statement parser."""

    def profile(self, first: Token, is_hat: bool) -> ast.Profile:
        if first.kind is T.WORD and first.value.startswith("^"):
            self.next()
            name = first.value[1:]
            if not name and self.peek().kind is T.STRING and self.peek().start == first.end:
                name = self.next().value  # ^"quoted name"
            if not name:
                raise self.fail("hat name expected after '^'", first)
        elif first.kind is T.WORD and first.value in ("profile", "hat"):
            tok = self.next()
            if tok.kind not in (T.WORD, T.STRING) or tok.line != first.line:
                # parser_lex.l PROFILE/HAT `profile{WS}*` then the name: same line
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
            if not is_path(tok):
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
        for tok in self.paren_items(opener):
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
        for tok in self.paren_items(opener):
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
        return out

    def paren_words(self, opener: Token) -> list[str]:
        """The words of `( a, b c )` after its '('."""
        vals: list[str] = []
        for tok in self.paren_items(opener):
            if tok.kind not in (T.WORD, T.STRING):
                raise self.fail(f"expected a value or ')', found {tok.describe()}", tok)
            vals.append(tok.value)
        return vals

    def paren_items(self, opener: Token) -> Iterator[Token]:
        """The tokens up to the ')' closing `opener`, commas skipped."""
        while True:
            tok = self.next()
            if tok.kind is T.RPAREN:
                return
            if tok.kind is T.EOF:
                raise self.fail("unterminated '(' (missing ')')", opener)
            if tok.kind is not T.COMMA:
                yield tok
