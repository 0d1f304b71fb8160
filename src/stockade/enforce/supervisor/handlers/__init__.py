"""The supervisor's handlers, one module per family of system calls, and the table of every
handler by system call name.

Each handler answers its notification exactly once (or not at all when the target vanished):
deny with an errno, emulate and inject/return the result, or continue. docs/supervisor.md says
which, per system call, and why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stockade.enforce.supervisor.handlers import attr, fs, mmap, open_exec, other, send
from stockade.enforce.supervisor.handlers.open_exec import EXEC_HOOKS

if TYPE_CHECKING:
    from stockade.enforce.supervisor.loop import Handler

HANDLERS: dict[str, Handler] = {
    **open_exec.HANDLERS, **fs.HANDLERS, **attr.HANDLERS, **other.HANDLERS, **send.HANDLERS,
    **mmap.HANDLERS,
}

__all__ = ["EXEC_HOOKS", "HANDLERS"]
