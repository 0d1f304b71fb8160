"""Build a Supervisor for `stockade run --mode enforce|complain|learn` from command-line values."""

from __future__ import annotations

import _signal as signal  # signal's C core: no enum conversions (start-up)
import os
from collections.abc import Callable, Sequence

from stockade.enforce.supervisor.loop import Supervisor
from stockade.enforce.supervisor.routing import INVALIDATE, routed_syscalls
from stockade.errors import StockadeError, UsageError
from stockade.lsm.module import Mode
from stockade.suppress import suppress

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:  # the plain-run (hybrid) path imports neither the sinks nor every module
    from typing import IO, Any

    from stockade.audit.sinks import Auditor
    from stockade.enforce.output_file import RecordFile
    from stockade.enforce.plan.types import EnforcementPlan
    from stockade.modules.selinux.hostconfig import HostPolicy

    #: where a file goes: a path, a descriptor the caller opened safely, or its RecordFile
    #: (`run` opens --audit and --learn with O_NOFOLLOW, checked regular and outside the
    #: grants, and counts the records its RecordFile could not write); the build owns it then
    Output = str | int | RecordFile | None

MODES = ("enforce", "complain", "learn")


class _SignalsBlocked:
    """Every signal blocked while the supervisor starts its helper thread: the thread inherits
    the mask, so a signal sent to `stockade run` reaches the launcher's sigwaitinfo (which
    forwards it) instead of killing the process from the helper thread."""

    __slots__ = ("_old",)

    def __enter__(self) -> None:
        self._old = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())

    def __exit__(self, *exc: object) -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, self._old)


class SupervisorSetup:
    """A supervisor, what it routes, and the files it writes."""

    __slots__ = ("auditor", "learn_file", "notes", "on_close", "routed", "supervisor")

    def __init__(self, supervisor: Supervisor, routed: set[str], auditor: Auditor | None = None,
                 learn_file: IO[str] | RecordFile | None = None) -> None:
        self.supervisor = supervisor
        self.routed = routed
        self.auditor = auditor
        self.learn_file = learn_file
        self.notes: list[str] = []
        self.on_close: list[Callable[[], None]] = []

    def close(self) -> None:
        """Run the closing steps (a learned TOMOYO policy is written), flush and close the
        audit and learn files."""
        for step in self.on_close:
            step()
        self.on_close.clear()
        if self.auditor is not None:
            self.auditor.close()
        if self.learn_file is not None:
            self.learn_file.close()


def _given(out: Output) -> bool:
    return not isinstance(out, str | None) or bool(out)


def _close_descriptors(*outs: Output) -> None:
    from stockade.enforce.output_file import RecordFile  # not before: a plain run has none

    for out in outs:
        if isinstance(out, RecordFile):
            out.close()
        elif isinstance(out, int):
            with suppress(OSError):
                os.close(out)


def _open_auditor(audit: Output) -> Auditor | None:
    """The audit sink of `--audit FILE` (None without one); a clear error if it cannot open."""
    if not _given(audit):
        return None
    from stockade.audit.sinks import Auditor, JsonlSink
    from stockade.enforce.output_file import RecordFile

    if isinstance(audit, int):  # never reopened by path: that could be another file by now
        return Auditor([JsonlSink(os.fdopen(audit, "a", encoding="utf-8"))])
    if isinstance(audit, RecordFile):  # its losses are counted, and reported by `run`
        return Auditor([JsonlSink(audit)])  # type: ignore[arg-type]
    assert audit is not None
    try:
        return Auditor([JsonlSink(audit)])
    except OSError as err:
        raise StockadeError(f"cannot open audit file {audit}: {err.strerror}") from None


def _open_learn(learn: str | int | RecordFile, truncate: bool) -> IO[str] | RecordFile:
    """The learn file (a path, a descriptor or a RecordFile), emptied first if `truncate`."""
    from stockade.enforce.output_file import RecordFile

    try:
        if isinstance(learn, RecordFile):
            if truncate:
                os.ftruncate(learn.fd, 0)
            return learn
        if isinstance(learn, int):
            if truncate:
                os.ftruncate(learn, 0)
            return os.fdopen(learn, "a", encoding="utf-8")
        return open(learn, "w" if truncate else "a", encoding="utf-8")
    except OSError as err:
        raise StockadeError(f"cannot open {learn}: {err.strerror}") from None


def build(mode: str, lsm: str | None = None, contexts: Sequence[str] = (),
          options: Sequence[str] = (), audit_path: Output = None,
          learn_path: Output = None, module_files: Sequence[str] = (),
          judged: EnforcementPlan | None = None,
          host_policy: HostPolicy | None = None) -> SupervisorSetup:
    """The stack for `lsm` in `mode` (modules/stack_spec.py: as `explain` builds it from the
    same flags; `host_policy` for a selinux module given no policy), its supervisor, and the
    system calls to route to it.

    `audit_path` and `learn_path` are paths or open descriptors (owned from here on).
    `judged` (complain mode with a profile): the profile's plan, asked about every access the
    supervisor sees; what it would refuse is recorded as an ALLOWED record (complain.py).
    """
    from stockade.enforce.supervisor.observe import JsonlObserver
    from stockade.modules.stack_spec import stack_spec

    auditor: Auditor | None = None
    learn_file: IO[str] | RecordFile | None = None
    try:
        if mode not in MODES:
            raise UsageError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode == "learn" and not _given(learn_path):
            raise UsageError("--mode learn needs --learn FILE (where observations go)")
        if "selinux" in (lsm or "") or host_policy is not None:
            from stockade.enforce.plan.cache import dumps

            dumps.install()  # a binary policy's SETools dump, cached authenticated
        spec = stack_spec(lsm, contexts, options, module_files, host_policy=host_policy)
        names = ["capability", *spec.names()]
        modes = {n: Mode.COMPLAIN for n in names} if mode != "enforce" else {}
        auditor = _open_auditor(audit_path)
        audit_path = None  # owned by the auditor now
        # the kernel applies DAC to the target itself, and to the supervisor's emulated calls
        # (made with the target's credentials): the stack models only the LSM layers
        initial = spec.contexts
        tomoyo = "tomoyo" in names
        if tomoyo:  # the program's own exec lands in the --context domain; learn mode learns
            initial = _tomoyo_settings(spec.settings.setdefault("tomoyo", {}), initial, mode)
        stack = spec.build(modes=modes, dac=False, audit_sink=auditor)
        observer = None
        if learn_path is not None and _given(learn_path):
            learn_file = _open_learn(learn_path, truncate=tomoyo)
            learn_path = None  # owned by learn_file now
            observer = None if tomoyo else JsonlObserver(learn_file)
        with _SignalsBlocked():
            supervisor = Supervisor(stack, mode=mode, observer=observer, audit_sink=auditor,
                                    contexts=initial, serving=())  # supervised_launch adds what it routes
        if judged is not None:
            from stockade.enforce import landlock
            from stockade.enforce.supervisor.complain import ProfileJudge

            supervisor.judge = ProfileJudge(
                judged, landlock.abi_version(), judged.name,
                auditor.write_record if auditor is not None else None)
    except BaseException:
        _close_descriptors(audit_path, learn_path)  # those not yet owned by a file object
        if auditor is not None:
            auditor.close()
        if learn_file is not None:
            learn_file.close()
        raise
    routed = routed_syscalls(stack, observe_all=mode == "learn" or judged is not None)
    setup = SupervisorSetup(supervisor, routed, auditor, learn_file)
    if spec.host_policy is not None:
        setup.notes.append(f"selinux uses the {spec.host_policy.describe()}")
    if tomoyo and learn_file is not None:
        module = stack.module("tomoyo")
        out = learn_file
        setup.on_close.append(lambda: out.write(module.domain_policy_text()))  # type: ignore[attr-defined]
    return setup


def build_hybrid(audit_path: Output = None) -> SupervisorSetup:
    """The small supervisor of a plain `run` / `run -p`: no modules beyond capability, only the
    plan's user-notif rules (chmod, chown, utime*, xattrs, listen: what Landlock does not
    mediate) and the credential calls that keep its view of the task current."""
    from stockade.lsm.stack import Stack
    from stockade.modules.capability import Capability

    auditor: Auditor | None = None
    try:
        auditor = _open_auditor(audit_path)
        audit_path = None
        stack = Stack.from_lsm("capability", {"capability": Capability}, dac=None,
                               audit_sink=auditor)
        with _SignalsBlocked():
            supervisor = Supervisor(stack, mode="enforce", audit_sink=auditor,
                                    serving=())  # supervised_launch adds what it routes
    except BaseException:
        _close_descriptors(audit_path)
        if auditor is not None:
            auditor.close()
        raise
    return SupervisorSetup(supervisor, set(INVALIDATE), auditor)


def _tomoyo_settings(settings: dict[str, Any], initial: tuple[tuple[str, str], ...],
                     mode: str) -> tuple[tuple[str, str], ...]:
    """TOMOYO under `run`: a --context domain is where the program's exec lands (the launcher
    itself is `<kernel>`), and --mode learn puts every domain in learning mode."""
    if mode == "learn":
        settings.setdefault("force_mode", "learning")
    for module, label in initial:
        if module == "tomoyo":
            settings["launch_domain"] = label
    return tuple(pair for pair in initial if pair[0] != "tomoyo")
