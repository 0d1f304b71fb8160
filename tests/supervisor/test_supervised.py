"""Real processes under the supervisor: labels decided on the opened descriptor, races, threads,
fork+exec, death of the target and of the supervisor, complain and learn modes. The key ones
run twice: with the C mechanics and with pure Python (the `mechanics` fixture)."""

import errno
import os
import signal
import time
from pathlib import Path

import pytest
from sv_helpers import NOBODY, Tree, script, supervised, wait_for

from stockade.enforce.supervisor.routing import routed_syscalls
from stockade.modules.registry import build_stack


@pytest.fixture
def tree(user):
    t = Tree(owner=NOBODY if user == "nobody" else 0)
    t.file("high", "HIGH\n", biba="high")
    t.file("medium", "MEDIUM\n", biba="medium")
    t.file("low", "LOW\n", biba="low")
    yield t
    t.cleanup()


def test_biba_labels_decided_on_the_descriptor(tree, user, mechanics):
    d = str(tree.root)
    run = supervised(script(f"""
attempt(lambda: print(open({d + '/high'!r}).read().strip()))
attempt(lambda: open({d + '/medium'!r}).read())
attempt(lambda: open({d + '/low'!r}).read())            # no read down
attempt(lambda: open({d + '/high'!r}, 'a'))             # no write up
attempt(lambda: open({d + '/medium'!r}, 'a').write('x'))
dfd = os.open({d!r}, os.O_RDONLY | os.O_DIRECTORY)
attempt(lambda: print(os.read(os.open('high', os.O_RDONLY, dir_fd=dfd), 10).decode().strip()))
attempt(lambda: os.open('low', os.O_RDONLY, dir_fd=dfd))
os.chdir({d!r})
attempt(lambda: print(open('high').read().strip()))
attempt(lambda: open('low'))
"""), user=user, rw=[d])
    assert run.lines == ["HIGH", "OK", "OK", "EACCES", "EACCES", "OK", "HIGH", "OK", "EACCES",
                         "HIGH", "OK", "EACCES"], run
    assert (tree.root / "medium").read_text() == "MEDIUM\nx"
    assert (tree.root / "high").read_text() == "HIGH\n"  # the denied write did not truncate
    denied = [r for r in run.audit if r["result"] == "DENIED"]
    assert {r["module"] for r in denied} == {"biba"}
    assert any(r["object"].endswith("/low") for r in denied)
    assert run.stats["errors"] == 0
    assert run.stats["mechanics"] == mechanics


def test_o_creat_o_trunc_decided_before_side_effects(tree, user):
    d = str(tree.root)
    run = supervised(script(f"""
attempt(lambda: open({d + '/high'!r}, 'w'))                      # O_TRUNC on a high file
attempt(lambda: open({d + '/new'!r}, 'x').write('made'))         # create (dir is high: denied)
"""), user=user, rw=[d])
    assert run.lines == ["EACCES", "EACCES"], run
    assert (tree.root / "high").read_text() == "HIGH\n"
    assert not (tree.root / "new").exists()


def test_symlink_swapped_after_the_check(tree, user, mechanics):
    """A racing thread flips a symlink between the high and the low file: the supervisor's open
    is the checked file, so LOW is never read."""
    d = str(tree.root)
    link = d + "/link"
    os.symlink(d + "/high", link)
    os.lchown(link, *(2 * [NOBODY if user == "nobody" else 0]))
    run = supervised(script(f"""
import threading
stop = False
def flip():
    i = 0
    while not stop:
        tmp = {link!r} + '.tmp'
        try:
            os.symlink({d!r} + ('/low' if i % 2 else '/high'), tmp)
            os.rename(tmp, {link!r})
        except OSError:
            pass
        i += 1
t = threading.Thread(target=flip)
t.start()
seen = {{}}
for _ in range(400):
    try:
        data = open({link!r}).read()
    except OSError as e:
        data = errno.errorcode[e.errno]
    seen[data] = seen.get(data, 0) + 1
stop = True
t.join()
print(sorted(seen.items()))
"""), user=user, rw=[d], timeout=120, options=["biba.default_level=medium"])  # links: medium
    assert run.status == 0, run
    assert "LOW" not in run.out, run
    assert "HIGH" in run.out and "EACCES" in run.out, run  # both sides of the race were hit
    assert run.stats["mechanics"] == mechanics


def test_threads_open_concurrently(tree, user, mechanics):
    d = str(tree.root)
    run = supervised(script(f"""
import threading
bad = []
def work(n):
    for i in range(60):
        name = ('high', 'medium')[(n + i) % 2]
        data = open({d!r} + '/' + name).read()
        if data != name.upper() + '\\n':
            bad.append(data)
        try:
            open({d!r} + '/low').read()
            bad.append('low read')
        except PermissionError:
            pass
ts = [threading.Thread(target=work, args=(n,)) for n in range(6)]
for t in ts: t.start()
for t in ts: t.join()
print('BAD' if bad else 'GOOD', len(bad))
"""), user=user, timeout=120, ro=[d])
    assert run.lines[:1] == ["GOOD"], run
    assert run.stats["errors"] == 0
    assert run.stats["mechanics"] == mechanics


def test_fork_and_exec_stay_supervised(tree, user, mechanics):
    d = str(tree.root)
    inner = f"import os\ntry:\n    open({d + '/low'!r})\n    print('READ')\nexcept OSError as e:\n" \
            f"    print(os.strerror(e.errno))\nprint(open({d + '/high'!r}).read().strip())"
    run = supervised(script(f"""
import subprocess
r = subprocess.run([{'/usr/bin/python3'!r}, '-c', {inner!r}], capture_output=True, text=True)
print(r.stdout.replace(' ', '_'))
pid = os.fork()
if pid == 0:
    attempt(lambda: open({d + '/low'!r}))
    os._exit(0)
os.waitpid(pid, 0)
"""), user=user, ro=[d])
    assert run.lines == ["Permission_denied", "HIGH", "EACCES"], run
    assert sum(r["result"] == "DENIED" and r["module"] == "biba" for r in run.audit) == 2
    assert run.stats["mechanics"] == mechanics


def test_target_killed_mid_syscall(tree, user, mechanics):
    d = str(tree.root)
    run = supervised(script(f"""
import threading, signal
def spin():
    while True:
        try:
            open({d + '/high'!r}).close()
        except OSError:
            pass
for _ in range(4):
    threading.Thread(target=spin, daemon=True).start()
import time
time.sleep(0.3)
os.kill(os.getpid(), signal.SIGKILL)
"""), user=user, ro=[d])
    assert run.status == 128 + signal.SIGKILL, run
    assert run.stats["errors"] == 0 and run.stats["fatal"] == "None", run
    assert run.stats["mechanics"] == mechanics


def test_supervisor_killed_target_does_not_run_unconfined(tree, user):
    """SIGKILL the supervisor: the direct child dies (PDEATHSIG) and a task left behind gets
    ENOSYS for every notified call instead of running unsupervised."""
    d = str(tree.root)
    code = f"""
import time
print('child', os.getpid(), flush=True)
pid = os.fork()
if pid == 0:
    os.setsid()
    last = None
    for _ in range(600):
        try:
            open({d + '/high'!r}).close()
            r = 'OK'
        except OSError as e:
            r = errno.errorcode[e.errno]
        if r != last:
            print('grandchild', r, flush=True)
            last = r
        if r == 'ENOSYS':
            break
        time.sleep(0.02)
    os._exit(0)
time.sleep(600)
"""
    seen = {}

    def kill_supervisor(helper: int, out: str) -> None:
        text = wait_for(out, "grandchild OK")
        child = int(text.split("child ")[1].split()[0])
        os.kill(helper, signal.SIGKILL)
        seen["out"] = wait_for(out, "grandchild ENOSYS")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                stat = Path(f"/proc/{child}/stat").read_text()
                state = stat.split(")")[1].split()[0]
            except OSError:
                state = "gone"
            if state in ("gone", "Z", "X"):
                break
            time.sleep(0.02)
        seen["child"] = state

    run = supervised(script(code), user=user, while_running=kill_supervisor, timeout=90, ro=[d])
    assert run.status == 128 + signal.SIGKILL
    assert "grandchild ENOSYS" in seen["out"]
    assert seen["child"] in ("gone", "Z", "X"), seen


def test_complain_mode_allows_and_records(tree, user):
    d = str(tree.root)
    run = supervised(script(f"attempt(lambda: print(open({d + '/low'!r}).read().strip()))"),
                     user=user, mode="complain", ro=[d])
    assert run.lines == ["LOW", "OK"], run
    allowed = [r for r in run.audit if r["result"] == "ALLOWED" and r["object"].endswith("/low")]
    assert len(allowed) == 1 and allowed[0]["module"] == "biba"
    assert not [r for r in run.audit if r["result"] == "DENIED"]


def test_learn_mode_observes(tree, user):
    d = str(tree.root)
    run = supervised(script(f"""
open({d + '/low'!r}).read()
open({d + '/medium'!r}, 'a').close()
os.mkdir({d + '/made'!r})
s = socket.socket(); s.close()
"""), user=user, mode="learn", rw=[d])
    assert run.status == 0, run
    by_path = {(o["op"], o["path"]): o for o in run.learn}
    low = by_path[("open", d + "/low")]
    assert low["result"] == "would-deny" and low["modules"] == ["biba"] and low["access"] == \
        ["read", "open"]
    assert by_path[("open", d + "/medium")]["access"] == ["write", "append", "open"]
    assert ("mkdir", d + "/made") in by_path
    assert any(o["op"] == "exec" and o["path"].startswith("/usr/bin/python3") for o in run.learn)
    assert any(o["op"] == "socket" and o["peer"]["family"] == "inet" for o in run.learn)
    assert (tree.root / "made").is_dir()


def test_routing_follows_the_modules():
    assert routed_syscalls(build_stack("capability", dac=False)) == set()
    biba = routed_syscalls(build_stack("capability,biba", dac=False))
    assert {"openat", "execve", "unlinkat", "kill", "chmod"} <= biba
    assert "connect" not in biba and "socket" not in biba
    everything = routed_syscalls(build_stack("capability", dac=False), observe_all=True)
    assert {"connect", "bind", "socket", "openat"} <= everything
    assert errno.EACCES  # keep the import used
