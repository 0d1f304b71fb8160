"""Plain classes whose fields are their `__slots__`, for modules a plain `stockade run` loads.

`dataclasses` costs a plain run about 12 ms of its start-up: importing it loads inspect, ast,
dis and tokenize, and each decorated class compiles its generated methods with `exec`. The
classes on that path write their `__init__` out and take equality and a repr from here (the
same meaning as a dataclass's: equal when of the same class with equal fields, in order).
`Frozen` adds a hash of the fields and refuses assignment after `__init__`, as
`@dataclass(frozen=True)`; its `__init__` sets fields with `object.__setattr__`.
"""

from __future__ import annotations

from typing import Any


class Slotted:
    """Equality and repr from `__slots__` (the fields, in order)."""

    __slots__ = ()

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, as a dataclass

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__qualname__}({shown})"


class Frozen(Slotted):
    """`Slotted`, hashable, and read-only after `__init__`."""

    __slots__ = ()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of {type(self).__qualname__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of {type(self).__qualname__}")
