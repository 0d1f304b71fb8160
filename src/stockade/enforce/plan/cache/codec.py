"""A compiled plan (`ProfilePlan`) to JSON and back, losslessly, without pickle.

Only the classes named in `_CLASSES` can come back out, each from exactly its own fields: an
entry written by another version of these classes does not decode (a cache miss).
"""

from __future__ import annotations

import enum
from operator import attrgetter

from stockade.enforce.landlock import AccessFs, AccessNet, RestrictFlag, Scope
from stockade.enforce.plan.types import (
    CoverageEntry,
    CoverageReport,
    CoverageStatus,
    EnforcementPlan,
    FsRule,
    NetRule,
    OwnProcRule,
    ProfilePlan,
    SeccompRule,
)
from stockade.enforce.seccomp import Action, ActionKind, ArgCmp, Cmp
from stockade.slotted import Slotted, from_columns

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

_CLASSES: dict[str, type] = {c.__name__: c for c in (
    ProfilePlan, EnforcementPlan, FsRule, NetRule, OwnProcRule, SeccompRule, CoverageReport,
    CoverageEntry, Action, ArgCmp)}
_ENUMS: dict[str, type[enum.Enum]] = {c.__name__: c for c in (
    AccessFs, AccessNet, Scope, RestrictFlag, CoverageStatus, ActionKind, Cmp)}


_TABLES = (FsRule, NetRule, SeccompRule, CoverageEntry)
_PLAIN = (str, int, bool, type(None))
_PLAIN_TYPES = frozenset(_PLAIN)
_enum_memo: dict[tuple[Any, Any], enum.Enum] = {}  # bounded: a few values per enum class


class CodecError(ValueError):
    """The JSON does not describe a plan of this version."""


def encode(value: Any) -> Any:
    """A JSON-ready form of `value` (a ProfilePlan or anything in it)."""
    if isinstance(value, enum.Enum):
        name = type(value).__name__
        if name not in _ENUMS:
            raise CodecError(f"cannot encode {name}")
        return {"$e": name, "v": value.value}
    if isinstance(value, Slotted):
        name = type(value).__name__
        if _CLASSES.get(name) is not type(value):
            raise CodecError(f"cannot encode {name}")
        return {"$c": name, "f": {f: encode(getattr(value, f)) for f in value.FIELDS}}
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, frozenset):
        return {"$s": sorted(encode(v) for v in value)}
    if isinstance(value, tuple):
        return {"$t": [encode(v) for v in value]}
    if isinstance(value, list):
        kind = type(value[0]) if value else None
        if kind in _TABLES and all(type(v) is kind for v in value):
            names = list(kind.FIELDS)
            cells = [list(map(attrgetter(n), value)) for n in names]
            columns = [_table_column(col) for col in cells]
            return {"$L": kind.__name__, "k": names, "t": [t for t, _ in columns],
                    "c": [c for _, c in columns]}
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"$d": [[encode(k), encode(v)] for k, v in value.items()]}
    raise CodecError(f"cannot encode {type(value).__name__}")


def decode(data: Any) -> Any:
    """The value `encode` made `data` from; CodecError for anything else."""
    if isinstance(data, bool | int | str) or data is None:
        return data
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict) or len(data) not in (1, 2, 4):
        raise CodecError("not an encoded value")
    if "$e" in data:
        return _enum(data)
    if "$c" in data:
        cls = _CLASSES.get(data["$c"])
        fields = data.get("f")
        if cls is None or set(data) != {"$c", "f"} or not isinstance(fields, dict):
            raise CodecError(f"unknown class {data['$c']!r}")
        if set(fields) != set(cls.FIELDS):
            raise CodecError(f"{cls.__name__}: fields differ from this version's")
        try:
            return cls(**{k: decode(v) for k, v in fields.items()})
        except (TypeError, ValueError) as err:
            raise CodecError(f"{cls.__name__}: {err}") from None
    if "$L" in data:
        return _table(data)
    if "$s" in data and isinstance(data["$s"], list):
        return frozenset(decode(v) for v in data["$s"])
    if "$t" in data and isinstance(data["$t"], list):
        return tuple(decode(v) for v in data["$t"])
    if "$d" in data and isinstance(data["$d"], list):
        out = {}
        for pair in data["$d"]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise CodecError("bad mapping")
            out[decode(pair[0])] = decode(pair[1])
        return out
    raise CodecError("not an encoded value")


def _enum(data: dict[str, Any]) -> enum.Enum:
    key = (data["$e"], data.get("v"))
    if key not in _enum_memo:  # IntFlag construction is slow; a plan repeats a few values
        if len(_enum_memo) > 4096:
            _enum_memo.clear()
        cls = _ENUMS.get(data["$e"])
        if cls is None or set(data) != {"$e", "v"} or type(data["v"]) not in (str, int):
            raise CodecError(f"unknown enum {data['$e']!r}")
        _enum_memo[key] = cls(data["v"])
    return _enum_memo[key]


def _table_column(cells: list[Any]) -> tuple[str | None, Any]:
    """One column of a table: the name of the enum class its cells all belong to (then the
    column holds their values: the class is named once) or None, and the column (`_column`).
    Cells of plain values are stored as they are (100,000 coverage entries made 500,000 calls
    of `encode` that returned their argument); the types of the cells are found once."""
    kinds = set(map(type, cells))
    if len(kinds) == 1:
        kind = next(iter(kinds))
        if issubclass(kind, enum.Enum) and _ENUMS.get(kind.__name__) is kind and all(
                type(c.value) in (int, str) for c in cells[:1]):
            values = [c._value_ for c in cells]  # what `.value` (a Python-level property) is
            return kind.__name__, _column(values, set(map(type, values)))
    if not kinds <= _PLAIN_TYPES:
        return None, [encode(c) for c in cells]
    return None, _column(cells, kinds)


def _table(data: dict[str, Any]) -> list[Any]:
    """A list of one class's objects, stored as columns (the bulk of a plan: its rules and
    coverage entries)."""
    cls = _CLASSES.get(data["$L"])
    names, types = data.get("k"), data.get("t")
    if cls not in _TABLES or not isinstance(types, list) or set(data) != {"$L", "k", "t", "c"}:
        raise CodecError("bad table")
    if names != list(cls.FIELDS) or len(types) != len(names):
        raise CodecError(f"{cls.__name__}: fields differ from this version's")
    convert = []
    for t in types:
        if t is None:
            convert.append(None)
        elif t in _ENUMS:
            convert.append(_ENUMS[t])
        else:
            raise CodecError(f"bad column type {t!r}")
    columns = data.get("c")
    if not isinstance(columns, list) or len(columns) != len(names):
        raise CodecError("bad columns")
    columns = [_column_values(col) for col in columns]
    if len({len(col) for col in columns}) > 1:
        raise CodecError("columns of different lengths")
    if not columns or not columns[0]:
        return []
    try:
        for i, c in enumerate(convert):
            col = columns[i]
            if c is None:
                if not set(map(type, col)) <= _PLAIN_TYPES:
                    columns[i] = [v if type(v) in _PLAIN else decode(v) for v in col]
                continue
            flags = {v: _flag(c, v) for v in set(col)}  # a plan repeats a few
            columns[i] = [flags[v] for v in col]
        return from_columns(cls, columns)  # a table's classes store their fields as given
    except (TypeError, ValueError) as err:
        raise CodecError(f"{cls.__name__}: {err}") from None


def _column(values: list[Any], kinds: set[type] | None = None) -> Any:
    """The cells of a column (`kinds`: the types of `values`, when known): its values, or,
    when they are plain and repeat (sources, rights, flags), each distinct value once and the
    position of each cell's value among them (fewer objects to parse on a hit: small ints are
    shared)."""
    if kinds is None:
        kinds = set(map(type, values))
    if not kinds <= _PLAIN_TYPES:
        return values
    if len(kinds) == 1:  # one type: no True and 1 to keep apart (100,000 rules' texts: fast)
        if len(set(values)) * 2 > len(values):
            return values
        same: dict[Any, int] = {}
        positions = [same.setdefault(v, len(same)) for v in values]
        return {"u": list(same), "i": positions}
    index: dict[tuple[type, Any], int] = {}
    positions = [index.setdefault((type(v), v), len(index)) for v in values]
    if len(index) * 2 > len(values):
        return values
    return {"u": [v for _, v in index], "i": positions}


def _column_values(col: Any) -> list[Any]:
    """The cells of a column `_column` made."""
    if isinstance(col, list):
        return col
    if not isinstance(col, dict) or set(col) != {"u", "i"}:
        raise CodecError("bad column")
    distinct, positions = col["u"], col["i"]
    if (not isinstance(distinct, list) or not isinstance(positions, list)
            or not set(map(type, distinct)) <= _PLAIN_TYPES
            or not set(map(type, positions)) <= {int}
            or (positions and not 0 <= min(positions) <= max(positions) < len(distinct))):
        raise CodecError("bad column")
    return [distinct[k] for k in positions]


def _flag(cls: type[enum.Enum], value: Any) -> enum.Enum:
    if type(value) is not int and (issubclass(cls, enum.IntFlag) or type(value) is not str):
        raise CodecError("bad enum value")
    return _enum({"$e": cls.__name__, "v": value})


def plan_from_json(data: Any) -> ProfilePlan:
    """The ProfilePlan `data` encodes."""
    pp = decode(data)
    if not isinstance(pp, ProfilePlan):
        raise CodecError("not a compiled plan")
    return pp
