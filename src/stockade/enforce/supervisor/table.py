"""The supervisor's handler table, importing only the handler modules a launch routes to.

A plain `run` routes chmod, chown, utime*, xattrs, listen, connect, the send family and the
credential calls: the open/exec handlers (handlers/open_exec.py), mmap (handlers/mmap.py) and
the name changes (handlers/fs.py), with the module-stack helpers they import, are loaded only
where a module stack routes them. Whatever is loaded here is loaded before the supervisor
thread Landlock-restricts itself (it cannot open files after).
"""

from __future__ import annotations

from collections.abc import Iterable

from stockade.enforce.supervisor.routing import EXEC, NAMESPACE, OPEN

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from stockade.enforce.supervisor.loop import Handler

#: the system calls whose handlers live in handlers/open_exec.py, mmap.py and fs.py (imported only for
#: them): no plain run routes them
STACK_FAMILY = frozenset({*OPEN, *EXEC, *NAMESPACE, "mmap", "mprotect", "pkey_mprotect",
                          "personality"})


def handlers_for(names: Iterable[str] | None) -> dict[str, Handler]:
    """The handler of each routed system call in `names` (None: of every system call).

    A name without a handler is left out: the supervisor denies it (fail closed)."""
    from stockade.enforce.supervisor.handlers import attr, other, owner, send, signals

    table: dict[str, Handler] = {**owner.HANDLERS, **attr.HANDLERS, **other.HANDLERS,
                                 **send.HANDLERS, **signals.HANDLERS}
    wanted = None if names is None else set(names)
    if wanted is None or wanted & STACK_FAMILY:
        from stockade.enforce.supervisor.handlers import fs, mmap, open_exec

        table.update({**open_exec.HANDLERS, **fs.HANDLERS, **mmap.HANDLERS})
    return table if wanted is None else {n: fn for n, fn in table.items() if n in wanted}
