"""printable() looks only at the characters outside printable ASCII: the same text as
escaping character by character (the definition), on generated strings."""

from __future__ import annotations

import random

from stockade.cli.output import _escape_char, printable


def _by_char(text: str, keep: str) -> str:
    return "".join(c if c == " " or c in keep or c.isprintable() else _escape_char(c)
                   for c in text)


def test_printable_is_the_per_character_escape():
    rng = random.Random(14)
    alphabet = ("abc XYZ/.-~", "\n\t\r\x00\x1b\x7f", "\u202e\u200b\u2028\u00e9\u4e2d",
                "\udc80\udcff", "\U0001f600\x85\xa0")
    for _ in range(3000):
        text = "".join(rng.choice(rng.choice(alphabet)) for _ in range(rng.randint(0, 30)))
        for keep in ("", "\n\t", "\u00e9"):
            assert printable(text, keep) == _by_char(text, keep)
            assert printable(printable(text, keep), keep) == printable(text, keep)
