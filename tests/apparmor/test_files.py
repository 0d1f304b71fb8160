"""File hooks → AppArmor permissions, owner rules, deny beats allow, labels."""

from __future__ import annotations

import errno

import pytest

from stockade.lsm import operations as ops
from stockade.lsm.types import MAY_APPEND, MAY_OPEN, MAY_READ, MAY_WRITE, Request
from tests.apparmor.aa_helpers import fields, fobj, module, stack, subject

PROFILE = """
profile p {
  /data/ro r,
  /data/rw rw,
  /data/app a,
  /data/lock k,
  /data/lib.so m,
  /data/new/** w,
  /data/dir/ w,
  /data/tree/ r,
  owner /home/*/mine rw,
  /srv/** rw,
  deny /srv/secret w,
  /links/** l,
  /links/data r,
  link /pairs/a -> /pairs/target,
  /pairs/target r,
  /pairs/a r,
  link subset /sub/link -> /sub/**,
  /sub/link rw,
  /sub/ro r,
  /sub/rw rw,
}
"""


@pytest.fixture(scope="module")
def st():
    return stack(module(PROFILE))


def _errno(st, req: Request) -> int:
    return st.decide(req).errno


@pytest.mark.parametrize(("op", "path", "ok"), [
    ("read", "/data/ro", True), ("write", "/data/ro", False), ("append", "/data/ro", False),
    ("read", "/data/rw", True), ("write", "/data/rw", True),
    ("append", "/data/rw", True),  # w implies a
    ("append", "/data/app", True), ("write", "/data/app", False),  # a alone never gives w
    ("read", "/data/app", False), ("read", "/nowhere", False),
])
def test_open_maps_read_write_append(st, op: str, path: str, ok: bool) -> None:
    (req,) = ops.file_requests(op, subject(), fobj(path))[:1]
    assert _errno(st, req) == (0 if ok else errno.EACCES)


def test_open_records_requested_and_denied_masks(st) -> None:
    req = Request("file_open", subject(), fobj("/data/ro", uid=0), MAY_READ | MAY_WRITE | MAY_OPEN)
    d = st.decide(req)
    f = fields(d)
    assert d.errno == errno.EACCES
    assert (f["operation"], f["class"], f["requested"], f["denied"]) == ("open", "file", "rw", "w")
    assert (f["fsuid"], f["ouid"], f["profile"]) == ("1000", "0", "p")
    assert d.decider is not None and d.decider.reason == "profile p: no rule allows w"


def test_append_open_requests_a_not_w(st) -> None:
    req = Request("file_open", subject(), fobj("/data/app"), MAY_WRITE | MAY_APPEND | MAY_OPEN)
    assert st.decide(req).allowed


def test_exec_open_is_left_to_the_bprm_hook(st) -> None:
    reqs = ops.file_requests("exec", subject(), fobj("/data/ro"))
    assert reqs[0].hook == "file_open"
    assert st.decide(reqs[0]).layers[-1] is None
    assert st.decide(reqs[1]).errno == errno.EACCES


@pytest.mark.parametrize(("hook", "path", "is_dir", "ok"), [
    ("inode_create", "/data/new/f", False, True),
    ("inode_create", "/data/other", False, False),
    ("inode_mknod", "/data/new/fifo", False, True),
    ("inode_symlink", "/data/new/ln", False, True),
    ("inode_mkdir", "/data/dir", True, True),
    ("inode_mkdir", "/data/tree", True, False),  # r on the directory is not w
    ("inode_unlink", "/data/rw", False, True),
    ("inode_unlink", "/data/ro", False, False),
    ("inode_rmdir", "/data/dir", True, True),
])
def test_create_and_delete_need_w_on_the_path_itself(st, hook: str, path: str, is_dir: bool,
                                                     ok: bool) -> None:
    req = Request(hook, subject(), fobj(path, is_dir=is_dir, exists=hook.endswith(("unlink", "rmdir"))),
                  MAY_WRITE)
    assert _errno(st, req) == (0 if ok else errno.EACCES)


def test_created_file_is_owned_by_the_subject() -> None:
    st = stack(module("profile p { owner /tmp/** w, }"))
    new = fobj("/tmp/x", uid=0, exists=False)
    assert st.decide(Request("inode_create", subject(uid=1000), new, MAY_WRITE)).allowed


def test_rename_needs_rw_on_source_and_w_on_destination(st) -> None:
    ok = Request("inode_rename", subject(), fobj("/data/rw"), MAY_WRITE, target=fobj("/data/new/x"))
    assert st.decide(ok).allowed
    read_only_src = Request("inode_rename", subject(), fobj("/data/ro"), MAY_WRITE,
                            target=fobj("/data/new/x"))
    d = st.decide(read_only_src)
    assert d.errno == errno.EACCES and fields(d)["operation"] == "rename_src"
    assert fields(d)["denied"] == "w"
    bad_dest = Request("inode_rename", subject(), fobj("/data/rw"), MAY_WRITE, target=fobj("/data/ro"))
    d = st.decide(bad_dest)
    assert fields(d)["operation"] == "rename_dest" and fields(d)["name"] == "/data/ro"
    from stockade.audit.record import record_from_event
    assert record_from_event(d.events[0]).object == "/data/ro"


def test_write_only_source_cannot_be_renamed() -> None:
    st = stack(module("profile p { /a w, /b w, }"))
    d = st.decide(Request("inode_rename", subject(), fobj("/a"), MAY_WRITE, target=fobj("/b")))
    assert d.errno == errno.EACCES and fields(d)["denied"] == "r"


def test_link_needs_l_on_the_new_name_and_subset(st) -> None:
    def link(new: str, existing: str) -> int:
        return st.decide(Request("inode_link", subject(), fobj(existing), MAY_WRITE,
                                 target=fobj(new))).errno

    assert link("/links/x", "/links/data") == 0  # /links/x has only l: a subset of anything
    assert link("/other/x", "/links/data") == errno.EACCES  # no l on the new name
    assert link("/pairs/a", "/pairs/target") == 0  # named pair, no subset test
    assert link("/pairs/a", "/links/data") == errno.EACCES  # pair restricts the target
    assert link("/sub/link", "/sub/rw") == 0  # rw ⊆ rw
    assert link("/sub/link", "/sub/ro") == errno.EACCES  # the link would gain w


def test_link_denial_fields_name_the_target(st) -> None:
    d = st.decide(Request("inode_link", subject(), fobj("/sub/ro"), MAY_WRITE, target=fobj("/sub/link")))
    f = fields(d)
    assert f["operation"] == "link" and f["target"] == "/sub/ro" and f["name"] == "/sub/link"
    assert "w" in f["denied"] and f["info"] == "link not subset of target"


@pytest.mark.parametrize(("what", "path", "ok"), [
    ("chmod", "/data/rw", True), ("chmod", "/data/ro", False),
    ("chown", "/data/rw", True), ("chown", "/data/ro", False),
])
def test_chmod_and_chown_need_w(st, what: str, path: str, ok: bool) -> None:
    d = st.decide(Request("inode_setattr", subject(), fobj(path), MAY_WRITE, what=what))
    assert d.errno == (0 if ok else errno.EACCES)
    if not ok:
        assert fields(d)["operation"] == what


def test_utimes_is_not_mediated(st) -> None:
    d = st.decide(Request("inode_setattr", subject(), fobj("/data/ro"), MAY_WRITE, what="utimes"))
    assert d.allowed and d.layers[-1] is None


def test_lock_needs_k_and_exec_mmap_needs_m(st) -> None:
    assert st.decide(Request("file_lock", subject(), fobj("/data/lock"))).allowed
    assert st.decide(Request("file_lock", subject(), fobj("/data/rw"))).errno == errno.EACCES
    assert st.decide(Request("mmap_file", subject(), fobj("/data/lib.so"), flags=0x4)).allowed
    d = st.decide(Request("mmap_file", subject(), fobj("/data/ro"), flags=0x4 | 0x1))
    assert d.errno == errno.EACCES and fields(d)["denied"] == "m"
    assert st.decide(Request("mmap_file", subject(), fobj("/data/ro"), flags=0x1)).allowed


def test_owner_rules_apply_only_to_the_fsuid_owner(st) -> None:
    mine = ops.file_requests("write", subject(uid=1000), fobj("/home/al/mine", uid=1000))[0]
    theirs = ops.file_requests("write", subject(uid=1000), fobj("/home/al/mine", uid=0))[0]
    assert st.decide(mine).allowed
    assert st.decide(theirs).errno == errno.EACCES


def test_deny_beats_allow_and_names_the_rule(st) -> None:
    d = st.decide(ops.file_requests("write", subject(), fobj("/srv/secret"))[0])
    assert d.errno == errno.EACCES
    assert d.decider is not None
    assert d.decider.rule == "<text>:13: deny /srv/secret w,"
    assert d.decider.reason == "profile p: w denied by deny rule at <text>:13"
    assert d.decider.hard and d.decider.quiet
    assert st.decide(ops.file_requests("read", subject(), fobj("/srv/secret"))[0]).allowed


def test_allowed_verdict_names_the_allowing_rule(st) -> None:
    d = st.explain(ops.file_requests("read", subject(), fobj("/data/rw"))[0])
    verdict = d.layers[-1]
    assert verdict is not None and verdict.rule == "<text>:4: /data/rw rw,"


def test_unconfined_and_unknown_labels() -> None:
    st = stack(module("profile p { }"))
    req = ops.file_requests("read", subject(None), fobj("/etc/passwd"))[0]
    assert st.decide(req).allowed and st.decide(req).layers[-1] is None
    assert st.decide(ops.file_requests("read", subject("unconfined"), fobj("/x"))[0]).allowed
    d = st.decide(ops.file_requests("read", subject("nope"), fobj("/x"))[0])
    assert d.errno == errno.EACCES and "not loaded" in d.decider.reason


def test_directories_match_with_a_trailing_slash(st) -> None:
    d = st.decide(ops.file_requests("read", subject(), fobj("/data/tree", is_dir=True))[0])
    assert d.allowed
    assert st.decide(ops.file_requests("read", subject(), fobj("/data/tree"))[0]).errno
