"""`stockade status`: checked against sources independent of stockade's own probes."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stockade.host import confinement as conf
from stockade.host import lsm
from stockade.host.lockdown import lockdown_level

KEYS = {"lsms", "major", "landlock_abi", "lockdown", "yama_ptrace_scope", "seccomp", "bpf_lsm",
        "unprivileged_userns", "audit", "apparmor", "selinux", "network", "process", "plan_cache",
        "confined"}
# include/uapi/linux/lsm.h, copied here so the test does not trust stockade's table
LSM_ID = {100: "capability", 101: "selinux", 102: "smack", 103: "tomoyo", 104: "apparmor",
          105: "yama", 106: "loadpin", 107: "safesetid", 108: "lockdown", 109: "bpf",
          110: "landlock", 111: "ima", 112: "evm", 113: "ipe"}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def status(*args: str) -> dict:
    out = cli("status", "--json", *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def kernel_lsms() -> list[str]:
    """The truth: securityfs if mounted, else the lsm_list_modules syscall called here."""
    try:
        return Path("/sys/kernel/security/lsm").read_text().strip().split(",")
    except OSError:
        pass
    if os.uname().machine not in ("x86_64", "aarch64"):
        pytest.skip("no independent LSM list on this architecture")
    libc = ctypes.CDLL(None, use_errno=True)
    ids = (ctypes.c_uint64 * 32)()
    size = ctypes.c_uint32(ctypes.sizeof(ids))
    n = libc.syscall(461, ids, ctypes.byref(size), 0)
    if n < 0:
        pytest.skip("neither securityfs nor lsm_list_modules (Linux 6.8+) is available")
    return [LSM_ID[ids[i]] for i in range(n)]


def test_json_has_exactly_the_stable_keys() -> None:
    assert set(status()) == KEYS


def test_plan_cache_location_follows_xdg_cache_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # the marks' place, for non-root
    plans = tmp_path / "stockade" / "plans"
    plans.mkdir(parents=True, mode=0o700)
    (plans / "x.json").write_text("{}")
    cache = status()["plan_cache"]
    if cache["marks"]:  # root's marks are in /run/stockade, shared with other runs
        pytest.skip(f"another run holds the plan cache key exposed: {cache['off']}")
    assert cache == {"directory": str(plans), "entries": 1, "off": None, "marks": []}
    plans.chmod(0o755)  # a run refuses a cache others may read: status says so
    assert "is not a private directory" in status()["plan_cache"]["off"]


def test_lsms_are_the_kernels_in_order() -> None:
    doc = status()
    truth = kernel_lsms()
    assert doc["lsms"] == truth
    assert doc["bpf_lsm"] == ("bpf" in truth)
    assert doc["major"] == next((m for m in truth if m in ("selinux", "apparmor", "smack", "tomoyo")),
                                None)
    if not Path("/sys/kernel/security/lockdown").exists():
        assert ("unknown" in doc["lockdown"]) == ("lockdown" in truth)


def test_landlock_seccomp_yama_against_the_kernel() -> None:
    doc = status()
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(444, None, ctypes.c_size_t(0), 1)
    assert doc["landlock_abi"] == max(abi, 0)
    actions = Path("/proc/sys/kernel/seccomp/actions_avail").read_text().split()
    assert doc["seccomp"]["actions"] == actions
    assert doc["seccomp"]["filter_flags"]["tsync"] is True  # Linux 3.17
    yama = Path("/proc/sys/kernel/yama/ptrace_scope")
    assert doc["yama_ptrace_scope"] == (int(yama.read_text()) if yama.exists() else None)
    assert isinstance(doc["unprivileged_userns"], bool)
    assert doc["audit"]["method"]
    assert doc["apparmor"] is None or "apparmor" in doc["lsms"]
    assert doc["selinux"] is None or "selinux" in doc["lsms"]
    assert {"nftables", "iptables", "rules_loaded"} <= set(doc["network"])


def test_process_of_a_seccomp_filtered_child() -> None:
    """A child with no_new_privs, one seccomp filter and no capabilities, seen from outside."""
    child = textwrap.dedent("""
        import ctypes, os, struct, sys, time
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.prctl(38, 1, 0, 0, 0) == 0            # PR_SET_NO_NEW_PRIVS
        insn = struct.pack("HBBI", 0x06, 0, 0, 0x7fff0000)  # BPF_RET|BPF_K, SECCOMP_RET_ALLOW
        buf = ctypes.create_string_buffer(insn)
        class Prog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
        prog = Prog(1, ctypes.cast(buf, ctypes.c_void_p))
        assert libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0  # PR_SET_SECCOMP, FILTER
        if os.getuid() == 0:
            os.setgid(65534); os.setuid(65534)             # drops every capability
        print("ready", flush=True)
        time.sleep(30)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        doc = status("--pid", str(proc.pid))["process"]
        assert doc["pid"] == proc.pid
        assert doc["no_new_privs"] is True
        assert doc["seccomp"] == {"mode": "filter", "filters": 1}
        if os.getuid() == 0:
            assert doc["uid"]["effective"] == 65534
            assert doc["capabilities"]["effective"] == []
        assert doc["stockade"]["confined"] is False
    finally:
        proc.kill()
        proc.wait()


def test_caller_capabilities_decoded() -> None:
    doc = status()["process"]
    status_text = Path(f"/proc/{os.getpid()}/status").read_text()
    eff = int(next(ln.split()[1] for ln in status_text.splitlines() if ln.startswith("CapEff")), 16)
    from stockade.lsm.caps import CAP_NAMES
    expected = [CAP_NAMES[i] for i in range(len(CAP_NAMES)) if eff >> i & 1]
    assert doc["capabilities"]["effective"] == expected
    assert doc["uid"]["real"] == os.getuid()


def test_dead_pid_is_one_line_error() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    out = cli("status", "--pid", str(proc.pid))
    assert out.returncode != 0
    assert out.stderr.strip() == f"stockade status: no such process: {proc.pid}"


def test_human_output_shows_the_layers() -> None:
    out = cli("status")
    assert out.returncode == 0, out.stderr
    for word in ("network", "host/OS", "DAC", "seccomp", "LSMs", "audit", "process", "landlock"):
        assert word in out.stdout


def test_failing_probe_does_not_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    from stockade.host import posture

    def boom() -> None:
        raise RuntimeError("probe exploded")

    monkeypatch.setattr(posture, "network_status", boom)
    doc, details = posture.host_posture(os.getpid())
    assert doc["network"] == {"error": "RuntimeError: probe exploded"}
    assert "network" in details["errors"]
    assert set(doc) == KEYS


# --- LSM list fallbacks and lockdown, on files written here -------------------------------------

def test_lsm_sources(tmp_path: Path) -> None:
    f = tmp_path / "lsm"
    f.write_text("lockdown,capability,yama,apparmor\n")
    assert lsm.from_securityfs(str(f)) == ["lockdown", "capability", "yama", "apparmor"]
    assert lsm.from_securityfs(str(tmp_path / "absent")) is None
    c = tmp_path / "cmdline"
    c.write_text("quiet lsm=landlock,lockdown,yama,integrity,apparmor,bpf splash\n")
    assert lsm.from_cmdline(str(c)) == ["landlock", "lockdown", "yama", "integrity", "apparmor", "bpf"]
    c.write_text("quiet\n")
    assert lsm.from_cmdline(str(c)) is None
    assert lsm.major_lsm(["capability", "landlock", "apparmor"]) == "apparmor"
    assert lsm.major_lsm(["capability", "landlock"]) is None


def test_lockdown_levels(tmp_path: Path) -> None:
    f = tmp_path / "lockdown"
    f.write_text("none [integrity] confidentiality\n")
    assert lockdown_level([], str(f)) == "integrity"
    assert lockdown_level(["lockdown"], str(tmp_path / "x")).startswith("unknown")
    assert lockdown_level(["capability"], str(tmp_path / "x")) == "inactive"


# --- the launcher's convention: "confined by stockade" -------------------------------------------

def test_confinement_record_and_inheritance(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess,sys; p=subprocess.Popen(['sleep','30']);"
                               "print(p.pid, flush=True); p.wait()"],
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "STOCKADE_PROFILE": "web"})
    child = 0
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        uid = os.getuid()
        assert conf.confinement(parent.pid, uid, [tmp_path]) == {"confined": None, "profile": "web",
            "source": "STOCKADE_PROFILE only",
            "note": "no launcher record: the variable alone does not prove confinement"}
        record = {"pid": parent.pid, "profile": "web", "mode": "enforce",
                  "start_time": conf.start_time(parent.pid)}
        (tmp_path / f"{parent.pid}.json").write_text(json.dumps(record))
        mine = conf.confinement(parent.pid, uid, [tmp_path])
        assert (mine["confined"], mine["profile"], mine["inherited"]) == (True, "web", False)
        theirs = conf.confinement(child, uid, [tmp_path])
        assert (theirs["confined"], theirs["confined_pid"], theirs["inherited"]) == (True, parent.pid, True)
        # a stale record (pid reused by another process) is not believed
        record["start_time"] = 1
        (tmp_path / f"{parent.pid}.json").write_text(json.dumps(record))
        assert conf.confinement(child, uid, [tmp_path])["confined"] is not True
    finally:
        if child:
            os.kill(child, 9)
        parent.kill()
        parent.wait()


def test_status_and_explain_read_the_selinux_config_alike(tmp_path) -> None:
    """/etc/selinux/config is parsed in one place: `status` names the policy type `explain`
    loads, blanks and quotes included (status read `SELINUXTYPE="mls"` as `"mls"`, and not
    ` SELINUXTYPE=mls` at all)."""
    from stockade.host.selinux import selinux_status
    from stockade.modules.selinux.hostconfig import host_policy

    for line in ('SELINUXTYPE="mls"', " SELINUXTYPE = mls ", "SELINUXTYPE=mls"):
        (tmp_path / "mls" / "policy").mkdir(parents=True, exist_ok=True)
        (tmp_path / "mls" / "policy" / "policy.33").write_bytes(b"")
        config = tmp_path / "config"
        config.write_text(f"# SELINUXTYPE=targeted\nSELINUX=permissive\n{line}\n")
        status = selinux_status(["selinux"], root=str(tmp_path / "nofs"), config=str(config))
        explained = host_policy(str(config))
        assert status is not None and explained is not None
        assert status["policy"] == explained.name == "mls", line
