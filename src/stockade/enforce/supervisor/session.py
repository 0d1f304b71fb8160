"""One supervised launch: the notification filter, the supervisor thread, the fd hand-over.

Order of events:
  parent (before fork): build the stack, compile the notification filter (NOTIFY for the routed
    system calls and for the plan's own user-notif rules, ALLOW otherwise);
  supervisor thread: unshare(CLONE_FS), Landlock-restrict itself with the plan's ruleset,
    fork the child;
  child: the launcher's confinement steps, then PR_SET_DUMPABLE 1 (so that a supervisor
    without CAP_SYS_PTRACE may read its memory before exec), load the notification filter with
    SECCOMP_FILTER_FLAG_NEW_LISTENER (and WAIT_KILLABLE_RECV where the kernel has it), send the
    listener fd to the supervisor over a socketpair with SCM_RIGHTS, close its own copy
    (the target must never hold its own listener), exec. The exec is itself notified, so it
    blocks until the supervisor serves the listener: no system call escapes.

If the supervisor dies, the kernel fails every notified call with ENOSYS for the tasks left,
and the direct child gets SIGKILL (PR_SET_PDEATHSIG, set by the launcher, follows the thread
that forked it, which is the supervisor thread).
"""

from __future__ import annotations

import _signal as signal  # signal's C core: no enum conversions (start-up)
import _socket as socket  # socket's C core: see handlers/other.py
import os
import struct
import threading
from collections.abc import Callable, Iterable

from stockade.enforce import landlock, launcher_guard, prctl
from stockade.enforce import seccomp as sc
from stockade.enforce.defaults import UNIX_PEER_SYSCALLS
from stockade.enforce.launcher import Handover
from stockade.enforce.plan.types import SeccompRule
from stockade.enforce.prepare import Prepared
from stockade.enforce.supervisor import refused_calls
from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.execve.race import CLONE_PARENT, LATER_WRITERS, SHARING_CLONES
from stockade.enforce.supervisor.loop import Supervisor
from stockade.enforce.supervisor.notify import (
    SECCOMP_FILTER_FLAG_NEW_LISTENER,
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
)
from stockade.enforce.supervisor.routing import EXEC_HOOKS, nesting_refused, routed_rules
from stockade.enforce.supervisor.target import CredSwitch
from stockade.errors import StockadeError
from stockade.suppress import suppress

#: RLIMIT_CORE of include/uapi/asm-generic/resource.h, which no architecture overrides (the
#: `resource` module is not loaded for one constant: start-up; tests/enforce/test_run_startup.py)
RLIMIT_CORE = 4


def notify_program(names: Iterable[str], rules: Iterable[SeccompRule] = ()) -> sc.BpfProgram:
    """The notification filter: NOTIFY for `names` and for `rules` (with their conditions).
    It refuses nothing itself: a refusal there would leave no record (refused_calls.py)."""
    with sc.SeccompFilter(sc.ALLOW, sc.errno_action(38)) as filt:
        for name in sorted(set(names)):
            try:
                nr = sc.resolve_syscall(name)
            except KeyError:
                continue
            if nr >= 0:
                filt.add_rule(sc.NOTIFY, nr)
        for rule in rules:
            try:
                nr = sc.resolve_syscall(rule.syscall)
            except KeyError:
                raise StockadeError(f"unknown system call {rule.syscall!r} in a user-notif rule") \
                    from None
            if nr >= 0 and rule.syscall not in names:
                filt.add_rule(sc.NOTIFY, nr, rule.conditions)
        return sc.BpfProgram(sc.guard_arch(filt.export_bpf(), sc.errno_action(38)))


class SupervisedLaunch:
    """The launcher's ChildHook: forks from the supervisor thread and serves the listener."""

    __slots__ = (
        "_pid",
        "_ready",
        "error",
        "program",
        "ruleset_fd",
        "supervisor",
        "thread",
    )

    def __init__(self, supervisor: Supervisor, program: sc.BpfProgram,
                 ruleset_fd: int = -1) -> None:
        self.supervisor = supervisor
        self.program = program
        self.ruleset_fd = ruleset_fd
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._pid = 0

    # -- supervisor thread ----------------------------------------------------------------

    def fork(self, start: Callable[[Handover | None], int]) -> int:
        """Start the supervisor thread, which forks with `start`; return the child's pid."""
        self.thread = threading.Thread(target=self._main, args=(start,), name="stockade-supervisor",
                                       daemon=True)
        self.thread.start()
        self._ready.wait()
        if not self._pid:
            err = self.error
            if isinstance(err, OSError):
                raise err
            raise OSError(0, f"supervisor failed to start: {err}")
        return self._pid

    def _main(self, start: Callable[[Handover | None], int]) -> None:
        sup = self.supervisor
        try:
            ksys.unshare_fs()
            if self.ruleset_fd >= 0:
                prctl.set_no_new_privs()
                landlock.restrict_self(self.ruleset_fd)
            sup.creds = CredSwitch()
            parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            try:
                pid = start(Handover(self.program, child_sock.fileno(), parent_sock.fileno(),
                                     flags, SECCOMP_FILTER_FLAG_NEW_LISTENER))
            finally:
                child_sock.close()
        except BaseException as err:
            self.error = err
            self._ready.set()
            return
        self._pid = pid
        self._ready.set()
        pidfd = -1
        try:
            data = parent_sock.recv(16)
            if len(data) != 4:  # the child failed before exec: the launcher reports why
                parent_sock.close()
                return
            pidfd = ksys.pidfd_open(pid)
            listener = ksys.pidfd_getfd(pidfd, struct.unpack("=i", data)[0])
            parent_sock.send(b"K")
            parent_sock.close()
            sup.run(sup.listener_for(listener))
        except BaseException as err:
            self.error = err
            sup.fatal = err
            if pidfd >= 0:  # fail closed now, not when this thread's exit is noticed
                with suppress(OSError):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        finally:
            if pidfd >= 0:
                os.close(pidfd)
            sup.close()  # closing the listener: ENOSYS for whatever is left

    def join(self, timeout: float | None = None) -> None:
        """Wait for the supervisor thread (it ends when no task uses the filter)."""
        if self.thread is not None:
            self.thread.join(timeout)


def exec_enforced_by_landlock(prep: Prepared) -> bool:
    """Whether the kernel (Landlock) enforces execute rules on the target."""
    return prep.ruleset_fd >= 0 and bool(prep.plan.handled_fs & landlock.AccessFs.EXECUTE)


def supervised_launch(prep: Prepared, supervisor: Supervisor, routed: Iterable[str],
                      argv: list[str], *, on_started: Callable[[int], None] | None = None,
                      before_exec: Callable[[int], None] | None = None,
                      after_exit: Callable[[], None] | None = None) -> int:
    """Launch `argv` under `prep` with `supervisor` deciding the routed system calls
    (`after_exit`: launcher.launch's, run before the supervisor stops)."""
    from stockade.enforce import launcher

    supervisor.exec_enforced = exec_enforced_by_landlock(prep)
    if supervisor.hooks:
        # A core dump is a file the kernel creates for the program with no system call of its
        # own, so no module decides it: where modules decide files, the program makes no dumps
        # (a hard limit of 0 cannot be raised without CAP_SYS_RESOURCE, which it lacks).
        prep.plan.rlimits[RLIMIT_CORE] = 0
    if prep.landlock_active:  # the plan's decision on what Landlock does not mediate
        from stockade.enforce.supervisor.plan_guard import PlanGuard

        supervisor.guard = PlanGuard(prep.plan, prep.landlock_abi, prep.real_paths)
    rules = [*prep.plan.notify_rules(),
             *routed_rules(supervisor.stack, observe_all=supervisor.watching)]
    if supervisor.guard is not None and prep.plan.handled_fs & landlock.AccessFs.WRITE_FILE:
        # pathname unix sockets: Landlock (ABI 7) has no connect right for them, and a
        # datagram's destination is in memory: the send family is emulated (handlers/send.py)
        routed = {*routed, *UNIX_PEER_SYSCALLS}
        rules = [*rules, SeccompRule("sendto", sc.NOTIFY, (sc.ArgCmp(4, sc.Cmp.NE, 0),),
                                     "a datagram with a destination address")]
    routed = {*routed, *nesting_refused({*routed, *(r.syscall for r in rules)})}
    refused: list[refused_calls.Refusal] = []
    if supervisor.mode == "enforce" and supervisor.hooks & EXEC_HOOKS:
        # exec is decided (exec_race.unsettled): no process may share what it reads
        refused = [*(("clone", (sc.ArgCmp(0, sc.Cmp.MASKED_EQ, mask, value),),
                      "a process sharing the caller's memory, files or cwd could change what "
                      "an exec the supervisor decides reads") for mask, value in SHARING_CLONES),
                   *((name, (), "the kernel could write the caller's memory after an exec "
                      "was decided") for name in LATER_WRITERS)]
    if supervisor.mode == "enforce" and supervisor.hooks:
        from stockade.enforce.leftovers import PR_SET_CHILD_SUBREAPER  # not on a plain run's path

        # a CLONE_PARENT child is its creator's sibling: its labels, found through its
        # lineage (target.TaskLabels), would skip its creator's (red team 8)
        # so is an orphan adopted by a child subreaper of the program's (red team 9): both
        # would take labels from an ancestor that is not the one they were forked from
        refused = [*refused, ("clone", (sc.ArgCmp(0, sc.Cmp.MASKED_EQ, CLONE_PARENT,
                                                  CLONE_PARENT),),
                              "a CLONE_PARENT child would take its labels from another "
                              "ancestor"),
                   ("prctl", (sc.ArgCmp(0, sc.Cmp.MASKED_EQ, 0xFFFFFFFF, PR_SET_CHILD_SUBREAPER),
                              sc.ArgCmp(1, sc.Cmp.NE, 0)),
                    "an orphan adopted by a child subreaper would take its labels from it"),
                   # rewrites the exe link and the address-space layout an exec is told by
                   # (execve/confirm.py); PR_SET_MM_MAP needs no privilege
                   ("prctl", (sc.ArgCmp(0, sc.Cmp.MASKED_EQ, 0xFFFFFFFF, prctl.PR_SET_MM),),
                    "PR_SET_MM rewrites the exe link an exec is confirmed by")]
    # refused by the supervisor, with a record each (refused_calls.py)
    rules = [*rules, *refused_calls.notify_rules(refused)]
    # the handlers of what is routed, imported now: the thread cannot open files once restricted
    supervisor.serve({*routed, *(r.syscall for r in rules)})
    if launcher_guard.needed(prep.plan.scopes, prep.landlock_abi):
        # calls naming a task the filter cannot tell from the launcher's threads
        from stockade.enforce.supervisor import launcher_check  # before the thread restricts itself

        rules = [*rules, *launcher_guard.notify_rules()]
        launcher_check.install(supervisor, os.getpid())
    refused_calls.install(supervisor, refused)
    program = notify_program(routed, rules)
    # the supervisor thread restricts itself with the ruleset: keep our own copy of the fd
    own = prep.supervisor_ruleset_fd if prep.supervisor_ruleset_fd >= 0 else prep.ruleset_fd
    ruleset = os.dup(own) if own >= 0 else -1
    hook = SupervisedLaunch(supervisor, program, ruleset)

    def started(pid: int) -> None:  # before the program may exec
        supervisor.tasks.labels.program_root = pid  # lineages count through it only
        if supervisor.guard is not None:
            supervisor.guard.program_started(pid)
        if supervisor.judge is not None:  # complain mode: the profile's own /proc too
            supervisor.judge.model.own_pid(pid)
        if before_exec is not None:
            before_exec(pid)

    try:
        return launcher.launch(prep, argv, on_started=on_started, hook=hook,
                               before_exec=started, after_exit=after_exit)
    finally:
        # tasks left behind (run --keep-running) lose the supervisor: ENOSYS from now on
        hook.join(2.0)
        supervisor.stop()
        hook.join(5.0)
        if ruleset >= 0:
            os.close(ruleset)
