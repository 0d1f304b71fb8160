"""`json.dumps` for plain values, without importing `json`.

A plain `stockade run` writes one small JSON document (the status record) and reads none;
importing `json` loads its decoder and with it `re` (about 2 ms of the run's start-up). This
writes the same text as `json.dumps(value, sort_keys=...)` with its defaults (ASCII, `", "`
and `": "`) for None, bools, ints, floats, strings, lists, tuples and dicts with string keys;
anything else is a TypeError. tests/test_json_text.py compares it with `json.dumps`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b",
            "\f": "\\f"}


def _string(text: str) -> str:
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    out = []
    for c in text:
        code = ord(c)
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif 0x20 <= code < 0x7F:
            out.append(c)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:  # a surrogate pair, as JSON writes characters beyond the BMP
            code -= 0x10000
            out.append(f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}")
    return '"' + "".join(out) + '"'


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """The text `json.dumps(value, sort_keys=sort_keys)` makes."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(dumps(v, sort_keys=sort_keys) for v in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("json_text.dumps: keys must be strings")
        items = sorted(value.items()) if sort_keys else value.items()
        return "{" + ", ".join(f"{_string(k)}: {dumps(v, sort_keys=sort_keys)}"
                               for k, v in items) + "}"
    raise TypeError(f"json_text.dumps: {type(value).__name__} is not a plain JSON value")
