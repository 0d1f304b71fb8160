"""A TOMOYO domain's file rights are performed by the supervisor (a supervised rule on `/`):
they never reach the launcher's own files. `run` refuses up front a domain that may change
names where --audit or the keyring mark live (status_record.write_grants), and the
supervisor refuses, whatever the domain allows, every change in the status record directory
(other runs' records and marks) with one audit record each (red team 6:
rt/tomoyo_supervised_write_exposure.sh, rt/tomoyo_keyring_mark_unlink.sh). Real runs as root
and nobody."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from confine_helpers import cli, uid_of, unconfinable_reason

INIT_POLICY = "/usr/lib/tomoyo/init_policy"
pytestmark = [
    pytest.mark.skipif(unconfinable_reason() is not None, reason=str(unconfinable_reason())),
    pytest.mark.skipif(not Path(INIT_POLICY).exists(), reason="tomoyo-tools is not installed"),
]
LIBS = ("file read /etc/ld.so.cache\nfile read /usr/lib/x86_64-linux-gnu/\\*\n"
        "file read /lib/x86_64-linux-gnu/\\*\n")


@pytest.fixture
def policy_dir(user: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A world-readable policy directory (init_policy's profiles) with an out/ directory
    `user` owns, and a private runtime directory for nobody (root's is /run/stockade)."""
    d = Path(tempfile.mkdtemp(prefix="stockade-tomoyo-lf-", dir="/tmp"))
    os.chmod(d, 0o755)
    subprocess.run([INIT_POLICY, f"policy_dir={d / 'base'}"], check=True, capture_output=True)
    for name in ("profile", "manager", "exception_policy"):
        (d / f"{name}.conf").write_text((d / "base" / f"{name}.conf").read_text())
    with open(d / "exception_policy.conf", "a") as f:
        f.write("acl_group 0 file read /usr/lib/locale/\\{\\*\\}/\\*\nacl_group 0 misc env \\*\n")
    for name in ("out", "run"):
        (d / name).mkdir(mode=0o700)
        os.chown(d / name, uid_of(user), uid_of(user))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(d / "run"))  # nobody's record directory
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _domains(d: Path, program: str, acls: str) -> None:
    (d / "domain_policy.conf").write_text(
        f"<kernel>\nuse_profile 0\nuse_group 0\n\n<kernel> {program}\nuse_profile 3\n"
        f"use_group 0\n{LIBS}{acls}")
    for p in d.glob("*.conf"):
        os.chmod(p, 0o644)


def _run(d: Path, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("run", "--mode", "enforce", "--lsm", "capability,tomoyo", "--module-option",
               f"tomoyo.policy_dir={d}", *args, user=user, timeout=120)


def _record_dir(d: Path, user: str) -> Path:
    return Path("/run/stockade") if user == "root" else d / "run" / "stockade"


def test_an_audit_file_the_domain_may_unlink_is_refused(policy_dir: Path, user: str) -> None:
    d = policy_dir
    audit = d / "out" / "audit.jsonl"
    _domains(d, "/usr/bin/rm", f"file unlink {audit}\nfile getattr {audit}\n")
    audit.touch()
    os.chown(audit, uid_of(user), uid_of(user))
    r = _run(d, user, "--audit", str(audit), "--", "/usr/bin/rm", "-f", str(audit))
    assert r.returncode == 125, r.stderr
    assert f"--audit {audit} lies inside the writable grant {d / 'out'}" in r.stderr, r.stderr
    assert audit.exists()


def test_a_keyring_run_whose_domain_may_unlink_its_mark_is_refused(policy_dir: Path,
                                                                   user: str) -> None:
    d = policy_dir
    where = _record_dir(d, user)
    _domains(d, "/usr/bin/find", f"file read {where}/\nfile getattr {where}/\\*\n"
                                 f"file unlink {where}/\\*\n")
    r = _run(d, user, "--allow-keyring", "--", "/usr/bin/find", str(where), "-name",
             "keyring-*.mark", "-delete")
    assert r.returncode == 125, r.stderr
    assert "cannot mark the plan cache key as exposed" in r.stderr, r.stderr


def test_the_supervisor_never_changes_the_record_directory(policy_dir: Path, user: str) -> None:
    """Without a status record or the keyring nothing is refused up front: the supervisor
    refuses each change itself (the domain allows them all), one audit record each."""
    d = policy_dir
    where = _record_dir(d, user)
    where.mkdir(mode=0o700, exist_ok=True)
    os.chown(where, uid_of(user), uid_of(user))
    probe = where / f"probe-fixrt6-{os.getpid()}-{user}"
    probe.write_text("kept\n")
    os.chown(probe, uid_of(user), uid_of(user))
    new = where / f"new-fixrt6-{os.getpid()}-{user}"
    _domains(d, "/usr/bin/sh", f"file read {where}/\nfile getattr {where}/\\*\n"
                               f"file unlink {where}/\\*\nfile write {where}/\\*\n"
                               f"file append {where}/\\*\nfile create {where}/\\* 0-0777\n"
                               f"file rename {where}/\\* {where}/\\*\n"
                               "file execute /usr/bin/find\n"
                               f"<kernel> /usr/bin/sh /usr/bin/find\nuse_profile 3\n"
                               f"use_group 0\n{LIBS}file read {where}/\n"
                               f"file getattr {where}/\\*\nfile unlink {where}/\\*\n")
    audit = d / "out" / "audit.jsonl"
    try:
        r = _run(d, user, "--no-status-record", "--audit", str(audit), "--", "/usr/bin/sh",
                 "-c", f"echo x >> {probe}; echo y > {probe}; echo z > {new}; "
                       f"/usr/bin/find {where} -name {probe.name} -delete; echo done")
        assert r.returncode == 0 and r.stdout == "done\n", r.stderr
        assert probe.read_text() == "kept\n" and not new.exists()
        assert r.stderr.count("Permission denied") == 4, r.stderr  # 3 opens, 1 -delete
        records = [json.loads(x) for x in audit.read_text().splitlines()]
        refused = [x for x in records if x.get("module") == "supervisor"]
        assert [(x["operation"], x["object"]) for x in refused] == [
            ("file_open", str(probe)), ("file_open", str(probe)), ("inode_create", str(new)),
            ("inode_unlink", str(probe))], refused
        assert all(x["result"] == "DENIED" and x["errno"] == 13 for x in refused)
        # the domain allowed each of them (find's own start-up reads are its business)
        assert not [x for x in records if x.get("module") == "tomoyo"
                    and x["object"].startswith(str(where))], records
    finally:
        probe.unlink(missing_ok=True)
        new.unlink(missing_ok=True)
