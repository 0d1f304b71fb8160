"""The supervisor's handler table: a launch loads the handlers of what it routes, and only the
open/exec family pulls in the module-stack handlers."""

from __future__ import annotations

import subprocess
import sys

from stockade.enforce.defaults import hybrid_rules
from stockade.enforce.landlock import ALL_FS, ALL_NET
from stockade.enforce.plan_net import UNIX_PEER_SYSCALLS
from stockade.enforce.supervisor import handlers
from stockade.enforce.supervisor.routing import INVALIDATE
from stockade.enforce.supervisor.table import STACK_FAMILY, handlers_for


def test_every_handler_is_in_the_full_table() -> None:
    assert handlers_for(None) == handlers.HANDLERS


def test_a_subset_gets_the_same_handlers() -> None:
    names = {"chmod", "openat", "sendmsg", "setuid", "mmap", "no_such_call"}
    got = handlers_for(names)
    assert got == {n: handlers.HANDLERS[n] for n in names if n in handlers.HANDLERS}
    assert "no_such_call" not in got  # left out: the supervisor denies it


def test_plain_run_routes_nothing_of_the_stack_family() -> None:
    routed = {*INVALIDATE, *UNIX_PEER_SYSCALLS,
              *(r.syscall for r in hybrid_rules(ALL_FS, ALL_NET)), "sendto"}
    assert not routed & STACK_FAMILY
    assert routed <= set(handlers.HANDLERS)  # each one has its handler
    assert set(handlers_for(routed)) == routed


def test_the_hybrid_table_leaves_the_stack_handlers_unimported() -> None:
    code = ("import sys\n"
            "from stockade.enforce.supervisor.table import handlers_for\n"
            "handlers_for({'chmod', 'fchownat', 'setxattr', 'connect', 'sendmsg', 'setuid'})\n"
            "print(*(m in sys.modules for m in ('stockade.enforce.supervisor.handlers',"
            " 'stockade.enforce.supervisor.h_mmap', 'stockade.enforce.supervisor.h_fs',"
            " 'stockade.modules.labels', 'stockade.modules.dac')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False"] * 5
