"""The tomoyo module in a stack: modes, ACLs with groups and conditions, learning with its
quota, domain transitions by the exception policy, and its audit records read back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stockade.audit.formats import kernel_line
from stockade.audit.readers.tomoyo import read_records
from stockade.audit.record import record_from_event
from stockade.lsm.operations import file_requests
from stockade.lsm.probe import file_object, subject_from_pid
from stockade.lsm.stack import Decision
from stockade.lsm.types import Subject
from stockade.modules.labels import with_context
from stockade.modules.registry import build_stack
from stockade.slotted import replace

PROFILES = """PROFILE_VERSION=20150505
0-CONFIG={ mode=disabled }
1-CONFIG={ mode=learning grant_log=no reject_log=yes }
1-PREFERENCE={ max_audit_log=1024 max_learning_entry=3 }
2-CONFIG={ mode=permissive }
3-CONFIG={ mode=enforcing }
4-CONFIG={ mode=enforcing grant_log=yes }
5-CONFIG={ mode=disabled }
5-CONFIG::file::open={ mode=enforcing }
"""
EXCEPTIONS = """path_group CONF /etc/host\\*
number_group MODES 0600-0644
acl_group 7 file read /etc/group
aggregator /usr/bin/vi\\* /editor
initialize_domain /usr/sbin/sshd from any
no_initialize_domain /usr/sbin/sshd from <kernel> /usr/sbin/sshd
keep_domain any from <kernel> /usr/sbin/sshd /usr/bin/bash
no_keep_domain /usr/bin/passwd from <kernel> /usr/sbin/sshd /usr/bin/bash
keep_domain /usr/bin/true from /usr/bin/env
reset_domain /usr/sbin/apache2 from any
no_reset_domain /usr/sbin/apache2 from <kernel> /usr/bin/bash
"""


def policy_dir(tmp_path: Path, domains: str) -> str:
    (tmp_path / "profile.conf").write_text(PROFILES)
    (tmp_path / "exception_policy.conf").write_text(EXCEPTIONS)
    (tmp_path / "domain_policy.conf").write_text("<kernel>\nuse_profile 0\n\n" + domains)
    (tmp_path / "manager.conf").write_text("/usr/sbin/tomoyo-loadpolicy\n")
    return str(tmp_path)


def me(domain: str) -> Subject:
    return with_context(subject_from_pid(os.getpid()), "tomoyo", domain)


def decide(stack, subject: Subject, op: str, path: str) -> Decision:
    final = None
    for req in file_requests(op, subject, file_object(path)):
        final = stack.decide(req)
        if not final.allowed:
            return final
    assert final is not None
    return final


@pytest.fixture
def stack_for(tmp_path: Path):
    records = []

    def make(domains: str):
        stack = build_stack("capability,tomoyo", dac=False, audit_sink=records.append,
                            settings={"tomoyo": {"policy_dir": policy_dir(tmp_path, domains)}})
        return stack, stack.module("tomoyo"), records
    return make


def test_enforcing_reads_only_what_the_domain_allows(stack_for) -> None:
    stack, _, records = stack_for("<kernel> /usr/bin/cat\nuse_profile 3\n"
                                  "file read /etc/hostname\nfile read @CONF\n")
    cat = me("<kernel> /usr/bin/cat")
    assert decide(stack, cat, "read", "/etc/hostname").allowed
    assert decide(stack, cat, "read", "/etc/hosts").allowed  # through path_group CONF
    denied = decide(stack, cat, "read", "/etc/passwd")
    assert denied.errno == 1  # EPERM, as TOMOYO answers
    (rec,) = [record_from_event(e) for e in records]
    text = kernel_line(rec)
    header, domain, acl = text.split("\n")
    assert header.startswith("#") and " profile=3 mode=enforcing granted=no (global-pid=" in header
    assert f"task={{ pid={os.getpid()} " in header and " path1={ uid=0 gid=0 ino=" in header
    assert domain == "<kernel> /usr/bin/cat" and acl == "file read /etc/passwd"
    (back,) = read_records(text.splitlines())
    assert (back.result, back.subject, back.object, back.operation) == \
        ("DENIED", "<kernel> /usr/bin/cat", "/etc/passwd", "file read")


def test_write_append_and_conditions(stack_for) -> None:
    stack, _, _ = stack_for(f"<kernel> /x\nuse_profile 3\nfile append /tmp/log\n"
                            f"file read /etc/hostname task.uid={os.getuid()}\n"
                            f"file read /etc/hosts task.uid!={os.getuid()}\n"
                            f"file read /etc/passwd path1.type=directory\n")
    x = me("<kernel> /x")
    assert decide(stack, x, "append", "/tmp").errno == 1  # write to a directory name
    assert decide(stack, x, "read", "/etc/hostname").allowed
    assert not decide(stack, x, "read", "/etc/hosts").allowed
    assert not decide(stack, x, "read", "/etc/passwd").allowed


def test_per_operation_config_and_acl_group(stack_for) -> None:
    stack, _, _ = stack_for("<kernel> /y\nuse_profile 5\nuse_group 7\n")
    y = me("<kernel> /y")
    assert decide(stack, y, "read", "/etc/group").allowed  # acl_group 7
    assert not decide(stack, y, "read", "/etc/passwd").allowed  # CONFIG::file::open enforcing
    assert decide(stack, y, "mkdir", "/tmp/nothing-here").allowed  # file default: disabled


def test_several_acl_groups(stack_for) -> None:
    stack, module, _ = stack_for("<kernel> /m\nuse_profile 3\nuse_group 7\nuse_group 9\n"
                                 "<kernel> /n\nuse_profile 3\n")
    module.policy.acl_groups[9] = [replace(module.policy.acl_groups[7][0],
                                           args=("/etc/hostname",),
                                           text="file read /etc/hostname")]
    assert decide(stack, me("<kernel> /m"), "read", "/etc/group").allowed  # group 7
    assert decide(stack, me("<kernel> /m"), "read", "/etc/hostname").allowed  # group 9
    assert not decide(stack, me("<kernel> /n"), "read", "/etc/group").allowed  # no group
    assert "<kernel> /m\nuse_profile 3\nuse_group 7\nuse_group 9\n" in \
        module.domain_policy_text()


def test_permissive_allows_and_records(stack_for) -> None:
    stack, _, records = stack_for("<kernel> /p\nuse_profile 2\n")
    assert decide(stack, me("<kernel> /p"), "read", "/etc/passwd").allowed
    (rec,) = [record_from_event(e) for e in records]
    assert rec.result == "ALLOWED" and " mode=permissive granted=no " in kernel_line(rec)


def test_grant_log_records_granted_requests(stack_for) -> None:
    stack, _, records = stack_for("<kernel> /g\nuse_profile 4\nfile read /etc/hostname\n")
    assert decide(stack, me("<kernel> /g"), "read", "/etc/hostname").allowed
    (rec,) = [record_from_event(e) for e in records]
    assert rec.result == "AUDIT" and " granted=yes " in kernel_line(rec)


def test_learning_appends_what_tomoyo_learns_up_to_the_quota(stack_for) -> None:
    stack, module, _ = stack_for("<kernel> /l\nuse_profile 1\nfile read /etc/hostname\n")
    learner = me("<kernel> /l")
    for path in ("/etc/passwd", "/etc/group", "/etc/hosts", "/etc/fstab"):
        assert decide(stack, learner, "read", path).allowed
    assert decide(stack, learner, "read", "/etc/passwd").allowed
    # max_learning_entry=3 counts permissions: hostname + 2 learned, then quota_exceeded
    assert module.learned == [("<kernel> /l", "file read /etc/passwd"),
                              ("<kernel> /l", "file read /etc/group")]
    text = module.domain_policy_text()
    assert "<kernel> /l\nuse_profile 1\nquota_exceeded\n" in text
    assert "file read /etc/group\n" in text


@pytest.mark.parametrize(("old", "program", "new"), [
    ("<kernel>", "/usr/bin/cat", "<kernel> /usr/bin/cat"),
    ("<kernel> /usr/bin/bash", "/usr/sbin/sshd", "<kernel> /usr/sbin/sshd"),  # initialize
    ("<kernel> /usr/sbin/sshd", "/usr/sbin/sshd", "<kernel> /usr/sbin/sshd /usr/sbin/sshd"),
    ("<kernel> /usr/sbin/sshd /usr/bin/bash", "/usr/bin/ls",
     "<kernel> /usr/sbin/sshd /usr/bin/bash"),  # keep_domain DOMAIN
    ("<kernel> /usr/sbin/sshd /usr/bin/bash", "/usr/bin/passwd",
     "<kernel> /usr/sbin/sshd /usr/bin/bash /usr/bin/passwd"),  # no_keep_domain
    ("<kernel> /a /usr/bin/env", "/usr/bin/true", "<kernel> /a /usr/bin/env"),  # from /last
    ("<kernel> /usr/bin/bash", "/usr/bin/vim.basic", "<kernel> /usr/bin/bash /editor"),
    ("<kernel> /usr/bin/bash", "/usr/sbin/apache2",
     "<kernel> /usr/bin/bash /usr/sbin/apache2"),  # no_reset_domain
])
def test_transitions(stack_for, old: str, program: str, new: str) -> None:
    _, module, _ = stack_for("")
    module.policy.domains.setdefault(old, replace(module.policy.domains["<kernel>"], name=old))
    exe = file_object("/usr/bin/true")
    verdict, after = module.exec_transition(me(old), exe, program)
    assert verdict is None and after == new
    assert new in module.policy.domains  # created, inheriting profile and group


def test_reset_domain_across_namespaces_fails_the_exec(stack_for) -> None:
    _, module, _ = stack_for("")
    verdict, after = module.exec_transition(me("<kernel>"), file_object("/usr/bin/true"),
                                            "/usr/sbin/apache2")
    assert verdict is not None and verdict.errno == 12 and after == "<kernel>"  # ENOMEM


def test_execute_pattern_names_the_domain(stack_for) -> None:
    stack, module, _ = stack_for("<kernel> /s\nuse_profile 3\nfile execute /usr/bin/\\*\n")
    verdict, after = module.exec_transition(me("<kernel> /s"), file_object("/usr/bin/true"))
    assert verdict is None and after == "<kernel> /s /usr/bin/\\*"
    assert not decide(stack, me("<kernel> /s"), "exec", "/usr/sbin/nologin").allowed


def test_unknown_domain_fails_closed(stack_for) -> None:
    stack, _, _ = stack_for("")
    assert decide(stack, me("<kernel> /nowhere"), "read", "/etc/hostname").errno == 1


def test_tomoyo_log_queue_honours_reject_log_and_max_audit_log(tmp_path: Path) -> None:
    d = tmp_path / "p"
    d.mkdir()
    (d / "profile.conf").write_text("PROFILE_VERSION=20150505\n"
                                    "3-CONFIG={ mode=enforcing reject_log=yes }\n"
                                    "3-PREFERENCE={ max_audit_log=2 }\n"
                                    "4-CONFIG={ mode=enforcing reject_log=no }\n")
    (d / "domain_policy.conf").write_text("<kernel> /q\nuse_profile 3\n<kernel> /r\n"
                                          "use_profile 4\n")
    stack = build_stack("capability,tomoyo", dac=False,
                        settings={"tomoyo": {"policy_dir": str(d)}})
    module = stack.module("tomoyo")
    for path in ("/etc/passwd", "/etc/group", "/etc/hosts"):
        assert not decide(stack, me("<kernel> /q"), "read", path).allowed
    assert not decide(stack, me("<kernel> /r"), "read", "/etc/passwd").allowed
    queued = module.read_audit()
    assert [q.rsplit("\n", 1)[1] for q in queued] == ["file read /etc/passwd",
                                                      "file read /etc/group"]
    assert module.audit_dropped == 1 and module.read_audit() == []


@pytest.mark.parametrize(("line", "learned"), [
    ("file read proc:/1234/status", "file read proc:/\\$/status"),
    ("file read proc:/1/cmdline", "file read proc:/1/cmdline"),
    ("file read proc:/self/fd/3", "file read proc:/self/fd/\\$"),
    ("file read proc:/self/task/77/fdinfo/12", "file read proc:/self/task/\\$/fdinfo/\\$"),
    ("file ioctl pipe:[4242] 0x5401", "file ioctl pipe:[\\$] 0x5401"),
    ("file read /etc/passwd", "file read /etc/passwd"),
    ("file read proc:/sys/kernel/version", "file read proc:/sys/kernel/version"),
])
def test_learned_names_are_patternized_as_the_kernel_does(line: str, learned: str) -> None:
    from stockade.modules.tomoyo.acl import patternize

    assert patternize(line) == learned


def test_chmod_chown_chgrp_create_and_mkdir(stack_for, tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("")
    stack, module, _ = stack_for(f"<kernel> /c\nuse_profile 3\nfile chmod {target} 0600\n"
                                 f"file chown {target} 1000\nfile chgrp {target} @MODES\n"
                                 f"file create {tmp_path}/new 0600-0644\n"
                                 f"file mkdir {tmp_path}/d/ 0755\n")
    sub = me("<kernel> /c")
    obj = file_object(str(target))

    def ok(req) -> bool:
        return stack.decide(req).allowed
    from stockade.lsm.setattr import chmod_request, chown_request
    assert ok(chmod_request(sub, obj, 0o600)) and not ok(chmod_request(sub, obj, 0o644))
    assert ok(chown_request(sub, obj, 1000, -1)) and not ok(chown_request(sub, obj, 1001, -1))
    assert ok(chown_request(sub, obj, -1, 0o600))  # gid 384, inside number_group MODES
    assert not ok(chown_request(sub, obj, 1000, 5))
    new = replace(file_object(str(tmp_path / "new")), mode=0o100644)
    assert ok(file_requests("create", sub, new)[0])
    assert not ok(file_requests("create", sub, replace(new, mode=0o100666))[0])
    d = replace(file_object(str(tmp_path / "d")), mode=0o40755)
    assert ok(file_requests("mkdir", sub, d)[0])
    assert module.policy.domains["<kernel> /c"].acls[0].text == f"file chmod {target} 0600"


@pytest.mark.parametrize(("preference", "new"), [
    ("keep", "<kernel> /s"),
    ("child", "<kernel> /s /usr/bin/true"),
    ("initialize", "<kernel> /usr/bin/true"),
    ("parent", "<kernel>"),
    ("<kernel> /elsewhere", "<kernel> /elsewhere"),
    ("/named", "<kernel> /s /named"),
])
def test_execute_transition_preference(stack_for, preference: str, new: str) -> None:
    _, module, _ = stack_for("<kernel> /s\nuse_profile 3\n"
                             f"file execute /usr/bin/true {preference}\n"
                             "<kernel> /elsewhere\nuse_profile 3\n")
    verdict, after = module.exec_transition(me("<kernel> /s"), file_object("/usr/bin/true"))
    assert verdict is None and after == new


def test_a_preference_that_cannot_be_entered_fails_the_exec(stack_for) -> None:
    _, module, _ = stack_for("<kernel> /s\nuse_profile 3\nfile execute /usr/bin/true reset\n")
    verdict, after = module.exec_transition(me("<kernel> /s"), file_object("/usr/bin/true"))
    assert verdict is not None and verdict.errno == 12 and after == "<kernel> /s"


def test_env_and_argv_at_exec(stack_for) -> None:
    from stockade.lsm.types import MAY_EXEC, Request

    stack, module, _ = stack_for(
        "<kernel> /s\nuse_profile 3\nfile execute /usr/bin/true exec.argv[0]=\"true\"\n"
        "<kernel> /s /usr/bin/true\nuse_profile 3\nmisc env PATH\nmisc env LC_\\*\n"
        "<kernel> /l\nuse_profile 1\n")
    true = file_object("/usr/bin/true")

    def exec_as(domain: str, argv: tuple[bytes, ...], envp: tuple[bytes, ...]):
        sub = me(domain)
        module.exec_strings(sub.pid, argv, envp)
        return stack.decide(Request("bprm_check_security", sub, true, MAY_EXEC))

    assert exec_as("<kernel> /s", (b"true",), (b"PATH=/usr/bin", b"LC_ALL=C")).allowed
    refused = exec_as("<kernel> /s", (b"true",), (b"PATH=/usr/bin", b"SECRET=1"))
    assert refused.errno == 1
    assert [(dict(e.verdict.fields)["domain"], dict(e.verdict.fields)["acl"])
            for e in refused.events] == [("<kernel> /s /usr/bin/true", "misc env SECRET")]
    assert exec_as("<kernel> /s", (b"other",), (b"PATH=/x",)).errno == 1  # exec.argv[0]
    assert exec_as("<kernel> /l", (b"tr ue",), (b"HOME=/root", b"A=b")).allowed  # learning
    learned = [line for domain, line in module.learned if domain.startswith("<kernel> /l")]
    assert learned == ['file execute /usr/bin/true exec.realpath="/usr/bin/true" '
                       'exec.argv[0]="tr\\040ue"', "misc env HOME", "misc env A"]


def test_proc_self_answers_are_not_shared_between_processes(stack_for) -> None:
    stack, _, _ = stack_for("<kernel> /p3\nuse_profile 3\nfile read proc:/self/status\n")
    mine = me("<kernel> /p3")
    other = replace(mine, pid=mine.pid + 100000)
    status = f"/proc/{os.getpid()}/status"
    assert decide(stack, mine, "read", status).allowed
    assert not decide(stack, other, "read", status).allowed  # proc:/<pid>/status for it
