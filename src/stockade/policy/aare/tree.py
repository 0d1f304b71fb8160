"""AARE step 4 (see the package's docstring): the regex tokens parsed by libapparmor_re's
grammar (parse.y) into a node tree, and the queries over such trees."""

from __future__ import annotations

from stockade.policy.aare.tokens import MAX_ALT_DEPTH, AareError, Tok

# Nodes are tuples: ("lit", text) ("star", whole) ("dstar", whole) ("any",)
# ("class", negated, ranges) ("alt", branches) ("loop", min, node) -- `node` repeated `min`
# or more times (a single-character node; only arises from `*` inside `[...]`);
# a sequence is a tuple of nodes. "star" never matches `/`, "dstar" anything; `whole` means
# at least one character and not `/` first. "any" is one character other than `/`.
Node = tuple
Seq = tuple[Node, ...]


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

