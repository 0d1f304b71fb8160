"""contextlib.suppress without importing contextlib: the modules of a plain `stockade run`
use this one (importing contextlib costs ~0.3 ms of its start-up; docs/performance.md)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from types import TracebackType


class suppress:
    """`with suppress(E1, E2): ...` leaves the block quietly when it raises an instance of one
    of the given exception types (or of a subclass); anything else propagates."""

    __slots__ = ("_exceptions",)

    def __init__(self, *exceptions: type[BaseException]) -> None:
        self._exceptions = exceptions

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        return exc_type is not None and issubclass(exc_type, self._exceptions)
