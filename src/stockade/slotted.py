"""Plain classes whose fields are their `__slots__`, for modules a plain `stockade run` loads.

`dataclasses` costs a plain run about 12 ms of its start-up: importing it loads inspect, ast,
dis and tokenize, and each decorated class compiles its generated methods with `exec`. The
classes on that path write their `__init__` out and take from here what a dataclass would
generate, with the same meaning: equal when of the same class with equal fields (in order),
a repr naming the fields, `replace()`. `Frozen` adds a hash of the fields and refuses
assignment after `__init__` (which sets fields with `object.__setattr__`), as
`@dataclass(frozen=True)`.

The fields are `FIELDS`, in order (`__slots__` is `FIELDS` or more; a linter sorts a
literal `__slots__`): a slot left out of it (a cached key computed in `__init__`) is not
compared, shown or passed on, as `field(init=False, compare=False, repr=False)`. `replace`,
pickling and the plan cache's codec pass the fields to `__init__` (by name; a `Frozen` one in
order), so where they are used `FIELDS` are its parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, ClassVar, TypeVar

_T = TypeVar("_T")  # no bound: a string one costs start-up a compile (0.5 ms)


class Slotted:
    """Equality and repr from the fields (`FIELDS`, in order)."""

    __slots__ = ()
    FIELDS: ClassVar[tuple[str, ...]] = ()

    #: the fields' values as a tuple, `cls._values(obj)` (attrgetter: in C, as the hash of a
    #: frozen value is taken on hot paths)
    _values: ClassVar[Callable[[Any], tuple[Any, ...]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "FIELDS" not in cls.__dict__:  # __slots__ is no order: a linter sorts it
            raise TypeError(f"{cls.__qualname__} must name its FIELDS, in order")
        names = cls.FIELDS
        if len(names) > 1:
            getter = attrgetter(*names)
        else:  # attrgetter of one name returns the bare value
            one = attrgetter(*names) if names else None
            getter = (lambda obj: (one(obj),)) if one else (lambda obj: ())
        cls._values = staticmethod(getter)  # type: ignore[assignment]

    def _fields(self) -> tuple[Any, ...]:
        return self._values(self)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values(self) == self._values(other)

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, as a dataclass

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__qualname__}({shown})"


class Frozen(Slotted):
    """`Slotted`, hashable, and read-only after `__init__`; copies and pickles by its fields."""

    __slots__ = ()
    FIELDS = ()

    def __hash__(self) -> int:
        return hash(self._values(self))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of {type(self).__qualname__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of {type(self).__qualname__}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), self._fields()  # __init__ takes the fields in order


def replace(obj: _T, /, **changes: Any) -> _T:
    """A copy of `obj` with `changes` (`dataclasses.replace` for these classes; a dataclass is
    passed to it)."""
    if not isinstance(obj, Slotted):
        import dataclasses

        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    unknown = set(changes) - set(obj.FIELDS)
    if unknown:
        raise TypeError(f"{type(obj).__qualname__} has no field {sorted(unknown)[0]!r}")
    return type(obj)(**{name: changes.get(name, getattr(obj, name)) for name in obj.FIELDS})
