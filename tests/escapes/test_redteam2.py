"""Red-team findings (round 2): each test runs a real confined program through `stockade run`
and asserts that the sandbox HOLDS. Each failed before its fix."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import cli

INIT_POLICY = "/usr/lib/tomoyo/init_policy"
CORE_PATTERN = Path("/proc/sys/kernel/core_pattern")


def _core_limit() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


@pytest.fixture
def tomoyo_policy() -> Iterator[Path]:
    """A policy whose only enforcing domain (<kernel> /usr/bin/sh) may start dash and nothing
    else: no file create/write anywhere."""
    if not Path(INIT_POLICY).exists():
        pytest.skip("tomoyo-tools is not installed")
    base = Path(tempfile.mkdtemp(prefix="rt2-tomoyo-base-", dir="/tmp"))
    pol = Path(tempfile.mkdtemp(prefix="rt2-tomoyo-", dir="/tmp"))
    try:
        subprocess.run([INIT_POLICY, f"policy_dir={base}"], check=True, capture_output=True)
        for name in ("profile.conf", "manager.conf"):
            (pol / name).write_text((base / name).read_text())
        (pol / "exception_policy.conf").write_text(
            (base / "exception_policy.conf").read_text() + "acl_group 0 misc env \\*\n")
        (pol / "domain_policy.conf").write_text(
            "<kernel>\nuse_profile 0\nuse_group 0\n\n"
            "<kernel> /usr/bin/sh\nuse_profile 3\nuse_group 0\n"
            "file execute /usr/bin/sh\nfile read /usr/bin/dash\nfile read /etc/ld.so.cache\n"
            "file read /usr/lib/x86_64-linux-gnu/libc.so.6\n")
        os.chmod(pol, 0o755)
        for p in pol.iterdir():
            os.chmod(p, 0o644)
        yield pol
    finally:
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(pol, ignore_errors=True)


def test_tomoyo_core_dump_writes_where_policy_denies(tomoyo_policy: Path, user: str) -> None:
    if CORE_PATTERN.read_text().startswith("|"):
        pytest.skip("core_pattern pipes to a helper")
    target = Path(tempfile.mkdtemp(prefix="rt2-core-", dir="/tmp"))
    try:
        os.chmod(target, 0o777)
        if user == "root":  # an existing file of the same owner is overwritten
            (target / "core").write_text("SECRET\n")
            os.chmod(target / "core", 0o600)
        res = cli("run", "--mode", "enforce", "--lsm", "capability,tomoyo", "--module-option",
                  f"tomoyo.policy_dir={tomoyo_policy}", "--", "/usr/bin/sh", "-c",
                  f"cd {target}; echo hi > {target}/probe; kill -SEGV $$",
                  user=user, timeout=60, preexec_fn=_core_limit)
        assert "probe" in res.stderr  # the policy refuses creating files there
        assert not (target / "probe").exists()
        found = sorted(p.name for p in target.iterdir())
        if user == "root":
            assert (target / "core").read_bytes() == b"SECRET\n", found
        else:
            assert found == [], found
    finally:
        shutil.rmtree(target, ignore_errors=True)


@pytest.fixture
def tomoyo_python_policy(tomoyo_policy: Path) -> Path:
    """A domain for /usr/bin/python3 that may read (and stat) everything and write nothing."""
    (tomoyo_policy / "domain_policy.conf").write_text(
        "<kernel>\nuse_profile 0\nuse_group 0\n\n"
        "<kernel> /usr/bin/python3\nuse_profile 3\nuse_group 0\n"
        "file execute /usr/bin/python3\nfile read /\\{\\*\\}/\\*\nfile read /\\*\n"
        "file getattr /\\{\\*\\}/\\*\nfile getattr /\\*\n"
        "file ioctl /\\{\\*\\}/\\* 0-0xFFFFFFFF\n")
    return tomoyo_policy


def test_tomoyo_run_sets_times_and_xattrs_anywhere(tomoyo_python_policy: Path,
                                                  user: str) -> None:
    victim = Path(tempfile.mkdtemp(prefix="rt2-attr-", dir="/tmp")) / "victim"
    try:
        os.chmod(victim.parent, 0o755)
        victim.write_text("v\n")
        os.chmod(victim, 0o666)  # DAC lets nobody write it: only the policy stands in the way
        os.utime(victim, (946684800, 946684800))
        code = ("import os\n"
                "def t(f):\n"
                "    try:\n        f(); return 'OK'\n"
                "    except OSError as e:\n        return e.errno\n"
                f"print(t(lambda: os.utime({str(victim)!r})),"
                f" t(lambda: os.setxattr({str(victim)!r}, 'user.rt2', b'1')),"
                f" t(lambda: open({str(victim)!r}, 'a').close()))\n")
        res = cli("run", "--mode", "enforce", "--lsm", "capability,tomoyo", "--module-option",
                  f"tomoyo.policy_dir={tomoyo_python_policy}", "--", "/usr/bin/python3", "-c",
                  code, user=user, timeout=60)
        assert res.stdout.split()[-1] != "OK", res.stdout + res.stderr  # writing is denied
        assert os.stat(victim).st_mtime == 946684800
        assert "user.rt2" not in os.listxattr(victim)
    finally:
        shutil.rmtree(victim.parent, ignore_errors=True)


def test_biba_core_dump_writes_up(user: str) -> None:
    if CORE_PATTERN.read_text().startswith("|"):
        pytest.skip("core_pattern pipes to a helper")
    target = Path(tempfile.mkdtemp(prefix="rt2-biba-", dir="/tmp"))
    try:
        os.chmod(target, 0o777)
        os.setxattr(target, "user.stockade.biba", b"high")
        res = cli("run", "--mode", "enforce", "--lsm", "capability,biba", "--context",
                  "biba=low", "--rx", "/usr", "--rw", str(target), "--", "/usr/bin/sh", "-c",
                  f"cd {target}; echo hi > {target}/probe; kill -SEGV $$",
                  user=user, timeout=60, preexec_fn=_core_limit)
        assert "probe" in res.stderr  # biba refuses writing up
        assert sorted(p.name for p in target.iterdir()) == []
    finally:
        shutil.rmtree(target, ignore_errors=True)


ORPHAN = """
import os, sys, time
out = sys.argv[1]
def write(name):
    try:
        with open(os.path.join(out, name), "w") as f:
            f.write("x")
        print(name + ":OK", flush=True)
    except OSError as e:
        print(name + ":%d" % e.errno, flush=True)
write("direct")
if os.fork() == 0:
    time.sleep(0.5)  # orphaned by then: re-parented to the launcher (the child subreaper)
    write("escaped")
    os._exit(0)
os._exit(0)
"""


def test_tomoyo_orphan_adopted_by_the_launcher_keeps_no_wider_domain(tomoyo_policy: Path,
                                                                   user: str) -> None:
    """Red team 8: under --allow-keyring the launcher is the child subreaper, so the orphan of a
    process that had changed domain was re-parented to it, counted as the tree's root and given
    the program's first (wider) domain, which may write out/."""
    out = Path(tempfile.mkdtemp(prefix="rt8-out-", dir="/tmp"))
    try:
        os.chown(out, 65534 if user == "nobody" else 0, -1)
        py = os.path.realpath("/usr/bin/python3")
        (tomoyo_policy / "exception_policy.conf").write_text(
            (tomoyo_policy / "exception_policy.conf").read_text()
            + "acl_group 0 file read /\\*\nacl_group 0 file read /\\{\\*\\}/\\*\n"
            "acl_group 0 file read /\nacl_group 0 file read /\\{\\*\\}/\n"
            "acl_group 0 file getattr /\\*\nacl_group 0 file getattr /\\{\\*\\}/\\*\n"
            "acl_group 0 file getattr /\nacl_group 0 file getattr /\\{\\*\\}/\n")
        (tomoyo_policy / "domain_policy.conf").write_text(
            "<kernel>\nuse_profile 0\nuse_group 0\n\n"
            f"<kernel> /usr/bin/sh\nuse_profile 3\nuse_group 0\nfile execute {py}\n"
            "file execute /usr/bin/sleep\n"
            f"file create {out}/\\* 0-0777\nfile write {out}/\\*\nfile truncate {out}/\\*\n\n"
            f"<kernel> /usr/bin/sh {py}\nuse_profile 3\nuse_group 0\n")
        res = cli("run", "--mode", "enforce", "--lsm", "capability,tomoyo", "--module-option",
                  f"tomoyo.policy_dir={tomoyo_policy}", "--no-status-record", "--no-cache",
                  "--allow-keyring", "--", "/usr/bin/sh", "-c",
                  f"{py} -c '{ORPHAN}' {out}; sleep 1; true", user=user, timeout=60)
        assert res.stdout.split() == ["direct:1", "escaped:13"], res
        assert list(out.iterdir()) == []
    finally:
        shutil.rmtree(out, ignore_errors=True)
