"""`stockade import --from tomoyo`: a domain as an AppArmor-syntax profile that
apparmor_parser accepts, exact where it converts, a comment where it cannot (fail closed),
and enforceable by `stockade run -p` (Landlock + seccomp)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from confine_helpers import cli, unconfinable_reason

from stockade.modules.tomoyo.policy import Policy, parse_domain_policy, parse_exception_policy
from stockade.modules.tomoyo.to_apparmor import NotConverted, aare, convert

APPARMOR_PARSER = shutil.which("apparmor_parser") or "/sbin/apparmor_parser"
DOMAINS = """<kernel> /usr/bin/cat
use_profile 3
use_group 0
file read /etc/hostname
file read/write /tmp/x\\040y
file append /var/log/\\*.log
file create /tmp/\\{\\*\\}/f\\+ 0600
file unlink /tmp/\\{\\*\\}/f\\+
file rename /tmp/a /tmp/b
file link /tmp/old /tmp/new
file execute /usr/bin/true
file read /home/\\$/x
file read /etc/passwd task.uid=0
network inet stream connect 127.0.0.1 80
misc env HOME
file getattr /etc/shadow
file read @CONF
"""


def policy() -> Policy:
    pol = Policy()
    parse_domain_policy(DOMAINS, pol)
    parse_exception_policy("path_group CONF /etc/host\\*\nacl_group 0 file read /etc/group\n",
                           pol)
    assert pol.errors == []
    return pol


@pytest.mark.parametrize(("name", "expected"), [
    ("/etc/hostname", "/etc/hostname"),
    ("/tmp/x\\040y", "/tmp/x y"),
    ("/usr/lib/lib\\*.so\\*", "/usr/lib/lib*.so*"),
    ("/home/\\{\\*\\}/x", "/home/**/x"),
    ("/dev/tty\\+\\x\\a", "/dev/tty[0-9][0-9a-fA-F][a-zA-Z]"),
    ("/a\\\\b", "/a\\\\b"),
    ("/lit*eral", "/lit\\*eral"),
    ("proc:/self/status", "@{PROC}/@{pid}/status"),
    ("devpts:/0", "/dev/pts/0"),
])
def test_names(name: str, expected: str) -> None:
    assert aare(name) == expected


@pytest.mark.parametrize("name", ["/home/\\$/x", "/x/\\@.log", "/x/\\X", "/a\\-b",
                                  "relative", "\\*:/x", "/a/\\{x\\}/b"])
def test_names_without_an_equivalent(name: str) -> None:
    with pytest.raises(NotConverted):
        aare(name)


def test_profile_is_exact_or_says_why() -> None:
    done = convert(policy(), "<kernel> /usr/bin/cat")
    text = done.text
    for rule in ("/etc/hostname r,", '"/tmp/x y" r,', '"/tmp/x y" w,', "/var/log/*.log a,",
                 "/tmp/**/f[0-9] w,", "/tmp/a w,", "/tmp/b w,", "link /tmp/new -> /tmp/old,",
                 "/usr/bin/true ix,", "/etc/host* r,", "/etc/group r,"):
        assert f"  {rule}\n" in text, rule
    skipped = "\n".join(done.skipped)
    for acl in ("file read /home/\\$/x", "file read /etc/passwd task.uid=0",
                "network inet stream connect", "misc env HOME", "file getattr /etc/shadow"):
        assert acl in skipped
    rules = [line for line in text.splitlines() if line.startswith("  ") and "#" not in line]
    assert not [line for line in rules if "/etc/passwd" in line or "/home/" in line]


@pytest.mark.skipif(not Path(APPARMOR_PARSER).exists(), reason="apparmor_parser is missing")
def test_apparmor_parser_accepts_it(tmp_path: Path) -> None:
    out = tmp_path / "profile"
    out.write_text(convert(policy(), "<kernel> /usr/bin/cat").text)
    done = subprocess.run([APPARMOR_PARSER, "-Q", "-K", str(out)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(unconfinable_reason() is not None, reason=str(unconfinable_reason()))
def test_imported_profile_is_enforced_by_the_kernel_plan(user: str) -> None:
    d = Path(tempfile.mkdtemp(prefix="stockade-tomoyo-import-", dir="/tmp"))
    try:
        os.chmod(d, 0o777)
        (d / "domain_policy.conf").write_text("<kernel> /usr/bin/cat\nuse_profile 3\n"
                                              "file read /etc/hostname\n"
                                              "file read /etc/ld.so.cache\n"
                                              "file read /usr/lib/x86_64-linux-gnu/lib\\*\n")
        (d / "profile.conf").write_text("PROFILE_VERSION=20150505\n3-CONFIG={ mode=enforcing }\n")
        made = cli("import", "--from", "tomoyo", str(d), "-o", str(d / "cat.profile"))
        assert made.returncode == 0, made.stderr
        os.chmod(d / "cat.profile", 0o644)
        done = cli("run", "-p", str(d / "cat.profile"), "--", "/usr/bin/cat", "/etc/hostname",
                   "/etc/passwd", user=user)
        assert done.stdout == Path("/etc/hostname").read_text()
        assert "/etc/passwd: Permission denied" in done.stderr  # Landlock's EACCES
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_cli_names_the_domains_when_it_must_choose(tmp_path: Path) -> None:
    (tmp_path / "domain_policy.conf").write_text("<kernel> /a\nuse_profile 0\n<kernel> /b\n")
    done = cli("import", "--from", "tomoyo", str(tmp_path))
    assert done.returncode == 2 and "<kernel> /a, <kernel> /b" in done.stderr
