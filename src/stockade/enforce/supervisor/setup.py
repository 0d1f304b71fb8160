"""Build a Supervisor for `stockade run --mode enforce|complain|learn` from command-line values."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from stockade.enforce.supervisor.loop import Supervisor
from stockade.enforce.supervisor.routing import INVALIDATE, routed_syscalls
from stockade.errors import StockadeError, UsageError
from stockade.lsm.module import Mode

if TYPE_CHECKING:  # the plain-run (hybrid) path imports neither the sinks nor every module
    from stockade.audit.sinks import Auditor

MODES = ("enforce", "complain", "learn")


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Every signal blocked while the supervisor starts its helper thread: the thread inherits
    the mask, so a signal sent to `stockade run` reaches the launcher's sigwaitinfo (which
    forwards it) instead of killing the process from the helper thread."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def parse_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`["selinux.policy_paths=[\\"a.cil\\"]", "biba.default_level=high"]` -> settings per module
    (the value is JSON when it parses as JSON, else a string)."""
    settings: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        module, dot, name = key.partition(".")
        if not sep or not dot or not module or not name:
            raise UsageError(f"--module-option expects MODULE.KEY=VALUE, not {item!r}")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        settings.setdefault(module, {})[name] = value
    return settings


@dataclass
class SupervisorSetup:
    """A supervisor, what it routes, and the files it writes."""

    supervisor: Supervisor
    routed: set[str]
    auditor: Auditor | None = None
    learn_file: IO[str] | None = None
    notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        """Flush and close the audit and learn files."""
        if self.auditor is not None:
            self.auditor.close()
        if self.learn_file is not None:
            self.learn_file.close()


def build(mode: str, lsm: str | None = None, contexts: Sequence[str] = (),
          options: Sequence[str] = (), audit_path: str | None = None,
          learn_path: str | None = None, module_files: Sequence[str] = ()) -> SupervisorSetup:
    """The stack for `lsm` in `mode`, its supervisor, and the system calls to route to it."""
    from stockade.audit.sinks import Auditor, JsonlSink
    from stockade.enforce.supervisor.observe import JsonlObserver
    from stockade.modules.labels import parse_contexts
    from stockade.modules.programmable import load_module_files, lsm_with
    from stockade.modules.registry import DEFAULT_LSM, build_stack

    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "learn" and not learn_path:
        raise UsageError("--mode learn needs --learn FILE (where observations go)")
    lsm = lsm or DEFAULT_LSM
    extra = load_module_files(module_files) if module_files else {}
    lsm = lsm_with(lsm, extra)
    names = ["capability", *[n.strip() for n in lsm.split(",") if n.strip()]]
    modes = {n: Mode.COMPLAIN for n in names} if mode != "enforce" else {}
    auditor: Auditor | None = None
    learn_file: IO[str] | None = None
    try:
        if audit_path:
            try:
                auditor = Auditor([JsonlSink(audit_path)])
            except OSError as err:
                raise StockadeError(f"cannot open audit file {audit_path}: {err.strerror}") from None
        # the kernel applies DAC to the target itself, and to the supervisor's emulated calls
        # (made with the target's credentials): the stack models only the LSM layers
        stack = build_stack(lsm, settings=parse_options(options), modes=modes, dac=False,
                            audit_sink=auditor, extra=extra)
        observer = None
        if learn_path:
            try:
                learn_file = open(learn_path, "a", encoding="utf-8")  # noqa: SIM115
            except OSError as err:
                raise StockadeError(f"cannot open {learn_path}: {err.strerror}") from None
            observer = JsonlObserver(learn_file)
        with _signals_blocked():
            supervisor = Supervisor(stack, mode=mode, observer=observer, audit_sink=auditor,
                                    contexts=parse_contexts(contexts))
    except BaseException:
        if auditor is not None:
            auditor.close()
        if learn_file is not None:
            learn_file.close()
        raise
    routed = routed_syscalls(stack, observe_all=mode == "learn")
    return SupervisorSetup(supervisor, routed, auditor, learn_file)


def build_hybrid(audit_path: str | None = None) -> SupervisorSetup:
    """The small supervisor of a plain `run` / `run -p`: no modules beyond capability, only the
    plan's user-notif rules (chmod, chown, utime*, xattrs, listen: what Landlock does not
    mediate) and the credential calls that keep its view of the task current."""
    from stockade.lsm.stack import Stack
    from stockade.modules.capability import Capability

    auditor: Auditor | None = None
    try:
        if audit_path:
            from stockade.audit.sinks import Auditor, JsonlSink

            try:
                auditor = Auditor([JsonlSink(audit_path)])
            except OSError as err:
                raise StockadeError(f"cannot open audit file {audit_path}: {err.strerror}") from None
        stack = Stack.from_lsm("capability", {"capability": Capability}, dac=None,
                               audit_sink=auditor)
        with _signals_blocked():
            supervisor = Supervisor(stack, mode="enforce", audit_sink=auditor)
    except BaseException:
        if auditor is not None:
            auditor.close()
        raise
    return SupervisorSetup(supervisor, set(INVALIDATE), auditor)
