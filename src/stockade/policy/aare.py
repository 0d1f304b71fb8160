"""AppArmor regular expressions (AARE): parsing, slash folding and translation to RE2.

Semantics (apparmor.d(5) "Globbing"): `*` matches within one path component, `**` across
components, `?` one character other than `/`, `[...]`/`[^...]` a character class, `{a,b}`
alternation (nested, empty branches allowed), `\\` escapes the next character. A `*` or `**`
that stands for a whole component (a `/` before it and a `/` or the end of the pattern after
it) matches at least one character, and `**` then cannot start with `/`: `/foo/*` does not
match `/foo/`. Runs of `/` fold to one, also across alternation boundaries
(`{/a/,/b/}/c` matches `/a/c`). Directories are queried with a trailing `/`, so a pattern
ending in `/` matches directories only.

Patterns are translated to RE2 syntax over bytes (Latin-1 mode, as the kernel matches
bytes). A pattern whose alternations expand to at most `MAX_EXPANSIONS` distinct strings
is emitted as the alternation of its folded expansions; a larger one is emitted structurally,
once per "previous literal was /" state, which folds the same way without expanding (only a
regex over `_MAX_FOLD_RE` characters falls back to folding inside literals alone). Folding is
lexical, as apparmor_parser's: a literal `/` after a literal `/` is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from stockade.policy.limits import MAX_ALTERNATION_DEPTH

MAX_EXPANSIONS = 1024

# Nodes are tuples: ("lit", text) ("star", whole) ("dstar", whole) ("any",)
# ("class", negated, ranges) ("alt", branches); a sequence is a tuple of nodes.
Node = tuple
Seq = tuple[Node, ...]


class AareError(ValueError):
    """A malformed pattern; `offset` is the index in the pattern text."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Pattern:
    """A parsed AARE: its text, tree, whether it is exact (no wildcard), its RE2 regex."""

    text: str
    seq: Seq
    exact: bool
    regex: str

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
    while "//" in text:
        text = text.replace("//", "/")
    return text


def _tokenize(text: str) -> list[Node]:
    """Pattern text -> flat token list with ("{",), (",",), ("}",) markers."""
    out: list[Node] = []
    i, n, depth = 0, len(text), 0
    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 1 >= n:
                raise AareError("trailing '\\' escape character", i)
            out.append(("lit", text[i + 1]))
            i += 2
            continue
        if ch == "*":
            j = i
            while j < n and text[j] == "*":
                j += 1
            whole = (i == 0 or text[i - 1] == "/") and (j == n or text[j] == "/")
            out.append(("dstar" if j - i >= 2 else "star", whole))
            i = j
            continue
        if ch == "?":
            out.append(("any",))
        elif ch == "[":
            i = _char_class(text, i, out)
            continue
        elif ch == "]":
            raise AareError("invalid ']' with no matching '['", i)
        elif ch == "{":
            depth += 1
            if depth > MAX_ALTERNATION_DEPTH:
                raise AareError(f"alternations nested too deep (more than "
                                f"{MAX_ALTERNATION_DEPTH} levels of '{{')", i)
            out.append(("{", i))
        elif ch == "}":
            if depth == 0:
                raise AareError("invalid '}' with no matching '{'", i)
            depth -= 1
            out.append(("}", i))
        elif ch == "," and depth > 0:
            out.append((",", i))
        else:
            out.append(("lit", ch))
        i += 1
    if depth:
        raise AareError("unclosed '{' in pattern (expecting '}')", text.rfind("{"))
    return out


def _char_class(text: str, i: int, out: list[Node]) -> int:
    start = i
    i += 1
    negated = False
    if i < len(text) and text[i] in "^!":
        negated = True
        i += 1
    chars: list[str] = []
    first = True
    while i < len(text) and (text[i] != "]" or first):
        if text[i] == "\\" and i + 1 < len(text):
            chars.append("\\" + text[i + 1])
            i += 2
        else:
            chars.append(text[i])
            i += 1
        first = False
    if i >= len(text):
        raise AareError("unclosed character class (expecting ']')", start)
    ranges: list[tuple[str, str]] = []
    k = 0
    plain = [c[-1] for c in chars]
    while k < len(plain):
        if k + 2 < len(plain) and chars[k + 1] == "-":
            lo, hi = plain[k], plain[k + 2]
            if lo > hi:
                raise AareError(f"invalid range {lo}-{hi} in character class", start)
            ranges.append((lo, hi))
            k += 3
        else:
            ranges.append((plain[k], plain[k]))
            k += 1
    out.append(("class", negated, tuple(ranges)))
    return i + 1


def _build(tokens: list[Node], i: int = 0, nested: bool = False) -> tuple[Seq, int]:
    seq: list[Node] = []
    while i < len(tokens):
        tok = tokens[i]
        kind = tok[0]
        if kind == "{":
            branches: list[Seq] = []
            i += 1
            while True:
                branch, i = _build(tokens, i, nested=True)
                branches.append(branch)
                if tokens[i][0] == "}":
                    i += 1
                    break
                i += 1  # ","
            if len(branches) < 2 and not branches[0]:
                raise AareError("empty alternation '{}'", tok[1])
            seq.append(("alt", tuple(branches)))
            continue
        if kind in (",", "}"):
            if nested:
                return _merge(seq), i
            raise AareError(f"unexpected '{kind}'", tok[1])
        seq.append(tok)
        i += 1
    return _merge(seq), i


def _merge(seq: list[Node]) -> Seq:
    """Adjacent literals as one (slashes folded), in one pass: joined once per run, never
    grown a character at a time (that was quadratic in the length of a path)."""
    out: list[Node] = []
    run: list[str] = []
    for node in seq:
        if node[0] == "lit":
            run.append(node[1])
            continue
        if run:
            out.append(("lit", fold_slashes("".join(run))))
            run = []
        out.append(node)
    if run:
        out.append(("lit", fold_slashes("".join(run))))
    return tuple(out)


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
    """`flat` with `//` folded to `/` where literal slashes meet, as apparmor_parser does."""
    out: list[Node] = []
    run: list[str] = []  # literals meeting: joined and folded once (folding is associative)
    for node in flat:
        if node[0] == "lit":
            run.append(node[1])
            continue
        if run:
            out.append(("lit", run[0] if len(run) == 1 else fold_slashes("".join(run))))
            run = []
        out.append(node)
    if run:
        out.append(("lit", run[0] if len(run) == 1 else fold_slashes("".join(run))))
    return out


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_@:%~=,'<>!#&;")


def _esc(text: str) -> str:
    return "".join(c if c in _SAFE else f"\\x{{{ord(c):x}}}" for c in text)


def _class_re(negated: bool, ranges: tuple[tuple[str, str], ...]) -> str:
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
    return "(?:" + "|".join(_seq_re(b) for b in node[1]) + ")"


def _seq_re(seq: Seq | list[Node]) -> str:
    return "".join(_node_re(n) for n in seq)


def _utf8_bytes_as_latin1(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


# ---- exact slash folding for patterns too large to expand ---------------------------------
# Folding is lexical, as in apparmor_parser (on the text after expansion): a literal '/' that
# follows a literal '/' is dropped, also across alternation boundaries. Each node is emitted
# once per "previous literal was /" state (0: no, 1: yes), giving a regex per state after it.
_MAX_FOLD_RE = 50_000


def _add(out: dict[int, list[str]], state: int, rx: str) -> None:
    out.setdefault(state, []).append(rx)


def _join(parts: list[str]) -> str:
    uniq = list(dict.fromkeys(parts))
    return uniq[0] if len(uniq) == 1 else "(?:" + "|".join(uniq) + ")"


def _fold_node(node: Node, s_in: int) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if node[0] == "lit":
        text = node[1][1:] if s_in and node[1].startswith("/") else node[1]
        _add(out, (1 if text.endswith("/") else 0) if text else s_in, _esc(text))
    elif node[0] == "alt":
        for branch in node[1]:
            sub = _fold_seq(branch, s_in)
            if sub is None:
                return {2: []}
            for st, rx in sub.items():
                _add(out, st, rx)
    else:
        _add(out, 0, _node_re(node))
    return out


def _fold_seq(seq: Seq, s_in: int) -> dict[int, str] | None:
    cur: dict[int, str] = {s_in: ""}
    for node in seq:
        nxt: dict[int, list[str]] = {}
        for st, prefix in cur.items():
            res = _fold_node(node, st)
            if 2 in res:
                return None
            for st2, parts in res.items():
                _add(nxt, st2, prefix + _join(parts))
        cur = {st: _join(parts) for st, parts in nxt.items()}
        if sum(len(v) for v in cur.values()) > _MAX_FOLD_RE:
            return None
    return cur


def _folding_re(seq: Seq) -> str | None:
    """A regex for the pattern with every `//` folded, or None when it grows too large."""
    res = _fold_seq(seq, 0)
    return None if res is None else _join(list(res.values()))


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


def parse(text: str) -> Pattern:
    """Parse an expanded pattern (variables already substituted)."""
    raw = _utf8_bytes_as_latin1(text)
    seq, _ = _build(_tokenize(raw))
    exact = _is_exact(seq)
    expansions = expand_alternations(seq, MAX_EXPANSIONS)
    if expansions is None:
        folded = _folding_re(seq)
        regex = folded if folded is not None else _seq_re(seq)
    else:
        alts = sorted({_seq_re(fold_flat(f)) for f in expansions})
        regex = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
    return Pattern(text=text, seq=seq, exact=exact, regex=regex)


def query_bytes(path: str, is_dir: bool = False) -> bytes:
    """The bytes matched for a path: slashes folded, a trailing `/` for directories."""
    path = fold_slashes(path)
    if is_dir and not path.endswith("/"):
        path += "/"
    return path.encode("utf-8", "surrogateescape")
