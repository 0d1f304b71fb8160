"""fork -> confine the child -> execve; the parent forwards signals and returns the status.

Child, in this order: parent-death signal, no_new_privs, capabilities, Landlock
restrict_self, default signal dispositions and mask, seccomp last (it may refuse the calls
before it), then execve. Every step is a system call on objects `prepare` built before fork,
so the child of this single-threaded Python process never allocates kernel objects, opens
paths, or runs libseccomp. The rules that need the child's pid (its own /proc/PID,
enforce/plan/proc.py) are added to the shared ruleset by the parent, before the `go` byte.
A failure before exec travels to the parent over a close-on-exec pipe as `stage, errno`, and
becomes one line and exit status 127 (command not found), 126 (cannot execute) or 125
(confinement failed); the command never runs unconfined. The child's steps run in C where
the extension is built (enforce/spawn.py: no Python between fork and exec), else in `_child`;
tests/enforce/test_spawn.py holds the two to the same result.

Parent: blocks every catchable signal but SIGTTIN/SIGTTOU before fork and takes them with
sigwaitinfo, so none is lost between fork and exec and none kills the launcher (which would
leave the program unwatched). A signal sent by a process (kill(1), systemd, a supervisor,
SIGALRM, real-time signals) is forwarded to the child; a signal from the terminal (si_code
SI_KERNEL: ^C, ^\\, ^Z, window resize, hangup) already reached the child if it is still in our
(foreground) process group, and is not sent twice. SIGTSTP also stops the launcher. Stdin,
stdout, stderr and the terminal are inherited; the terminal's settings (termios: echo,
canonical mode, signal keys...) of each of fds 0-2 that is a terminal are saved before fork
and put back when the program ends, whatever way it ends (`TerminalState`). The window size
is not put back: the terminal may have been resized meanwhile, and that size must win.
"""

from __future__ import annotations

import _signal as signal  # signal's C core: no enum conversions (start-up)
import errno
import os
import sys
from collections.abc import Callable, Iterable, Sequence

from stockade.enforce import caps, landlock, prctl
from stockade.enforce.prepare import SETUP_FAILED_EXIT, Prepared
from stockade.errors import StockadeError
from stockade.suppress import suppress

#: never caught (KILL, STOP), or sent by the kernel to the process that touches the
#: terminal from the background (TTIN, TTOU: the launcher does not)
_NOT_WATCHED = {signal.SIGKILL, signal.SIGSTOP, signal.SIGTTIN, signal.SIGTTOU}
#: every signal the launcher takes with sigwaitinfo while the program runs, so that none can
#: kill it (and leave the program unwatched and its status record behind): all but the above
FORWARDED_SIGNALS: tuple[int, ...] = tuple(sorted(
    s for s in signal.valid_signals() if s not in _NOT_WATCHED))
#: about the launcher's own writes and CPU time when the kernel sends them: not forwarded then
_OWN = {signal.SIGPIPE, signal.SIGXFSZ, signal.SIGXCPU}
#: Python ignores these at start-up; a program expects the default.
_RESET_TO_DEFAULT = (signal.SIGPIPE, signal.SIGXFSZ)
SI_KERNEL = 0x80
_FROM_A_PROCESS = (0, -1, -6)  # SI_USER (kill), SI_QUEUE (sigqueue), SI_TKILL (tgkill)
COMMAND_NOT_FOUND_EXIT = 127
CANNOT_EXECUTE_EXIT = 126


class LaunchError(StockadeError):
    """The child could not be confined or could not execute the command."""


TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:  # a Protocol is for the type checker only
    from typing import Protocol

    from stockade.enforce.seccomp import BpfProgram

    class ChildHook(Protocol):
        """How a supervisor takes part in a launch (enforce/supervisor/session.py).

        `fork(start)` calls `start(handover)` (in whatever thread the supervisor needs), which
        forks the child and returns its pid; the child runs `handover.in_child()` (or its C
        equivalent) after its signal step, before the plan's seccomp filter (`Handover`).
        """

        def fork(self, start: Callable[[Handover | None], int]) -> int:
            """Call `start` where the child must be forked; return the child's pid."""
            ...


class Handover:
    """The child's last step before the plan's seccomp filter and exec, for a supervisor:
    dumpable (so that a supervisor without CAP_SYS_PTRACE may read its memory before exec),
    the notification filter loaded with `flags` (`fallback_flags` on a kernel that refuses
    them), the listener fd sent to the supervisor over the socket `sock`, and our copies
    closed (the target must never hold its own listener). `other`, the supervisor's end of the
    socket, is closed first. The C child (enforce/spawn.py) does the same; a subclass with its
    own `in_child` runs the Python child."""

    __slots__ = ("fallback_flags", "flags", "other", "program", "sock")

    def __init__(self, program: BpfProgram, sock: int, other: int, flags: int,
                 fallback_flags: int) -> None:
        self.program = program
        self.sock = sock
        self.other = other
        self.flags = flags
        self.fallback_flags = fallback_flags

    def in_child(self) -> None:
        """Runs in the child (Python); raises OSError."""
        prctl.prctl(prctl.PR_SET_DUMPABLE, 1)
        try:
            fd = self.program.load(self.flags)
        except OSError:  # e.g. before 5.19: no WAIT_KILLABLE_RECV
            fd = self.program.load(self.fallback_flags)
        # Only write and read here: the filter may route sendmsg (pathname unix datagrams),
        # which would wait for the very supervisor that is waiting for this descriptor. The
        # supervisor takes the listener with pidfd_getfd, then says so.
        os.write(self.sock, fd.to_bytes(4, sys.byteorder, signed=True))
        os.read(self.sock, 1)
        os.close(fd)
        os.close(self.sock)


class TerminalState:
    """The termios settings of the terminals on fds 0-2 (one entry per terminal), to put back
    after the program, which shares them, ends."""

    def __init__(self) -> None:
        self.saved: list[tuple[int, list[object]]] = []
        seen: set[tuple[int, int]] = set()
        for fd in (0, 1, 2):
            if not os.isatty(fd):
                continue
            import termios  # only with a terminal: a run without one does not load it

            try:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) in seen:
                    continue
                self.saved.append((fd, termios.tcgetattr(fd)))
                seen.add((st.st_dev, st.st_ino))
            except (OSError, termios.error):
                continue

    def restore(self) -> None:
        """Put the settings back where they changed, only while our process group is the
        terminal's foreground (a background launcher must not undo a foreground job's
        settings, nor be stopped by SIGTTOU)."""
        if not self.saved:
            return
        import termios

        for fd, attrs in self.saved:
            try:
                if os.tcgetpgrp(fd) != os.getpgrp() or termios.tcgetattr(fd) == attrs:
                    continue
                termios.tcsetattr(fd, termios.TCSANOW, attrs)
            except (OSError, termios.error):
                continue


def _candidates(command: str, env: dict[str, str]) -> list[str]:
    """Paths to try, in the order execvp(3) would (done in the parent, before fork)."""
    if "/" in command:
        return [command]
    path = env.get("PATH") or os.environ.get("PATH") or os.defpath
    return [os.path.join(d or ".", command) for d in path.split(os.pathsep)]


def which(command: str, path: str | None = None) -> str | None:
    """What shutil.which(command, path=path) gives, without importing shutil (with bz2, lzma
    and fnmatch: ~2 ms of a run's start-up): the first entry of `path` (else $PATH, else the
    system's default) that exists, may be executed and is not a directory; a command with a
    slash, itself if it is such a file."""
    def runnable(name: str) -> bool:
        return os.path.exists(name) and os.access(name, os.F_OK | os.X_OK) \
            and not os.path.isdir(name)

    if os.path.dirname(command):
        return command if runnable(command) else None
    if path is None:
        path = os.environ.get("PATH")
        if path is None:
            try:
                path = os.confstr("CS_PATH")
            except (AttributeError, ValueError):
                path = os.defpath
    if not path:
        return None
    seen: set[str] = set()
    for directory in path.split(os.pathsep):
        if directory not in seen:
            seen.add(directory)
            name = os.path.join(directory, command)
            if runnable(name):
                return name
    return None


def _child(prep: Prepared, argv: Sequence[str], paths: list[str], err_w: int,
           parent: int, old_mask: Iterable[int], go: tuple[int, int],
           handover: Handover | None = None) -> None:
    """Runs in the forked child; never returns. It execs only once the parent wrote a byte
    to the `go` pipe (after `before_exec`); end of file there means: give up."""
    stage = "setup"
    try:
        os.close(go[1])
        if prep.plan.die_with_parent:
            stage = "prctl(PR_SET_PDEATHSIG)"
            prctl.set_pdeathsig(signal.SIGKILL)
            if os.getppid() != parent:  # the parent died before the prctl
                os._exit(SETUP_FAILED_EXIT)
        stage = "waiting for the launcher"  # before seccomp: a filter may not allow read
        if _read_byte(go[0]) != b"g":
            os._exit(SETUP_FAILED_EXIT)  # the launcher gave up (it says why)
        os.close(go[0])
        stage = "prctl(PR_SET_NO_NEW_PRIVS)"
        prctl.set_no_new_privs()
        stage = "capabilities"
        caps.restrict_to(prep.keep_caps, prep.trim_bounding, prep.raise_ambient,
                         prep.lock_securebits)
        if prep.ruleset_fd >= 0:
            stage = "landlock_restrict_self"
            landlock.restrict_self(prep.ruleset_fd, landlock.RestrictFlag(prep.restrict_flags))
            os.close(prep.ruleset_fd)
        if prep.plan.rlimits:
            stage = "setrlimit"
            _lower_rlimits(prep.plan.rlimits)
        stage = "signals"
        for sig in FORWARDED_SIGNALS:  # a handler (Python's, or one set outside Python: None)
            if signal.getsignal(sig) not in (signal.SIG_DFL, signal.SIG_IGN):
                signal.signal(sig, signal.SIG_DFL)
        for sig in _RESET_TO_DEFAULT:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        if handover is not None:
            # before the main filter: an allow list need not allow seccomp(2) and the fd
            # hand-over; the kernel takes the strictest answer of the two whatever the order
            stage = "seccomp user notification"
            handover.in_child()
        if prep.bpf is not None:
            stage = "seccomp"
            prep.bpf.load(prep.seccomp_flags)
        stage = "exec"
        saved: OSError | None = None  # as execvp(3): EACCES wins if nothing else ran
        last: OSError | None = None
        for path in paths:
            try:
                os.execve(path, list(argv), prep.env)
            except OSError as err:
                last = err
                if err.errno == errno.EACCES:
                    saved = err
                elif err.errno not in (errno.ENOENT, errno.ENOTDIR):
                    raise
        raise saved or last or OSError(errno.ENOENT, os.strerror(errno.ENOENT))
    except OSError as err:
        _report(err_w, stage, err.errno or 0)
    except BaseException:
        _report(err_w, stage, 0)
    finally:
        os._exit(SETUP_FAILED_EXIT)


def _lower_rlimits(limits: dict[int, int]) -> None:
    """Lower each hard limit to the plan's (never raise it) and the soft limit to match."""
    import resource  # loaded by the parent before fork (start): no import system work here

    inf = resource.RLIM_INFINITY
    for res, limit in limits.items():
        soft, hard = resource.getrlimit(res)
        if limit != inf and (hard == inf or limit < hard):
            hard = limit
        if hard != inf and (soft == inf or soft > hard):
            soft = hard
        resource.setrlimit(res, (soft, hard))


def _report(fd: int, stage: str, err: int) -> None:
    try:
        os.write(fd, f"{stage}\0{err}".encode())
    finally:
        code = SETUP_FAILED_EXIT
        if stage == "exec":
            code = COMMAND_NOT_FOUND_EXIT if err == errno.ENOENT else CANNOT_EXECUTE_EXIT
        os._exit(code)


def _eacces_hint(command: str) -> str:
    """Why execve said EACCES: a file without execute permission, else (likely) Landlock."""
    path = command if "/" in command else which(command)
    if path and os.path.isfile(path) and (not os.stat(path).st_mode & 0o111
                                          or not os.access(path, os.X_OK)):
        return " (the file has no execute permission)"
    if path:
        where = os.path.dirname(os.path.realpath(path))
        return (f" (no Landlock execute right on {path}? grant it with --rx {where}; its ELF "
                "loader and libraries need read and execute too, e.g. --rx /usr)")
    return " (no Landlock execute right on it?)"


def _error(message: bytes, command: str) -> LaunchError:
    stage, _, num = message.decode(errors="replace").partition("\0")
    err = int(num) if num.isdigit() else 0
    why = os.strerror(err) if err else "unexpected error"
    if stage == "exec":
        if err == errno.ENOENT:
            text = f"{command}: command not found" if "/" not in command else \
                f"{command}: No such file or directory"
            return LaunchError(text, COMMAND_NOT_FOUND_EXIT)
        hint = _eacces_hint(command) if err == errno.EACCES else ""
        return LaunchError(f"cannot execute {command}: {why}{hint}", CANNOT_EXECUTE_EXIT)
    return LaunchError(f"cannot confine {command}: {stage} failed: {why}", SETUP_FAILED_EXIT)


def exit_status(wait_status: int) -> int:
    """Shell-style status: the exit code, or 128+N for death by signal N."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)


def _read_byte(fd: int) -> bytes:
    while True:
        try:
            return os.read(fd, 1)
        except InterruptedError:
            continue


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def launch(prep: Prepared, argv: Sequence[str], *,
           on_started: Callable[[int], None] | None = None,
           hook: ChildHook | None = None,
           before_exec: Callable[[int], None] | None = None,
           after_exit: Callable[[], None] | None = None) -> int:
    """Run `argv` confined by `prep`; return its exit status (128+N after signal N).

    Raises LaunchError (exit_code 127, 126 or 125) when the child fails before exec.
    `before_exec(pid)` runs after fork and before the child may exec (the status record is
    written there, before any program code runs); if it raises, the child is killed and the
    exception propagates. `on_started(pid)` is called once the command is running. `hook`
    lets a supervisor fork the child and add its notification filter. `after_exit()` runs
    once the command has exited (`run` ends what it left there: enforce/leftovers.py).
    """
    if not argv:
        raise StockadeError("no command given", 2)
    paths = _candidates(argv[0], prep.env)
    watched = {*FORWARDED_SIGNALS, signal.SIGCHLD}
    terminal = TerminalState()
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    go = os.pipe2(os.O_CLOEXEC)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    try:
        parent = os.getpid()
        start = _starter(prep, argv, paths, err_r, err_w, go, parent, old_mask)
        try:
            pid = hook.fork(start) if hook is not None else start(None)
        except OSError as err:
            for fd in (err_r, err_w, *go):
                os.close(fd)
            raise LaunchError(f"cannot start {argv[0]}: fork failed: {err.strerror}",
                              SETUP_FAILED_EXIT) from None
        os.close(err_w)
        os.close(go[0])
        try:
            prep.grant_own_proc(pid)  # the child restricts itself only after `go`
        finally:
            prep.close()
        try:
            if before_exec is not None:
                before_exec(pid)
        except BaseException:
            os.close(go[1])
            os.close(err_r)
            _kill_and_reap(pid)
            raise
        with suppress(BrokenPipeError):  # the child already failed: it says why
            os.write(go[1], b"g")
        os.close(go[1])
        message = _read_all(err_r)
        os.close(err_r)
        if message:
            os.waitpid(pid, 0)
            raise _error(message, argv[0])
        if on_started is not None:
            try:
                on_started(pid)
            except BaseException:  # e.g. the audit record cannot be written: stop, fail closed
                _kill_and_reap(pid)
                raise
        status = _supervise(pid, watched)
        if after_exit is not None:
            after_exit()
        return status
    finally:
        terminal.restore()
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _starter(prep: Prepared, argv: Sequence[str], paths: list[str], err_r: int, err_w: int,
             go: tuple[int, int], parent: int,
             old_mask: Iterable[int]) -> Callable[[Handover | None], int]:
    """What forks the child: the C child (enforce/spawn.py) where it is built and takes this
    launch, else the Python child; either way the parent gets the pid, or OSError."""
    from stockade.enforce import spawn

    compiled = spawn.compiled_child(prep, argv, paths, err_r=err_r, err_w=err_w, go=go,
                                    parent=parent, old_mask=old_mask, reset=FORWARDED_SIGNALS,
                                    always_default=_RESET_TO_DEFAULT,
                                    securebits=caps.LOCKED_NOROOT)

    def start(handover: Handover | None) -> int:
        if compiled is not None and (handover is None or type(handover) is Handover):
            return compiled.start(handover)
        if prep.plan.rlimits:  # the Python child's setrlimit; a plain run sets none itself
            import resource  # noqa: F401

        pid = os.fork()
        if pid == 0:
            os.close(err_r)
            if handover is not None:
                os.close(handover.other)
            _child(prep, argv, paths, err_w, parent, old_mask, go, handover)
        return pid

    return start


def _kill_and_reap(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with suppress(ChildProcessError):
        os.waitpid(pid, 0)


def should_forward(si_signo: int, si_code: int, child_pgid: int | None,
                   si_pid: int = 0) -> bool:
    """Whether a signal the launcher received goes on to the child.

    SIGCHLD is ours, and so are SIGPIPE/SIGXFSZ/SIGXCPU unless another process sent them. A
    signal the terminal sent (si_code SI_KERNEL) went to the whole foreground process group,
    so a child still in our group already has it: sending it again would deliver ^C twice.
    Anything else sent by a process is forwarded (as tini and timeout(1) do).
    """
    if si_signo == signal.SIGCHLD:
        return False
    if si_signo in _OWN and (si_code not in _FROM_A_PROCESS or si_pid == os.getpid()):
        return False
    return not (si_code == SI_KERNEL and child_pgid == os.getpgrp())


_RECHECK_SECONDS = 0.5


def _supervise(pid: int, watched: set[int]) -> int:
    """Forward signals to `pid` until it exits; return its shell-style status.

    SIGTSTP (^Z, or kill -TSTP) stops the launcher too once forwarded, so that the shell's
    job control sees the job stop; SIGCONT resumes the launcher by itself and is forwarded.
    """
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return exit_status(status)
        # timed: a SIGCHLD taken by another thread that does not block it (a library's
        # helper thread) would otherwise leave us waiting for ever
        info = signal.sigtimedwait(watched, _RECHECK_SECONDS)
        if info is None or info.si_signo == signal.SIGCHLD:
            continue
        try:
            pgid: int | None = os.getpgid(pid)
        except ProcessLookupError:
            continue
        if should_forward(info.si_signo, info.si_code, pgid, info.si_pid):
            with suppress(ProcessLookupError):
                os.kill(pid, info.si_signo)
        if info.si_signo == signal.SIGTSTP:
            os.kill(os.getpid(), signal.SIGSTOP)
