"""stockade.json_text writes what json.dumps writes (the status record is written with it)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.json_text import dumps, loads

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(), st.text(alphabet=st.characters(exclude_categories=())))  # surrogates too
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(), inner, max_size=4)), max_leaves=20)


@settings(max_examples=600, deadline=None)
@given(values, st.booleans())
def test_the_text_is_json_dumps(value: object, sort_keys: bool) -> None:
    assert dumps(value, sort_keys=sort_keys) == json.dumps(value, sort_keys=sort_keys)


@pytest.mark.parametrize("value", ["\udcff", "\U0001f600", "\x7f\x00\x1f", 'a"b\\c', "é",
                                   math.inf, -math.inf, math.nan, 1e300, -0.0, 2**70, True])
def test_edges(value: object) -> None:
    assert dumps({"k": [value]}) == json.dumps({"k": [value]})


def test_what_json_would_convert_is_refused() -> None:
    with pytest.raises(TypeError):
        dumps({1: "x"})
    with pytest.raises(TypeError):
        dumps({"x": {1, 2}})


@settings(max_examples=300, deadline=None)
@given(values, st.booleans())
def test_compact_text_is_json_dumps_with_compact_separators(value: object,
                                                           sort_keys: bool) -> None:
    assert dumps(value, sort_keys=sort_keys, compact=True) == json.dumps(
        value, sort_keys=sort_keys, separators=(",", ":"))


def _same(a: object, b: object) -> bool:
    """Equal, NaN included, and of the same types all the way down."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)  # type: ignore[attr-defined,index]
    return a == b


@settings(max_examples=600, deadline=None)
@given(values, st.booleans(), st.sampled_from(["", " ", "\n\t \r"]))
def test_loads_is_json_loads(value: object, compact: bool, space: str) -> None:
    text = space + json.dumps(value, separators=(",", ":") if compact else None) + space
    assert _same(loads(text), json.loads(text))


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from([*'{}[]",:0123456789.eE+- \t\nabcdeflnrstu\\', "true", "false",
                                  "null", "NaN", "Infinity", '"\\u00e9"', '"\\ud800"', "\x01",
                                  "\ufeff"]), max_size=12).map("".join))
def test_loads_accepts_and_refuses_what_json_loads_does(text: str) -> None:
    try:
        expected: object = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            loads(text)
        return
    assert _same(loads(text), expected)
