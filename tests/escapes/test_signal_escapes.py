"""Signals from a `run -p` sandbox: a rule narrower than "every signal to every process" keeps
Landlock's signal scope (nothing else would enforce the narrowing), so neither a process outside
the sandbox nor the launcher can be signalled. Runs as root and as nobody."""

from __future__ import annotations

import os

import pytest
from confine_helpers import IS_X86_64, LABELLED, PRELUDE, PY, cli
from test_redteam import bystander, lines

# prints, for each attempt, OK or the errno name; the launcher is the program's parent
KILLER = ("import errno, os, signal, sys\n"
          "def t(label, pid, sig):\n"
          "    try:\n"
          "        os.kill(pid, sig)\n"
          "    except OSError as e:\n"
          "        print(label + ':' + errno.errorcode[e.errno], flush=True)\n"
          "    else:\n"
          "        print(label + ':OK', flush=True)\n"
          "other = int(sys.argv[1])\n"
          "t('exists', other, 0)\n"
          "t('launcher', os.getppid(), signal.SIGKILL)\n"
          "t('other', other, signal.SIGKILL)\n")


def _profile(area, body: str):
    prof = area.root / "sig.profile"
    prof.write_text("#include <tunables/global>\nprofile sig {\n"
                    f"  #include <abstractions/base>\n  /usr/** rix,\n{body}}}\n")
    os.chmod(prof, 0o644)
    return prof


def test_base_abstraction_does_not_reach_outside(area, user):
    """base's `signal (receive, send) set=("exists"),` allows only signal 0: the scope stays."""
    prof = _profile(area, "")
    with bystander(user) as other:
        res = cli("run", "-q", "--no-cache", "-p", str(prof), "--", PY, "-c", KILLER,
                  str(other.pid), user=user)
        assert other.poll() is None, res  # still alive
    assert lines(res) == ["exists:EPERM", "launcher:EPERM", "other:EPERM"], res


def test_narrower_peer_rule_keeps_the_scope(area, user):
    prof = _profile(area, "  signal send set=(kill) peer=someone,\n")
    with bystander(user) as other:
        res = cli("run", "-q", "--no-cache", "-p", str(prof), "--", PY, "-c", KILLER,
                  str(other.pid), user=user)
        assert other.poll() is None, res
    assert lines(res) == ["exists:EPERM", "launcher:EPERM", "other:EPERM"], res


def test_explain_agrees_on_the_base_abstraction(area):
    prof = _profile(area, "")
    res = cli("explain", "--profile", str(prof), "kill", "1")
    assert "signal scope refuses it" in res.stdout + res.stderr, res


def test_signal_everything_reaches_others_as_written(area, user):
    prof = _profile(area, "  signal send,\n")
    with bystander(user) as other:
        res = cli("run", "-q", "--no-cache", "-p", str(prof), "--", PY, "-c", KILLER,
                  str(other.pid), user=user)
        other.wait(timeout=5)  # SIGKILLed from the sandbox, as the profile allows
    # the launcher is still refused: seccomp (enforce/launcher_guard.py)
    assert lines(res) == ["exists:OK", "launcher:EPERM", "other:OK"], res
    assert res.returncode == 0, res


# every way we know to signal a process by pid, aimed at the launcher (the parent); SIGCONT or
# signal 0 only, so a failing run does not stop the test
LAUNCHER_PATHS = PRELUDE + LABELLED + """
import fcntl, signal
L = os.getppid()
C = signal.SIGCONT
t('kill', lambda: os.kill(L, signal.SIGKILL))
t('stop', lambda: os.kill(L, signal.SIGSTOP))
t('own_group', lambda: os.kill(0, 0))
t('every', lambda: os.kill(-1, 0))
t('its_group', lambda: os.killpg(os.getpgid(L), 0))
t('high_bits', lambda: sys_(62, ctypes.c_long((1 << 32) | L), C))
t('tgkill', lambda: sys_(234, L, L, C))
t('tkill', lambda: sys_(200, L, C))
info = (ctypes.c_int * 32)(C, 0, -1)
t('sigqueue', lambda: sys_(129, L, C, ctypes.byref(info)))
t('tgsigqueue', lambda: sys_(297, L, L, C, ctypes.byref(info)))
t('pidfd_open', lambda: os.pidfd_open(L))
r, w = os.pipe()
t('setown', lambda: fcntl.fcntl(r, fcntl.F_SETOWN, L))
t('setown_ex', lambda: sys_(72, r, 15, ctypes.byref((ctypes.c_int * 2)(1, L))))
t('proc_pidfd', lambda: signal.pidfd_send_signal(os.open(f'/proc/{L}', os.O_DIRECTORY), C))
t('self', lambda: os.kill(os.getpid(), 0))
"""


@pytest.mark.skipif(not IS_X86_64, reason="x86_64 system call numbers")
def test_signal_everything_cannot_reach_the_launcher(area, user):
    prof = _profile(area, "  signal send,\n")
    res = cli("run", "-q", "--no-cache", "-p", str(prof), "--", PY, "-c", LAUNCHER_PATHS,
              user=user)
    assert lines(res) == [f"{x}:1" for x in (
        "kill", "stop", "own_group", "every", "its_group", "high_bits", "tgkill", "tkill",
        "sigqueue", "tgsigqueue", "pidfd_open", "setown", "setown_ex")] + [
        "proc_pidfd:13", "self:OK"], res  # /proc/PID of the launcher: not granted (Landlock)
    assert res.returncode == 0, res


def test_launcher_guard_holds_in_an_allow_list(area, user):
    """An unconditional `syscall kill,` would win over the guard's conditional refusals
    (libseccomp): it is dropped, and reported."""
    prof = area.root / "al.profile"
    prof.write_text("profile al {\n  /usr/** rix,\n  signal send,\n"
                    "  syscall default action=errno errno=EPERM,\n"
                    "  syscall kill getppid write exit_group brk mmap munmap execve arch_prctl "
                    "set_tid_address set_robust_list rseq prctl mprotect getpid,\n}\n")
    os.chmod(prof, 0o644)
    res = cli("run", "-v", "--no-cache", "-p", str(prof), "--", "/usr/bin/busybox", "sh", "-c",
              "kill -9 $PPID; echo rc=$?", user=user)
    assert res.stdout.split() == ["rc=1"], res
    assert "dropped so that the launcher guard holds" in res.stderr, res


# every call that names a task, aimed at each thread of the launcher other than its leader (a
# thread id names the whole process), then at the program's own child (allowed); harmless
# arguments (SIGCONT, the current values), so a failing run does not kill the test's launcher
LAUNCHER_THREADS = PRELUDE + LABELLED + """
import fcntl, signal, subprocess
L = os.getppid()
C = signal.SIGCONT
r, w = os.pipe()
old = (ctypes.c_ulong * 2)()
def calls(label, tid):
    t(label + '-kill', lambda: os.kill(tid, C))
    info = (ctypes.c_int * 32)(C, 0, -1)
    t(label + '-sigqueue', lambda: sys_(129, tid, C, ctypes.byref(info)))
    t(label + '-pidfd_open', lambda: os.close(os.pidfd_open(tid, os.O_EXCL)))
    t(label + '-setown', lambda: fcntl.fcntl(r, fcntl.F_SETOWN, tid))
    t(label + '-prlimit', lambda: sys_(302, tid, 7, None, ctypes.byref(old)))
    t(label + '-setpriority', lambda: os.setpriority(
        os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid)))
    t(label + '-affinity', lambda: os.sched_setaffinity(tid, os.sched_getaffinity(tid)))
    t(label + '-ioprio', lambda: sys_(251, 1, tid, sys_(252, 1, tid)))
tids = sorted(int(x) for x in os.listdir('/proc/%d/task' % L) if int(x) != L)
print('threads:' + str(len(tids) > 0), flush=True)
for tid in tids:
    calls('launcher', tid)
child = subprocess.Popen(['/usr/bin/sleep', '5'])
calls('child', child.pid)
child.kill()
child.wait()
t('gone-kill', lambda: os.kill(child.pid, C))
print('alive:' + str(os.getppid() == L), flush=True)
"""


@pytest.mark.skipif(not IS_X86_64, reason="x86_64 system call numbers")
def test_signal_everything_cannot_reach_the_launchers_threads(area, user):
    """kill(2) of any thread id of the launcher signals the launcher: every call naming a task
    is refused for each thread, including those started after the filter was built (the
    supervisor's: decided by the task's thread group), and allowed for the program's own."""
    prof = _profile(area, "  /proc/** r,\n  signal send,\n")
    audit = area.root / "audit.jsonl"
    audit.touch()
    os.chmod(audit, 0o666)
    res = cli("run", "-q", "--no-cache", "-p", str(prof), "--audit", str(audit), "--",
              PY, "-c", LAUNCHER_THREADS, user=user)
    out = lines(res)
    assert out[0] == "threads:True" and out[-1] == "alive:True", res
    calls = ("kill", "sigqueue", "pidfd_open", "setown", "prlimit", "setpriority", "affinity",
             "ioprio")
    launcher = [x for x in out if x.startswith("launcher-")]
    assert launcher and len(launcher) % len(calls) == 0, res
    assert all(x.endswith(":1") for x in launcher), res  # EPERM, for every thread
    # the program's own child: signals go through; the rest is the baseline's (any other pid)
    assert [x for x in out if x.startswith("child-")] == [
        f"child-{c}:{'OK' if i < 4 else 1}" for i, c in enumerate(calls)], res
    assert "gone-kill:3" in out, res  # ESRCH, as the kernel answers
    assert res.returncode == 0, res
    text = audit.read_text()
    assert '"event": "exit"' in text, text  # the launcher saw the program end
    assert "the program may not signal its launcher" in text, text  # the supervisor's refusal
