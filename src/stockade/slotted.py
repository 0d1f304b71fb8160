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

`NamedTuple` is `typing.NamedTuple` for the same modules: a plain run does not import `typing`
(about 3 ms of its start-up); type checkers see typing's (`if TYPE_CHECKING` where it is used).
"""

from __future__ import annotations

from collections import deque, namedtuple
from operator import attrgetter

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, ClassVar, TypeVar

    _T = TypeVar("_T")


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


def from_columns(cls: type[_T], columns: Sequence[list[Any]]) -> list[_T]:
    """`list(map(cls, *columns))` for a `Frozen` class whose `__init__` stores its fields as
    given (FIELDS, in order; test_slotted checks the classes the plan cache decodes so), its
    slots set column by column: half the time of an `__init__` per object (a plan cache hit
    decodes ~1,800 grants, a 100,000-rule one 100,000)."""
    if not columns or not columns[0]:
        return []
    new = object.__new__
    out = [new(cls) for _ in columns[0]]
    # the slots' own setters (Frozen.__setattr__ refuses)
    for put, column in zip(slot_setters(cls), columns, strict=True):  # type: ignore[arg-type]
        if len(column) != len(out):
            raise ValueError("columns of different lengths")
        deque(map(put, out, column), maxlen=0)  # the loop in C
    return out


def slot_setters(cls: type[Slotted]) -> tuple[Callable[[Any, Any], None], ...]:
    """The setter of each of `cls`'s fields' slots, in FIELDS order: a `Frozen` class made by
    the hundred thousand (a plan's coverage entries, a profile's patterns) sets its fields in
    `__init__` through them, in about 60% of the time of `object.__setattr__` (which finds
    the slot again on each call)."""
    return tuple(cls.__dict__[name].__set__ for name in cls.FIELDS)


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


class _NamedTupleMeta(type):
    """Makes each class statement on `NamedTuple` a `collections.namedtuple`, as typing's
    metaclass does: the annotated names are the fields, in order, their class-level values
    the defaults; the other names of the body (methods, properties, the docstring) are added
    to the tuple class."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> type:
        if not bases:  # NamedTuple itself
            return super().__new__(mcs, name, bases, namespace)
        fields = list(namespace.get("__annotations__", {}))
        defaults = [namespace[f] for f in fields if f in namespace]
        if [f for f in fields if f in namespace] != fields[len(fields) - len(defaults):]:
            raise TypeError(f"{name}: a field without a default follows one with a default")
        cls = namedtuple(name, fields, defaults=defaults, module=namespace["__module__"])
        cls.__annotations__ = dict(namespace.get("__annotations__", {}))
        for key, value in namespace.items():
            if key in ("_fields", "_field_defaults", "_make", "_replace", "_asdict", "_source",
                       "__new__", "__init__", "__slots__", "__getnewargs__"):
                raise AttributeError(f"cannot overwrite NamedTuple attribute {key}")
            if key not in fields and key not in ("__module__", "__annotations__"):
                setattr(cls, key, value)
        return cls


class NamedTuple(metaclass=_NamedTupleMeta):
    """A class statement on this base makes a named tuple, as on `typing.NamedTuple`."""
