"""`@{PROC}/@{pid}/...` rules: the program's own /proc/PID, granted once its pid is known.

Real confined children (root and nobody), through `stockade run -p` (the hybrid supervisor's
launch) and through the plain launcher; explain --profile must answer as the kernel did.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from confine_helpers import PRELUDE, PY, cli, confined

from stockade.enforce.landlock import AccessFs
from stockade.enforce.plan.proc import own_proc_rules
from stockade.enforce.plan.profile import compile_file

NETSTAT_PROFILE = "/usr/share/apparmor/extra-profiles/bin.netstat"

PROFILE = """include <tunables/global>
profile ownproc {
  /usr/** rix,
  /etc/** r,
  @{PROC}/@{pid}/{status,environ,cmdline} r,
  @{PROC}/@{pid}/net/dev r,
  owner @{PROC}/@{pid}/task/@{tid}/comm r,
  deny @{PROC}/@{pid}/environ r,
}
"""

#: (what the program opens, expected) -- /proc/self is its own /proc/PID
CASES = [
    ("/proc/self/status", "OK"),
    ("/proc/self/cmdline", "OK"),
    ("/proc/self/environ", "EACCES"),  # the deny rule
    ("/proc/self/net/dev", "OK"),  # through /proc/PID/net (looked up afresh on every open)
    ("/proc/net/dev", "OK"),  # the same file by its other name
    ("/proc/thread-self/comm", "OK"),  # the main thread's task entry exists at launch
    ("/proc/self/maps", "EACCES"),  # not in the profile
]


def _profile(area) -> str:
    path = Path(area.root) / "ownproc.aa"
    path.write_text(PROFILE)
    os.chmod(path, 0o644)
    return str(path)


def _code() -> str:
    return PRELUDE + "\n".join(f"attempt(lambda: open({p!r}).read(1))" for p, _ in CASES)


def test_own_proc_through_run(area, user):
    res = cli("run", "-p", _profile(area), "--", PY, "-c", _code(), user=user)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [want for _, want in CASES]


def test_own_proc_through_plain_launcher(area, user):
    plan = compile_file(_profile(area)).plan
    res = confined(plan, [PY, "-c", _code()], user=user)
    assert res.status == 0, res.err
    assert res.lines == [want for _, want in CASES]


def test_explain_agrees_with_the_kernel(area, user):
    """explain's subject plays the program: /proc/self is its own /proc/PID."""
    prof = _profile(area)
    for path, want in CASES:
        res = cli("explain", "--profile", prof, "read", path, user=user)
        verdict = "OK" if res.returncode == 0 else "EACCES"
        assert verdict == want, (path, res.stdout)


def test_own_proc_rules_for_a_pid(area):
    """The one function the launcher, explain and the supervisor ask: expanded in /proc/PID
    only, denials taken away, /proc/PID/net files bound to the directory."""
    plan = compile_file(_profile(area)).plan
    pid = os.getpid()
    rules = {r.path: r for r in own_proc_rules(plan, pid)}
    assert f"/proc/{pid}/status" in rules
    environ = rules.get(f"/proc/{pid}/environ")
    assert environ is None or not environ.access & AccessFs.READ_FILE
    assert f"/proc/{pid}/net" in rules and f"/proc/{pid}/net/dev" not in rules
    assert f"/proc/{pid}/task/{pid}/comm" in rules
    assert all(p.startswith(f"/proc/{pid}/") for p in rules)


def test_the_second_question_for_one_process_gets_the_first_answer(area, monkeypatch):
    """The launcher and the supervisor's model ask for the same process (between its fork and
    its exec): the second gets the launcher's grants without walking /proc again; another pid,
    another plan or a reused pid (another start time) is asked afresh."""
    from stockade.enforce.plan import proc
    from stockade.enforce.status_record import start_time

    plan = compile_file(_profile(area)).plan
    walks = []
    real = proc._expand_own
    monkeypatch.setattr(proc, "_expand_own", lambda p, pid: walks.append(pid) or real(p, pid))
    monkeypatch.setattr(proc, "_last", None)
    pid = os.getpid()
    first = own_proc_rules(plan, pid)
    first.clear()  # the caller's list: the answer kept is not changed through it
    again = own_proc_rules(plan, pid)
    assert walks == [pid] and again == real(plan, pid) and again
    child = subprocess.Popen(["sleep", "5"])
    try:
        assert own_proc_rules(plan, child.pid) and walks == [pid, child.pid]
    finally:
        child.kill()
        child.wait()
    own_proc_rules(plan, pid)
    narrower = compile_file(_profile(area)).plan
    narrower.own_proc = narrower.own_proc[:1]
    own_proc_rules(narrower, pid)
    assert walks == [pid, child.pid, pid, pid]
    from stockade.enforce import status_record

    own_proc_rules(narrower, pid)
    assert len(walks) == 4
    monkeypatch.setattr(status_record, "start_time", lambda p: start_time(p) + 1)
    own_proc_rules(narrower, pid)
    assert len(walks) == 5


def _netstat(user: str, *confine: str) -> subprocess.CompletedProcess[str]:
    if confine:
        return cli("run", *confine, "--", "netstat", "-tln", user=user)
    extra = {"user": 65534, "group": 65534, "extra_groups": []} if user == "nobody" else {}
    return subprocess.run(["netstat", "-tln"], capture_output=True, text=True, timeout=30,
                          **extra)  # type: ignore[arg-type]


@pytest.mark.skipif(not shutil.which("netstat") or not os.path.exists(NETSTAT_PROFILE),
                    reason="net-tools or apparmor-profiles not installed")
@pytest.mark.parametrize("mode", [(), ("--mode", "enforce")], ids=["hybrid", "supervised"])
def test_netstat_under_its_stock_profile(user, mode):
    """Debian's bin.netstat profile: the same output as unconfined (other tests may open
    or close listeners meanwhile: the confined run must match one of two unconfined runs).
    Under --mode enforce the supervisor opens /proc/net/tcp for it: /proc/net is a link to
    self/net, which must name the program's /proc/PID, not the supervisor's."""
    before = _netstat(user)
    res = _netstat(user, *mode, "-p", NETSTAT_PROFILE)
    after = _netstat(user)
    assert res.returncode == 0, res.stderr
    assert "no support" not in res.stderr
    got = res.stdout.splitlines()
    seen, stable = {*before.stdout.splitlines(), *after.stdout.splitlines()}, \
        set(before.stdout.splitlines()) & set(after.stdout.splitlines())
    assert got[:2] == before.stdout.splitlines()[:2]  # the headers
    assert stable <= set(got) <= seen  # listeners present throughout are all listed


def test_a_deny_beneath_an_own_tree_fails_closed(area):
    """A granted tree in /proc/PID with a deny that may match beneath it loses the denied
    rights altogether (narrower: no split at launch)."""
    path = Path(area.root) / "tree.aa"
    path.write_text("include <tunables/global>\nprofile t {\n  @{PROC}/@{pid}/** r,\n"
                    "  @{PROC}/@{pid}/status r,\n  deny @{PROC}/@{pid}/environ r,\n}\n")
    pid = os.getpid()
    rules = {r.path: r for r in own_proc_rules(compile_file(str(path)).plan, pid)}
    tree = rules.get(f"/proc/{pid}")
    assert tree is None or not tree.access & AccessFs.READ_FILE
    assert rules[f"/proc/{pid}/status"].access & AccessFs.READ_FILE


def test_owner_rules_in_proc_follow_the_process_owner(area, user):
    """`owner @{PROC}/@{pid}/status r`: init's entry is root's, the program's its own."""
    path = Path(area.root) / "owner.aa"
    path.write_text("include <tunables/global>\nprofile o {\n  /usr/** rix,\n  /etc/** r,\n"
                    "  owner @{PROC}/@{pid}/status r,\n}\n")
    os.chmod(path, 0o644)
    code = PRELUDE + "attempt(lambda: open('/proc/1/status').read(1))\n" \
        "attempt(lambda: open('/proc/self/status').read(1))\n"
    res = cli("run", "-p", str(path), "--", PY, "-c", code, user=user)
    want = ["OK", "OK"] if user == "root" else ["EACCES", "OK"]
    assert res.returncode == 0 and res.stdout.split() == want, res.stderr
    res = cli("explain", "--profile", str(path), "read", "/proc/1/status", user=user)
    assert (res.returncode == 0) == (user == "root"), res.stdout
