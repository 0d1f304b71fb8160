"""The plan compiler: each rule kind -> mechanism and status; the Debian corpus sweep; CLI."""

from __future__ import annotations

import errno
import glob
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from stockade.enforce import landlock as ll
from stockade.enforce.caps import cap_number
from stockade.enforce.plan.glob import DIR, FILE, TREE, expand
from stockade.enforce.plan.profile import compile_plan, select_profile
from stockade.enforce.plan.syscalls import rlimit_value
from stockade.enforce.plan.types import CoverageStatus
from stockade.errors import StockadeError
from stockade.policy import compile_profiles

A = ll.AccessFs
REPO = Path(__file__).resolve().parents[2]
EXTRA = "/usr/share/apparmor/extra-profiles"


def plan_of(tmp_path: Path, body: str, abi: int = 7, flags: str = ""):
    path = tmp_path / "p.aa"
    path.write_text(f"profile t {flags}{{\n{body}\n}}\n")
    return compile_plan(compile_profiles(str(path))[0], abi=abi)


def entry(pp, text: str):
    found = [e for e in pp.coverage.entries if e.rule.startswith(text)]
    assert found, [e.rule for e in pp.coverage.entries]
    return found[0]


def rules(pp) -> dict[str, A]:
    return {r.path: r.access for r in pp.plan.fs_rules}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "t"
    for d in ("a/x", "a/y", "b"):
        (root / d).mkdir(parents=True)
    for f in ("a/x/1.txt", "a/x/2.log", "a/y/3.txt", "b/4.txt", "top.txt"):
        (root / f).write_text(f)
    (root / "link").symlink_to(root / "b")
    return root


def test_glob_expansion(tree: Path):
    assert expand(f"{tree}/**").targets[0].kind == TREE
    assert {t.path for t in expand(f"{tree}/a/*/*.txt").targets} == {
        f"{tree}/a/x/1.txt", f"{tree}/a/y/3.txt"}
    assert {(t.path, t.kind) for t in expand(f"{tree}/{{a,b}}/").targets} == {
        (f"{tree}/a", DIR), (f"{tree}/b", DIR)}
    deep = expand(f"{tree}/**/*.log")
    assert [t.path for t in deep.targets] == [f"{tree}/a/x/2.log"] and deep.glob
    assert expand(f"{tree}/link/4.txt").targets == []  # AppArmor mediates the resolved path
    assert expand(f"{tree}/missing").missing[0].path == f"{tree}/missing"
    assert expand(f"{tree}/top.txt").targets[0].kind == FILE
    capped = expand(f"{tree}/**/*", max_visits=2)
    assert capped.truncated and "expansion stopped" in capped.notes[0]


def test_file_rights_and_statuses(tmp_path: Path, tree: Path):
    pp = plan_of(tmp_path, f"""
  {tree}/ r,
  {tree}/** r,
  {tree}/a/** rw,
  {tree}/top.txt w,
  {tree}/b/4.txt a,
  {tree}/b/** ix,
  {tree}/b/ k,
  owner {tree}/a/y/** r,
""")
    got = rules(pp)
    # top.txt w: the program may replace it (a new inode): granted through its directory
    replace = (A.WRITE_FILE | A.TRUNCATE | A.IOCTL_DEV | A.MAKE_REG | A.REMOVE_FILE
               | A.MAKE_SYM | A.MAKE_FIFO | A.MAKE_SOCK)
    assert got[str(tree)] == A.READ_FILE | A.READ_DIR | A.IOCTL_DEV | replace
    assert got[f"{tree}/a"] >= A.MAKE_REG | A.REMOVE_FILE | A.WRITE_FILE | A.TRUNCATE
    assert got[f"{tree}/top.txt"] == A.WRITE_FILE | A.TRUNCATE | A.IOCTL_DEV
    assert got[f"{tree}/b/4.txt"] == A.WRITE_FILE
    assert got[f"{tree}/b"] >= A.EXECUTE | A.WRITE_FILE | A.MAKE_REG  # 4.txt a, recreated
    assert A.REMOVE_FILE not in got[f"{tree}/b"]  # a lets it grow, not go
    assert entry(pp, f"{tree}/** r").status is CoverageStatus.EXACT
    assert entry(pp, f"{tree}/a/** rw").status is CoverageStatus.EXACT
    top = entry(pp, f"{tree}/top.txt w")
    assert top.status is CoverageStatus.APPROXIMATED
    assert f"granted through {tree} " in top.detail and "new inode" in top.detail
    assert "O_APPEND" in entry(pp, f"{tree}/b/4.txt a").detail
    assert entry(pp, f"{tree}/b/** ix").status is CoverageStatus.EXACT
    assert entry(pp, f"{tree}/b/ k").status is CoverageStatus.NOT_ENFORCED
    owner = entry(pp, "owner")
    assert owner.status is CoverageStatus.APPROXIMATED and owner.enforced_by == "supervisor"


def test_exec_modes(tmp_path: Path):
    pp = plan_of(tmp_path, "/usr/bin/true rix,\n/usr/bin/env Px -> other,\n/usr/bin/id ux,")
    assert entry(pp, "/usr/bin/true rix").status is CoverageStatus.EXACT
    px = entry(pp, "/usr/bin/env Px")
    assert px.status is CoverageStatus.APPROXIMATED and "profile other" in px.detail
    assert "stays confined" in entry(pp, "/usr/bin/id ux").detail
    assert rules(pp)["/usr/bin/true"] == A.EXECUTE | A.READ_FILE | A.IOCTL_DEV
    # execve opens the program for reading: x alone grants read_file too, and says so
    bare = plan_of(tmp_path, "/usr/bin/true ix,")
    assert rules(bare)["/usr/bin/true"] == A.EXECUTE | A.READ_FILE
    assert "can also be read" in entry(bare, "/usr/bin/true ix").detail


def test_deny_splits_the_tree(tmp_path: Path, tree: Path):
    pp = plan_of(tmp_path, f"{tree}/** rw,\ndeny {tree}/a/x/1.txt r,")
    got = rules(pp)
    assert A.READ_FILE not in got[str(tree)] and A.WRITE_FILE in got[str(tree)]
    assert f"{tree}/a" not in got and f"{tree}/a/x" not in got  # inherit the reduced rights
    for sibling in ("top.txt", "b", "a/y", "a/x/2.log"):
        assert A.READ_FILE in got[f"{tree}/{sibling}"], sibling
    assert f"{tree}/a/x/1.txt" not in got
    assert f"{tree}/link" not in got  # links are never granted
    deny = entry(pp, "deny")
    assert deny.status is CoverageStatus.APPROXIMATED and "split 3" in deny.detail
    # a deny of a glob inside the tree, and a deny of a directory itself
    pp = plan_of(tmp_path, f"{tree}/** r,\ndeny {tree}/a/*/*.txt r,\ndeny {tree}/b/ r,")
    got = rules(pp)
    assert f"{tree}/a/x/1.txt" not in got and f"{tree}/a/x/2.log" in got
    assert A.READ_DIR not in got.get(f"{tree}/b", A(0)) and f"{tree}/b/4.txt" in got
    # nothing granted there: exact
    pp = plan_of(tmp_path, f"{tree}/a/** r,\ndeny {tree}/b/** r,")
    assert entry(pp, "deny").status is CoverageStatus.EXACT


def test_deny_not_fully_expanded_fails_closed(tmp_path: Path, tree: Path):
    """More than 256 alternatives: the rights go from everything beneath the pattern's
    literal directory (the granted tree above it is split down to it), never silently kept."""
    alts = ",".join(["x", *(f"n{i}" for i in range(300))])
    pp = plan_of(tmp_path, f"{tree}/** rw,\ndeny {tree}/a/{{{alts}}}/** w,")
    got = rules(pp)
    assert A.WRITE_FILE not in got.get(f"{tree}/a/x", A(0))
    assert A.WRITE_FILE not in got.get(f"{tree}/a/y", A(0))  # beyond the rule: fail closed
    assert A.WRITE_FILE in got[f"{tree}/b"] and A.READ_FILE in got[str(tree)]  # reads stay
    deny = entry(pp, "deny")
    assert deny.status is CoverageStatus.APPROXIMATED
    assert f"removed from everything beneath {tree}/a" in deny.detail
    assert "nothing is granted" not in deny.detail
    # outside every grant: nothing is lost, and it says so
    pp = plan_of(tmp_path, f"{tree}/b/** rw,\ndeny {tree}/a/{{{alts}}}/** w,")
    deny = entry(pp, "deny")
    assert deny.status is CoverageStatus.EXACT and "nothing is lost" in deny.detail


def test_network(tmp_path: Path):
    pp = plan_of(tmp_path, "network inet stream peer=(port=443),\nnetwork inet dgram,\n"
                 "network inet6 stream port=8080,")
    plan = pp.plan
    assert {(r.port, r.access) for r in plan.net_rules} == {
        (443, ll.AccessNet.CONNECT_TCP), (8080, ll.AccessNet.BIND_TCP)}
    assert plan.handled_net == ll.ALL_NET
    sock = [r for r in plan.seccomp_rules if r.syscall == "socket"]
    assert any(r.action.value == errno.EAFNOSUPPORT for r in sock)
    assert entry(pp, "network inet stream peer").status is CoverageStatus.EXACT
    v4 = plan_of(tmp_path, "network inet stream peer=(port=443),", abi=3)
    assert entry(v4, "network").status is CoverageStatus.NOT_ENFORCED
    assert "ABI 4" in entry(v4, "network").enforced_by
    everything = plan_of(tmp_path, "network,\nnetwork inet tcp,").plan
    assert everything.handled_net == ll.AccessNet(0)
    assert not [r for r in everything.seccomp_rules if r.source == "profile network rules"]
    ip = plan_of(tmp_path, "network inet stream peer=(ip=10.0.0.1 port=22),")
    assert "ip=" in entry(ip, "network").detail


def test_signal_ptrace_unix_scopes(tmp_path: Path):
    none = plan_of(tmp_path, "").plan
    assert none.scopes == ll.ALL_SCOPES
    assert {"ptrace", "pidfd_getfd"} <= {r.syscall for r in none.seccomp_rules}
    pp = plan_of(tmp_path, "signal (send) peer=unconfined,\nptrace (trace) peer=t,\n"
                 "unix (connect) addr=@foo,\nunix (connect) addr=none,")
    assert pp.plan.scopes == ll.Scope.SIGNAL  # peer= is narrower than Landlock can lift to
    assert "ptrace" not in {r.syscall for r in pp.plan.seccomp_rules}
    assert entry(pp, "ptrace").status is CoverageStatus.EXACT
    assert entry(pp, "signal").status is CoverageStatus.APPROXIMATED
    assert entry(pp, "unix (connect) addr=none").status is CoverageStatus.APPROXIMATED
    assert "scope is kept" in entry(pp, "signal").detail
    self_signal = plan_of(tmp_path, "signal (send) peer=t,").plan
    assert ll.Scope.SIGNAL in self_signal.scopes


def test_only_an_unrestricted_signal_rule_lifts_the_scope(tmp_path: Path):
    for narrow in ('signal (receive, send) set=("exists"),', "signal send set=(exists),",
                   "signal send set=(term),", "signal peer=other,"):
        pp = plan_of(tmp_path, narrow)
        assert ll.Scope.SIGNAL in pp.plan.scopes, narrow
        assert entry(pp, "signal").status is CoverageStatus.APPROXIMATED, narrow
    assert "signal 0" in entry(plan_of(tmp_path, "signal send set=(exists),"), "signal").detail
    wide = plan_of(tmp_path, "signal send,")
    assert ll.Scope.SIGNAL not in wide.plan.scopes
    assert entry(wide, "signal").status is CoverageStatus.APPROXIMATED  # the launcher guard
    assert "launcher" in entry(wide, "signal").detail
    both = plan_of(tmp_path, 'signal send,\nsignal (send) set=("exists"),')
    assert ll.Scope.SIGNAL not in both.plan.scopes
    assert entry(both, 'signal (send) set').status is CoverageStatus.EXACT


def test_capabilities_unlock_calls(tmp_path: Path):
    pp = plan_of(tmp_path, "capability sys_module sys_rawio chown,\ndeny capability chown,\n"
                 "audit capability net_raw,")
    assert set(pp.plan.keep_caps) == {cap_number(c) for c in ("sys_module", "sys_rawio", "net_raw")}
    calls = {r.syscall for r in pp.plan.seccomp_rules}
    assert not {"init_module", "iopl", "ioperm"} & calls
    assert {"reboot", "bpf", "perf_event_open"} <= calls
    assert "not logged" in entry(pp, "audit capability").detail


def test_mount_userns_io_uring_and_the_rest(tmp_path: Path):
    pp = plan_of(tmp_path, "capability sys_admin,\nmount fstype=tmpfs -> /mnt/,\nuserns,\n"
                 "io_uring,\ndbus,\nmqueue,\nchange_profile -> other,\npivot_root,")
    calls = {(r.syscall, r.reason.split(":")[0]) for r in pp.plan.seccomp_rules}
    assert ("unshare", "CLONE_NEWUSER") not in calls and ("unshare", "CLONE_NEWNS") in calls
    assert not any(c[0].startswith("io_uring") for c in calls)
    assert ("mount", "changes the mount table (Landlock rules are path-based)") in calls
    assert "Landlock refuses" in entry(pp, "mount").detail
    assert entry(pp, "dbus").status is CoverageStatus.NOT_ENFORCED
    assert entry(pp, "mqueue").status is CoverageStatus.NOT_ENFORCED
    assert entry(pp, "change_profile").status is CoverageStatus.APPROXIMATED
    assert entry(pp, "userns").status is CoverageStatus.EXACT
    no_cap = plan_of(tmp_path, "mount,")
    assert entry(no_cap, "mount").status is CoverageStatus.EXACT


def test_rlimits(tmp_path: Path):
    assert rlimit_value("nofile", "1024") == 1024
    assert rlimit_value("as", "1G") == 1 << 30
    assert rlimit_value("cpu", "2min") == 120
    assert rlimit_value("cpu", "1 hour") == 3600  # the parser's own time units
    assert rlimit_value("nice", "-5") == 25
    with pytest.raises(ValueError):
        rlimit_value("nofile", "12K")
    pp = plan_of(tmp_path, "set rlimit nofile <= 100,\nset rlimit nofile <= 200,\n"
                 "set rlimit stack <= 8M,")
    assert pp.plan.rlimits == {resource.RLIMIT_NOFILE: 100, resource.RLIMIT_STACK: 8 << 20}
    assert all(e.status is CoverageStatus.EXACT for e in pp.coverage.entries)


def test_flags(tmp_path: Path):
    complain = plan_of(tmp_path, "/etc/hostname r,", flags="flags=(complain) ")
    assert entry(complain, "flags=(complain)").status is CoverageStatus.SUPERVISOR
    kill = plan_of(tmp_path, "", flags="flags=(kill) ")
    assert entry(kill, "flags=(kill)").status is CoverageStatus.APPROXIMATED
    unconfined = plan_of(tmp_path, "/etc/hostname r,", flags="flags=(unconfined) ")
    assert unconfined.plan.handled_fs == A(0) and not unconfined.plan.seccomp_rules
    assert unconfined.mode == "unconfined" and "unconfined" in unconfined.notes[0]


def test_every_rule_has_one_entry_in_source_order(tmp_path: Path):
    body = "/etc/hostname r,\ncapability chown,\nnetwork inet,\nsignal,\n/etc/hosts r,"
    pp = plan_of(tmp_path, body)
    assert [e.rule for e in pp.coverage.entries] == [line for line in body.splitlines()]


def test_select_profile(tmp_path: Path):
    path = tmp_path / "two.aa"
    path.write_text("profile a { }\nprofile b /usr/bin/b { }\n")
    profs = compile_profiles(str(path))
    assert select_profile(profs, None).name == "b"  # the only one that attaches
    assert select_profile(profs, "/usr/bin/b").name == "b"
    path.write_text("profile a { }\nprofile b { }\n")
    with pytest.raises(StockadeError, match="--profile-name"):
        select_profile(compile_profiles(str(path)), None)
    with pytest.raises(StockadeError, match="no profile named"):
        select_profile(profs, "c")


@pytest.mark.skipif(not os.path.isdir(EXTRA), reason="apparmor-profiles not installed")
def test_debian_extra_profiles_sweep():
    count = 0
    for path in sorted(glob.glob(f"{EXTRA}/*")):
        if os.path.basename(path) == "README":
            continue
        for top in compile_profiles(path):
            for prof in top.walk():
                pp = compile_plan(prof)
                assert len(pp.coverage.entries) >= len(prof.rules), path
                listed = {(e.source, e.rule) for e in pp.coverage.entries}
                for rule in prof.rules:
                    text = " ".join(rule.text.split()) or rule.kind
                    assert (f"{rule.pos.file}:{rule.pos.line}", text) in listed, (path, text)
                count += 1
    assert count > 100


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", *args], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})


@pytest.mark.skipif(not os.path.exists(f"{EXTRA}/usr.bin.man"), reason="no usr.bin.man")
def test_compile_cli_json_and_abi():
    res = _cli("compile", "--json", f"{EXTRA}/usr.bin.man")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert set(doc) == {"profile", "mode", "landlock_abi", "plan", "rlimits", "coverage",
                        "kernel", "kernel_grants", "summary", "exact", "notes"}
    assert doc["profile"] == "/usr/bin/man" and doc["coverage"]
    assert all(e["status"] in ("exact", "approximated", "supervisor", "not-enforced")
               for e in doc["coverage"])
    old = json.loads(_cli("compile", "--json", "--abi", "2", f"{EXTRA}/usr.bin.man").stdout)
    assert old["landlock_abi"] == 2 and not old["exact"]
    assert any("fs.truncate" in e["rule"] and e["status"] == "not-enforced"
               and "ABI 3" in e["enforced_by"] for e in old["kernel"])
    human = _cli("compile", f"{EXTRA}/usr.bin.man")
    assert "coverage of the profile's rules" in human.stdout
    assert _cli("compile", "--abi", "9", f"{EXTRA}/usr.bin.man").returncode == 2
    assert _cli("compile", "/nonexistent.aa").returncode == 2


def test_a_deny_splitting_a_granted_tree_lists_each_directory_once(tmp_path: Path,
                                                                   monkeypatch) -> None:
    """The directories a deny splits are listed through the build's cache (BuildCache), as
    the globs list them: once per build, and the same listing for both."""
    from stockade import fsview

    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    for name in ("a", "b", "sub/secret", "sub/other"):
        (d / name).write_text(name)
    listed: list[str] = []
    real = fsview.scandir

    def counting(path):
        listed.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(fsview, "scandir", counting)
    pp = plan_of(tmp_path, f"  {d}/** rw,\n  {d}/* r,\n  {d}/sub/* r,\n"
                           f"  deny {d}/sub/secret w,")
    got = rules(pp)
    assert not got[f"{d}/sub/secret"] & A.WRITE_FILE and got[f"{d}/sub/other"] & A.WRITE_FILE
    assert sorted(p for p in listed if p.startswith(str(d))) == [str(d), f"{d}/sub"], listed


def test_rule_text_is_the_rule_on_one_line_of_single_spaces() -> None:
    """rule_text returns a rule already on one line of single spaces as it is (the common
    case) and joins the words of any other, as `" ".join(text.split())`: generated texts of
    every kind of blank split() knows, and `rule.kind` for a rule of no text."""
    import random
    from types import SimpleNamespace

    from stockade.enforce.plan.common import rule_text

    blanks = [chr(c) for c in range(0x3001) if chr(c).isspace()]
    pieces = [*blanks, "a", "/", ",", "*", "\x01", "é", "  "]
    rng = random.Random(3)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        rule = SimpleNamespace(text=text, kind="file")
        assert rule_text(rule) == (" ".join(text.split()) or "file"), repr(text)
