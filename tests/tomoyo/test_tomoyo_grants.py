"""What the kernel layer grants for a TOMOYO policy under `run` (kernel_grants.py), and the
explain command of the issue."""

from __future__ import annotations

from pathlib import Path

from confine_helpers import cli

from stockade.modules.tomoyo.kernel_grants import kernel_grants, literal_dir, loaders, reachable
from stockade.modules.tomoyo.policy import (
    Policy,
    parse_domain_policy,
    parse_exception_policy,
    parse_profiles,
)


def policy(domains: str, exceptions: str = "") -> Policy:
    pol = Policy()
    parse_domain_policy(domains, pol)
    parse_exception_policy(exceptions, pol)
    parse_profiles("3-CONFIG={ mode=enforcing }\n1-CONFIG={ mode=learning }\n", pol)
    assert pol.errors == []
    return pol


def test_literal_dirs() -> None:
    assert literal_dir("/etc/passwd") == "/etc/passwd"
    assert literal_dir("/usr/lib/lib\\*.so") == "/usr/lib"
    assert literal_dir("/home/\\{\\*\\}/x") == "/home"
    assert literal_dir("/tmp/a\\040b") == "/tmp/a b"
    assert literal_dir("proc:/self/status") == "/proc"
    assert literal_dir("relative") is None and literal_dir("\\*:/x") is None


def test_reachable_domains_follow_execute_and_the_exception_policy() -> None:
    pol = policy("<kernel> /usr/bin/sh\nuse_profile 3\nfile execute /usr/bin/cat\n"
                 "file execute /usr/bin/env\n<kernel> /usr/bin/cat\nuse_profile 3\n",
                 "initialize_domain /usr/bin/cat from any\n")
    names = [d.name for d in reachable(pol, "<kernel> /usr/bin/sh")]
    assert names == ["<kernel> /usr/bin/sh", "<kernel> /usr/bin/cat",
                     "<kernel> /usr/bin/sh /usr/bin/env"]


def test_only_kernel_performed_rights_come_from_the_policy() -> None:
    pol = policy("<kernel> /usr/bin/sh\nuse_profile 3\nfile execute /usr/bin/cat\n"
                 "file read /etc/passwd\nfile write /tmp/out\nfile ioctl /dev/tty 0x5401\n"
                 "network inet stream connect 127.0.0.1 8000-8001\n")
    grants = kernel_grants(pol, "<kernel> /usr/bin/sh", "/usr/bin/sh")
    rules = {(path, right) for path, rights, _ in grants.rules for right in rights}
    assert ("/usr/bin/cat", "EXECUTE") in rules and ("/usr/bin/sh", "EXECUTE") in rules
    assert ("/tmp/out", "TRUNCATE") in rules and ("/dev/tty", "IOCTL_DEV") in rules
    assert not any(path == "/etc/passwd" for path, _ in rules)  # the supervisor decides reads
    for loader in loaders("/usr/bin/cat"):
        assert (loader, "EXECUTE") in rules
    assert grants.connect_tcp == {8000, 8001} and not grants.everything


def test_a_learning_domain_makes_the_kernel_layer_grant_everything() -> None:
    pol = policy("<kernel> /usr/bin/sh\nuse_profile 3\nfile execute /usr/bin/cat\n"
                 "<kernel> /usr/bin/sh /usr/bin/cat\nuse_profile 1\n")
    grants = kernel_grants(pol, "<kernel> /usr/bin/sh")
    assert grants.everything and "<kernel> /usr/bin/sh /usr/bin/cat" in grants.notes[0]


def test_explain_as_the_issue_spells_it(tmp_path: Path) -> None:
    (tmp_path / "domain_policy.conf").write_text("<kernel> /usr/bin/cat\nuse_profile 3\n"
                                                 "file read /etc/hostname\n")
    (tmp_path / "profile.conf").write_text("3-CONFIG={ mode=enforcing }\n")
    base = ("explain", "--lsm", "capability,tomoyo", "--module-option",
            f"tomoyo.policy_dir={tmp_path}", "--context", "tomoyo=<kernel> /usr/bin/cat", "read")
    denied = cli(*base, "/etc/passwd")
    assert denied.returncode == 1 and "deny (EPERM) by tomoyo" in denied.stdout
    assert "no ACL of <kernel> /usr/bin/cat grants file read /etc/passwd" in denied.stdout
    assert "\n<kernel> /usr/bin/cat\nfile read /etc/passwd\n" in denied.stdout
    assert cli(*base, "/etc/hostname").returncode == 0
    unknown = cli(*base[:-3], "--context", "tomoyo=<kernel> /nowhere", "read", "/etc/hostname")
    assert unknown.returncode == 1 and "not in the policy" in unknown.stdout


def test_name_changing_acls_mark_their_directories() -> None:
    pol = policy("<kernel> /usr/bin/sh\nuse_profile 3\nfile execute /usr/bin/cat\n"
                 "file rename /tmp/w/a /tmp/w/b\nfile create /var/tmp/\\*.log 0644\n"
                 "file read /etc/passwd\n<kernel> /usr/bin/cat\nuse_profile 3\n"
                 "file unlink /srv/x\n", "initialize_domain /usr/bin/cat from any\n")
    grants = kernel_grants(pol, "<kernel> /usr/bin/sh", "/usr/bin/sh")
    # rename (both names), create (a pattern: its directory), and the reachable cat's unlink
    assert sorted(set(grants.changes)) == ["/srv", "/tmp/w", "/var/tmp"]
