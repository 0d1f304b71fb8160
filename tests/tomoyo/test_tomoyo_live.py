"""TOMOYO enforced on real processes through `stockade run` (the supervisor), as root and as
nobody: an enforcing domain, learning a shell pipeline then enforcing what was learned, and
a domain transition through `/bin/sh -c` decided by the exception policy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import cli, unconfinable_reason

INIT_POLICY = "/usr/lib/tomoyo/init_policy"
pytestmark = [
    pytest.mark.skipif(unconfinable_reason() is not None, reason=str(unconfinable_reason())),
    pytest.mark.skipif(not Path(INIT_POLICY).exists(), reason="tomoyo-tools is not installed"),
]
HOSTNAME = Path("/etc/hostname").read_text()


@pytest.fixture(scope="module")
def base_policy() -> Iterator[Path]:
    """The policy init_policy writes on this machine (profiles 0-3, ACL group 0)."""
    d = Path(tempfile.mkdtemp(prefix="stockade-tomoyo-base-", dir="/tmp"))
    subprocess.run([INIT_POLICY, f"policy_dir={d}"], check=True, capture_output=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Policy:
    """A world-readable policy directory and a world-writable audit file."""

    def __init__(self, base: Path, domains: str, exceptions: str = "",
                 any_env: bool = True) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="stockade-tomoyo-", dir="/tmp"))
        os.chmod(self.dir, 0o777)
        for name in ("profile.conf", "manager.conf"):
            (self.dir / name).write_text((base / name).read_text())
        (self.dir / "exception_policy.conf").write_text(
            (base / "exception_policy.conf").read_text() + exceptions +
            "acl_group 0 file read /usr/lib/locale/\\{\\*\\}/\\*\n"
            + ("acl_group 0 misc env \\*\n" if any_env else ""))  # exec checks each name
        self.write_domains(domains)
        self.audit = self.dir / "audit.jsonl"

    def write_domains(self, text: str) -> None:
        (self.dir / "domain_policy.conf").write_text("<kernel>\nuse_profile 0\nuse_group 0\n\n"
                                                     + text)
        for p in self.dir.iterdir():
            os.chmod(p, 0o666)

    def run(self, mode: str, user: str, *command: str, learn: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
        self.reset_audit()
        extra = ["--learn", str(learn)] if learn is not None else []
        return cli("run", "--mode", mode, "--lsm", "capability,tomoyo", "--module-option",
                   f"tomoyo.policy_dir={self.dir}", "--audit", str(self.audit), *extra, "--",
                   *command, user=user, timeout=120)

    def reset_audit(self) -> None:
        self.audit.write_text("")
        os.chmod(self.audit, 0o666)

    def records(self) -> list[dict]:
        lines = [json.loads(x) for x in self.audit.read_text().splitlines() if x.strip()]
        return [r for r in lines if r.get("module") == "tomoyo"]

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def test_enforcing_domain_reads_what_it_allows(base_policy: Path, user: str) -> None:
    pol = Policy(base_policy, "<kernel> /usr/bin/cat\nuse_profile 3\nuse_group 0\n"
                              "file read /etc/hostname\n")
    try:
        done = pol.run("enforce", user, "/usr/bin/cat", "/etc/hostname", "/etc/passwd")
        assert done.returncode == 1, done.stderr
        assert done.stdout == HOSTNAME
        assert "/etc/passwd: Operation not permitted" in done.stderr
        (rec,) = [r for r in pol.records() if r["fields"]["acl"] == "file read /etc/passwd"]
        assert rec["result"] == "DENIED" and rec["subject"] == "<kernel> /usr/bin/cat"
        header, domain, acl = rec["fields"]["tomoyo_log"].split("\n")
        assert " profile=3 mode=enforcing granted=no (global-pid=" in header
        uid = 65534 if user == "nobody" else 0
        assert f" uid={uid} gid={uid} euid={uid} " in header
        assert (domain, acl) == ("<kernel> /usr/bin/cat", "file read /etc/passwd")
    finally:
        pol.cleanup()


def test_learned_pipeline_runs_enforced_without_denials(base_policy: Path, user: str) -> None:
    pol = Policy(base_policy, "<kernel> /usr/bin/sh\nuse_profile 1\nuse_group 0\n")
    learned = pol.dir / "learned.conf"
    learned.write_text("")
    os.chmod(learned, 0o666)
    script = "cat /etc/hostname | tr a-z A-Z; ls /etc/hostname"
    try:
        done = pol.run("learn", user, "/bin/sh", "-c", script, learn=learned)
        assert done.returncode == 0, done.stderr
        text = learned.read_text()
        for domain in ("<kernel> /usr/bin/sh", "<kernel> /usr/bin/sh /usr/bin/cat",
                       "<kernel> /usr/bin/sh /usr/bin/tr", "<kernel> /usr/bin/sh /usr/bin/ls"):
            assert f"\n{domain}\nuse_profile 1\n" in f"\n{text}", text
        assert 'file execute /usr/bin/cat exec.realpath="/usr/bin/cat" exec.argv[0]="cat"' \
            in text
        assert "file read /etc/hostname" in text
        checked = subprocess.run(["tomoyo-checkpolicy", "d"], input=text, capture_output=True,
                                 text=True, check=False)
        assert checked.returncode == 0 and " 0 Error" in checked.stdout, checked.stdout
        pol.write_domains(text.replace("use_profile 1", "use_profile 3"))
        again = pol.run("enforce", user, "/bin/sh", "-c", script)
        assert again.returncode == 0, again.stderr
        assert again.stdout == HOSTNAME.upper() + "/etc/hostname\n"
        assert pol.records() == []  # zero denials
        # and the enforced policy is not "allow all": an access it never learned is denied
        other = pol.run("enforce", user, "/bin/sh", "-c", "cat /etc/passwd")
        assert other.returncode != 0
        assert any(r["fields"]["acl"] == "file read /etc/passwd" for r in pol.records())
    finally:
        pol.cleanup()


@pytest.mark.parametrize("initialize", [True, False])
def test_transition_through_sh(base_policy: Path, user: str, initialize: bool) -> None:
    exceptions = "initialize_domain /usr/bin/cat from <kernel> /usr/bin/sh\n" if initialize \
        else ""
    pol = Policy(base_policy,
                 "<kernel> /usr/bin/sh\nuse_profile 3\nuse_group 0\nfile execute /usr/bin/cat\n\n"
                 "<kernel> /usr/bin/cat\nuse_profile 3\nuse_group 0\nfile read /etc/hostname\n",
                 exceptions)
    try:
        done = pol.run("enforce", user, "/bin/sh", "-c", "cat /etc/hostname; cat /etc/passwd")
        denied = [r for r in pol.records() if r["result"] == "DENIED"
                  and r["fields"]["acl"].startswith("file read /etc/")]
        if initialize:  # cat lands in <kernel> /usr/bin/cat: hostname yes, passwd no
            assert done.stdout == HOSTNAME
            assert [(r["subject"], r["fields"]["acl"]) for r in denied] == \
                [("<kernel> /usr/bin/cat", "file read /etc/passwd")]
        else:  # a child domain is created (profile 3 inherited, no ACLs): both denied
            assert done.stdout == ""
            assert {(r["subject"], r["fields"]["acl"]) for r in denied} == {
                ("<kernel> /usr/bin/sh /usr/bin/cat", "file read /etc/hostname"),
                ("<kernel> /usr/bin/sh /usr/bin/cat", "file read /etc/passwd")}
    finally:
        pol.cleanup()


def test_context_names_the_programs_domain(base_policy: Path, user: str) -> None:
    pol = Policy(base_policy, "<kernel> /usr/bin/cat\nuse_profile 3\nuse_group 0\n"
                              "file read /etc/hostname\n")
    try:
        pol.reset_audit()
        done = cli("run", "--mode", "enforce", "--lsm", "capability,tomoyo", "--module-option",
                   f"tomoyo.policy_dir={pol.dir}", "--context", "tomoyo=<kernel> /usr/bin/cat",
                   "--audit", str(pol.audit), "--", "/usr/bin/head", "-c", "64", "/etc/hostname",
                   "/etc/passwd", user=user, timeout=120)
        assert HOSTNAME in done.stdout and "Operation not permitted" in done.stderr
        subjects = {r["subject"] for r in pol.records() if r["result"] == "DENIED"}
        assert subjects == {"<kernel> /usr/bin/cat"}  # not <kernel> /usr/bin/head
    finally:
        pol.cleanup()


def test_environment_names_are_checked_in_the_new_domain(base_policy: Path, user: str) -> None:
    pol = Policy(base_policy, "<kernel> /usr/bin/true\nuse_profile 3\nuse_group 0\n"
                              "misc env PATH\n", any_env=False)
    try:
        done = pol.run("enforce", user, "/usr/bin/true")
        assert done.returncode == 126, done.stderr  # the exec itself is refused
        denied = [r for r in pol.records() if r["result"] == "DENIED"]
        # decided in the domain the exec enters (the record's subject is the launcher's)
        assert denied and denied[0]["fields"]["domain"] == "<kernel> /usr/bin/true"
        assert denied[0]["fields"]["acl"].startswith("misc env ")
        assert denied[0]["fields"]["acl"] != "misc env PATH"
        pol.write_domains("<kernel> /usr/bin/true\nuse_profile 3\nuse_group 0\n"
                          "misc env \\*\n")
        assert pol.run("enforce", user, "/usr/bin/true").returncode == 0
    finally:
        pol.cleanup()


@pytest.mark.parametrize("rename", [False, True])
def test_exec_refused_where_the_policy_lets_names_change(base_policy: Path, rename: bool) -> None:
    """As root (DAC lets it change any directory): a decided exec of a file in a directory
    where a domain may rename is refused (the name could be swapped after the decision);
    without that ACL TOMOYO keeps the directory fixed and the exec runs."""
    work = Path(tempfile.mkdtemp(prefix="stockade-tomoyo-swap-", dir="/tmp"))
    shutil.copy("/usr/bin/true", work / "prog")
    acl = f"file rename {work}/\\* {work}/\\*\n" if rename else ""
    pol = Policy(base_policy, "<kernel> /usr/bin/sh\nuse_profile 3\nuse_group 0\n"
                 f"file execute /usr/bin/sh\nfile execute {work}/prog\n{acl}",
                 "acl_group 0 file read /usr/bin/dash\nacl_group 0 file read /etc/ld.so.cache\n"
                 "acl_group 0 file read /usr/lib/x86_64-linux-gnu/libc.so.6\n")
    try:
        done = pol.run("enforce", "root", "/usr/bin/sh", "-c", f"{work}/prog; echo $?")
        assert done.stdout.split() == (["126"] if rename else ["0"]), done.stderr
        lines = [json.loads(x) for x in pol.audit.read_text().splitlines() if x.strip()]
        swapped = [r for r in lines if "its name can be swapped" in r.get("reason", "")]
        assert len(swapped) == (1 if rename else 0), swapped
    finally:
        pol.cleanup()
        shutil.rmtree(work, ignore_errors=True)
