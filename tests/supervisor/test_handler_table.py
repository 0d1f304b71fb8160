"""The supervisor's handler table: a launch loads the handlers of what it routes, and only the
open/exec family pulls in the module-stack handlers."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

from stockade.enforce.defaults import hybrid_rules
from stockade.enforce.landlock import ALL_FS, ALL_NET
from stockade.enforce.plan.net import UNIX_PEER_SYSCALLS
from stockade.enforce.supervisor import handlers
from stockade.enforce.supervisor.handlers import (
    attr,
    fs,
    mmap,
    open_exec,
    other,
    owner,
    send,
    signals,
)
from stockade.enforce.supervisor.routing import INVALIDATE
from stockade.enforce.supervisor.table import STACK_FAMILY, handlers_for

#: every handler module's table, merged
ALL = {**open_exec.HANDLERS, **fs.HANDLERS, **owner.HANDLERS, **attr.HANDLERS, **other.HANDLERS,
       **send.HANDLERS, **mmap.HANDLERS, **signals.HANDLERS}


def test_every_handler_is_in_the_full_table() -> None:
    assert handlers_for(None) == ALL
    # ALL above lists every module of the handlers package: a new one must join the table
    found = {m.name for m in pkgutil.iter_modules(handlers.__path__)
             if hasattr(importlib.import_module(f"{handlers.__name__}.{m.name}"), "HANDLERS")}
    assert found == {m.__name__.rsplit(".", 1)[1]
                     for m in (attr, fs, mmap, open_exec, other, owner, send, signals)}


def test_a_subset_gets_the_same_handlers() -> None:
    names = {"chmod", "openat", "sendmsg", "setuid", "mmap", "no_such_call"}
    got = handlers_for(names)
    assert got == {n: ALL[n] for n in names if n in ALL}
    assert "no_such_call" not in got  # left out: the supervisor denies it


def test_plain_run_routes_nothing_of_the_stack_family() -> None:
    routed = {*INVALIDATE, *UNIX_PEER_SYSCALLS,
              *(r.syscall for r in hybrid_rules(ALL_FS, ALL_NET)), "sendto"}
    assert not routed & STACK_FAMILY
    assert routed <= set(ALL)  # each one has its handler
    assert set(handlers_for(routed)) == routed


def test_the_hybrid_table_leaves_the_stack_handlers_unimported() -> None:
    code = ("import sys\n"
            "from stockade.enforce.supervisor.table import handlers_for\n"
            "handlers_for({'chmod', 'fchownat', 'setxattr', 'connect', 'sendmsg', 'setuid'})\n"
            "print(*(m in sys.modules for m in ('stockade.enforce.supervisor.handlers.open_exec',"
            " 'stockade.enforce.supervisor.handlers.mmap', 'stockade.enforce.supervisor.handlers.fs',"
            " 'stockade.modules.labels', 'stockade.modules.dac')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False"] * 5
