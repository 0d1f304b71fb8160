"""AppArmor regular expressions (AARE): parsed exactly as apparmor_parser compiles them.

apparmor_parser turns a file rule's pattern into a DFA in four steps, and so does this module
(upstream's parser_misc.c processunquoted, parser_regex.c filter_slashes and
convert_aaregex_to_pcre, libapparmor_re/parse.y):

1. escapes are decoded: `\\xHH`, `\\NNN` (octal), `\\dNNN`, `\\n`, ... become the byte they
   name; a decoded glob character (`*?[]{}^,\\`) stays escaped, a decoded NUL stays an escape;
2. runs of `/` are folded where they are adjacent in that text -- not across `{}` boundaries
   (`/{,c,*}/` does not match `/`) -- except a leading `//` before a non-`/`, which is kept;
3. globs become the parser's regex dialect: `*` is `[^/\\x00]*` and `**` is `[^\\x00]*`,
   with one more `[^/\\x00]` in front when the star run stands for a whole component (after
   a `/`, before a `/` or the end); `?` is `[^/\\x00]`; `{a,b}` is `(a|b)` and needs at least
   two branches; `[...]` is copied, so `[!a]` is the class of `!` and `a` (`^` negates) and a
   `*` or `?` inside it injects its own class there (`/[*]` does not match `/*`);
4. that regex is parsed by the grammar of libapparmor_re (`[c-a]` is `[a-c]`, `[a-]` and
   `[]` are errors, `[][a]` is the class of `]`, `[` and `a`).

The tree becomes nodes (below) and one RE2 regex over bytes (Latin-1 mode, as the kernel
matches bytes): the alternation of its expansions when there are at most MAX_EXPANSIONS,
else the tree itself (linear in the pattern's length). Directories are queried with
a trailing `/`, so a pattern ending in `/` matches directories only.
"""

from __future__ import annotations

from stockade.policy.limits import MAX_ALTERNATION_DEPTH
from stockade.slotted import Frozen

MAX_EXPANSIONS = 1024
MAX_ALT_DEPTH = MAX_ALTERNATION_DEPTH + 1  # upstream's MAX_ALT_DEPTH: refused at this depth

# Nodes are tuples: ("lit", text) ("star", whole) ("dstar", whole) ("any",)
# ("class", negated, ranges) ("alt", branches) ("loop", min, node) -- `node` repeated `min`
# or more times (a single-character node; only arises from `*` inside `[...]`);
# a sequence is a tuple of nodes. "star" never matches `/`, "dstar" anything; `whole` means
# at least one character and not `/` first. "any" is one character other than `/`.
Node = tuple
Seq = tuple[Node, ...]


class AareError(ValueError):
    """A malformed pattern; `offset` is the index in the pattern text."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class Pattern(Frozen):
    """A parsed AARE: its text, tree, whether it is exact (no wildcard), its RE2 regex.

    The regex is made from the tree when first read unless given (`regex_of_tree`, by
    `__getattr__`, which only an unset slot reaches): the matcher answers exact paths and
    whole trees from dicts and compiles a directory's globs only when a path there is asked,
    so most patterns of a large profile never need it."""

    FIELDS = ("text", "seq", "exact", "regex")
    __slots__ = FIELDS
    text: str
    seq: Seq
    exact: bool
    regex: str

    def __init__(self, text: str, seq: Seq, exact: bool, regex: str | None = None) -> None:
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "seq", seq)
        object.__setattr__(self, "exact", exact)
        if regex is not None:
            object.__setattr__(self, "regex", regex)

    def __getattr__(self, name: str) -> str:
        if name != "regex":
            raise AttributeError(f"{type(self).__qualname__!r} object has no attribute {name!r}")
        regex = regex_of_tree(self.seq)
        object.__setattr__(self, "regex", regex)
        return regex

    @property
    def literal_prefix(self) -> str:
        """The literal text before the first glob or alternation."""
        out = []
        for node in self.seq:
            if node[0] != "lit":
                break
            out.append(node[1])
        return "".join(out)


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


# ---- step 4: the libapparmor_re grammar (parse.y) --------------------------------------------
_SET_CHAR = frozenset("[*+.|()")  # operators that stand for themselves inside [...]


class _Parser:
    def __init__(self, toks: list[Tok], end: int) -> None:
        self.toks = toks
        self.i = 0
        self.end = end
        self.depth = 0

    def peek(self) -> str:
        return self.toks[self.i][0] if self.i < len(self.toks) else ""

    def fail(self, what: str) -> AareError:
        off = self.toks[self.i][2] if self.i < len(self.toks) else self.end
        return AareError(what, off)

    def regex(self) -> Seq:
        """regex: alternatives separated by `|` (any may be empty)."""
        branches = [self.terms()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.terms())
        if len(branches) == 1:
            return branches[0]
        return (("alt", tuple(branches)),)

    def terms(self) -> Seq:
        seq: list[Node] = []
        toks, n = self.toks, len(self.toks)
        while self.i < n:
            kind, ch, _ = toks[self.i]
            if kind in ("|", ")"):
                break
            nxt = toks[self.i + 1][0] if self.i + 1 < n else ""
            if kind == "c" and nxt not in ("*", "+"):  # the common case: a literal
                self.i += 1
                seq.append(("lit", ch))
                continue
            node = self.term()
            if self.peek() in ("*", "+") and len(node) == 1:
                minimum = 0 if self.peek() == "*" else 1
                self.i += 1
                seq.append(("loop", minimum, node[0]))
            else:
                seq.extend(node)
        return tuple(seq)

    def term(self) -> Seq:
        kind, ch, _ = self.toks[self.i]
        if kind == "c":
            self.i += 1
            return (("lit", ch),)
        if kind in "^-]":
            self.i += 1
            return (("lit", kind),)
        if kind == ".":
            self.i += 1
            return (("class", True, ()),)
        if kind == "[":
            self.i += 1
            return (self.charset(),)
        if kind == "(":
            self.i += 1
            self.depth += 1
            if self.depth > MAX_ALT_DEPTH:
                raise self.fail("alternations nested too deeply")
            inner = self.regex()
            if self.peek() != ")":
                raise self.fail("unbalanced '(' in the compiled pattern")
            self.i += 1
            self.depth -= 1
            return inner
        raise self.fail(f"'{kind}' cannot start a term of the compiled pattern")

    def set_char(self, first: bool) -> str | None:
        kind, ch, _ = self.toks[self.i] if self.i < len(self.toks) else ("", "", 0)
        if kind == "c":
            pass
        elif kind in _SET_CHAR or (first and kind in "]-") or (not first and kind == "^"):
            ch = kind
        else:
            return None
        self.i += 1
        return ch

    def charset(self) -> Node:
        negated = False
        members: set[str] = set()
        if self.peek() == "^":
            negated = True
            self.i += 1
            if self.peek() == "^":  # `[^^...]`: a negated class holding `^`
                self.i += 1
                members.add("^")
                return self._rest(negated, members)
        self._member(members, first=True)
        return self._rest(negated, members)

    def _member(self, members: set[str], first: bool) -> None:
        """One character or range of a class (the first may be `]` or `-`, others `^`)."""
        lo = self.set_char(first)
        if lo is None:
            raise self.fail("invalid character class" if first else
                            "unclosed or invalid character class (expecting ']')")
        if self.peek() == "-":
            self.i += 1
            hi = self.set_char(first=False)
            if hi is None:
                raise self.fail("invalid range in character class")
            members.update(_span(lo, hi))
        else:
            members.add(lo)

    def _rest(self, negated: bool, members: set[str]) -> Node:
        while self.peek() != "]":
            self._member(members, first=False)
        self.i += 1
        return _class_node(negated, members)


def _span(a: str, b: str) -> list[str]:
    lo, hi = sorted((ord(a), ord(b)))  # a reversed range is swapped, as upstream does
    return [chr(c) for c in range(lo, hi + 1)]


#: class nodes made so far, by (negated, members): a pattern repeats a few classes (AppArmor's
#: @{pid} is 28 of them, 3 distinct; a plan cache hit parses two such patterns)
_CLASS_NODES: dict[tuple[bool, frozenset[str]], Node] = {}


def _class_node(negated: bool, members: set[str]) -> Node:
    key = (negated, frozenset(members))
    node = _CLASS_NODES.get(key)
    if node is None:
        node = _new_class_node(negated, members)
        if len(_CLASS_NODES) < 512:  # at most ~8 MB, were each a class of all 256 bytes
            _CLASS_NODES[key] = node
    return node


def _new_class_node(negated: bool, members: set[str]) -> Node:
    if negated and members == {"/", "\x00"}:
        return ("any",)
    codes = sorted(ord(c) for c in members)
    ranges: list[tuple[str, str]] = []
    for c in codes:
        if ranges and ord(ranges[-1][1]) == c - 1:
            ranges[-1] = (ranges[-1][0], chr(c))
        else:
            ranges.append((chr(c), chr(c)))
    return ("class", negated, tuple(ranges))


_NOT_NUL = ("class", True, (("\x00", "\x00"),))


def _tidy(seq: Seq) -> Seq:
    """Merge literals, name the star forms the conversion writes, recurse into branches."""
    out: list[Node] = []
    for node in seq:
        if node[0] == "alt":
            node = ("alt", tuple(_tidy(b) for b in node[1]))
        elif node[0] == "loop" and node[1] == 0 and node[2] in (("any",), _NOT_NUL):
            node = ("star" if node[2] == ("any",) else "dstar", False)
            if out and out[-1] == ("any",):  # `[^/\x00]` before it: a whole component
                out.pop()
                node = (node[0], True)
        out.append(node)
    return tuple(_join_literals(out))


def _join_literals(nodes: list[Node]) -> list[Node]:
    """Adjacent literal nodes as one, each run joined once (growing a literal a character at
    a time was quadratic in the length of a path)."""
    out: list[Node] = []
    run: list[str] = []
    for node in nodes:
        if node[0] == "lit":
            run.append(node[1])
            continue
        if run:
            out.append(("lit", "".join(run)))
            run = []
        out.append(node)
    if run:
        out.append(("lit", "".join(run)))
    return out


# ---- queries over the tree ----------------------------------------------------------------------
def expand_alternations(seq: Seq, limit: int) -> list[list[Node]] | None:
    """Every alternation-free node list `seq` stands for, or None past `limit` of them."""
    results: list[list[Node]] = [[]]
    for node in seq:
        if node[0] == "alt":
            options: dict[tuple[Node, ...], list[Node]] = {}
            for branch in node[1]:
                sub = expand_alternations(branch, limit)
                if sub is None:
                    return None
                for alt in sub:
                    options.setdefault(tuple(fold_flat(alt)), alt)
            if len(options) == 1:  # extended in place: copying each step was quadratic
                (only,) = options.values()
                for r in results:
                    r.extend(only)
            else:
                results = [r + o for r in results for o in options.values()]
        else:
            for r in results:  # each list is its own (built fresh above)
                r.append(node)
        if len(results) > limit:
            return None
    return results


def fold_flat(flat: list[Node]) -> list[Node]:
    """`flat` with adjacent literal nodes merged (no slash folding: apparmor folds `//`
    only where it is adjacent in the pattern text, before alternations are compiled)."""
    return _join_literals(flat)


def _is_exact(seq: Seq) -> bool:
    """No wildcard anywhere (alternations of plain text still count as exact, as in
    apparmor's DFA, where only star, any-char and character-set nodes make a glob)."""
    for node in seq:
        if node[0] == "alt":
            if not all(_is_exact(b) for b in node[1]):
                return False
        elif node[0] != "lit":
            return False
    return True


# ---- RE2 ---------------------------------------------------------------------------------------
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_@:%~=,'<>!#&;")


_ESCAPES = {c: f"\\x{{{c:x}}}" for c in range(256) if chr(c) not in _SAFE}


def _esc(text: str) -> str:
    return text.translate(_ESCAPES)


def _class_re(negated: bool, ranges: tuple[tuple[str, str], ...]) -> str:
    if not ranges:
        return "(?s:.)" if negated else "[^\\x00-\\x{ff}]"
    body = "".join(_esc(lo) if lo == hi else f"{_esc(lo)}-{_esc(hi)}" for lo, hi in ranges)
    return f"[{'^' if negated else ''}{body}]"


def _node_re(node: Node) -> str:
    kind = node[0]
    if kind == "lit":
        return _esc(node[1])
    if kind == "star":
        return "[^/]+" if node[1] else "[^/]*"
    if kind == "dstar":
        return "[^/](?s:.)*" if node[1] else "(?s:.)*"
    if kind == "any":
        return "[^/]"
    if kind == "class":
        return _class_re(node[1], node[2])
    if kind == "loop":
        return f"(?:{_node_re(node[2])}){'*' if node[1] == 0 else '+'}"
    return "(?:" + "|".join(_seq_re(b) for b in node[1]) + ")"


def _seq_re(seq: Seq | list[Node]) -> str:
    return "".join(_node_re(n) for n in seq)


def regex_of(nodes: Seq | list[Node]) -> str:
    """The RE2 regex (Latin-1) of an alternation-free node list."""
    return _seq_re(nodes)


def _utf8_bytes_as_latin1(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


_GLOB_CHARS = frozenset("\\*?[]{}")


def compile_seq(text: str) -> Seq:
    """The node tree of an expanded pattern, or AareError where apparmor_parser fails."""
    raw = _utf8_bytes_as_latin1(text)
    if _GLOB_CHARS.isdisjoint(raw):  # plain text: only slash folding applies
        plain = _fold_plain(raw)
        return (("lit", plain),) if plain else ()
    toks = _convert(_filter_slashes(_unescape(raw)))
    parser = _Parser(toks, len(raw))
    seq = parser.regex()
    if parser.i != len(toks):
        raise parser.fail("unbalanced ')' in the compiled pattern")
    return _tidy(seq)


def parse(text: str) -> Pattern:
    """Parse an expanded pattern (variables already substituted)."""
    seq = compile_seq(text)
    return Pattern(text=text, seq=seq, exact=_is_exact(seq))


def regex_of_tree(seq: Seq) -> str:
    """The RE2 regex (Latin-1) of a pattern's node tree."""
    regex = _seq_re(seq)
    if any(node[0] == "alt" for node in seq):
        # the same language written as its alternatives: RE2's Set over thousands of rules
        # builds fewer DFA states from whole alternatives (benchmarks/match.py)
        flats = expand_alternations(seq, MAX_EXPANSIONS)
        if flats is not None:
            alts = sorted({_seq_re(fold_flat(f)) for f in flats})
            regex = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
    return regex


def query_bytes(path: str, is_dir: bool = False) -> bytes:
    """The bytes matched for a path: slashes folded, a trailing `/` for directories."""
    path = fold_slashes(path)
    if is_dir and not path.endswith("/"):
        path += "/"
    return path.encode("utf-8", "surrogateescape")
