"""Decisions through the module and the stack: TE, attributes, booleans, RBAC, MLS,
type transitions, domain transitions, permissive domains, dontaudit/auditallow, AVC."""

import errno
import os
import signal
import socket
import stat

import pytest

from stockade.audit.formats import kernel_line
from stockade.audit.record import record_from_event
from stockade.errors import StockadeError
from stockade.lsm.caps import CAP_NET_BIND_SERVICE, CAP_SYS_ADMIN
from stockade.lsm.module import Mode
from stockade.lsm.stack import ALLOWED, AUDIT, DENIED, Stack
from stockade.lsm.types import (
    MAY_APPEND,
    MAY_OPEN,
    MAY_READ,
    MAY_WRITE,
    PTRACE_MODE_ATTACH,
    Object,
    ObjectKind,
    Request,
    Subject,
)
from stockade.modules.registry import FACTORIES, build_stack
from stockade.modules.selinux.module import SELinux
from stockade.modules.selinux.policy import PolicyError

MINI = os.path.join(os.path.dirname(__file__), "data", "mini.cil")

XATTR = "user.stockade.selinux"


def subj(ctx, **kw):
    return Subject(pid=kw.pop("pid", 100), comm="t", contexts=(("selinux", ctx),), **kw)


def fobj(path, ctx, mode=stat.S_IFREG | 0o644, parent=None, exists=True, xattr=XATTR):
    xattrs = ((xattr, ctx.encode() + b"\0"),) if ctx else ()
    return Object(kind=ObjectKind.FILE, path=path, mode=mode, xattrs=xattrs, parent=parent, exists=exists)


def tdir(path, ctx):
    return fobj(path, ctx, stat.S_IFDIR | 0o755)


USER = "user_u:user_r:user_t:s0"
ETC = "system_u:object_r:etc_t:s0"
SHADOW = "system_u:object_r:shadow_t:s0"


@pytest.fixture
def events():
    return []


@pytest.fixture
def stack(mini_policy, events):
    module = SELinux(policy=mini_policy)
    return Stack([module], audit_sink=events.append)


def open_req(s, o, access=MAY_READ):
    return Request("file_open", s, o, access | MAY_OPEN)


def test_te_allow_and_deny_with_avc_record(stack, events):
    assert stack.decide(open_req(subj(USER), fobj("/etc/passwd", ETC))).allowed
    d = stack.decide(open_req(subj(USER), fobj("/etc/passwd", ETC), MAY_WRITE))
    assert d.errno == errno.EACCES
    line = kernel_line(record_from_event(d.events[0]))
    assert "avc:  denied  { write } for" in line
    assert "scontext=user_u:user_r:user_t:s0 tcontext=system_u:object_r:etc_t:s0 tclass=file" in line
    assert line.endswith("permissive=0")


def test_attribute_expansion_and_alias(mini_policy):
    p = mini_policy
    file_type = p.expand(p.type_id("file_type"))
    assert p.type_id("etc_t") in file_type and p.type_id("user_t") not in file_type
    assert p.type_id("ssh_port_t") not in file_type  # (not (kernel_t port_t ...)) in an and
    assert p.type_id("etc_alias_t") == p.type_id("etc_t")
    sshd = p.parse_context("system_u:system_r:sshd_t:s0")
    etc = p.parse_context("system_u:object_r:etc_alias_t:s0")
    assert p.compute_av(sshd, etc, "file").allowed & p.classes["file"].perms["read"]


def test_append_maps_to_append_permission(stack):
    tmp = fobj("/tmp/x", "user_u:object_r:user_tmp_t:s0")
    assert stack.decide(open_req(subj(USER), tmp, MAY_WRITE | MAY_APPEND)).allowed


def test_dontaudit_gives_quiet_denial(stack):
    d = stack.decide(open_req(subj(USER), fobj("/etc/shadow", SHADOW)))
    assert not d.allowed and d.decider.quiet


def test_auditallow_records_granted(stack, events):
    tmp_dir = tdir("/tmp", "system_u:object_r:tmp_t:s0")
    f = fobj("/tmp/f", "user_u:object_r:user_tmp_t:s0", parent=tmp_dir)
    d = stack.decide(Request("inode_unlink", subj(USER), f, MAY_WRITE))
    assert d.allowed and d.events[0].result == AUDIT
    assert "avc:  granted  { unlink }" in kernel_line(record_from_event(d.events[0]))


def test_booleans_switch_conditional_rules(mini_policy):
    module = SELinux(policy=__import__("stockade.modules.selinux.cil.build", fromlist=["x"]).load_cil([MINI]))
    st = Stack([module])
    httpd = subj("system_u:system_r:httpd_t:s0")
    sock = Object(kind=ObjectKind.SOCKET, family=socket.AF_INET, sock_type=socket.SOCK_STREAM,
                  address="10.0.0.1", port=80)
    req = Request("socket_connect", httpd, sock)
    d = st.decide(req)
    assert not d.allowed and d.decider.quiet  # false branch: dontaudit
    module.set_boolean("httpd_can_network_connect", True)
    st.reload()
    assert st.decide(req).allowed
    with pytest.raises(PolicyError):
        module.set_boolean("no_such_bool", True)


def test_boolean_expressions(fresh_mini):
    p = fresh_mini
    httpd = p.parse_context("system_u:system_r:httpd_t:s0")
    shadow = p.parse_context(SHADOW)
    for value in (False, True):  # (and b (not b)) is never true
        p.set_boolean("httpd_can_network_connect", value)
        assert not p.compute_av(httpd, shadow, "file").allowed


def test_neverallow_violation_is_a_load_error():
    from stockade.modules.selinux.cil.build import load_cil
    with open(MINI) as f:
        text = f.read() + "\n(allow user_t shadow_t (file (write)))\n"
    with pytest.raises(StockadeError) as err:
        load_cil(texts=[("bad.cil", text)])
    msg = str(err.value)
    assert "neverallow" in msg and f"bad.cil:{text.count(chr(10))}:1" in msg
    assert msg.startswith("bad.cil:") and "user_t -> shadow_t" in msg


def test_invalid_contexts_are_rejected(mini_policy, stack):
    p = mini_policy
    with pytest.raises(PolicyError, match="role user_r is not authorised for type sshd_t"):
        p.parse_context("user_u:user_r:sshd_t:s0")
    with pytest.raises(PolicyError, match="not authorised for role"):
        p.parse_context("user_u:system_r:sshd_t:s0")
    with pytest.raises(PolicyError, match="outside user user_u's range"):
        p.parse_context("user_u:user_r:user_t:s2")
    with pytest.raises(PolicyError, match="malformed"):
        p.parse_context("user_u:user_r")
    d = stack.decide(open_req(subj("user_u:user_r:sshd_t:s0"), fobj("/etc/passwd", ETC)))
    assert d.errno == errno.EACCES and "not authorised" in d.decider.reason


def test_invalid_file_label_is_unlabeled(stack, events):
    d = stack.decide(open_req(subj(USER), fobj("/x", "bogus:object_r:nope_t:s0")))
    assert not d.allowed and "unlabeled_t" in d.decider.reason
    d = stack.decide(open_req(subj(USER), fobj("/y", "")))
    assert not d.allowed and "unlabeled_t" in d.decider.reason


def test_mls_read_down_not_up_and_no_write_down(stack):
    s1 = subj("user_u:user_r:user_t:s1")
    assert stack.decide(open_req(s1, fobj("/etc/a", "system_u:object_r:etc_t:s0"))).allowed
    d = stack.decide(open_req(s1, fobj("/etc/b", "system_u:object_r:etc_t:s2")))
    assert not d.allowed and "constraint at" in d.decider.reason
    # write down: TE allows user_t to write user_tmp_t, MLS (eq l1 l2) does not
    assert not stack.decide(open_req(s1, fobj("/tmp/c", "user_u:object_r:user_tmp_t:s0"),
                                     MAY_WRITE)).allowed
    assert stack.decide(open_req(s1, fobj("/tmp/d", "user_u:object_r:user_tmp_t:s1"),
                                 MAY_WRITE)).allowed


def test_mls_categories_and_trusted_subject(stack):
    cat = subj("user_u:user_r:user_t:s1:c0")
    assert not stack.decide(open_req(cat, fobj("/e", "system_u:object_r:etc_t:s1:c0,c1"))).allowed
    assert stack.decide(open_req(cat, fobj("/e", "system_u:object_r:etc_t:s0:c0"))).allowed
    admin = subj("staff_u:system_r:sysadm_t:s0")  # mlsfileread/mlsfilewrite
    assert stack.decide(open_req(admin, fobj("/f", "system_u:object_r:etc_t:s2:c0.c3"))).allowed
    assert stack.decide(open_req(admin, fobj("/f", "system_u:object_r:tmp_t:s2"), MAY_WRITE)).allowed


def test_type_transition_on_create(mini_policy, stack):
    module = stack.module("selinux")
    tmp = tdir("/tmp", "system_u:object_r:tmp_t:s0")
    new = fobj("/tmp/new", "", parent=tmp, exists=False)
    req = Request("inode_create", subj(USER), new, MAY_WRITE)
    assert str(module.new_object_context(req)) == "user_u:object_r:user_tmp_t:s0"
    assert stack.decide(req).allowed
    named = Request("inode_create", subj(USER), fobj("/tmp/special", "", parent=tmp, exists=False))
    assert str(module.new_object_context(named)) == "user_u:object_r:secret_t:s0"
    # user_t has add_name in tmp_t but no dir add_name in etc_t
    etc_new = Request("inode_create", subj(USER), fobj("/etc/x", "", parent=tdir("/etc", ETC), exists=False))
    d = stack.decide(etc_new)
    assert not d.allowed and dict(d.decider.fields)["tclass"] == "dir"


def test_constraint_on_create_identity(stack):
    # staff_u creating a file in tmp_t: the new file is staff_u:object_r:tmp_t, sysadm_t may
    tmp = tdir("/tmp", "system_u:object_r:tmp_t:s0")
    req = Request("inode_create", subj("staff_u:system_r:sysadm_t:s0"),
                  fobj("/tmp/n", "", parent=tmp, exists=False))
    assert stack.decide(req).allowed


def test_domain_transition_on_exec(stack):
    module = stack.module("selinux")
    passwd = fobj("/usr/bin/passwd", "system_u:object_r:passwd_exec_t:s0")
    req = Request("bprm_check_security", subj(USER), passwd)
    assert str(module.exec_context(req)) == "user_u:user_r:passwd_t:s0"
    assert stack.decide(req).allowed
    # no transition: execute_no_trans on bin_t
    assert stack.decide(Request("bprm_check_security", subj(USER),
                                fobj("/bin/ls", "system_u:object_r:bin_t:s0"))).allowed
    # httpd_t may not execute passwd_exec_t at all
    d = stack.decide(Request("bprm_check_security", subj("system_u:system_r:httpd_t:s0"), passwd))
    assert not d.allowed


def test_role_transition_on_exec(stack):
    module = stack.module("selinux")
    sshd_exec = fobj("/usr/sbin/sshd", "system_u:object_r:sshd_exec_t:s0")
    req = Request("bprm_check_security", subj("staff_u:staff_r:staff_t:s0"), sshd_exec)
    assert str(module.exec_context(req)) == "staff_u:system_r:sshd_t:s0"
    assert stack.decide(req).allowed  # roleallow staff_r system_r


def test_role_change_needs_roleallow(fresh_mini):
    p = fresh_mini
    p.role_allow.clear()
    staff = p.parse_context("staff_u:staff_r:staff_t:s0")
    sshd = p.parse_context("staff_u:system_r:sshd_t:s0")
    assert not p.compute_av(staff, sshd, "process").allowed & p.classes["process"].perms["transition"]


def test_invalid_exec_context_is_denied(fresh_mini):
    p = fresh_mini
    p.role_trans.clear()  # staff_r stays, and staff_r may not hold sshd_t
    st = Stack([SELinux(policy=p)])
    d = st.decide(Request("bprm_check_security", subj("staff_u:staff_r:staff_t:s0"),
                          fobj("/usr/sbin/sshd", "system_u:object_r:sshd_exec_t:s0")))
    assert not d.allowed and "invalid context" in d.decider.reason


def test_permissive_domain_allows_and_records(stack, events):
    init = subj("system_u:system_r:init_t:s0")
    d = stack.decide(open_req(init, fobj("/etc/shadow", SHADOW), MAY_WRITE))
    assert d.allowed and d.events[0].result == ALLOWED
    assert kernel_line(record_from_event(d.events[0])).endswith("permissive=1")


def test_global_permissive_mode(mini_policy, events):
    st = Stack([SELinux(policy=mini_policy, enforcing=False)], audit_sink=events.append)
    d = st.decide(open_req(subj(USER), fobj("/etc/passwd", ETC), MAY_WRITE))
    assert d.allowed and events[-1].result == ALLOWED and events[-1].mode is Mode.COMPLAIN


def test_sockets_ports_and_capabilities(stack):
    sshd = subj("system_u:system_r:sshd_t:s0")
    tcp = dict(kind=ObjectKind.SOCKET, family=socket.AF_INET, sock_type=socket.SOCK_STREAM)
    assert stack.decide(Request("socket_create", sshd, Object(**tcp))).allowed
    assert stack.decide(Request("socket_bind", sshd, Object(**tcp, address="0.0.0.0", port=22))).allowed
    d = stack.decide(Request("socket_bind", sshd, Object(**tcp, address="0.0.0.0", port=80)))
    assert not d.allowed and "http_port_t" in dict(d.decider.fields)["tcontext"]
    assert stack.decide(Request("socket_bind", sshd, Object(**tcp, port=40000))).allowed  # ephemeral
    assert not stack.decide(Request("socket_create", subj(USER), Object(**tcp))).allowed
    assert stack.decide(Request("capable", sshd, cap=CAP_NET_BIND_SERVICE)).allowed
    d = stack.decide(Request("capable", sshd, cap=CAP_SYS_ADMIN))
    assert not d.allowed and dict(d.decider.fields)["tclass"] == "capability"


def test_ptrace_and_signals(stack):
    user = Subject(pid=5, comm="u", contexts=(("selinux", USER),))
    target = Object(kind=ObjectKind.TASK, task=user)
    sshd = subj("system_u:system_r:sshd_t:s0")
    assert stack.decide(Request("task_kill", sshd, target, signal=signal.SIGKILL)).allowed
    assert not stack.decide(Request("task_kill", sshd, target, signal=signal.SIGSTOP)).allowed
    assert not stack.decide(Request("ptrace_access_check", sshd, target, flags=PTRACE_MODE_ATTACH)).allowed
    admin = subj("staff_u:system_r:sysadm_t:s0")
    assert stack.decide(Request("ptrace_access_check", admin, target, flags=PTRACE_MODE_ATTACH)).allowed


def test_rename_and_link_checks(stack):
    tmp = tdir("/tmp", "system_u:object_r:tmp_t:s0")
    f = fobj("/tmp/a", "user_u:object_r:user_tmp_t:s0", parent=tmp)
    dest = fobj("/tmp/b", "", parent=tmp, exists=False)
    d = stack.decide(Request("inode_rename", subj(USER), f, MAY_WRITE, target=dest))
    assert not d.allowed and "rename" in dict(d.decider.fields)["perms"]


def test_avc_caches_and_reload_flushes(stack):
    req = open_req(subj(USER), fobj("/etc/passwd", ETC))
    stack.decide(req)
    stack.decide(req)
    assert stack.avc.stats().hits == 1
    stack.reload()
    stack.decide(req)
    assert stack.avc.stats().hits == 1 and stack.avc.stats().misses == 2


def test_module_avc_is_bounded(mini_policy):
    module = SELinux(policy=mini_policy, avc_size=8)
    st = Stack([module], avc_threshold=0)
    for level in range(3):
        for cat in range(4):
            st.decide(open_req(subj(f"user_u:user_r:user_t:s{min(level, 1)}:c{cat}"),
                               fobj("/e", f"system_u:object_r:etc_t:s0:c{cat}")))
    assert len(module._avc) <= 8


def test_registry_and_xattr_option(mini_policy, tmp_path):
    assert "selinux" in FACTORIES
    st = build_stack("selinux", dac=False, settings={"selinux": {"policy_paths": [MINI],
                                                                 "xattr": "security.selinux"}})
    o = fobj("/etc/passwd", ETC, xattr="security.selinux")
    assert st.decide(open_req(subj(USER), o)).allowed
    assert not st.decide(open_req(subj(USER), fobj("/etc/passwd", ETC))).allowed  # wrong xattr
    with pytest.raises(StockadeError):
        SELinux()
    with pytest.raises(StockadeError):
        SELinux(policy_paths=[os.fspath(tmp_path / "missing.cil")])


def test_events_name_denied_result(stack, events):
    stack.decide(open_req(subj(USER), fobj("/etc/passwd", ETC), MAY_WRITE))
    assert events[-1].result == DENIED and events[-1].verdict.module == "selinux"
