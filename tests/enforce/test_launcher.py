"""The launcher and `stockade run`: statuses, signals, errors before exec, pass-through."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from confine_helpers import STOCKADE, cli, confined, plan_with

from stockade.cli import main as cli_main
from stockade.enforce import defaults, launcher, prepare
from stockade.enforce import landlock as ll

BASE = ["run", "--rx", "/usr"]


def test_exit_status_propagates(user):
    assert confined(plan_with(), ["/bin/sh", "-c", "exit 7"], user=user).status == 7


def test_death_by_signal_is_128_plus_n(user):
    res = confined(plan_with(), ["/bin/sh", "-c", "kill -TERM $$"], user=user)
    assert res.status == 128 + signal.SIGTERM == 143


def test_cli_status_and_output(user):
    out = cli(*BASE, "--ro", "/etc", "--", "/bin/cat", "/etc/hostname", user=user)
    assert out.returncode == 0 and out.stdout == Path("/etc/hostname").read_text()
    denied = cli(*BASE, "--", "/bin/cat", "/etc/hostname", user=user)
    assert denied.returncode == 1 and "Permission denied" in denied.stderr


def test_command_not_found_is_127_one_line():
    out = cli(*BASE, "--", "no-such-command-xyz")
    assert out.returncode == 127
    assert out.stderr == "stockade run: no-such-command-xyz: command not found\n"


def test_not_executable_is_126_one_line():
    out = cli("run", "--ro", "/usr", "--", "/bin/true")
    assert out.returncode == 126
    assert out.stderr.startswith("stockade run: cannot execute /bin/true: Permission denied")
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1


def test_confinement_failure_in_child_never_runs_the_command(tmp_path):
    """A Landlock failure between fork and exec: one line, exit 125, command not run."""
    marker = tmp_path / "ran"
    prep = prepare.prepare(plan_with(rw=[str(tmp_path)]))
    os.close(prep.ruleset_fd)
    prep.ruleset_fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)  # not a ruleset
    with pytest.raises(launcher.LaunchError) as exc:
        launcher.launch(prep, ["/bin/touch", str(marker)])
    assert exc.value.exit_code == 125
    assert "landlock_restrict_self failed: File descriptor in bad state" in str(exc.value)  # EBADFD
    assert not marker.exists()


def test_stdin_passes_through():
    out = cli(*BASE, "--", "/bin/cat", input="through the wall\n")
    assert out.stdout == "through the wall\n"


def test_clear_env():
    env = {**os.environ, "SECRET_TOKEN": "s3cret"}
    kept = subprocess.run([*STOCKADE, *BASE, "--", "/usr/bin/env"], capture_output=True,
                          text=True, env=env)
    assert "SECRET_TOKEN=s3cret" in kept.stdout
    cleared = subprocess.run([*STOCKADE, *BASE, "--clear-env", "--", "/usr/bin/env"],
                             capture_output=True, text=True, env=env)
    assert cleared.returncode == 0
    assert "SECRET_TOKEN" not in cleared.stdout and "PATH=" in cleared.stdout


def _children(pid: int) -> list[int]:
    """The children of every thread of `pid` (the hybrid supervisor's thread may fork)."""
    try:
        return [int(p) for task in Path(f"/proc/{pid}/task").iterdir()
                for p in (task / "children").read_text().split()]
    except OSError:
        return []


@pytest.fixture
def waiting() -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts a launcher whose program loops until a signal ends it; whatever a failed test
    leaves running is ended (resumed, then SIGTERM, forwarded to the program): a looping
    program left behind denied reads for the rest of the run, and its kernel audit records
    crowded out later tests' (the kernel's printk rate limit)."""
    started: list[subprocess.Popen] = []

    def start(*extra: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [*STOCKADE, *BASE, *extra, "--", "/bin/sh", "-c",
             'trap "exit 42" USR1; trap "exit 43" HUP; echo ready; '
             "while :; do /usr/bin/sleep 0.02; done"],
            # a process group of its own whose parent (pytest) is in another group of the
            # same session: not orphaned, so the kernel does not discard the SIGTSTP the
            # launcher forwards (it did when pytest's own group was orphaned: a test run
            # started in the background of a shell that then exited)
            stdout=subprocess.PIPE, text=True, process_group=0)
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        return proc

    yield start
    for proc in started:
        if proc.poll() is not None:
            continue
        kids = _children(proc.pid)
        for pid in (proc.pid, *kids):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        for pid in kids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGUSR1, 42), (signal.SIGHUP, 43),
                                             (signal.SIGTERM, 143)])
def test_signals_are_forwarded(waiting, sig, status):
    proc = waiting()
    proc.send_signal(sig)
    assert proc.wait(timeout=10) == status


def _state(pid: int) -> str:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2]


def _ignored(pid: int) -> str:
    return next((line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                 if line.startswith("SigIgn")), "")


def test_tstp_stops_the_job_and_cont_resumes_it(waiting):
    """kill -TSTP of the launcher stops the program and the launcher (job control sees the
    job stop); kill -CONT resumes both; SIGALRM (which killed the launcher) is forwarded."""
    proc = waiting("--rx", "/bin")
    children = _children(proc.pid)
    assert len(children) == 1
    proc.send_signal(signal.SIGTSTP)
    deadline = time.monotonic() + 10
    while {_state(proc.pid), _state(children[0])} != {"T"} and time.monotonic() < deadline:
        time.sleep(0.02)
    # the ignored signals say whether the program inherited an ignored SIGTSTP (bit 20)
    assert (_state(proc.pid), _state(children[0])) == ("T", "T"), \
        (_ignored(os.getpid()), _ignored(proc.pid), _ignored(children[0]))
    proc.send_signal(signal.SIGCONT)
    time.sleep(0.2)
    assert _state(proc.pid) != "T" and _state(children[0]) != "T"
    proc.send_signal(signal.SIGALRM)
    assert proc.wait(timeout=10) == 128 + signal.SIGALRM  # the program died of it, not us


def test_signal_before_exec_is_not_lost():
    """Signals to the launcher while the child is still being confined are queued."""
    proc = subprocess.Popen([*STOCKADE, *BASE, "--", "/usr/bin/sleep", "5"])
    time.sleep(0.05)  # most likely still importing or confining
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    status = proc.wait(timeout=10)
    assert time.monotonic() - start < 4
    assert status in (143, -signal.SIGTERM)  # forwarded, or arrived before the handler setup


def test_audit_file(tmp_path):
    audit = tmp_path / "audit.jsonl"
    out = cli(*BASE, "--audit", str(audit), "--", "/bin/sh", "-c", "exit 3")
    assert out.returncode == 3
    # the launcher's lines; as root with kernel audit on, the program's own kernel denial
    # records (sh's Landlock-denied /etc/ld.so.cache) follow them and carry no event; a
    # "lost" event says the kernel dropped audit messages meanwhile (host-wide: other
    # programs' floods count too, tests/enforce/test_denial_losses.py)
    records = [r for r in map(json.loads, audit.read_text().splitlines())
               if "event" in r and r["event"] != "lost"]
    events = [r["event"] for r in records]
    assert events == ["kernel", "plan", "coverage", "start", "exit"]
    assert records[-1]["status"] == 3
    assert records[2]["exact"] is (ll.abi_version() >= 7)
    assert records[1]["landlock"]["fs_rules"][0]["path"] == "/usr"
    if ll.abi_version() >= 7:
        assert "1423" in records[0]["kernel_audit"] and "1424" in records[0]["kernel_audit"]
    assert "1326" in records[0]["seccomp_audit"]


def test_missing_profile_exits_125():
    out = cli("run", "-p", "/nonexistent/myprofile", "--", "/bin/true")
    assert out.returncode == 125  # never a status the program itself could have returned
    assert out.stderr == "stockade run: /nonexistent/myprofile: no such file\n"


def test_usage_errors_exit_125():
    assert cli("run").returncode == 125
    bad_port = cli("run", "--connect-tcp", "99999", "--", "/bin/true")
    assert bad_port.returncode == 125 and "out of range" in bad_port.stderr
    bad_cap = cli("run", "--keep-cap", "CAP_NOPE", "--", "/bin/true")
    assert bad_cap.returncode == 125 and "unknown capability" in bad_cap.stderr
    unknown = cli("run", "--no-such-flag", "--", "/bin/true")
    assert unknown.returncode == 125 and unknown.stderr.count("\n") == 1
    assert cli("check", "--no-such-flag").returncode == 2  # other commands: unchanged


def test_best_effort_prints_one_line_per_weakened_rule(monkeypatch, capsys):
    monkeypatch.setattr(ll, "_status_cache", ll.LandlockStatus(5, 0))
    assert cli_main.main([*BASE, "--", "/bin/true"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "stockade run: note: this sandbox runs with 2 of its rules enforced differently than "
        "written (2 not-enforced); -v lists each with why"]
    assert cli_main.main([*BASE, "-v", "--", "/bin/true"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "stockade run: not-enforced: scope abstract_unix_socket to the sandbox: "
        "this kernel has Landlock ABI 5; needs Landlock ABI 6 (Linux 6.12)",
        "stockade run: not-enforced: scope signal to the sandbox: "
        "this kernel has Landlock ABI 5; needs Landlock ABI 6 (Linux 6.12)",
    ]
    assert cli_main.main([*BASE, "--strict", "--", "/bin/true"]) == 3
    assert "--strict: not-enforced: scope" in capsys.readouterr().err


def test_baseline_rules_have_reasons():
    assert all(r.reason for r in defaults.baseline_seccomp_rules())


def test_no_descriptor_leaks_into_the_child(tmp_path):
    audit = tmp_path / "a.jsonl"
    out = cli(*BASE, "--ro", "/proc", "--audit", str(audit), "--", "/usr/bin/ls", "/proc/self/fd")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "1", "2", "3"]  # 3 is ls's own directory fd


def test_terminal_signal_reaches_the_child_once():
    """^C on the terminal goes to the whole foreground group: not forwarded a second time."""
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()

    def take_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [*STOCKADE, *BASE, "--", "/bin/sh", "-c",
         'n=0; trap \'n=$((n+1)); echo "INT$n"\' INT; echo ready; '
         "while :; do /usr/bin/sleep 0.05; done"],
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        preexec_fn=take_terminal)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 10
    while b"ready" not in seen and time.monotonic() < deadline:
        seen += os.read(master, 1024)
    os.write(master, b"\x03")  # the terminal's intr character: SIGINT to the foreground group
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)  # from a process: forwarded
    status = proc.wait(timeout=10)
    try:
        while True:
            seen += os.read(master, 1024)
    except OSError:
        pass
    os.close(master)
    assert b"INT1" in seen and b"INT2" not in seen, seen
    assert status == 143


def test_terminal_settings_come_back_after_the_program() -> None:
    """The program turns echo off on the terminal it shares; the launcher puts it back (and
    loads termios only because a terminal is there: test_run_startup.py)."""
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()

    def take_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    assert termios.tcgetattr(slave)[3] & termios.ECHO
    proc = subprocess.Popen(
        [*STOCKADE, *BASE, "--rx", "/bin", "--", "/bin/sh", "-c",
         "stty -echo && stty -a | grep -o -- -echo; echo done"],
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        preexec_fn=take_terminal)
    seen = b""
    deadline = time.monotonic() + 20
    while b"done" not in seen and time.monotonic() < deadline:
        seen += os.read(master, 1024)
    status = proc.wait(timeout=20)
    lflag = termios.tcgetattr(slave)[3]
    os.close(slave)
    os.close(master)
    assert status == 0 and b"-echo" in seen, seen  # the program did turn it off
    assert lflag & termios.ECHO


def test_forwarding_rule():
    own = os.getpgrp()
    assert launcher.should_forward(signal.SIGTERM, 0, own)  # SI_USER: kill(1)
    assert launcher.should_forward(signal.SIGUSR1, -1, own)  # SI_QUEUE
    assert not launcher.should_forward(signal.SIGINT, launcher.SI_KERNEL, own)  # ^C
    assert launcher.should_forward(signal.SIGINT, launcher.SI_KERNEL, own + 1)  # own group
    assert not launcher.should_forward(signal.SIGCHLD, 0, own)
    # the launcher's own SIGPIPE/SIGXFSZ/SIGXCPU stay with it; sent by another process: forwarded
    assert not launcher.should_forward(signal.SIGPIPE, 0, own, os.getpid())
    assert not launcher.should_forward(signal.SIGXCPU, launcher.SI_KERNEL, own + 1)
    assert launcher.should_forward(signal.SIGPIPE, 0, own, os.getpid() + 1)


def test_every_catchable_signal_is_watched():
    watched = set(launcher.FORWARDED_SIGNALS)
    for sig in (signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF, signal.SIGIO, signal.SIGPWR,
                signal.SIGTSTP, signal.SIGCONT, signal.SIGURG, signal.SIGRTMIN, signal.SIGRTMAX):
        assert sig in watched
    assert not watched & {signal.SIGKILL, signal.SIGSTOP, signal.SIGTTIN, signal.SIGTTOU}


def test_eacces_hint_tells_a_file_without_execute_permission_from_landlock(tmp_path):
    plain = tmp_path / "script.sh"
    plain.write_text("#!/bin/sh\necho hi\n")
    plain.chmod(0o644)
    err = launcher._error(b"exec\x00%d" % 13, str(plain))
    assert err.exit_code == 126
    assert "no execute permission" in str(err) and "Landlock" not in str(err)
    plain.chmod(0o755)
    assert "no Landlock execute right" in str(launcher._error(b"exec\x0013", str(plain)))


def test_a_thread_that_takes_sigchld_does_not_hang_the_launcher() -> None:
    """A helper thread started before the launch (tqdm's monitor, say) does not block SIGCHLD
    and takes it when the child exits while the launcher is between waitpid and its wait for
    a signal; the launcher must still see the exit (it hung for ever in the full suite once).
    The window is narrow: this guards the re-check, it does not hit the window every time."""
    code = ("import sys, threading, time\n"
            "for _ in range(4):\n"
            "    threading.Thread(target=time.sleep, args=(120,), daemon=True).start()\n"
            "from stockade.cli.main import main\n"
            "for _ in range(25):\n"
            "    if main(['run', '-q', '--no-status-record', '--rx', '/', '--', '/bin/true']):\n"
            "        sys.exit(1)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr


def test_which_finds_what_shutil_which_finds(tmp_path, monkeypatch):
    """launcher.which (run's program for profile attachment, without importing shutil) against
    the standard library's answer: on PATH, not runnable, directories, empty and repeated PATH
    entries, no PATH at all, and commands with a slash."""
    import shutil

    from stockade.enforce.launcher import which

    bins = [tmp_path / n for n in ("a", "b", "c")]
    for b in bins:
        b.mkdir()
    (bins[0] / "tool").write_text("")  # not executable
    (bins[1] / "tool").mkdir()  # a directory
    (bins[2] / "tool").write_text("#!/bin/sh\n")
    (bins[2] / "tool").chmod(0o755)
    (tmp_path / "tool").write_text("")
    (tmp_path / "tool").chmod(0o755)
    monkeypatch.chdir(tmp_path)
    paths = [os.pathsep.join(map(str, bins)), os.pathsep.join(map(str, bins[:2])),
             f"{bins[0]}{os.pathsep}{os.pathsep}{bins[2]}", f"{bins[2]}{os.pathsep}{bins[2]}",
             "", "/usr/bin"]
    commands = ["tool", "true", "nonexistent", "./tool", str(bins[0] / "tool"),
                str(bins[2] / "tool"), str(bins[1] / "tool"), "/bin/true", "a/tool"]
    for path in paths:
        monkeypatch.setenv("PATH", path)
        for command in commands:
            assert which(command) == shutil.which(command), (path, command)
            assert which(command, path="/bin") == shutil.which(command, path="/bin")
    monkeypatch.setenv("PATH", paths[0])
    assert which("tool") == str(bins[2] / "tool")  # past the file it may not run and the dir
    monkeypatch.delenv("PATH")
    assert which("true") == shutil.which("true") is not None
    assert which("tool") == shutil.which("tool")


class _SignalsBeforeExec(launcher.Handover):
    """A ChildHook whose hand-over step (after the launcher's signal step; a Handover of its
    own, so the Python child runs it) reports the child's dispositions and then signals itself
    with SIGUSR1."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        self.other = os.open(os.devnull, os.O_RDONLY)  # what the child closes first

    def fork(self, start: Callable[[launcher.Handover | None], int]) -> int:
        return start(self)

    def in_child(self) -> None:
        ignored = [sig for sig in launcher.FORWARDED_SIGNALS
                   if signal.getsignal(sig) == signal.SIG_IGN]
        os.write(self.write_end, json.dumps(ignored).encode())
        os.close(self.write_end)
        os.kill(os.getpid(), signal.SIGUSR1)


def test_the_child_has_default_handlers_and_keeps_inherited_ignores():
    """Between its signal step and exec the child runs with the default action for every
    signal the launcher handles (SIGUSR1 kills it there, not the launcher's Python handler)
    and for SIGPIPE/SIGXFSZ (Python ignores them), while an inherited ignore (nohup's SIGHUP)
    stays."""
    caught = signal.signal(signal.SIGUSR1, lambda *_: None)
    hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    hook = _SignalsBeforeExec()
    try:
        prep = prepare.prepare(defaults.adhoc_plan([], [], ["/usr"], []))
        status = launcher.launch(prep, ["/bin/true"], hook=hook)
    finally:
        signal.signal(signal.SIGUSR1, caught)
        signal.signal(signal.SIGHUP, hup)
        os.close(hook.write_end)
        os.close(hook.other)
    ignored = json.loads(os.read(hook.read_end, 4096))
    os.close(hook.read_end)
    assert status == 128 + signal.SIGUSR1
    assert ignored == [signal.SIGHUP]
