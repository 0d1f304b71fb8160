"""Unit tests of the DAC layer: each rule of fs/namei.c and friends on constructed objects."""

from __future__ import annotations

import errno
import socket
import stat

import pytest

from stockade.lsm.acl import parse_acl_text
from stockade.lsm.caps import (
    CAP_BPF,
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    CAP_FSETID,
    CAP_KILL,
    CAP_NET_BIND_SERVICE,
    CAP_NET_RAW,
    CAP_PERFMON,
    CAP_SYS_ADMIN,
    CAP_SYS_MODULE,
    CAP_SYS_PTRACE,
    cap_number,
)
from stockade.lsm.module import SecurityModule, Verdict
from stockade.lsm.setattr import chmod_request, chown_flags, chown_ids, chown_request
from stockade.lsm.stack import Stack
from stockade.lsm.types import (
    MAY_APPEND,
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    PTRACE_MODE_ATTACH,
    PTRACE_MODE_FSCREDS,
    PTRACE_MODE_READ,
    PTRACE_MODE_REALCREDS,
    Object,
    ObjectKind,
    Request,
    Subject,
)
from stockade.modules import registry
from stockade.modules.dac import (
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    UTIMES_SET,
    Dac,
)
from stockade.slotted import replace

U1, U2, U3 = 51001, 51002, 51003  # ids with no passwd/group entries: reasons show numbers
G1, G2, G3 = 52001, 52002, 52003
ROOT_DIR = Object(kind=ObjectKind.FILE, path="/", mode=stat.S_IFDIR | 0o755)


def subj(uid: int = U1, gid: int = G1, groups: tuple[int, ...] = (), caps: tuple[int, ...] = (),
         **kw: object) -> Subject:
    mask = sum(1 << c for c in caps)
    return Subject(uid=uid, euid=uid, suid=uid, fsuid=uid, gid=gid, egid=gid, sgid=gid,
                   fsgid=gid, groups=frozenset(groups), cap_effective=mask, cap_permitted=mask,
                   **kw)  # type: ignore[arg-type]


def node(path: str, mode: int, uid: int = U2, gid: int = G2, *, kind: int = stat.S_IFREG,
         parent: Object | None = None, acl: str | None = None, **kw: object) -> Object:
    return Object(kind=ObjectKind.FILE, path=path, mode=kind | mode, uid=uid, gid=gid,
                  parent=parent, acl=parse_acl_text(acl) if acl else None,
                  **kw)  # type: ignore[arg-type]


def directory(path: str, mode: int, uid: int = U2, gid: int = G2, **kw: object) -> Object:
    return node(path, mode, uid, gid, kind=stat.S_IFDIR, **kw)


def decide(stack: Stack, hook: str, subject: Subject, obj: Object | None = None,
           **kw: object) -> int:
    return stack.decide(Request(hook, subject, obj, **kw)).errno  # type: ignore[arg-type]


def can(stack: Stack, subject: Subject, obj: Object, access: int) -> int:
    return decide(stack, "file_open", subject, obj, access=access)


@pytest.fixture
def stack(make_stack) -> Stack:
    return make_stack()


# -- mode bits and classes -----------------------------------------------------------------

def test_owner_class_wins_even_when_group_and_other_grant(stack: Stack) -> None:
    f = node("/f", 0o077, uid=U1, gid=G1)
    assert can(stack, subj(U1, G1), f, MAY_READ) == errno.EACCES
    assert can(stack, subj(U2, G1), f, MAY_READ) == 0
    assert can(stack, subj(U3, G3), f, MAY_READ | MAY_WRITE) == 0


def test_group_class_by_fsgid_or_supplementary_group(stack: Stack) -> None:
    f = node("/f", 0o640, uid=U1, gid=G2)
    assert can(stack, subj(U2, G2), f, MAY_READ) == 0
    assert can(stack, subj(U2, G1, groups=(G2,)), f, MAY_READ) == 0
    assert can(stack, subj(U2, G1, groups=(G3,)), f, MAY_READ) == errno.EACCES
    assert can(stack, subj(U2, G2), f, MAY_WRITE) == errno.EACCES


def test_group_class_denies_even_when_other_grants(stack: Stack) -> None:
    f = node("/f", 0o604, uid=U1, gid=G2)
    assert can(stack, subj(U2, G2), f, MAY_READ) == errno.EACCES
    assert can(stack, subj(U2, G3), f, MAY_READ) == 0


def test_denial_reason_names_mode_owner_class_and_capabilities(stack: Stack) -> None:
    d = stack.decide(Request("file_open", subj(U3, G3), node("/etc/x", 0o640, U1, G1),
                             access=MAY_READ))
    assert d.decider is not None and d.decider.module == "dac"
    assert d.decider.reason == (f"open /etc/x: mode 0640 {U1}:{G1} grants other no read; "
                                "CAP_DAC_READ_SEARCH and CAP_DAC_OVERRIDE not effective")
    assert ("class", "other") in d.decider.fields


# -- POSIX ACLs ----------------------------------------------------------------------------

def test_acl_named_user_is_limited_by_the_mask(stack: Stack) -> None:
    f = node("/f", 0o640, U1, G1, acl=f"u::rw-,u:{U2}:rw-,g::r--,m::r--,o::---")
    assert can(stack, subj(U2, G3), f, MAY_READ) == 0
    assert can(stack, subj(U2, G3), f, MAY_WRITE) == errno.EACCES
    reason = stack.decide(Request("file_open", subj(U2, G3), f, access=MAY_WRITE)).decider
    assert reason is not None and f"user:{U2}:rw- (mask::r--)" in reason.reason


def test_acl_named_user_entry_decides_without_falling_back_to_groups(stack: Stack) -> None:
    f = node("/f", 0o674, U1, G1, acl=f"u::rw-,u:{U2}:---,g::rwx,m::rwx,o::r--")
    assert can(stack, subj(U2, G1), f, MAY_READ) == errno.EACCES


def test_acl_one_group_entry_must_grant_everything(stack: Stack) -> None:
    acl = f"u::rw-,g::---,g:{G2}:r--,g:{G3}:-w-,m::rw-,o::rw-"
    f = node("/f", 0o666, U1, G1, acl=acl)
    both = subj(U3, G2, groups=(G3,))
    assert can(stack, both, f, MAY_READ) == 0
    assert can(stack, both, f, MAY_WRITE) == 0
    # the read comes from one entry and the write from another: denied, and other is not used
    assert can(stack, both, f, MAY_READ | MAY_WRITE) == errno.EACCES
    assert can(stack, subj(U3, G1 + 100), f, MAY_READ | MAY_WRITE) == 0  # no group: other


def test_acl_group_obj_uses_the_inode_group_and_the_mask(stack: Stack) -> None:
    f = node("/f", 0o640, U1, G1, acl=f"u::rw-,g::rw-,g:{G3}:r--,m::r--,o::---")
    assert can(stack, subj(U2, G1), f, MAY_READ) == 0
    assert can(stack, subj(U2, G1), f, MAY_WRITE) == errno.EACCES


def test_acl_with_empty_mask_is_skipped_for_the_mode_bits(stack: Stack) -> None:
    # acl_permission_check() consults the ACL only when the group-class bits are not clear:
    # with mask::--- the named user falls through to the "other" mode bits.
    f = node("/f", 0o604, U1, G1, acl=f"u::rw-,u:{U2}:---,g::---,m::---,o::r--")
    assert can(stack, subj(U2, G2), f, MAY_READ) == 0
    assert can(stack, subj(U3, G1), f, MAY_READ) == errno.EACCES  # in the group: group bits


def test_acl_other_entry(stack: Stack) -> None:
    f = node("/f", 0o644, U1, G1, acl=f"u::rw-,u:{U3}:rw-,g::r--,m::rw-,o::r--")
    assert can(stack, subj(U2, G2), f, MAY_READ) == 0
    assert can(stack, subj(U2, G2), f, MAY_WRITE) == errno.EACCES


# -- capability overrides ------------------------------------------------------------------

class CapLog(SecurityModule):
    """Records the order of capable() questions and answers from the effective set."""

    name = "capability"

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[int] = []

    def hook_capable(self, req: Request) -> Verdict | None:
        self.asked.append(req.cap)
        return None if req.subject.cap_effective >> req.cap & 1 else self.deny(errno.EPERM, "no")


def test_file_read_asks_dac_read_search_then_dac_override() -> None:
    log = CapLog()
    s = Stack([Dac(), log], avc_threshold=1)
    f = node("/f", 0o600, U2, G2)
    assert decide(s, "file_open", subj(caps=(CAP_DAC_OVERRIDE,)), f, access=MAY_READ) == 0
    assert log.asked == [CAP_DAC_READ_SEARCH, CAP_DAC_OVERRIDE]
    log.asked.clear()
    assert decide(s, "file_open", subj(caps=(CAP_DAC_READ_SEARCH,)), f, access=MAY_WRITE) \
        == errno.EACCES
    assert log.asked == [CAP_DAC_OVERRIDE]


def test_file_overrides(stack: Stack) -> None:
    f = node("/f", 0o600, U2, G2)
    assert can(stack, subj(caps=(CAP_DAC_READ_SEARCH,)), f, MAY_READ) == 0
    assert can(stack, subj(caps=(CAP_DAC_READ_SEARCH,)), f, MAY_READ | MAY_WRITE) == errno.EACCES
    assert can(stack, subj(caps=(CAP_DAC_OVERRIDE,)), f, MAY_READ | MAY_WRITE) == 0


def test_exec_override_needs_some_x_bit(stack: Stack) -> None:
    root = subj(caps=(CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH))
    assert decide(stack, "bprm_check_security", root, node("/f", 0o600)) == errno.EACCES
    assert decide(stack, "bprm_check_security", root, node("/f", 0o610)) == 0
    reason = stack.decide(Request("bprm_check_security", root, node("/f", 0o600))).decider
    assert reason is not None and "no x bit" in reason.reason


def test_directory_overrides(stack: Stack) -> None:
    d = directory("/d", 0o700)
    drs = subj(caps=(CAP_DAC_READ_SEARCH,))
    assert can(stack, drs, d, MAY_READ) == 0
    assert decide(stack, "inode_permission", drs, d, access=MAY_EXEC) == 0
    assert decide(stack, "inode_permission", drs, d, access=MAY_WRITE | MAY_EXEC) == errno.EACCES
    assert decide(stack, "inode_permission", subj(caps=(CAP_DAC_OVERRIDE,)), d,
                  access=MAY_WRITE | MAY_EXEC) == 0


def test_outside_a_stack_the_effective_set_decides() -> None:
    dac = Dac()
    f = node("/f", 0o600)
    assert dac.hook_file_open(Request("file_open", subj(), f, access=MAY_READ)) is not None
    assert dac.hook_file_open(Request("file_open", subj(caps=(CAP_DAC_READ_SEARCH,)), f,
                                      access=MAY_READ)) is None


# -- path walk, open -----------------------------------------------------------------------

def test_search_is_checked_on_every_ancestor_and_the_parent(stack: Stack) -> None:
    home = directory("/home", 0o755, 0, 0)
    private = directory("/home/u", 0o700, U2, G2)
    f = node("/home/u/f", 0o644, parent=private, ancestors=(ROOT_DIR, home))
    assert can(stack, subj(U2, G2), f, MAY_READ) == 0
    d = stack.decide(Request("file_open", subj(U1, G1), f, access=MAY_READ))
    assert d.errno == errno.EACCES and d.decider is not None
    assert d.decider.reason.startswith("search /home/u:")
    assert can(stack, subj(caps=(CAP_DAC_READ_SEARCH,)), f, MAY_READ) == 0
    walled = replace(f, ancestors=(ROOT_DIR, replace(home, mode=stat.S_IFDIR | 0o750)))
    assert can(stack, subj(U2, G2), walled, MAY_READ) == errno.EACCES


def test_open_errors(stack: Stack) -> None:
    parent = directory("/d", 0o755)
    missing = node("/d/x", 0o644, exists=False, parent=parent)
    assert can(stack, subj(), missing, MAY_READ) == errno.ENOENT
    no_parent = node("/nope/x", 0o644, exists=False, ancestors=(ROOT_DIR,))
    assert can(stack, subj(), no_parent, MAY_READ) == errno.ENOENT
    d = directory("/d", 0o777)
    assert can(stack, subj(), d, MAY_READ) == 0
    assert can(stack, subj(), d, MAY_WRITE) == errno.EISDIR
    assert can(stack, subj(), d, MAY_EXEC) == errno.EACCES
    link = node("/l", 0o777, kind=stat.S_IFLNK)
    assert can(stack, subj(), link, MAY_READ) == errno.ELOOP
    fifo = node("/p", 0o777, kind=stat.S_IFIFO)
    assert can(stack, subj(), fifo, MAY_EXEC) == errno.EACCES


def test_append_adds_nothing_to_dac(stack: Stack) -> None:
    f = node("/f", 0o604)
    assert can(stack, subj(), f, MAY_READ | MAY_APPEND) == 0
    assert can(stack, subj(), f, MAY_WRITE | MAY_APPEND) == errno.EACCES


def test_read_only_and_noexec_mounts(stack: Stack) -> None:
    f = node("/f", 0o777, readonly=True)
    assert can(stack, subj(caps=(CAP_DAC_OVERRIDE,)), f, MAY_WRITE) == errno.EROFS
    assert can(stack, subj(), f, MAY_READ) == 0
    dev = node("/dev/x", 0o666, kind=stat.S_IFCHR, readonly=True)
    assert can(stack, subj(), dev, MAY_WRITE) == 0  # sb_permission: only REG, DIR, LNK
    nx = node("/f", 0o755, noexec=True)
    assert can(stack, subj(), nx, MAY_EXEC) == errno.EACCES
    assert decide(stack, "bprm_check_security", subj(), nx) == errno.EACCES
    assert decide(stack, "mmap_file", subj(), nx, flags=4) == errno.EPERM
    assert decide(stack, "mmap_file", subj(), nx, flags=1) == 0


def test_exec_needs_a_regular_file(stack: Stack) -> None:
    assert decide(stack, "bprm_check_security", subj(), node("/f", 0o755)) == 0
    assert decide(stack, "bprm_check_security", subj(), directory("/d", 0o777)) == errno.EACCES
    assert decide(stack, "bprm_check_security", subj(),
                  node("/f", 0o755, exists=False)) == errno.ENOENT


# -- create and delete ---------------------------------------------------------------------

@pytest.mark.parametrize("hook", ["inode_create", "inode_mkdir", "inode_mknod", "inode_symlink"])
def test_create_needs_write_and_search_on_the_directory(stack: Stack, hook: str) -> None:
    writable = directory("/d", 0o730, U2, G1)
    new = node("/d/n", 0o644, exists=False, parent=writable)
    assert decide(stack, hook, subj(U1, G1), new) == 0
    assert decide(stack, hook, subj(U1, G2), new) == errno.EACCES
    search_only = replace(new, parent=replace(writable, mode=stat.S_IFDIR | 0o750))
    assert decide(stack, hook, subj(U1, G1), search_only) == errno.EACCES
    assert decide(stack, hook, subj(U1, G1), replace(search_only, exists=True)) == errno.EEXIST
    ro = replace(new, parent=replace(writable, readonly=True))
    assert decide(stack, hook, subj(U1, G1), ro) == errno.EROFS
    assert decide(stack, hook, subj(U1, G1), replace(ro, exists=True)) == errno.EEXIST
    no_search = replace(new, parent=replace(writable, mode=stat.S_IFDIR | 0o720))
    assert decide(stack, hook, subj(U1, G1), no_search) == errno.EACCES


def test_mknod_of_a_device_needs_cap_mknod(stack: Stack) -> None:
    parent = directory("/d", 0o777)
    dev = node("/d/n", 0o600, kind=stat.S_IFCHR, exists=False, parent=parent)
    assert decide(stack, "inode_mknod", subj(), dev) == errno.EPERM
    assert decide(stack, "inode_mknod", subj(caps=(cap_number("mknod"),)), dev) == 0
    fifo = replace(dev, mode=stat.S_IFIFO | 0o600)
    assert decide(stack, "inode_mknod", subj(), fifo) == 0


def test_delete_needs_write_and_search_on_the_directory(stack: Stack) -> None:
    d = directory("/d", 0o750, U2, G1)
    f = node("/d/f", 0o000, U2, parent=d)
    assert decide(stack, "inode_unlink", subj(U1, G1), f) == errno.EACCES
    d2 = replace(d, mode=stat.S_IFDIR | 0o770)
    assert decide(stack, "inode_unlink", subj(U1, G1), replace(f, parent=d2)) == 0
    assert decide(stack, "inode_unlink", subj(U1, G1),
                  replace(f, parent=replace(d2, readonly=True), exists=False)) == errno.EROFS
    assert decide(stack, "inode_unlink", subj(U1, G1), replace(f, parent=d2, exists=False)) \
        == errno.ENOENT


def test_sticky_directory(stack: Stack) -> None:
    tmp = directory("/tmp", 0o1777, 0, 0)
    theirs = node("/tmp/f", 0o666, U2, G2, parent=tmp)
    assert decide(stack, "inode_unlink", subj(U2), theirs) == 0
    d = stack.decide(Request("inode_unlink", subj(U1), theirs))
    assert d.errno == errno.EPERM and d.decider is not None and "sticky" in d.decider.reason
    assert decide(stack, "inode_unlink", subj(U1, caps=(CAP_FOWNER,)), theirs) == 0
    owned_dir = replace(tmp, uid=U1)
    assert decide(stack, "inode_unlink", subj(U1), replace(theirs, parent=owned_dir)) == 0
    # the directory permission comes first: EACCES, not EPERM
    closed = replace(tmp, mode=stat.S_IFDIR | 0o1755)
    assert decide(stack, "inode_unlink", subj(U1), replace(theirs, parent=closed)) \
        == errno.EACCES


def test_unlink_and_rmdir_types(stack: Stack) -> None:
    d = directory("/d", 0o777)
    sub = directory("/d/s", 0o777, parent=d)
    f = node("/d/f", 0o666, parent=d)
    assert decide(stack, "inode_unlink", subj(), sub) == errno.EISDIR
    assert decide(stack, "inode_rmdir", subj(), f) == errno.ENOTDIR
    assert decide(stack, "inode_rmdir", subj(), sub) == 0


# -- rename --------------------------------------------------------------------------------

def test_rename_checks_both_directories(stack: Stack) -> None:
    a = directory("/a", 0o777, ino=1)
    b = directory("/b", 0o755, ino=2)
    f = node("/a/f", 0o644, parent=a)
    assert decide(stack, "inode_rename", subj(), f,
                  target=node("/b/f", 0o644, exists=False, parent=b)) == errno.EACCES
    assert decide(stack, "inode_rename", subj(), f,
                  target=node("/a/g", 0o644, exists=False, parent=a)) == 0


def test_moving_a_directory_to_another_parent_needs_write_on_it(stack: Stack) -> None:
    a = directory("/a", 0o777, ino=1)
    b = directory("/b", 0o777, ino=2)
    sub = directory("/a/s", 0o555, parent=a, ino=3)
    assert decide(stack, "inode_rename", subj(), sub,
                  target=node("/a/t", 0, exists=False, parent=a)) == 0
    assert decide(stack, "inode_rename", subj(), sub,
                  target=node("/b/s", 0, exists=False, parent=b)) == errno.EACCES
    assert decide(stack, "inode_rename", subj(U2), sub,
                  target=node("/b/s", 0, exists=False, parent=b)) == errno.EACCES
    assert decide(stack, "inode_rename", subj(caps=(CAP_DAC_OVERRIDE,)), sub,
                  target=node("/b/s", 0, exists=False, parent=b)) == 0


def test_rename_replacing_and_flags(stack: Stack) -> None:
    tmp = directory("/tmp", 0o1777, 0, 0, ino=1)
    mine = node("/tmp/m", 0o644, U1, parent=tmp, ino=10)
    theirs = node("/tmp/t", 0o644, U2, parent=tmp, ino=11)
    assert decide(stack, "inode_rename", subj(U1), mine, target=theirs) == errno.EPERM
    assert decide(stack, "inode_rename", subj(U2), theirs, target=replace(mine, uid=U2)) == 0
    assert decide(stack, "inode_rename", subj(U2), theirs, target=replace(mine, uid=U2),
                  flags=RENAME_NOREPLACE) == errno.EEXIST
    gone = node("/tmp/x", 0o644, U2, parent=tmp, exists=False)
    assert decide(stack, "inode_rename", subj(U2), theirs, target=gone,
                  flags=RENAME_EXCHANGE) == errno.ENOENT
    # a hard link of the same inode: vfs_rename() returns 0 early
    assert decide(stack, "inode_rename", subj(U1), mine, target=replace(theirs, ino=10)) == 0
    sub = directory("/tmp/s", 0o777, U1, parent=tmp, ino=12)
    assert decide(stack, "inode_rename", subj(U1), sub,
                  target=node("/tmp/s/x", 0, exists=False, parent=sub)) == errno.EINVAL
    assert decide(stack, "inode_rename", subj(U1), sub, target=theirs) == errno.EPERM
    assert decide(stack, "inode_rename", subj(U2), replace(sub, uid=U2),
                  target=theirs) == errno.ENOTDIR
    other_fs = directory("/mnt", 0o777, dev=9)
    assert decide(stack, "inode_rename", subj(U1), mine,
                  target=node("/mnt/m", 0, exists=False, parent=other_fs)) == errno.EXDEV


# -- link ----------------------------------------------------------------------------------

def _link(stack: Stack, subject: Subject, src: Object) -> int:
    d = directory("/d", 0o777)
    return decide(stack, "inode_link", subject, replace(src, parent=d),
                  target=node("/d/new", 0, exists=False, parent=d))


def test_protected_hardlinks(stack: Stack, make_stack) -> None:
    assert _link(stack, subj(U1), node("/d/f", 0o600, U1)) == 0  # owner
    assert _link(stack, subj(U1), node("/d/f", 0o606, U2)) == 0  # safe: rw for the caller
    assert _link(stack, subj(U1), node("/d/f", 0o604, U2)) == errno.EPERM  # not writable
    assert _link(stack, subj(U1), node("/d/f", 0o4606, U2)) == errno.EPERM  # setuid
    assert _link(stack, subj(U1), node("/d/f", 0o2616, U2)) == errno.EPERM  # setgid + g+x
    assert _link(stack, subj(U1), node("/d/f", 0o2606, U2)) == 0  # setgid without g+x
    assert _link(stack, subj(U1), node("/d/f", 0o606, U2, kind=stat.S_IFIFO)) == errno.EPERM
    assert _link(stack, subj(U1, caps=(CAP_FOWNER,)), node("/d/f", 0o4600, U2)) == 0
    assert _link(stack, subj(U1, caps=(CAP_DAC_OVERRIDE,)), node("/d/f", 0o600, U2)) == 0
    off = make_stack(Dac(protected_hardlinks=0))
    assert _link(off, subj(U1), node("/d/f", 0o4600, U2)) == 0


def test_link_errors(stack: Stack) -> None:
    d = directory("/d", 0o755)
    src = node("/d/f", 0o644, U1, parent=d)
    assert decide(stack, "inode_link", subj(U1), src,
                  target=node("/d/n", 0, exists=False, parent=d)) == errno.EACCES
    assert decide(stack, "inode_link", subj(U1), src,
                  target=node("/d/n", 0, exists=True, parent=d)) == errno.EEXIST
    sub = directory("/d/s", 0o777, U1, parent=replace(d, mode=stat.S_IFDIR | 0o777))
    assert decide(stack, "inode_link", subj(U1), sub,
                  target=node("/d/n", 0, exists=False, parent=sub.parent)) == errno.EPERM


# -- setattr -------------------------------------------------------------------------------

def test_chmod_needs_owner_or_cap_fowner(stack: Stack) -> None:
    f = node("/f", 0o644, U1)
    assert stack.decide(chmod_request(subj(U1), f, 0o600)).errno == 0
    assert stack.decide(chmod_request(subj(U2), f, 0o600)).errno == errno.EPERM
    assert stack.decide(chmod_request(subj(U2, caps=(CAP_FOWNER,)), f, 0o600)).errno == 0
    assert stack.decide(chmod_request(subj(U1), replace(f, readonly=True), 0o600)).errno \
        == errno.EROFS


def test_chown_encoding_round_trips() -> None:
    assert chown_ids(chown_flags(-1, -1)) == (-1, -1)
    assert chown_ids(chown_flags(0, 4294967294)) == (0, 4294967294)
    assert chown_ids(chown_flags(1000, -1)) == (1000, -1)


def test_chown_rules(stack: Stack) -> None:
    f = node("/f", 0o644, U1, G1)
    owner = subj(U1, G1, groups=(G2,))
    assert stack.decide(chown_request(owner, f, U1, -1)).errno == 0  # a no-op for the owner
    assert stack.decide(chown_request(owner, f, U2, -1)).errno == errno.EPERM
    assert stack.decide(chown_request(owner, f, -1, G2)).errno == 0  # chgrp to own group
    assert stack.decide(chown_request(owner, f, -1, G3)).errno == errno.EPERM
    stranger = subj(U2, G1)
    assert stack.decide(chown_request(stranger, f, U1, G1)).errno == errno.EPERM  # not owner
    assert stack.decide(chown_request(stranger, f, -1, -1)).errno == 0
    assert stack.decide(chown_request(subj(U2, caps=(CAP_CHOWN,)), f, U3, G3)).errno == 0


def test_chown_of_a_setid_file_is_also_a_mode_change(stack: Stack) -> None:
    suid = node("/f", 0o4755, U1, G1)
    assert stack.decide(chown_request(subj(U2, caps=(CAP_CHOWN,)), suid, U3, -1)).errno \
        == errno.EPERM
    assert stack.decide(chown_request(subj(U2, caps=(CAP_CHOWN, CAP_FOWNER)), suid, U3,
                                      -1)).errno == 0
    assert stack.decide(chown_request(subj(U1), suid, -1, -1)).errno == 0  # owner
    # setgid without group-exec is kept for members of the group or CAP_FSETID holders
    sgid = node("/f", 0o2644, U1, G1)
    assert stack.decide(chown_request(subj(U2, G1), sgid, -1, -1)).errno == 0
    assert stack.decide(chown_request(subj(U2, G2), sgid, -1, -1)).errno == errno.EPERM
    assert stack.decide(chown_request(subj(U2, G2, caps=(CAP_FSETID,)), sgid, -1, -1)).errno == 0
    sdir = directory("/d", 0o2755, U1, G1)
    assert stack.decide(chown_request(subj(U2, G2), sdir, -1, -1)).errno == 0


def test_truncate_and_utimes(stack: Stack) -> None:
    f = node("/f", 0o646, U1, G1)
    other, group = subj(U2, G3), subj(U2, G1)
    assert decide(stack, "inode_setattr", other, f, what="truncate") == 0
    assert decide(stack, "inode_setattr", group, f, what="truncate") == errno.EACCES
    assert decide(stack, "inode_setattr", other, directory("/d", 0o777),
                  what="truncate") == errno.EISDIR
    assert decide(stack, "inode_setattr", other, node("/p", 0o666, kind=stat.S_IFIFO),
                  what="truncate") == errno.EINVAL
    assert decide(stack, "inode_setattr", other, f, what="utimes") == 0  # write permission
    assert decide(stack, "inode_setattr", other, f, what="utimes", flags=UTIMES_SET) \
        == errno.EPERM
    assert decide(stack, "inode_setattr", subj(U1), replace(f, mode=stat.S_IFREG),
                  what="utimes", flags=UTIMES_SET) == 0
    assert decide(stack, "inode_setattr", group, f, what="utimes") == errno.EACCES
    assert decide(stack, "inode_setattr", group, f, what="mtime?") == 0  # not modelled


# -- xattrs --------------------------------------------------------------------------------

def _setxattr(stack: Stack, subject: Subject, obj: Object, name: str) -> int:
    return decide(stack, "inode_setxattr", subject, obj, what=name)


def test_user_xattrs(stack: Stack) -> None:
    f = node("/f", 0o646, U1, G1)
    assert _setxattr(stack, subj(U2, G3), f, "user.x") == 0
    assert _setxattr(stack, subj(U2, G1), f, "user.x") == errno.EACCES
    fifo = node("/p", 0o666, kind=stat.S_IFIFO)
    assert _setxattr(stack, subj(U2), fifo, "user.x") == errno.EPERM
    sticky = directory("/tmp", 0o1777, U1)
    assert _setxattr(stack, subj(U2), sticky, "user.x") == errno.EPERM
    assert _setxattr(stack, subj(U1), sticky, "user.x") == 0
    assert _setxattr(stack, subj(U2, caps=(CAP_FOWNER,)), sticky, "user.x") == 0
    assert _setxattr(stack, subj(U2, G3), replace(f, readonly=True), "user.x") == errno.EROFS


def test_trusted_acl_and_security_xattrs(stack: Stack) -> None:
    f = node("/f", 0o666, U1, G1)
    assert _setxattr(stack, subj(U1), f, "trusted.x") == errno.EPERM
    assert _setxattr(stack, subj(U1, caps=(CAP_SYS_ADMIN,)), f, "trusted.x") == 0
    assert _setxattr(stack, subj(U1), f, "system.posix_acl_access") == 0
    assert _setxattr(stack, subj(U2), f, "system.posix_acl_access") == errno.EPERM
    assert _setxattr(stack, subj(U2, caps=(CAP_FOWNER,)), f, "system.posix_acl_access") == 0
    assert _setxattr(stack, subj(U1), f, "system.posix_acl_default") == errno.EACCES
    assert _setxattr(stack, subj(U1), directory("/d", 0o755, U1),
                     "system.posix_acl_default") == 0
    assert _setxattr(stack, subj(U2), node("/f", 0o600, U1), "security.selinux") == 0


# -- tasks ---------------------------------------------------------------------------------

def _task(uid: int = U1, gid: int = G1, *, pid: int = 4242, **kw: object) -> Object:
    return Object(kind=ObjectKind.TASK, path=f"/proc/{pid}",
                  task=replace(subj(uid, gid), pid=pid, **kw))  # type: ignore[arg-type]


def test_ptrace_access(stack: Stack) -> None:
    attach = PTRACE_MODE_ATTACH | PTRACE_MODE_REALCREDS
    me = replace(subj(U1, G1), pid=7)
    assert decide(stack, "ptrace_access_check", me, _task(), flags=attach) == 0
    assert decide(stack, "ptrace_access_check", me, _task(U2), flags=attach) == errno.EPERM
    assert decide(stack, "ptrace_access_check", me, _task(gid=G2), flags=attach) == errno.EPERM
    assert decide(stack, "ptrace_access_check", me, _task(suid=0), flags=attach) == errno.EPERM
    assert decide(stack, "ptrace_access_check", me, _task(dumpable=False), flags=attach) \
        == errno.EPERM
    tracer = replace(subj(U1, G1, caps=(CAP_SYS_PTRACE,)), pid=7)
    assert decide(stack, "ptrace_access_check", tracer, _task(U2, dumpable=False),
                  flags=attach) == 0
    assert decide(stack, "ptrace_access_check", me, _task(U2, pid=7), flags=attach) == 0
    assert decide(stack, "ptrace_access_check", me, _task(), flags=PTRACE_MODE_ATTACH) \
        == errno.EPERM


def test_ptrace_fscreds_uses_the_fs_ids(stack: Stack) -> None:
    setfsuid = replace(subj(U1, G1), pid=7, fsuid=U2, fsgid=G2)
    target = _task(U2, G2)
    assert decide(stack, "ptrace_access_check", setfsuid, target,
                  flags=PTRACE_MODE_READ | PTRACE_MODE_FSCREDS) == 0
    assert decide(stack, "ptrace_access_check", setfsuid, target,
                  flags=PTRACE_MODE_READ | PTRACE_MODE_REALCREDS) == errno.EPERM


def test_kill_permission(stack: Stack) -> None:
    me = replace(subj(U1), pid=7)
    assert decide(stack, "task_kill", me, _task(U1), signal=15) == 0
    assert decide(stack, "task_kill", me, _task(U2), signal=15) == errno.EPERM
    assert decide(stack, "task_kill", me, _task(U2, suid=U1), signal=15) == 0
    assert decide(stack, "task_kill", replace(me, uid=U2), _task(U2), signal=0) == 0
    assert decide(stack, "task_kill", replace(me, euid=U2), _task(U2), signal=9) == 0
    assert decide(stack, "task_kill", me, _task(U2, euid=U1), signal=9) == errno.EPERM
    assert decide(stack, "task_kill", replace(subj(U1, caps=(CAP_KILL,)), pid=7), _task(U2),
                  signal=9) == 0
    assert decide(stack, "task_kill", me, _task(U1), signal=65) == errno.EINVAL


# -- sockets -------------------------------------------------------------------------------

def _sock(family: int, sock_type: int, protocol: int = 0, port: int = 0) -> Object:
    return Object(kind=ObjectKind.SOCKET, family=family, sock_type=sock_type,
                  protocol=protocol, port=port)


def test_socket_create(stack: Stack) -> None:
    raw = _sock(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    assert decide(stack, "socket_create", subj(), raw) == errno.EPERM
    assert decide(stack, "socket_create", subj(caps=(CAP_NET_RAW,)), raw) == 0
    assert decide(stack, "socket_create", subj(),
                  _sock(socket.AF_INET6, socket.SOCK_RAW | socket.SOCK_CLOEXEC)) == errno.EPERM
    assert decide(stack, "socket_create", subj(), _sock(socket.AF_PACKET, socket.SOCK_DGRAM)) \
        == errno.EPERM
    assert decide(stack, "socket_create", subj(), _sock(socket.AF_INET, socket.SOCK_STREAM)) == 0
    assert decide(stack, "socket_create", subj(), _sock(socket.AF_UNIX, socket.SOCK_RAW)) == 0


def test_ping_sockets_follow_ping_group_range(make_stack) -> None:
    ping = _sock(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    closed = make_stack(Dac(ping_group_range=(1, 0)))
    assert decide(closed, "socket_create", subj(0, 0, caps=(CAP_NET_RAW,)), ping) \
        == errno.EACCES
    some = make_stack(Dac(ping_group_range=(G2, G2)))
    assert decide(some, "socket_create", subj(U1, G1), ping) == errno.EACCES
    assert decide(some, "socket_create", subj(U1, G1, groups=(G2,)), ping) == 0
    v6 = _sock(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6)
    assert decide(some, "socket_create", subj(U1, G2), v6) == 0


def test_socket_bind(make_stack) -> None:
    s = make_stack(Dac(ip_unprivileged_port_start=1024))
    low = _sock(socket.AF_INET, socket.SOCK_STREAM, port=80)
    assert decide(s, "socket_bind", subj(), low) == errno.EACCES
    assert decide(s, "socket_bind", subj(caps=(CAP_NET_BIND_SERVICE,)), low) == 0
    assert decide(s, "socket_bind", subj(), replace(low, port=0)) == 0
    assert decide(s, "socket_bind", subj(), replace(low, port=1024)) == 0
    assert decide(s, "socket_bind", subj(), replace(low, sock_type=socket.SOCK_RAW)) == 0
    assert decide(s, "socket_bind", subj(), replace(low, family=socket.AF_UNIX)) == 0
    assert decide(make_stack(Dac(ip_unprivileged_port_start=0)), "socket_bind", subj(), low) == 0


# -- mounts and the kernel -----------------------------------------------------------------

@pytest.mark.parametrize("hook", ["sb_mount", "sb_umount", "sb_pivotroot"])
def test_mount_needs_cap_sys_admin(stack: Stack, hook: str) -> None:
    assert decide(stack, hook, subj()) == errno.EPERM
    assert decide(stack, hook, subj(caps=(CAP_SYS_ADMIN,))) == 0


def test_module_loading(make_stack) -> None:
    s = make_stack(Dac(modules_disabled=0))
    for hook in ("kernel_read_file", "kernel_load_data"):
        assert decide(s, hook, subj(), what="module") == errno.EPERM
        assert decide(s, hook, subj(caps=(CAP_SYS_MODULE,)), what="module") == 0
        assert decide(s, hook, subj(), what="firmware") == 0
    locked = make_stack(Dac(modules_disabled=1))
    assert decide(locked, "kernel_read_file", subj(caps=(CAP_SYS_MODULE,)), what="module") \
        == errno.EPERM
    assert decide(s, "kernel_read_file", subj(), what="kexec-image") == errno.EPERM


def test_bpf_follows_unprivileged_bpf_disabled(make_stack) -> None:
    s = make_stack(Dac(unprivileged_bpf_disabled=2))
    assert decide(s, "bpf", subj(), what="prog_load") == errno.EPERM
    assert decide(s, "bpf", subj(caps=(CAP_BPF,)), what="prog_load") == 0
    assert decide(s, "bpf", subj(caps=(CAP_SYS_ADMIN,))) == 0
    assert decide(make_stack(Dac(unprivileged_bpf_disabled=0)), "bpf", subj()) == 0


def test_perf_event_paranoid(make_stack) -> None:
    s = make_stack(Dac(perf_event_paranoid=2))
    assert decide(s, "perf_event_open", subj(), what="user") == 0
    assert decide(s, "perf_event_open", subj(), what="kernel") == errno.EACCES
    assert decide(s, "perf_event_open", subj(), what="tracepoint") == errno.EPERM
    assert decide(s, "perf_event_open", subj(caps=(CAP_PERFMON,)), what="kernel") == 0
    relaxed = make_stack(Dac(perf_event_paranoid=1))
    assert decide(relaxed, "perf_event_open", subj(), what="kernel") == 0
    assert decide(relaxed, "perf_event_open", subj(), what="cpu") == errno.EACCES


# -- the module in a stack -----------------------------------------------------------------

def test_verdicts_are_cached_and_registry_exports_dac(stack: Stack) -> None:
    req = Request("file_open", subj(U3, G3), node("/f", 0o600), access=MAY_READ)
    first, second = stack.decide(req), stack.decide(req)
    assert first.errno == second.errno == errno.EACCES and second.cached
    assert isinstance(registry.build_stack("capability").modules[0], Dac)
    assert Dac.name == "dac" and "file_open" in Dac().hooks()


def test_sysctls_are_read_at_construction(monkeypatch) -> None:
    from stockade.modules import dac_system

    monkeypatch.setattr(dac_system, "read_sysctl", lambda name, default: 7)
    assert Dac().ip_unprivileged_port_start == 7
    assert Dac(ip_unprivileged_port_start=80).ip_unprivileged_port_start == 80
