"""Building a large profile without the cyclic garbage collector.

Parsing, compiling and planning make millions of small objects that all live until the
result is made; the collector's passes walked them again and again (0.3-0.75 s of a
100,000-rule profile) and found nothing: a build makes no reference cycles
(tests/enforce/test_plan_scale.py checks that `gc.collect()` finds nothing after builds of
many rule kinds and a failing one), so its memory is what reference counting frees.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Run the body with the cyclic collector off; its state is restored afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
