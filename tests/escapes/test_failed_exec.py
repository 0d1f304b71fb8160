"""An exec the supervisor decided but the kernel then failed leaves the old program running:
it keeps its old labels (red team 8, rt/failed_exec_keeps_new_domain.sh on branch redteam8).
The new labels apply once the exec is known to have happened (supervisor/execve/confirm.py).
Real programs under `stockade run --lsm capability,tomoyo`, as root and as nobody; each
failure case let the old program write before the fix (SELinux: tests/supervisor/
test_execve/confirm.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import NOBODY, cli, unconfinable_reason

INIT_POLICY = "/usr/lib/tomoyo/init_policy"
PY = "/usr/bin/python3.11"
pytestmark = pytest.mark.skipif(unconfinable_reason() is not None,
                                reason=str(unconfinable_reason()))

# The program: python in <kernel> /usr/bin/sh PY, which may write nothing; find, and python
# run again by python, may create files in out/. Each step prints one line.
PROGRAM = r'''
import ctypes, os, sys, threading
out = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
def write(name):
    try:
        with open(os.path.join(out, name), "w") as f:
            f.write("x")
        print(name, "written", flush=True)
    except OSError as e:
        print(name, "refused", e.errno, flush=True)
def failed(what, call):
    try:
        call()
        print(what, "ran", flush=True)
    except OSError as e:
        print(what, "failed", e.errno, flush=True)
BIG = ["x" * 100000] * 40  # 4 MB of argv: E2BIG, after the supervisor's decision
FIND = ["find", out, "-maxdepth", "0", "-fprint"]
def efault():
    argv = (ctypes.c_void_p * 3)(ctypes.cast(ctypes.c_char_p(b"find"), ctypes.c_void_p).value,
                                 1, None)  # argv[1] points at page 0: EFAULT
    libc.execve(b"/usr/bin/find", argv, None)
    raise OSError(ctypes.get_errno(), "execve")
for step in sys.argv[2:]:
    if step == "e2big":
        failed("e2big", lambda: os.execv("/usr/bin/find", ["find", *BIG]))
    elif step == "efault":
        failed("efault", efault)
    elif step == "spawn_e2big":
        failed("spawn_e2big", lambda: os.waitpid(os.posix_spawn("/usr/bin/find", ["find", *BIG],
                                                                os.environ), 0))
    elif step == "same_e2big":
        failed("same_e2big", lambda: os.execv(sys.executable, ["py", *BIG]))
    elif step == "spawn":
        os.waitpid(os.posix_spawn("/usr/bin/find", [*FIND, os.path.join(out, "spawned")],
                                  os.environ), 0)
        print("spawned", os.path.exists(os.path.join(out, "spawned")), flush=True)
    elif step == "thread":
        box = []
        def run():
            try:
                os.execv("/usr/bin/find", [*FIND, os.path.join(out, "thread")])
            except OSError as e:
                box.append(e.errno)
        t = threading.Thread(target=run)
        t.start()
        t.join()
        print("thread failed", box[0], flush=True)
    elif step in ("leaderless_exec", "leaderless_e2big"):  # the last step
        def alone():  # once the leader has exited, exec from this (non-leader) thread
            while open(f"/proc/self/task/{os.getpid()}/stat").read().rsplit(")", 1)[1][1] != "Z":
                pass
            if step == "leaderless_exec":
                os.execv("/usr/bin/find", [*FIND, os.path.join(out, "leaderless")])
            failed("leaderless_e2big", lambda: os.execv("/usr/bin/find", ["find", *BIG]))
            write("after_leaderless")
            os._exit(0)
        threading.Thread(target=alone).start()
        libc.pthread_exit(None)
    elif step == "setmm":
        libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                               ctypes.c_ulong]
        got = libc.prctl(35, 15, 0, 0, 0)  # PR_SET_MM, PR_SET_MM_MAP_SIZE
        print("setmm", got, ctypes.get_errno(), flush=True)
    elif step == "norandom":
        libc.personality(0x0040000)  # ADDR_NO_RANDOMIZE
        print("norandom", flush=True)
    elif step == "exec":
        os.execv("/usr/bin/find", [*FIND, os.path.join(out, "execd")])
    elif step == "reexec":
        os.execv(sys.executable, ["py", sys.argv[0], out, "write:reexecd"])
    elif step.startswith("write:"):
        write(step[6:])
'''


# vfork: the child shares the parent's memory until its exec (the kcmp evidence). `fail`: the
# child's exec fails (E2BIG) and it then creates out/vfork_after; `self`: the child runs this
# program again (same file), which creates out/vfork_self.
VFORK = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static char big[100001];
int main(int argc, char **argv) {
    char path[4096], *bigv[46], *selfv[4] = {argv[0], argv[1], "write", 0};
    if (argc < 3) return 2;
    if (!strcmp(argv[2], "write")) {
        snprintf(path, sizeof path, "%s/vfork_self", argv[1]);
        int fd = open(path, O_CREAT | O_WRONLY, 0644);
        printf("vfork_self %s\n", fd >= 0 ? "written" : "refused");
        return 0;
    }
    memset(big, 'x', 100000);
    bigv[0] = "find";
    for (int i = 1; i < 45; i++) bigv[i] = big;
    bigv[45] = 0;
    snprintf(path, sizeof path, "%s/vfork_after", argv[1]);
    int fail = !strcmp(argv[2], "fail");
    fflush(stdout);
    pid_t pid = vfork();
    if (pid == 0) {
        if (fail) execv("/usr/bin/find", bigv); else execv(argv[0], selfv);
        int err = errno;
        int fd = open(path, O_CREAT | O_WRONLY, 0644);
        int open_err = errno;
        _exit(err != E2BIG ? 99 : fd >= 0 ? 100 : open_err);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    printf("vfork child %d\n", WEXITSTATUS(st));
    return 0;
}
"""


@pytest.fixture(scope="module")
def vfork_bin() -> Iterator[Path]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    d = Path(tempfile.mkdtemp(prefix="stockade-fx-vf-", dir="/tmp"))
    os.chmod(d, 0o755)
    (d / "vf.c").write_text(VFORK)
    subprocess.run(["gcc", "-O1", "-o", str(d / "vf"), str(d / "vf.c")], check=True)
    os.chmod(d / "vf", 0o755)
    yield d / "vf"
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def tomoyo_base() -> Iterator[Path]:
    if not Path(INIT_POLICY).exists():
        pytest.skip("tomoyo-tools is not installed")
    base = Path(tempfile.mkdtemp(prefix="stockade-fx-base-", dir="/tmp"))
    subprocess.run([INIT_POLICY, f"policy_dir={base}"], check=True, capture_output=True)
    yield base
    shutil.rmtree(base, ignore_errors=True)


class Scene:
    """A TOMOYO policy directory, the program, and out/ (owned by the user)."""

    def __init__(self, base: Path, user: str, vfork: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="stockade-fx-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        for name in ("profile.conf", "manager.conf"):
            (self.dir / name).write_text((base / name).read_text())
        reads = "".join(f"acl_group 0 file {op} {p}\n" for op in ("read", "getattr")
                        for p in ("/\\*", "/\\{\\*\\}/\\*", "/", "/\\{\\*\\}/"))
        (self.dir / "exception_policy.conf").write_text(
            (base / "exception_policy.conf").read_text() + reads + "acl_group 0 misc env \\*\n")
        self.out = self.dir / "out"
        self.out.mkdir(mode=0o700)
        os.chown(self.out, NOBODY if user == "nobody" else 0, -1)
        writes = (f"file create {self.out}/\\* 0-0777\nfile write {self.out}/\\*\n"
                  f"file truncate {self.out}/\\*\n")
        py = f"<kernel> /usr/bin/sh {PY}"
        (self.dir / "domain_policy.conf").write_text(
            "<kernel>\nuse_profile 0\nuse_group 0\n\n"
            f"<kernel> /usr/bin/sh\nuse_profile 3\nuse_group 0\nfile execute {PY}\n\n"
            f"{py}\nuse_profile 3\nuse_group 0\nfile execute /usr/bin/find\nfile execute {PY}\n"
            "file ioctl /\\{\\*\\}/\\* 0-0xFFFFFFFF\n\n"
            f"{py} /usr/bin/find\nuse_profile 3\nuse_group 0\n{writes}\n"
            f"{py} {PY}\nuse_profile 3\nuse_group 0\n{writes}\n"
            f"<kernel> /usr/bin/sh\nfile execute {vfork}\n\n"
            f"<kernel> /usr/bin/sh {vfork}\nuse_profile 3\nuse_group 0\n"
            f"file execute /usr/bin/find\nfile execute {vfork}\n\n"
            f"<kernel> /usr/bin/sh {vfork} /usr/bin/find\nuse_profile 3\nuse_group 0\n{writes}\n"
            f"<kernel> /usr/bin/sh {vfork} {vfork}\nuse_profile 3\nuse_group 0\n{writes}")
        self.vfork = vfork
        (self.dir / "a.py").write_text(PROGRAM)
        self.audit = self.dir / "audit.jsonl"
        self.audit.write_text("")
        for p in self.dir.iterdir():
            if p.is_file():
                os.chmod(p, 0o666)
        self.user = user

    def run(self, *steps: str) -> subprocess.CompletedProcess[str]:
        return self.sh(f'{PY} {self.dir}/a.py {self.out} {" ".join(steps)}; echo "exit $?"')

    def sh(self, command: str) -> subprocess.CompletedProcess[str]:
        return cli("run", "--mode", "enforce", "--lsm", "capability,tomoyo", "--module-option",
                   f"tomoyo.policy_dir={self.dir}", "--no-status-record", "--no-cache",
                   "--audit", str(self.audit), "--", "/usr/bin/sh", "-c", command,
                   user=self.user, timeout=120)

    def written(self) -> set[str]:
        return {p.name for p in self.out.iterdir()}

    def records(self) -> list[dict]:
        return [json.loads(x) for x in self.audit.read_text().splitlines() if x.strip()]

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def scene(tomoyo_base: Path, vfork_bin: Path, user: str) -> Iterator[Scene]:
    s = Scene(tomoyo_base, user, vfork_bin)
    yield s
    s.cleanup()


def test_failed_execs_keep_the_old_domain(scene: Scene) -> None:
    """E2BIG, EFAULT, a failed posix_spawn and a failed exec of the same file: python stays in
    its domain, which may write nothing (red team 8's reproducer wrote `after`)."""
    done = scene.run("write:before", "e2big", "write:after_e2big", "efault", "write:after_efault",
                     "spawn_e2big", "same_e2big", "write:after")
    lines = done.stdout.splitlines()
    assert lines == ["before refused 1", "e2big failed 7", "after_e2big refused 1",
                     "efault failed 14", "after_efault refused 1", "spawn_e2big failed 7",
                     "same_e2big failed 7", "after refused 1", "exit 0"], done
    assert scene.written() == set()


def test_successful_execs_get_the_new_domain(scene: Scene) -> None:
    """An exec, a posix_spawn (vfork) child's exec and a re-exec of the same file take the
    new domain, which may write out/."""
    done = scene.run("write:before", "spawn", "reexec")
    assert done.stdout.splitlines() == ["before refused 1", "spawned True", "reexecd written",
                                        "exit 0"], done
    done = scene.run("exec")
    assert done.stdout.splitlines() == ["exit 0"], done
    assert scene.written() == {"spawned", "reexecd", "execd"}


def test_exec_from_a_second_thread_is_refused_and_keeps_the_domain(scene: Scene) -> None:
    """Another thread shares the memory the path is read from: the exec is refused (EACCES,
    execve/race.py) and the program keeps its domain."""
    done = scene.run("thread", "write:after")
    assert done.stdout.splitlines() == ["thread failed 13", "after refused 1", "exit 0"], done
    assert scene.written() == set()


def test_exec_from_a_non_leader_thread(scene: Scene) -> None:
    """The leader exited (pthread_exit) and the last thread execs: a successful exec takes
    the leader's pid and the new domain (find writes), a failed one keeps the old domain."""
    done = scene.run("leaderless_e2big")
    assert done.stdout.splitlines() == ["leaderless_e2big failed 7", "after_leaderless refused 1",
                                        "exit 0"], done
    done = scene.run("leaderless_exec")
    assert done.stdout.splitlines() == ["exit 0"], done
    assert scene.written() == {"leaderless"}


def test_pr_set_mm_is_refused(scene: Scene) -> None:
    """prctl(PR_SET_MM) could rewrite the exe link and the layout an exec is judged by."""
    done = scene.run("setmm")
    assert done.stdout.splitlines() == ["setmm -1 1", "exit 0"], done


def test_an_unrandomized_failed_exec_of_the_running_file_is_killed(scene: Scene) -> None:
    """Without address-space randomization a failed exec of the running file cannot be told
    from a re-exec of it: the program is killed, with one audit record saying why. A failed
    exec of another file is told by the unchanged exe link."""
    done = scene.run("norandom", "e2big", "write:after")
    assert done.stdout.splitlines() == ["norandom", "e2big failed 7", "after refused 1",
                                        "exit 0"], done
    assert not [r for r in scene.records() if r.get("module") == "supervisor"]
    done = scene.run("norandom", "same_e2big", "write:after")
    assert done.stdout.splitlines() == ["norandom", "same_e2big failed 7", "exit 137"], done
    assert scene.written() == set()
    (rec,) = [r for r in scene.records() if r.get("module") == "supervisor"]
    assert rec["result"] == "DENIED" and "not randomized" in rec["reason"], rec


def test_vfork_child_exec_is_told_by_the_parent_s_memory(scene: Scene) -> None:
    """A vfork child shares its parent's memory (never released) and runs the same file:
    whether it exec'd is told by kcmp with the parent. Its failed exec keeps it in the
    parent's domain (its create is refused: 1, EPERM); its exec of the same file happens."""
    done = scene.sh(f"{scene.vfork} {scene.out} fail; {scene.vfork} {scene.out} self")
    assert done.stdout.splitlines() == ["vfork child 1", "vfork_self written", "vfork child 0"], \
        done
    assert scene.written() == {"vfork_self"}
