"""The lexer skips the blanks between tokens (and a backslash joining lines) in one regex
step: it stops where the character loop it replaced stopped, at every offset of generated
texts."""

from __future__ import annotations

import random

from stockade.policy.lexer import _BLANKS, _SPACE


def _loop(text: str, i: int) -> int:
    """The former skip: one character (or a backslash-newline pair) at a time."""
    n = len(text)
    while i < n and (text[i] in _SPACE or text.startswith("\\\n", i)):
        i += 2 if text[i] == "\\" else 1
    return i


def test_blank_skip_stops_where_the_character_loop_stopped():
    rng = random.Random(7)
    pieces = [" ", "\t", "\n", "\r", "\f", "\v", "\\", "\\\n", "\\\\\n", "a", "/", ",", "#"]
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        for i in range(len(text) + 1):
            end = _BLANKS.match(text, i)
            assert end is not None and end.end() == _loop(text, i), (text, i)
