"""The mode-bit and POSIX ACL check of fs/namei.c and fs/posix_acl.c, without overrides.

`mode_grants` is `acl_permission_check()` (with `posix_acl_permission()` for inodes that carry
an access ACL): True when the owner/ACL/group/other class that applies to the caller grants
every wanted rwx bit. `why_denied` explains a denial in words; it runs only on the deny path.
"""

from __future__ import annotations

import grp
import pwd
from functools import lru_cache

from stockade.lsm.acl import ACL_GROUP, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER
from stockade.lsm.types import MAY_EXEC, MAY_READ, MAY_WRITE, AclEntry, Object, Subject

RWX = MAY_READ | MAY_WRITE | MAY_EXEC


def rwx(perm: int) -> str:
    """`r-x` for 5."""
    return "".join(ch if perm & bit else "-" for ch, bit in (("r", 4), ("w", 2), ("x", 1)))


def want_names(want: int, *, is_dir: bool = False) -> str:
    """`read,write` for 6; exec on a directory is called search."""
    names = [name for bit, name in ((MAY_READ, "read"), (MAY_WRITE, "write"),
                                    (MAY_EXEC, "search" if is_dir else "exec")) if want & bit]
    return ",".join(names) or "nothing"


@lru_cache(maxsize=256)
def user_name(uid: int) -> str:
    """The user's name, or the number when it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return str(uid)


@lru_cache(maxsize=256)
def group_name(gid: int) -> str:
    """The group's name, or the number when it has none."""
    try:
        return grp.getgrgid(gid).gr_name
    except (KeyError, OverflowError):
        return str(gid)


def _acl_mask(acl: tuple[AclEntry, ...]) -> int:
    for entry in acl:
        if entry.tag == ACL_MASK:
            return entry.perm
    return RWX


def acl_grants(subject: Subject, obj: Object, acl: tuple[AclEntry, ...], want: int) -> bool:
    """posix_acl_permission() for a caller that does not own the inode.

    A matching ACL_USER entry decides (masked); otherwise, if any matching group entry
    (ACL_GROUP_OBJ for the inode's group, ACL_GROUP) grants every wanted bit, the mask
    decides; a matching group entry that grants too little denies; else ACL_OTHER decides.
    """
    fsuid = subject.fsuid
    for entry in acl:
        if entry.tag == ACL_USER and entry.qualifier == fsuid:
            return entry.perm & _acl_mask(acl) & want == want
    found = False
    other = 0
    for entry in acl:
        tag = entry.tag
        if tag in (ACL_GROUP_OBJ, ACL_GROUP):
            if subject.in_group(obj.gid if tag == ACL_GROUP_OBJ else entry.qualifier):
                found = True
                if entry.perm & want == want:
                    return _acl_mask(acl) & want == want
        elif tag == ACL_OTHER:
            other = entry.perm
    return not found and other & want == want


def mode_grants(subject: Subject, obj: Object, mask: int) -> bool:
    """acl_permission_check(): the owner class, then the ACL, then group or other bits.

    As in the kernel, the ACL is consulted only when the inode's group-class mode bits (the
    ACL mask) are not all clear; otherwise the group/other mode bits decide.
    """
    mode = obj.mode
    want = mask & RWX
    acl = obj.acl
    if not (want * 0o111 & ~mode) and acl is None:
        return True
    if subject.fsuid == obj.uid:
        return not want & ~(mode >> 6)
    if acl is not None and mode & 0o070:
        return acl_grants(subject, obj, acl, want)
    if want & (mode ^ (mode >> 3)) and subject.in_group(obj.gid):
        mode >>= 3
    return not want & ~mode


def why_denied(subject: Subject, obj: Object, mask: int) -> tuple[str, str]:
    """(class, explanation) for a denial by `mode_grants`: which class applied and what it lacks."""
    mode = obj.mode
    want = mask & RWX
    is_dir = obj.is_dir
    who = f"mode {mode & 0o7777:04o} {user_name(obj.uid)}:{group_name(obj.gid)}"

    def lacking(perm: int) -> str:
        return want_names(want & ~perm, is_dir=is_dir)

    if subject.fsuid == obj.uid:
        return "owner", f"{who} grants the owner no {lacking(mode >> 6)}"
    acl = obj.acl
    if acl is not None and mode & 0o070:
        acl_mask = _acl_mask(acl)
        masked = f" (mask::{rwx(acl_mask)})" if acl_mask != RWX else ""
        for entry in acl:
            if entry.tag == ACL_USER and entry.qualifier == subject.fsuid:
                text = f"ACL user:{user_name(entry.qualifier)}:{rwx(entry.perm)}{masked}"
                return "acl_user", f"{text} grants no {lacking(entry.perm & acl_mask)}"
        groups = []
        for entry in acl:
            if entry.tag == ACL_GROUP_OBJ and subject.in_group(obj.gid):
                groups.append(f"group::{rwx(entry.perm)}")
            elif entry.tag == ACL_GROUP and subject.in_group(entry.qualifier):
                groups.append(f"group:{group_name(entry.qualifier)}:{rwx(entry.perm)}")
            else:
                continue
            if entry.perm & want == want:
                return "acl_group", f"ACL {groups[-1]}{masked} grants no {lacking(acl_mask)}"
        if groups:
            return "acl_group", (f"no matching ACL group entry ({', '.join(groups)}) grants all "
                                 f"of {want_names(want, is_dir=is_dir)}")
        other = next((e.perm for e in acl if e.tag == ACL_OTHER), 0)
        return "acl_other", f"ACL other::{rwx(other)} grants no {lacking(other)}"
    if want & (mode ^ (mode >> 3)) and subject.in_group(obj.gid):
        return "group", f"{who} grants the group no {lacking(mode >> 3)}"
    return "other", f"{who} grants other no {lacking(mode)}"
