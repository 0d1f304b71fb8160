"""Smack: smk_access()'s order, rules, transmute, capabilities, hooks and audit records."""

import errno
import socket

import pytest
from label_helpers import Sink, fobj, stack_of, subj, task

from stockade.errors import StockadeError
from stockade.lsm.caps import CAP_MAC_OVERRIDE, CAP_SYS_PTRACE, cap_number
from stockade.lsm.types import (
    MAY_APPEND,
    MAY_EXEC,
    MAY_OPEN,
    MAY_READ,
    MAY_WRITE,
    PTRACE_MODE_ATTACH,
    PTRACE_MODE_READ,
    Object,
    ObjectKind,
    Request,
)
from stockade.modules.biba import Biba
from stockade.modules.labels import new_file_labels
from stockade.modules.smack import (
    MAY_LOCK,
    MAY_TRANSMUTE,
    Smack,
    access_string,
    parse_access,
    parse_rules,
    smk_access,
)

R, W, X, A, L = MAY_READ, MAY_WRITE, MAY_EXEC, MAY_APPEND, MAY_LOCK
CAP_MAC_ADMIN = cap_number("mac_admin")


def granted(rules, s, o, req):
    return smk_access(rules, s, o, req).granted


# -- smk_access order ------------------------------------------------------------------------

def test_star_subject_is_denied_even_on_star_web_and_its_own_label() -> None:
    assert not granted({}, "*", "*", R)
    assert not granted({}, "*", "@", R)
    assert not granted({}, "*", "_", R)
    assert not granted({("*", "B"): R}, "*", "B", R)


def test_web_label_grants_everything_both_ways() -> None:
    assert granted({}, "A", "@", R | W | X | A)
    assert granted({}, "@", "B", R | W | X)


def test_star_object_is_open_to_any_subject() -> None:
    assert granted({}, "A", "*", R | W | X | A)
    assert granted({}, "^", "*", W)


def test_equal_labels_get_everything() -> None:
    assert granted({}, "A", "A", R | W | X | A | MAY_TRANSMUTE)


def test_floor_object_read_and_execute_only() -> None:
    assert granted({}, "A", "_", R)
    assert granted({}, "A", "_", R | X)
    assert not granted({}, "A", "_", W)
    assert not granted({}, "A", "_", R | W)  # not a pure read request
    assert granted({}, "A", "_", L)  # lock-only


def test_hat_subject_reads_and_executes_everything() -> None:
    assert granted({}, "^", "B", R | X)
    assert not granted({}, "^", "B", W)
    assert not granted({}, "^", "B", A)


def test_explicit_rule_must_cover_every_requested_letter() -> None:
    rules = {("A", "B"): R | X}
    assert granted(rules, "A", "B", R)
    assert granted(rules, "A", "B", R | X)
    result = smk_access(rules, "A", "B", R | W)
    assert not result.granted and "lacks w" in result.why
    assert not granted(rules, "B", "A", R)  # rules are directional


def test_write_implies_lock() -> None:
    assert granted({("A", "B"): W}, "A", "B", L)
    assert not granted({("A", "B"): R}, "A", "B", L)


def test_dash_rule_grants_nothing() -> None:
    rules = parse_rules("A B -")
    assert rules == {("A", "B"): 0}
    assert not granted(rules, "A", "B", R)


# -- rule text --------------------------------------------------------------------------------

def test_access_letters_round_trip() -> None:
    assert parse_access("rwxatlb") == parse_access("RWXATLB")
    assert access_string(parse_access("xr")) == "rx"
    with pytest.raises(ValueError, match="unknown access letter"):
        parse_access("rz")


def test_load2_lines_replace_and_change_rules_modify() -> None:
    rules = parse_rules("A B rwx\nA B r   # later line replaces\nC D rw\nC D x w\n")
    assert rules[("A", "B")] == R
    assert rules[("C", "D")] == R | X  # change-rule: add x, remove w


def test_rule_errors_name_the_line() -> None:
    with pytest.raises(StockadeError, match=r"rules.txt:2: expected 'subject object access'"):
        parse_rules("A B r\nA B\n", "rules.txt")
    with pytest.raises(StockadeError, match=r"<rules>:1: bad label 'a/b'"):
        parse_rules("a/b B r")
    with pytest.raises(StockadeError, match=r":1: unknown access letter 'q'"):
        parse_rules("A B rq")


def test_rules_file_is_loaded(tmp_path) -> None:
    path = tmp_path / "load2"
    path.write_text("App Data rw\n")
    assert Smack(rules_file=str(path)).rules == {("App", "Data"): R | W}
    with pytest.raises(StockadeError, match="No such file"):
        Smack(rules_file=str(tmp_path / "missing"))


# -- hooks through the stack ------------------------------------------------------------------

def open_req(s, obj, mask):
    return Request("file_open", s, obj, mask | MAY_OPEN)


def test_file_open_checks_the_open_mask_and_audits_in_smack_format() -> None:
    sink = Sink()
    stack = stack_of(Smack(rules_text="App Data r"), sink=sink)
    data = fobj("/srv/data", "smack", "Data")
    app = subj(smack="App")
    assert stack.decide(open_req(app, data, MAY_READ)).allowed
    d = stack.decide(open_req(app, data, MAY_WRITE))
    assert d.errno == errno.EACCES and d.decider.module == "smack"
    line = sink.lines()[-1]
    assert ('lsm=SMACK fn=smack_inode_permission action=denied subject="App" object="Data" '
            'requested=w pid=100 comm="p100" name="/srv/data" dev="2049" ino=7') in line


def test_unlabelled_files_and_tasks_are_floor() -> None:
    stack = stack_of(Smack())
    plain = fobj("/etc/motd")
    assert stack.decide(open_req(subj(smack="App"), plain, MAY_READ)).allowed
    assert not stack.decide(open_req(subj(smack="App"), plain, MAY_WRITE)).allowed
    # an unlabelled task is "_" too: it owns unlabelled files
    assert stack.decide(open_req(subj(), plain, MAY_WRITE)).allowed


def test_path_walk_needs_search_on_every_directory() -> None:
    stack = stack_of(Smack(rules_text="App Vault r"))
    vault = fobj("/vault", "smack", "Vault", is_dir=True)
    inside = Object(kind="file", path="/vault/f", mode=0o100644, parent=vault)
    d = stack.decide(open_req(subj(smack="App"), inside, MAY_READ))
    assert not d.allowed and "lacks x" in d.decider.reason
    stack = stack_of(Smack(rules_text="App Vault x"))
    assert stack.decide(open_req(subj(smack="App"), inside, MAY_READ)).allowed


def test_cap_mac_override_overrides_file_denials_unless_onlycap_excludes() -> None:
    data = fobj("/srv/data", "smack", "Data")
    root = subj(caps=1 << CAP_MAC_OVERRIDE, smack="Admin")
    assert stack_of(Smack()).decide(open_req(root, data, MAY_WRITE)).allowed
    assert not stack_of(Smack(onlycap=frozenset({"System"}))).decide(
        open_req(root, data, MAY_WRITE)).allowed
    assert stack_of(Smack(onlycap=frozenset({"Admin"}))).decide(
        open_req(root, data, MAY_WRITE)).allowed


def test_create_and_unlink_need_wx_on_the_directory_and_w_on_the_file() -> None:
    smack = Smack(rules_text="App Dir w\nApp File w")
    stack = stack_of(smack)
    directory = fobj("/d", "smack", "Dir", is_dir=True)
    new = fobj("/d/new", parent=directory, exists=False)
    app = subj(smack="App")
    d = stack.decide(Request("inode_create", app, new, MAY_WRITE))
    assert not d.allowed and "lacks x" in d.decider.reason
    smack.load("App Dir wx")  # a reload flushes the stack's AVC
    assert stack.decide(Request("inode_create", app, new, MAY_WRITE)).allowed
    victim = fobj("/d/f", "smack", "Other", parent=directory)
    d = stack.decide(Request("inode_unlink", app, victim, MAY_WRITE))
    assert not d.allowed and d.decider.fields[0] == ("fn", "smack_inode_unlink")
    assert stack.decide(Request("inode_unlink", app, fobj("/d/g", "smack", "File", parent=directory),
                                MAY_WRITE)).allowed


def test_rename_needs_read_write_on_the_file() -> None:
    stack = stack_of(Smack(rules_text="App File w\nApp _ wx"))
    directory = fobj("/d", is_dir=True)
    f = fobj("/d/f", "smack", "File", parent=directory)
    dest = fobj("/d/g", parent=directory, exists=False)
    d = stack.decide(Request("inode_rename", subj(smack="App"), f, MAY_WRITE, target=dest))
    assert not d.allowed and "lacks r" in d.decider.reason


def test_transmute_gives_the_directory_label_only_with_t_access() -> None:
    transmuting = fobj("/shared", "smack", "Shared", is_dir=True,
                       extra=(("user.stockade.smack.transmute", b"TRUE"),))
    plain_dir = fobj("/plain", "smack", "Shared", is_dir=True)
    smack = Smack(rules_text="App Shared rwxt\nOther Shared rwx")
    assert smack.is_transmuting(transmuting) and not smack.is_transmuting(plain_dir)
    assert smack.new_object_label("App", transmuting) == ("Shared", False)
    assert smack.new_object_label("App", transmuting, is_dir=True) == ("Shared", True)
    assert smack.new_object_label("Other", transmuting) == ("Other", False)
    assert smack.new_object_label("App", plain_dir) == ("App", False)
    # transmute uses the explicit rule only: same label or '@' do not count
    assert smack.new_object_label("Shared", transmuting) == ("Shared", False)


def test_new_file_labels_of_a_stack_biba_and_smack() -> None:
    """What the supervisor writes on a file it creates: each module's create_labels."""
    transmuting = fobj("/shared", "smack", "Shared", is_dir=True,
                       extra=(("user.stockade.smack.transmute", b"TRUE"),))
    mods = [Smack(rules_text="App Shared rwxt"), Biba()]
    who = subj(smack="App", biba="medium")
    new_dir = fobj("/shared/d", parent=transmuting, exists=False, is_dir=True)
    assert new_file_labels(mods, who, new_dir) == (
        ("user.stockade.biba", b"medium"), ("user.stockade.smack", b"Shared"),
        ("user.stockade.smack.transmute", b"TRUE"))
    new_file = fobj("/shared/f", parent=transmuting, exists=False)
    assert new_file_labels(mods, who, new_file)[1:] == (("user.stockade.smack", b"Shared"),)


def test_security_smack64_names_when_configured() -> None:
    smack = Smack(xattr="security.SMACK64")
    assert (smack.exec_xattr, smack.transmute_xattr) == ("security.SMACK64EXEC",
                                                         "security.SMACK64TRANSMUTE")
    obj = Object(kind="file", path="/x", mode=0o100644, xattrs=(("security.SMACK64", b"Lbl\x00"),))
    assert smack.object_label(obj) == "Lbl"


def test_relabel_needs_cap_mac_admin_and_a_valid_label() -> None:
    stack = stack_of(Smack())
    f = fobj("/f")  # floor; subject floor: write allowed
    name = "user.stockade.smack"
    new = Object(xattrs=((name, b"Fresh"),))
    d = stack.decide(Request("inode_setxattr", subj(), f, what=name, target=new))
    assert d.errno == errno.EPERM and "CAP_MAC_ADMIN" in d.decider.reason
    admin = subj(caps=1 << CAP_MAC_ADMIN)
    assert stack.decide(Request("inode_setxattr", admin, f, what=name, target=new)).allowed
    bad = Object(xattrs=((name, b"-bad"),))
    assert stack.decide(Request("inode_setxattr", admin, f, what=name, target=bad)).errno == \
        errno.EINVAL
    star_exec = Object(xattrs=((name + ".exec", b"*"),))
    assert stack.decide(Request("inode_setxattr", admin, f, what=name + ".exec",
                                target=star_exec)).errno == errno.EINVAL


def test_exec_transition_and_no_new_privs() -> None:
    smack = Smack()
    exe = fobj("/usr/bin/tool", extra=(("user.stockade.smack.exec", b"Tool"),))
    assert smack.exec_label(exe) == "Tool"
    assert smack.transition("App", smack.exec_label(exe)) == "Tool"
    assert smack.transition("App", None) == "App"
    stack = stack_of(smack)
    assert stack.decide(Request("bprm_check_security", subj(smack="App"), exe, MAY_EXEC)).allowed
    d = stack.decide(Request("bprm_check_security", subj(smack="App", nnp=True), exe, MAY_EXEC))
    assert d.errno == errno.EPERM and "no_new_privs" in d.decider.reason


def test_signals_need_write_on_the_target_label() -> None:
    stack = stack_of(Smack(rules_text="A B r"))
    target = task(subj(pid=200, smack="B"))
    assert not stack.decide(Request("task_kill", subj(smack="A"), target, signal=15)).allowed
    assert stack.decide(Request("task_kill", subj(smack="A"), target, signal=0)).allowed
    stack = stack_of(Smack(rules_text="A B w"))
    assert stack.decide(Request("task_kill", subj(smack="A"), target, signal=15)).allowed


def test_ptrace_rules() -> None:
    target = task(subj(pid=200, smack="B"))
    attach = PTRACE_MODE_ATTACH
    stack = stack_of(Smack(rules_text="A B r"))
    assert stack.decide(Request("ptrace_access_check", subj(smack="A"), target,
                                flags=PTRACE_MODE_READ)).allowed
    assert not stack.decide(Request("ptrace_access_check", subj(smack="A"), target,
                                    flags=attach)).allowed
    exact = stack_of(Smack(rules_text="A B rw", ptrace_rule="exact"))
    assert not exact.decide(Request("ptrace_access_check", subj(smack="A"), target,
                                    flags=attach)).allowed
    assert exact.decide(Request("ptrace_access_check", subj(caps=1 << CAP_SYS_PTRACE, smack="A"),
                                target, flags=attach)).allowed
    draconian = stack_of(Smack(ptrace_rule="draconian"))
    assert not draconian.decide(Request("ptrace_access_check", subj(caps=1 << CAP_SYS_PTRACE,
                                        smack="A"), target, flags=attach)).allowed
    assert draconian.decide(Request("ptrace_access_check", subj(smack="B"), target,
                                    flags=attach)).allowed


def test_network_checks_use_host_labels_without_override() -> None:
    smack = Smack(rules_text="App Net w", netlabels=("10.0.0.0/8 Internal", "10.1.0.0/16 Net"))
    stack = stack_of(smack)
    sock = lambda addr: Object(kind=ObjectKind.SOCKET, family=socket.AF_INET, address=addr, port=80)  # noqa: E731
    app = subj(smack="App", caps=1 << CAP_MAC_OVERRIDE)
    assert stack.decide(Request("socket_connect", app, sock("10.1.2.3"))).allowed
    d = stack.decide(Request("socket_connect", app, sock("10.2.0.1")))
    assert not d.allowed and d.decider.fields[0] == ("fn", "smk_ipv4_check")  # no CAP override
    assert stack.decide(Request("socket_connect", app, sock("192.0.2.1"))).allowed  # unlabelled


def test_unix_stream_connect_needs_write_both_ways() -> None:
    peer = Object(kind=ObjectKind.SOCKET, family=socket.AF_UNIX, task=subj(pid=300, smack="Srv"))
    one_way = stack_of(Smack(rules_text="Cli Srv w"))
    assert not one_way.decide(Request("unix_stream_connect", subj(smack="Cli"), peer)).allowed
    both = stack_of(Smack(rules_text="Cli Srv w\nSrv Cli w"))
    assert both.decide(Request("unix_stream_connect", subj(smack="Cli"), peer)).allowed
    override = subj(smack="Cli", caps=1 << CAP_MAC_OVERRIDE)
    assert one_way.decide(Request("unix_stream_connect", override, peer)).allowed


def test_smack_is_exclusive() -> None:
    assert Smack.exclusive
    with pytest.raises(StockadeError, match="exclusive"):
        class OtherMajor(Smack):
            name = "other"
        stack_of(Smack(), OtherMajor())


def test_reload_flushes_cached_decisions() -> None:
    smack = Smack()
    stack = stack_of(smack)
    req = open_req(subj(smack="A"), fobj("/f", "smack", "B"), MAY_READ)
    assert not stack.decide(req).allowed
    assert stack.decide(req).cached
    smack.load("A B r")
    stack.reload()
    assert stack.decide(req).allowed
