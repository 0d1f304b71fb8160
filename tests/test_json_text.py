"""stockade.json_text writes what json.dumps writes (the status record is written with it)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.json_text import dumps

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
