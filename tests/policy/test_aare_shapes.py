"""A pattern parsed through its shape's cached tree equals the same pattern parsed in full."""

from __future__ import annotations

import random

import pytest

from stockade.policy import aare
from stockade.policy.aare import shapes as aare_shapes
from stockade.policy.aare import tokens

FIXED = ["/usr/lib/*.so", "/usr/lib/x86_64-linux-gnu/lib*.so.[0-9]", "/**", "/*", "/*/",
         "//a/*", "///a//b*", "/a/**/b", "/a**", "/**a", "/a/*/**", "/a?b/?", "/a-*-b/-",
         "/.*", "/a.b/..*", "*", "?", "/a/***", "/a/**/", "a*b", "/a//**//b", "/-/*",
         "/dev/sd[a-z]", "/x/lib.[0-9]", "/a[a]a", "/a[aa]", "/x[b]y", "/[a-]", "/[-a]", "/[c-a]",
         "/[a]/*", "/a[0-9][0-9]*", "/[.]", "/[_-z]*", "/a[]", "/a[", "/a]", "/[[a]", "/[a]]"]


def _same(text: str) -> None:
    try:
        want = aare.parse(text)
    except aare.AareError as err:
        with pytest.raises(aare.AareError) as got:
            aare_shapes.parse(text)
        assert str(got.value) == str(err)
        return
    assert aare_shapes.parse(text) == want, text


def test_fixed_patterns():
    for text in FIXED:
        _same(text)
        _same(text)  # the second time from the cached shape


def test_generated_patterns():
    rng = random.Random(14)
    pieces = ["/", "/", "*", "**", "?", "-", ".", "a", "lib", "x86_64", "so.6", "_", "Z9",
              "[0-9]", "[a-z]", "[a]", "[ab]", "[a-]", "[-_]", "[9-0]", "[", "]", "[.a]"]
    for _ in range(3000):
        _same("".join(rng.choice(pieces) for _ in range(rng.randint(1, 10))))


def test_shapes_are_shared_and_bounded(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(aare_shapes, "_shapes", {})
    aare_shapes.parse("/usr/lib/*.so")
    aare_shapes.parse("/etc/app3/*.conf")
    assert list(aare_shapes._shapes) == ["/a/a/*a"]
    monkeypatch.setattr(aare_shapes, "MAX_SHAPES", 1)
    aare_shapes.parse("/x/**")
    assert len(aare_shapes._shapes) == 1


def test_bracket_expressions_stay_in_the_shape(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(aare_shapes, "_shapes", {})
    got = aare_shapes.parse("/usr/lib/libc.so.[0-9]")
    aare_shapes.parse("/etc/x3/y.[0-9]")
    aare_shapes.parse("/dev/sd[a-z]")
    assert list(aare_shapes._shapes) == ["/a/a/a[0-9]", "/a/a[a-z]"]
    assert got == aare.parse("/usr/lib/libc.so.[0-9]")


def test_plain_text_folds_slashes_as_the_pipeline_does():
    rng = random.Random(15)
    for _ in range(2000):
        text = "".join(rng.choice("//a.") for _ in range(rng.randint(0, 8)))
        want = "".join(c for c, _ in tokens._filter_slashes([(c, 0) for c in text]))
        assert tokens._fold_plain(text) == want, text
