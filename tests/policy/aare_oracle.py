"""apparmor_parser as the oracle for AARE matching: generated patterns by corner class, paths
for each, the parser's compiled expression of every file rule, and a reader of that dialect.

How the oracle is asked: every pattern becomes a one-rule profile (`profile pN { "PAT" r, }`),
a batch of them goes to `apparmor_parser -Q -K -D rule-exprs` (-Q: no kernel load, -K: no
cache; works where AppArmor is not the running LSM), and each `aare: NAME -> EXPR` line after
the profile's own name line is that rule's compiled expression: the exact input of
libapparmor_re's regex parser. The parser stops at the first profile whose pattern it
rejects; that profile is recorded as rejected and the batch is re-run from the next one.

Translating EXPR (the assumption of this oracle): EXPR is read by `oracle_regex` following
the grammar of upstream's parser/libapparmor_re/parse.y (regex_lex and the charset rules,
read from the apparmor repository; Debian's 3.0.8 is assumed to use the same grammar):
`\\` escapes decode as lib.c's str_escseq with the extra characters `*+.|^$-[](){}`, an
unknown escape is a literal backslash; `[^...]` negates, `[^^...]` negates a set holding
`^`, `]` or `-` first in a set is literal, `x-y` is a range (swapped when reversed), `*`/`+`
repeat the term before, `(`, `|`, `)` group. Paths hold no NUL, so the `\\x00` the parser
adds to every glob class changes nothing. Paths are given as the kernel gives them: `//`
folded, directories with a trailing `/`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PARSER = shutil.which("apparmor_parser") or (
    "/usr/sbin/apparmor_parser" if Path("/usr/sbin/apparmor_parser").exists() else None)


# ---- the oracle's dialect -> Python regex -----------------------------------------------------
def _esc_value(text: str, i: int, extra: str) -> tuple[int, int] | None:
    """lib.c strn_escseq at text[i] (the character after the backslash)."""
    if i >= len(text):
        return None
    c = text[i]
    if "0" <= c <= "7":
        val, j = 0, i
        while j < len(text) and j - i < 3 and "0" <= text[j] <= "7" and val * 8 + int(text[j]) <= 255:
            val = val * 8 + int(text[j])
            j += 1
        return val, j
    if c in "dx":
        base, most = (10, 3) if c == "d" else (16, 2)
        val, j = 0, i + 1
        while j < len(text) and j - i - 1 < most:
            try:
                digit = int(text[j], base)
            except ValueError:
                break
            if val * base + digit > 255:
                break
            val = val * base + digit
            j += 1
        return None if j == i + 1 else (val, j)
    named = {"\\": "\\", '"': '"', "a": "\a", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r",
             "t": "\t"}
    if c in named:
        return ord(named[c]), i + 1
    if c in extra:
        return ord(c), i + 1
    return None


def _lex(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(expr):
        c = expr[i]
        i += 1
        if c in "*+.|^-[]()":
            out.append((c, c))
        elif c == "\\":
            dec = _esc_value(expr, i, "*+.|^$-[](){}")
            if dec is None:
                out.append(("c", "\\"))
            else:
                out.append(("c", chr(dec[0])))
                i = dec[1]
        else:
            out.append(("c", c))
    return out


def _cls(chars: set[str], negated: bool) -> str:
    body = "".join(f"\\x{ord(c):02x}" if ord(c) < 256 else re.escape(c) for c in sorted(chars))
    if not body:
        return "[\\s\\S]" if negated else "(?!)"
    return f"[{'^' if negated else ''}{body}]"


def oracle_regex(expr: str) -> re.Pattern[str]:
    """The Python regex for one of the parser's compiled expressions (see module doc)."""
    toks = _lex(expr)
    pos = 0

    def peek() -> str:
        return toks[pos][0] if pos < len(toks) else ""

    def take() -> tuple[str, str]:
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def setchar(first: bool) -> str:
        k, v = take()
        ok = k == "c" or k in "[*+.|()" or (first and k in "]-") or (not first and k == "^")
        if not ok:
            raise ValueError(f"bad set char {k!r} in {expr!r}")
        return v

    def add(members: set[str], lo: str, hi: str) -> None:
        a, b = sorted((ord(lo), ord(hi)))
        members.update(chr(x) for x in range(a, b + 1))

    def charset() -> str:
        negated = False
        members: set[str] = set()
        first = True
        if peek() == "^":
            take()
            negated = True
            if peek() == "^":
                take()
                members.add("^")
                first = False
        while first or peek() != "]":
            lo = setchar(first)
            if peek() == "-":
                take()
                add(members, lo, setchar(False))
            else:
                members.add(lo)
            first = False
        take()
        return _cls(members, negated)

    def alternation() -> str:
        parts = [sequence()]
        while peek() == "|":
            take()
            parts.append(sequence())
        return "|".join(parts)

    def sequence() -> str:
        out = []
        while peek() not in ("", "|", ")"):
            k, v = take()
            if k == "(":
                term = f"(?:{alternation()})"
                take()
            elif k == "[":
                term = charset()
            elif k == ".":
                term = "[\\s\\S]"
            else:
                term = re.escape(v)
            if peek() in ("*", "+"):
                term = f"(?:{term}){take()[0]}"
            out.append(term)
        return "".join(out)

    rx = alternation()
    if pos != len(toks):
        raise ValueError(f"unparsed tail in {expr!r}")
    return re.compile(rx)


# ---- asking apparmor_parser --------------------------------------------------------------------
def quoted_profile(i: int, pattern: str) -> str:
    """A profile `pN` holding one rule: read access to the quoted pattern."""
    return f'profile p{i} {{\n  "{pattern}" r,\n}}\n'


def _run_batch(patterns: list[str], preamble: str = "") -> list[str | None]:
    """The compiled expression of each pattern, None where the parser rejects it."""
    assert PARSER is not None
    result: list[str | None] = [None] * len(patterns)
    pending = list(range(len(patterns)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.prof"
        while pending:
            # the parser works through profiles in its own order (by name) and stops at the
            # first it rejects: re-run whatever it has not reached yet
            path.write_text(preamble + "".join(quoted_profile(i, patterns[i]) for i in pending),
                            encoding="latin-1")
            proc = subprocess.run([PARSER, "-Q", "-K", "-D", "rule-exprs", str(path)],
                                  capture_output=True, timeout=300)
            current = None
            done: set[int] = set()
            for line in proc.stderr.decode("latin-1").split("\n"):
                m = re.match(r"aare: p(\d+)   ->   p\d+$", line)
                if m:
                    current = int(m.group(1))
                    continue
                if line.startswith("aare: ") and current is not None and current not in done:
                    result[current] = line.partition("   ->   ")[2]
                    done.add(current)
                    continue
                m = re.match(r"ERROR processing regexs for profile p(\d+)", line)
                if m:
                    result[int(m.group(1))] = None
                    done.add(int(m.group(1)))
            if proc.returncode != 0 and not done:
                raise RuntimeError(f"apparmor_parser failed without naming a profile: "
                                   f"{proc.stderr.decode('latin-1')[-2000:]}")
            if proc.returncode == 0 and set(pending) - done:
                raise RuntimeError("apparmor_parser printed no expression for some rules")
            pending = [i for i in pending if i not in done]
    return result


def oracle_expressions(patterns: list[str], cache_dir: Path | None, batch: int = 400,
                       preamble: str = "", name: str = "aare-oracle") -> list[str | None]:
    """Compiled expressions for all patterns (after `preamble`, variable definitions),
    cached on disk keyed by the input's hash."""
    key = hashlib.sha256("\0".join([preamble, *patterns]).encode("latin-1")).hexdigest()[:24]
    cached = cache_dir / f"{name}-{key}.json" if cache_dir else None
    if cached is not None and cached.exists():
        return json.loads(cached.read_text())
    out: list[str | None] = []
    for k in range(0, len(patterns), batch):
        out.extend(_run_batch(patterns[k:k + batch], preamble))
    if cached is not None:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
            for old in cache_dir.glob(f"{name}-*.json"):  # type: ignore[union-attr]
                old.unlink()  # one generation of the corpus is kept, no more
            cached.write_text(json.dumps(out))
        except OSError:
            pass
    return out


# ---- generating patterns by corner class ------------------------------------------------------
LIT = "abcxyz019._+~=^$()|"
ORDINARY = ["*", "**", "?", "[abc]", "[a-c]", "[^a-c]", "{a,b}", "{,x}", "{x,y/z}"]
CORNERS: dict[str, list[str]] = {
    "ordinary": ORDINARY,
    "leading //": ["//", "///", "//x/"],
    "numeric escape": ["\\x41", "\\x2a", "\\x2f", "\\057", "\\d047", "\\x7b", "\\x2c", "\\x5c",
                       "\\x5d", "\\x5b", "\\x3f", "\\x5e", "\\x2d", "\\x2e", "\\x24", "\\x28",
                       "\\x7c", "\\101", "\\d065", "\\400", "\\d256", "\\x4z", "\\xe9",
                       "\\d200", "\\x7d", "\\052", "\\d042", "\\x2a\\x2a", "\\1", "\\x5c\\x2a"],
    "slash across {}": ["{,c,*}/", "/{,c,*}/", "{/a/,/b/}/c", "{,/y}", "/{b/,}/c", "{a/,}/",
                        "x//y", "/{/,}/", "{//,x}", "\\//", "/\\/"],
    "[!...] and ^": ["[!a]", "[!ab]", "[^a]", "[\\^a]", "[^^a]", "[a^]", "[!]", "[\\!a]",
                     "[!^]"],
    "reversed range": ["[c-a]", "[z-a]", "[--a]", "[-a]", "[a\\-c]", "[9-0x]", "[c-a-]"],
    "glob in [...]": ["[*]", "[?]", "[a*b]", "[**]", "[/*/]", "[^*]", "[?a]", "[*a-z]",
                      "[a?]", "[^?]", "[x**]"],
    "other escapes": ["\\*", "\\{", "\\}", "\\?", "\\[", "\\]", "\\,", "\\\\", "\\q", "\\-",
                      "\\.", "[\\,a]", "[\\]a]", "{a\\,b,c}", "[a\\*]", "\\$", "[][a]",
                      "[{,}]", "[$.]", "\\d", "\\x"],
    "invalid": ["{a}", "[]a]", "[a-]", "{}", "[^]", "[a-c-e]", "}", "]", "{a,b", "[ab",
                "[--]", "{,}{", "[]", "{{a,b}}"],
}


@dataclass(frozen=True)
class Case:
    """A generated pattern, the corner class it exercises, and its paths."""

    kind: str
    pattern: str
    paths: tuple[str, ...]


def _lit(rng: random.Random) -> str:
    return "".join(rng.choice(LIT) for _ in range(rng.randint(1, 3)))


def make_pattern(rng: random.Random, kind: str) -> str:
    """`/`, then ordinary pieces and at least one corner piece of `kind`."""
    pieces = [rng.choice(CORNERS[kind])]
    for _ in range(rng.randint(1, 4)):
        pieces.append(rng.choice([_lit(rng), "/", _lit(rng) + "/", rng.choice(ORDINARY)]))
    rng.shuffle(pieces)
    text = "/" + "".join(pieces)
    if kind == "leading //" and rng.random() < 0.7:
        text = rng.choice(CORNERS[kind]) + "".join(pieces)
    # a backslash before the closing quote is read differently by the profile lexers (not
    # the matcher's business): keep it off the end
    return text + "x" if text.endswith("\\") else text


_PATH_CHARS = "abcxyz019._+~=^$()|!*?[]{},\\-/A"


def _instances(seq: tuple, rng: random.Random) -> str:
    out: list[str] = []
    for node in seq:
        kind = node[0]
        if kind == "lit":
            out.append(node[1])
        elif kind in ("star", "any"):
            n = 1 if kind == "any" else rng.randint(1 if node[1] else 0, 3)
            out.append("".join(rng.choice("abx.*?") for _ in range(n)))
        elif kind == "dstar":
            n = rng.randint(1 if node[1] else 0, 6)
            out.append("".join(rng.choice("ab/x.") for _ in range(n)).lstrip("/" if node[1] else ""))
        elif kind == "class":
            if node[1] or not node[2]:
                out.append(rng.choice("/a!^-]*d"))
            else:
                lo, hi = rng.choice(node[2])
                out.append(chr(rng.randint(ord(lo), ord(hi))))
        elif kind == "loop":
            out.append(_instances((node[2],) * rng.randint(node[1], 2), rng))
        elif kind == "alt":
            out.append(_instances(rng.choice(node[1]), rng))
    return "".join(out)


def _fold(path: str) -> str:
    while "//" in path:
        path = path.replace("//", "/")
    return path


def make_paths(pattern: str, seq: tuple | None, rng: random.Random, n: int) -> list[str]:
    """`n` kernel-style paths for a pattern: instances of its tree, mutations, noise."""
    out: list[str] = []
    while len(out) < n:
        if seq is not None and rng.random() < 0.75:
            path = _instances(seq, rng)
        else:
            path = "/" + "".join(rng.choice(_PATH_CHARS) for _ in range(rng.randint(0, 8)))
        r = rng.random()
        if r < 0.3 and path:
            k = rng.randrange(len(path) + 1)
            path = path[:k] + rng.choice(_PATH_CHARS) + path[k + 1:]
        elif r < 0.4:
            path += "/"
        path = "".join(c for c in path if c != "\x00")
        path = _fold(path if path.startswith("/") else "/" + path)
        out.append(path)
    return out


def make_cases(seed: int, per_kind: dict[str, int], paths_each: int,
               tree: Callable[[str], tuple | None]) -> list[Case]:
    """Generated cases; `tree(pattern)` gives a node tree used only to aim paths at matches."""
    rng = random.Random(seed)
    cases = []
    for kind, count in per_kind.items():
        for _ in range(count):
            pattern = make_pattern(rng, kind)
            cases.append(Case(kind, pattern, tuple(make_paths(pattern, tree(pattern), rng,
                                                              paths_each))))
    return cases
