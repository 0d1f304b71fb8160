"""Progress of long work, on a terminal only (tqdm, on stderr).

Every command uses this one module: `counter` for work with a count (records imported, files
checked, events observed), `activity` for work without one (importing an SELinux policy).
Nothing is shown when stderr is not a terminal, or after `quiet()` (`--json`, `-q`); a bar
appears only when the work lasts longer than DELAY seconds and refreshes at most 4 times
a second (STOCKADE_PROGRESS_DELAY changes the delay). tqdm is imported only when a bar may
be shown.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

DELAY = 0.5        # seconds before anything is shown: quick work stays silent
INTERVAL = 0.25    # at most ~4 refreshes a second

_quiet = False


def quiet(value: bool = True) -> None:
    """Show no progress in this process (`--json`, `-q`, a machine reading stderr)."""
    global _quiet
    _quiet = value


def delay() -> float:
    """Seconds before a bar appears: DELAY, or $STOCKADE_PROGRESS_DELAY (0: at once)."""
    try:
        return max(0.0, float(os.environ.get("STOCKADE_PROGRESS_DELAY", DELAY)))
    except ValueError:
        return DELAY


def enabled() -> bool:
    """Whether progress may be shown: stderr is a terminal and nobody asked for quiet."""
    if _quiet:
        return False
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):
        return False


def _tqdm() -> Any:
    """tqdm's bar class, or None where it is not installed (progress is a nicety: an older
    environment shows none rather than failing)."""
    try:
        from tqdm import tqdm

        # no monitor thread: a thread that does not block SIGCHLD would take the signal the
        # launcher waits for (enforce/launcher.py)
        tqdm.monitor_interval = 0
    except ImportError:
        return None
    return tqdm


def _stream() -> Any:
    """stderr below main's HumanStream: tqdm's carriage returns are ours, not a name's."""
    return getattr(sys.stderr, "_stream", sys.stderr)


class Counter:
    """A count shown with its elapsed time and rate (`update(n)`), or nothing at all."""

    def __init__(self, description: str, *, unit: str = "it", total: int | None = None,
                 show: bool = True) -> None:
        self._bar: Any = None
        tqdm = _tqdm() if show and enabled() else None
        if tqdm is not None:
            self._bar = tqdm(desc=description, unit=unit, total=total, file=_stream(),
                             delay=delay(), mininterval=INTERVAL, leave=False,
                             dynamic_ncols=True, unit_scale=total is None)

    @property
    def shown(self) -> bool:
        """Whether a bar is shown (else every call does nothing)."""
        return self._bar is not None

    def update(self, n: int = 1) -> None:
        """Add `n` to the count."""
        if self._bar is not None:
            self._bar.update(n)

    def set_count(self, n: int) -> None:
        """Show `n` as the count (for work that counts by itself)."""
        if self._bar is not None and n != self._bar.n:
            self._bar.update(n - self._bar.n)

    def wrap(self, items: Iterable[T]) -> Iterable[T]:
        """`items`, counted as they are consumed (unchanged when nothing is shown)."""
        if self._bar is None:
            return items
        return self._counted(items)

    def _counted(self, items: Iterable[T]) -> Iterator[T]:
        update = self._bar.update
        for item in items:
            yield item
            update(1)

    def close(self) -> None:
        """Remove the bar (the command's own output follows)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Counter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: `with counter(...) as bar:` a `Counter` for the duration of the block (it closes itself)
counter = Counter


def iterate(items: Iterable[T], description: str, *, unit: str = "it",
            total: int | None = None, show: bool = True) -> Iterable[T]:
    """`items`, counted on the terminal as they are consumed (unchanged when nothing is
    shown: a pipe pays nothing)."""
    if not (show and enabled()):
        return items
    return _iterate(items, description, unit, total)


def _iterate(items: Iterable[T], description: str, unit: str, total: int | None
             ) -> Iterator[T]:
    with counter(description, unit=unit, total=total) as bar:
        yield from bar.wrap(items)


@contextlib.contextmanager
def activity(description: str, *, show: bool = True) -> Iterator[None]:
    """Elapsed time of work without a count (shown only past DELAY seconds)."""
    tqdm = _tqdm() if show and enabled() else None
    if tqdm is None:
        yield
        return
    bar = tqdm(desc=description, bar_format="{desc}: {elapsed}", file=_stream(),
               delay=24 * 3600, leave=False)  # drawn by the ticker below, never at creation
    stop = threading.Event()
    start = time.monotonic()

    wait = delay()

    def tick() -> None:
        while True:
            if time.monotonic() - start >= wait:
                bar.refresh()
            if stop.wait(INTERVAL):
                return

    thread = threading.Thread(target=tick, name="stockade-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        bar.close()
