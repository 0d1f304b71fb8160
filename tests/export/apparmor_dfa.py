"""Language equivalence of two profiles' compiled DFAs, read from apparmor_parser's own dump.

`apparmor_parser -D dfa-states` prints each DFA: its start state, then per state its
permissions and transitions (`c 0x63 -> {5}`, and a default `[^...] -> {N}` taken by every
byte not listed there and not transitioned explicitly). Two files are equivalent when a walk
over the product of their DFAs meets no pair of states with different permissions.

Strings that start with `/` (file paths) never contain `//` in a kernel query (d_path folds
them), so the walk does not follow a second `/` after a `/` there.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

_NAMED = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, "e": 27}
_START, _PATH, _AFTER_SLASH, _OTHER = range(4)


@dataclass
class Dfa:
    start: int
    perms: dict[int, str] = field(default_factory=dict)
    trans: dict[int, dict[int, int]] = field(default_factory=dict)
    default: dict[int, tuple[set[int], int]] = field(default_factory=dict)

    def step(self, state: int | None, byte: int) -> int | None:
        if state is None:
            return None
        explicit = self.trans.get(state, {})
        if byte in explicit:
            return explicit[byte]
        default = self.default.get(state)
        return default[1] if default and byte not in default[0] else None

    def perm(self, state: int | None) -> str:
        return "" if state is None else self.perms.get(state, "")


def _byte_set(text: str) -> set[int]:
    out: set[int] = set()
    i = 0
    while i < len(text):
        if text[i] == "\\":
            nxt = text[i + 1]
            if nxt == "x":
                digits = re.match(r"[0-9a-fA-F]{1,2}", text[i + 2:])
                assert digits, text
                out.add(int(digits.group(0), 16))
                i += 2 + len(digits.group(0))
                continue
            out.add(_NAMED.get(nxt, ord(nxt)))
            i += 2
            continue
        out.add(ord(text[i]))
        i += 1
    return out


def dfas(parser: str, features: str, path: str) -> list[Dfa]:
    """Every DFA apparmor_parser builds for the file, in its order."""
    proc = subprocess.run([parser, "-Q", "-K", "-M", features, "-D", "dfa-states", path],
                          capture_output=True, text=True, errors="surrogateescape", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out: list[Dfa] = []
    state: int | None = None
    for line in (proc.stderr + proc.stdout).splitlines():
        if m := re.match(r"^\{(\d+)\} <== ", line):
            out.append(Dfa(int(m.group(1))))
            state = None
        elif not out:
            continue
        elif m := re.match(r"^\{(\d+)\} perms: (.*)$", line):
            state = int(m.group(1))
            out[-1].perms[state] = "" if m.group(2).strip() == "none" else m.group(2).strip()
            out[-1].trans[state] = {}
        elif state is not None and (m := re.match(r"^\s+\[\^(.*)\] -> \{(\d+)\}", line)):
            out[-1].default[state] = (_byte_set(m.group(1)), int(m.group(2)))
        elif state is not None and (m := re.match(r"^\s+(?:.+ )?0x([0-9a-f]+) -> \{(\d+)\}",
                                                  line)):
            out[-1].trans[state][int(m.group(1), 16)] = int(m.group(2))
    return out


def first_difference(a: Dfa, b: Dfa) -> str | None:
    """A string the two DFAs give different permissions, or None when there is none."""
    seen: set[tuple[int | None, int | None, int]] = set()
    todo: list[tuple[int | None, int | None, int, str]] = [(a.start, b.start, _START, "")]
    while todo:
        x, y, mode, word = todo.pop()
        if (x, y, mode) in seen:
            continue
        seen.add((x, y, mode))
        if a.perm(x) != b.perm(y):
            return word
        for byte in range(256):
            if mode == _AFTER_SLASH and byte == 0x2F:
                continue
            nx, ny = a.step(x, byte), b.step(y, byte)
            if nx is None and ny is None:
                continue
            if mode == _OTHER or (mode == _START and byte != 0x2F):
                nmode = _OTHER
            else:
                nmode = _AFTER_SLASH if byte == 0x2F else _PATH
            if (nx, ny, nmode) not in seen:
                todo.append((nx, ny, nmode, word + chr(byte)))
    return None
