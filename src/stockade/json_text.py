"""`json.dumps` for plain values and `json.loads`, without importing `json`.

A plain `stockade run` writes one small JSON document (the status record) and reads none; a
plan cache hit reads one (its entry) and names it by its key's text. Importing `json` loads
its decoder and with it `re` (about 2 ms of the run's start-up). `dumps` writes the same text
as `json.dumps(value, sort_keys=..., separators=...)` with its other defaults (ASCII) for
None, bools, ints, floats, strings, lists, tuples and dicts with string keys; anything else is
a TypeError. `loads` is `json.loads` by the same C scanner (`_json`) with json's default
settings. tests/test_json_text.py compares both with `json`.
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


def dumps(value: Any, *, sort_keys: bool = False, compact: bool = False) -> str:
    """The text `json.dumps(value, sort_keys=sort_keys)` makes; with `compact`, that of
    `json.dumps(..., separators=(",", ":"))`."""
    return _dumps(value, sort_keys, (",", ":") if compact else (", ", ": "))


def _dumps(value: Any, sort_keys: bool, seps: tuple[str, str]) -> str:
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
        return "[" + seps[0].join(_dumps(v, sort_keys, seps) for v in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("json_text.dumps: keys must be strings")
        items = sorted(value.items()) if sort_keys else value.items()
        return "{" + seps[0].join(f"{_string(k)}{seps[1]}{_dumps(v, sort_keys, seps)}"
                                  for k, v in items) + "}"
    raise TypeError(f"json_text.dumps: {type(value).__name__} is not a plain JSON value")


class _Settings:
    """json.JSONDecoder()'s settings, as the C scanner reads them (attributes of its context)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"),
                      "NaN": float("nan")}.__getitem__


_scanner: Any = None
_SPACE = " \t\n\r"  # what JSON calls whitespace (json.decoder.WHITESPACE)


def loads(text: str) -> Any:
    """The value `json.loads(text)` gives. ValueError when `text` is not one JSON value
    (with whitespace around it)."""
    global _scanner
    if _scanner is None:
        try:
            from _json import make_scanner
        except ImportError:  # pragma: no cover - CPython has it; elsewhere json itself
            import json

            return json.loads(text)
        _scanner = make_scanner(_Settings())
    if text.startswith("\ufeff"):
        raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
    start = len(text) - len(text.lstrip(_SPACE))
    try:
        value, end = _scanner(text, start)
    except StopIteration as err:
        raise ValueError(f"Expecting value: char {err.value}") from None
    rest = text[end:].lstrip(_SPACE)
    if rest:
        raise ValueError(f"Extra data: char {len(text) - len(rest)}")
    return value
