"""The C fast path for AVC hits (fast.FastPath): it answers only what Python's AVC would, and a
changed label, policy, credential or a denial of another key always reaches Python. Each test
runs a real child under both mechanics; under C the opens before the change must have been
answered by the fast path (else the test would not test it), unless
STOCKADE_SUPERVISOR_NO_MIRROR=1 turns it off: then the same decisions are checked without it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sv_helpers import NOBODY, Tree, script, supervised, wait_for


@pytest.fixture
def tree(user: str):
    t = Tree(owner=NOBODY if user == "nobody" else 0)
    os.setxattr(t.root, "user.stockade.biba", b"medium")  # the child may create its marker
    t.file("high", "HIGH\n", biba="high")
    t.file("low", "LOW\n", biba="low")
    t.file("plain", "PLAIN\n")  # unlabelled: biba.default_level (high)
    yield t
    t.cleanup()


def _wait_then(marker: Path, action: Any) -> Any:
    """A `during` hook: wait for the child's `marker`, act on the supervisor, answer `go`."""
    def during(sup: Any) -> None:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        action(sup)
        (marker.parent / "go").write_text("go")
    return during


CHILD = """
import fcntl, json, time
d = {d!r}
def read(name, flags=os.O_RDONLY):
    fd = os.open(d + '/' + name, flags)
    try:
        return os.read(fd, 16).decode().strip()
    finally:
        os.close(fd)
before = [read({name!r}) for _ in range(60)]
open(d + '/ready', 'w').close()
while not os.path.exists(d + '/go'):
    time.sleep(0.01)
{change}
attempt(lambda: print(read({name!r})))
print(json.dumps(sorted(set(before))))
"""


#: a child's allowed opens of `d + '/high'`, which the fast path must answer (`_fast_hits`)
WARM = """for _ in range(60):
    os.close(os.open(d + '/high', os.O_RDONLY))"""


def _mirrored(mechanics: str) -> bool:
    """Whether this run's opens may be answered by the fast path: the C mechanics, unless
    STOCKADE_SUPERVISOR_NO_MIRROR is set (then every test here checks the decisions alone)."""
    from stockade.enforce.supervisor import fast

    return mechanics == "c" and not os.environ.get(fast.ENV_NO_MIRROR)


def _fast_hits(run: Any, mechanics: str) -> None:
    if _mirrored(mechanics):
        assert run.stats["fast_hits"] >= 50, run.stats  # the opens before the change
    else:
        assert run.stats["fast_hits"] == 0, run.stats


def test_repeated_allows_answered_with_the_right_descriptor(tree: Tree, user: str,
                                                             mechanics: str) -> None:
    d = str(tree.root)
    run = supervised(script(f"""
import fcntl
d = {d!r}
seen = set()
for i in range(200):
    cloexec = os.O_CLOEXEC if i & 1 else 0
    fd = libc.open((d + '/high').encode(), os.O_RDONLY | cloexec)  # os.open adds O_CLOEXEC
    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    fdfl = fcntl.fcntl(fd, fcntl.F_GETFD)
    same_cloexec = bool(fdfl & fcntl.FD_CLOEXEC) == bool(cloexec)
    seen.add((os.read(fd, 16), fl & (os.O_NONBLOCK | os.O_ACCMODE), same_cloexec,
              os.fstat(fd).st_ino == os.stat(d + '/high').st_ino))
    os.close(fd)
print('SAME' if seen == {{(b'HIGH' + bytes([10]), 0, True, True)}} else sorted(seen))
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
print(','.join(sorted(os.listdir(dfd))))
attempt(lambda: os.open(d + '/low', os.O_RDONLY))
"""), user=user, ro=[d])
    assert run.lines == ["SAME", "high,low,plain", "EACCES"], run
    _fast_hits(run, mechanics)
    assert run.stats["errors"] == 0


def test_a_label_changed_between_two_opens_is_decided_again(tree: Tree, user: str,
                                                             mechanics: str) -> None:
    d = str(tree.root)
    path = tree.root / "high"
    run = supervised(script(CHILD.format(d=d, name="high", change="")), user=user, rw=[d],
                     during=_wait_then(tree.root / "ready", lambda sup: os.setxattr(
                         path, "user.stockade.biba", b"low")))
    assert run.lines == ["EACCES", '["HIGH"]'], run
    denied = [r for r in run.audit if r["result"] == "DENIED" and r["object"] == str(path)]
    assert len(denied) == 1, run.audit  # one audit record per denial
    _fast_hits(run, mechanics)


def test_a_policy_reload_flushes_the_mirror(tree: Tree, user: str, mechanics: str) -> None:
    d = str(tree.root)

    def lower_the_default(sup: Any) -> None:  # unlabelled files become low: reading is read down
        biba = sup.stack.module("biba")
        biba._object_default = biba.parse("low")
        sup.stack.reload()

    run = supervised(script(CHILD.format(d=d, name="plain", change="")), user=user, rw=[d],
                     during=_wait_then(tree.root / "ready", lower_the_default))
    assert run.lines == ["EACCES", '["PLAIN"]'], run
    _fast_hits(run, mechanics)


def test_a_denial_of_another_key_after_allows(tree: Tree, user: str, mechanics: str) -> None:
    d = str(tree.root)
    run = supervised(script(f"""
d = {d!r}
{WARM}
for _ in range(3):
    attempt(lambda: os.open(d + '/low', os.O_RDONLY))
attempt(lambda: os.close(os.open(d + '/high', os.O_RDONLY)))
attempt(lambda: os.open(d + "/high", os.O_WRONLY | os.O_APPEND))   # no write up: another access
"""), user=user, rw=[d])
    assert run.lines == ["EACCES", "EACCES", "EACCES", "OK", "EACCES"], run
    denied = [r for r in run.audit if r["result"] == "DENIED"]
    assert [r["object"] for r in denied] == [d + "/low"] * 3 + [d + "/high"], run.audit
    _fast_hits(run, mechanics)


def test_failed_lookups_answered_as_python_would(tree: Tree, user: str, mechanics: str) -> None:
    """ENOENT/ENOTDIR are answered in C only for a lookup that met no symbolic link: one on
    the way (RESOLVE_NO_SYMLINKS: ELOOP) goes to Python, which follows it."""
    d = str(tree.root)
    sub = tree.root / "sub"
    sub.mkdir()
    tree.file("sub/f", "F\n", biba="high")
    os.symlink(sub, tree.root / "ldir")
    os.symlink(tree.root / "nowhere", tree.root / "dangling")
    run = supervised(script(f"""
d = {d!r}
{WARM}
for _ in range(60):
    attempt(lambda: os.open(d + '/missing', os.O_RDONLY))
attempt(lambda: os.open(d + '/high/x', os.O_RDONLY))
attempt(lambda: print(os.read(os.open(d + '/ldir/f', os.O_RDONLY), 8).decode().strip()))
attempt(lambda: os.open(d + '/ldir/missing', os.O_RDONLY))
attempt(lambda: os.open(d + '/dangling', os.O_RDONLY))
attempt(lambda: os.open(d + '/high', os.O_RDONLY | os.O_DIRECTORY))
"""), user=user, ro=[d])
    assert run.lines == ["ENOENT"] * 60 + ["ENOTDIR", "F", "OK", "ENOENT", "ENOENT", "ENOTDIR"], run
    if _mirrored(mechanics):
        assert run.stats["fast_hits"] >= 110, run.stats
    assert run.stats["errors"] == 0


def test_a_path_read_by_c_is_the_one_python_decides_on(tree: Tree, user: str,
                                                        mechanics: str) -> None:
    """A relative open goes to Python with the path C already read (read once): alternating
    names must each get their own decision."""
    d = str(tree.root)
    run = supervised(script(f"""
os.close(os.open({d!r} + '/high', os.O_RDONLY))  # the task becomes known to the fast path
os.chdir({d!r})
for i in range(20):
    attempt(lambda: os.close(os.open('high' if i & 1 else 'low', os.O_RDONLY)))
"""), user=user, ro=[d])
    assert run.lines == ["EACCES", "OK"] * 10, run
    assert run.stats["errors"] == 0


@pytest.mark.parametrize("user", ["root"])
def test_a_credential_change_forgets_the_task(tree: Tree, user: str, mechanics: str) -> None:
    d = str(tree.root)
    secret = tree.file("secret", "SECRET\n", biba="high")
    os.chmod(secret, 0o600)  # root's: nobody's open fails in the kernel (DAC)
    run = supervised(script(CHILD.format(d=d, name="secret",
                                         change="libc.setfsuid(65534); libc.prctl(4, 1, 0, 0, 0)")),
                     user=user, rw=[d], during=_wait_then(tree.root / "ready", lambda sup: None),
                     keep_caps=[7])  # CAP_SETUID
    assert run.lines == ["EACCES", '["SECRET"]'], run
    _fast_hits(run, mechanics)


def test_a_decision_of_an_older_policy_is_never_mirrored() -> None:
    """A reset between Python's decision and its `put` (another thread reloading the policy)
    must not leave the old decision in the mirror: put refuses an older sequence number."""
    import errno

    from stockade.enforce.supervisor import fast

    backend = fast.load()
    if backend is None:
        pytest.skip("the C extension is not built")
    fp = fast.FastPath.create(backend, ("user.stockade.biba",), 2, 257, 0xC000003E,
                              os.stat("/proc").st_dev, (0x20, 4, 2, 8))
    assert fp is not None
    lib = backend.lib
    try:
        fp.flush(5)
        key = fp.key(1, 0x24, "/etc/hosts", os.stat("/etc/hosts"), ())
        assert lib.stk_fast_put(fp.ctx, key, len(key), 4) == -errno.ESTALE
        assert lib.stk_fast_put(fp.ctx, key, len(key), 5) == 0
        assert lib.stk_fast_put(fp.ctx, b"", 0, 5) == -errno.EINVAL
    finally:
        fp.close()
    fp.flush(6)  # after close: a late reset from another thread is harmless
    assert fp.ctx is None


REUSE = """
import signal
secret = {secret!r}
a = os.fork()
if a == 0:  # A: root, its allows of `secret` mirrored under its tid
    for _ in range(60):
        os.close(os.open(secret, os.O_RDONLY))
    os._exit(0)
os.waitpid(a, 0)  # A is gone; its tid is free, its entry in the C table stays
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
libc.setfsuid(65534)  # the thread that forks B opens as nobody from now on
libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE, which the fsuid change cleared
print("A", a, flush=True)
for attempt_no in range(60):
    print("wait", attempt_no, flush=True)
    signal.sigwait([signal.SIGUSR1])  # the test has set ns_last_pid to a - 1
    b = os.fork()
    if b == 0:
        if os.getpid() != a:
            os._exit(3)  # another process took the number first: try again
        attempt(lambda: os.close(os.open(secret, os.O_RDONLY)))
        os._exit(0)
    if os.waitstatus_to_exitcode(os.waitpid(b, 0)[1]) == 0:
        print("reused", flush=True)
        break
"""


@pytest.mark.parametrize("user", ["root"])
def test_a_reused_tid_is_not_the_dead_task(tree: Tree, user: str, mechanics: str) -> None:
    """B gets the tid of A, whose allows the mirror holds, with other credentials (fsuid
    nobody), and the supervisor's own credentials are still A's (no switch in between): only
    the check of A's pidfd, made after the path is read, sends B's open to Python (EACCES from
    the kernel's DAC, not A's descriptor). The fast path makes no ID_VALID: this pidfd check
    is what proves that the tid and the memory read are the calling thread's."""
    d = str(tree.root)
    secret = tree.file("secret", "SECRET\n", biba="high")
    os.chmod(secret, 0o600)  # root's: nobody's open fails in the kernel (DAC)
    last = Path("/proc/sys/kernel/ns_last_pid")

    def reuse(helper: int, out: str) -> None:
        text = wait_for(out, "wait 0")
        parent = _child_of(helper)
        a = int(text.split()[text.split().index("A") + 1])
        for k in range(60):
            wait_for(out, f"wait {k}\n")
            if "reused" in Path(out).read_text():
                return
            last.write_text(str(a - 1))
            os.kill(parent, signal.SIGUSR1)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                now = Path(out).read_text()
                if "reused" in now or f"wait {k + 1}\n" in now:
                    break
                time.sleep(0.005)
            if "reused" in Path(out).read_text():
                return

    run = supervised(script(REUSE.format(secret=str(secret))), user=user, rw=[d],
                     keep_caps=[7], while_running=reuse)  # CAP_SETUID: setfsuid
    assert "reused" in run.lines, run  # B got A's tid (else the test tested nothing)
    assert run.lines[run.lines.index("reused") - 1] == "EACCES", run
    _fast_hits(run, mechanics)


def _child_of(helper: int) -> int:
    """The supervised program: the process under `helper` whose command line is Python's."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd = (entry / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if ppid == helper and b"setfsuid" in cmd:
                return int(entry.name)
        time.sleep(0.01)
    raise TimeoutError(f"no supervised child under {helper}")


def test_opens_in_proc_are_never_answered_in_c(tree: Tree, user: str, mechanics: str) -> None:
    """The checks of an open in /proc (handlers/proc_open.py: the plan's own-/proc rules for
    the caller, the ptrace hook) run in Python only: C never answers a /proc path or a file on
    procfs. 100 allowed opens of /proc/self/status add no fast hits to a run that warms the
    fast path with another file (which does count)."""
    d = str(tree.root)
    hits = []
    for count in (0, 100):
        run = supervised(script(f"""
d = {d!r}
{WARM}
for _ in range({count}):
    os.close(os.open('/proc/self/status', os.O_RDONLY))
print('done')
"""), user=user, ro=[d, "/proc"])
        assert run.lines == ["done"], run
        _fast_hits(run, mechanics)
        hits.append(run.stats["fast_hits"])
    assert hits[1] - hits[0] < 10, hits
