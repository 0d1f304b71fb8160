"""Seeds and mutations for the fuzz tests: real profiles and real audit lines, changed a little."""

from __future__ import annotations

import ast
import functools
import os
from pathlib import Path

from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
# `make test` runs a fixed budget; STOCKADE_FUZZ_SCALE=20 runs twenty times as many examples.
SCALE = max(1, int(os.environ.get("STOCKADE_FUZZ_SCALE", "1") or 1))


def examples(n: int) -> int:
    """The example budget of a fuzz test: `n`, times STOCKADE_FUZZ_SCALE."""
    return n * SCALE
PROFILE_DIRS = ("/etc/apparmor.d", str(REPO / "src" / "stockade" / "data" / "apparmor.d"))
_MAX_SEED = 64 << 10  # larger seeds only slow the examples down


@functools.cache
def profile_seeds() -> tuple[str, ...]:
    """The text of every profile, abstraction and tunable under PROFILE_DIRS (sorted)."""
    out: list[str] = []
    for root in PROFILE_DIRS:
        for dirpath, _dirs, files in sorted(os.walk(root)):
            for name in sorted(files):
                path = os.path.join(dirpath, name)
                try:
                    if os.path.isfile(path) and os.path.getsize(path) <= _MAX_SEED:
                        out.append(Path(path).read_bytes().decode("utf-8", "surrogateescape"))
                except OSError:
                    continue
    return tuple(out)


@functools.cache
def log_seeds() -> tuple[str, ...]:
    """Every audit line quoted in the audit tests (string constants holding `audit(`)."""
    lines: set[str] = set()
    for test in sorted((REPO / "tests" / "audit").glob("*.py")):
        tree = ast.parse(test.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and "audit(" in node.value:
                lines.update(line for line in node.value.splitlines() if "audit(" in line)
    return tuple(sorted(lines))


# Tokens that matter to the grammars: inserting them is how a real file gets broken.
PROFILE_TOKENS = ("{", "}", "(", ")", ",", '"', "\\", "@{", "}", "${", "^", "=", "+=", "->",
                  "\n", "#", "/", "*", "**", "?", "[", "]", "-", "include ", "if ", "else ",
                  "profile ", "hat ", "owner ", "deny ", "audit ", "allow ", "network ",
                  "capability ", "signal ", "ptrace ", "mount ", "dbus ", "unix ", "file ",
                  "flags=(", "peer=", "set=(", "rw", "ix", "Px", "Cx ->", "<", ">", "\x00",
                  "\udcff", "\u202e", " if exists ", "defined ", "and ", "or ", "not ",
                  "@{HOME}", "@{PROC}", "rlimit ", "<=", "0x", "-1", "99999999999999999999")
LOG_TOKENS = (" ", "=", '"', "'", "(", ")", ":", ".", "audit(", "msg=", "type=", "AVC", "SYSCALL",
              "UNKNOWN[1423]", "apparmor=", "name=", "pid=", "-1", "99999999999999999999",
              "1e999", "nan", "0x", "\x1d", "\x00", "\udcff", "FF", "Z", "{", "}", "\\",
              "node=", "audit: ", "[ 1.0] ")


@st.composite
def mutated(draw: st.DrawFn, seeds: tuple[str, ...], tokens: tuple[str, ...],
            max_steps: int = 6) -> str:
    """A seed with a few random edits: cut, duplicate, delete, insert a token or random text,
    swap two lines, truncate."""
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(0, max_steps))):
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 200)))
        op = draw(st.sampled_from(("delete", "duplicate", "token", "random", "swap", "truncate")))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] * draw(st.integers(1, 8)) + text[j:]
        elif op == "token":
            text = text[:i] + draw(st.sampled_from(tokens)) * draw(st.integers(1, 4)) + text[i:]
        elif op == "random":
            text = text[:i] + draw(st.text(max_size=20)) + text[j:]
        elif op == "swap":
            lines = text.split("\n")
            a, b = (draw(st.integers(0, len(lines) - 1)) for _ in range(2))
            lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
        else:
            text = text[:i]
    return text


def as_text(data: bytes) -> str:
    """Bytes as stockade reads a file: UTF-8, undecodable bytes kept as surrogate escapes."""
    return data.decode("utf-8", "surrogateescape")
