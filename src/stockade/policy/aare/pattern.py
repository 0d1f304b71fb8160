"""A parsed pattern (`Pattern`): its node tree from the steps of the package's docstring, and
the RE2 regex made from that tree."""

from __future__ import annotations

from stockade.policy.aare.tokens import _convert, _filter_slashes, _fold_plain, _unescape, fold_slashes
from stockade.policy.aare.tree import Node, Seq, _is_exact, _Parser, _tidy, expand_alternations, fold_flat
from stockade.slotted import Frozen, slot_setters

MAX_EXPANSIONS = 1024


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
        _TEXT(self, text)  # (slot_setters: one per file rule of a profile)
        _SEQ(self, seq)
        _EXACT(self, exact)
        if regex is not None:
            _REGEX(self, regex)

    def __getattr__(self, name: str) -> str:
        if name != "regex":
            raise AttributeError(f"{type(self).__qualname__!r} object has no attribute {name!r}")
        regex = regex_of_tree(self.seq)
        _REGEX(self, regex)
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


# ---- RE2 ---------------------------------------------------------------------------------------
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_@:%~=,'<>!#&;")


_ESCAPES = {c: f"\\x{{{c:x}}}" for c in range(256) if chr(c) not in _SAFE}


_TEXT, _SEQ, _EXACT, _REGEX = slot_setters(Pattern)


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
