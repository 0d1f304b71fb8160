"""POSIX ACLs: the `system.posix_acl_access` xattr's binary format (include/uapi/linux/posix_acl_xattr.h)."""

from __future__ import annotations

import os
import struct

from stockade.lsm.types import AclEntry

ACL_XATTR_ACCESS = "system.posix_acl_access"
ACL_XATTR_VERSION = 2
ACL_USER_OBJ = 0x01
ACL_USER = 0x02
ACL_GROUP_OBJ = 0x04
ACL_GROUP = 0x08
ACL_MASK = 0x10
ACL_OTHER = 0x20
ACL_UNDEFINED_ID = 0xFFFFFFFF
_HEADER = struct.Struct("<I")
_ENTRY = struct.Struct("<HHI")


def parse_acl(blob: bytes) -> tuple[AclEntry, ...]:
    """Decode an ACL xattr value; raises ValueError on a malformed one."""
    if len(blob) < _HEADER.size or (len(blob) - _HEADER.size) % _ENTRY.size:
        raise ValueError("malformed POSIX ACL xattr")
    (version,) = _HEADER.unpack_from(blob)
    if version != ACL_XATTR_VERSION:
        raise ValueError(f"unsupported POSIX ACL version {version}")
    entries = []
    for offset in range(_HEADER.size, len(blob), _ENTRY.size):
        tag, perm, qualifier = _ENTRY.unpack_from(blob, offset)
        entries.append(AclEntry(tag, qualifier, perm & 7))
    return tuple(entries)


def encode_acl(entries: tuple[AclEntry, ...]) -> bytes:
    """Encode entries as an ACL xattr value (entries sorted by tag then id, as the kernel wants)."""
    ordered = sorted(entries, key=lambda e: (e.tag, e.qualifier))
    return _HEADER.pack(ACL_XATTR_VERSION) + b"".join(
        _ENTRY.pack(e.tag, e.perm, e.qualifier) for e in ordered)


def read_acl(path: str, *, follow_symlinks: bool = True) -> tuple[AclEntry, ...] | None:
    """The access ACL of `path`, or None when it has none (or the filesystem has no ACLs)."""
    try:
        blob = os.getxattr(path, ACL_XATTR_ACCESS, follow_symlinks=follow_symlinks)
    except OSError:
        return None
    return parse_acl(blob)


def parse_acl_text(text: str, *, uid_of: dict[str, int] | None = None) -> tuple[AclEntry, ...]:
    """Parse `u::rw-,u:1000:r--,g::r--,m::r--,o::---` (getfacl's short form, numeric ids)."""
    tags = {"u": (ACL_USER_OBJ, ACL_USER), "user": (ACL_USER_OBJ, ACL_USER),
            "g": (ACL_GROUP_OBJ, ACL_GROUP), "group": (ACL_GROUP_OBJ, ACL_GROUP),
            "m": (ACL_MASK, ACL_MASK), "mask": (ACL_MASK, ACL_MASK),
            "o": (ACL_OTHER, ACL_OTHER), "other": (ACL_OTHER, ACL_OTHER)}
    entries = []
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        tag_name, qual, perms = part.split(":")
        obj_tag, named_tag = tags[tag_name]
        perm = sum(bit for ch, bit in (("r", 4), ("w", 2), ("x", 1)) if ch in perms)
        if qual:
            ident = int(qual) if qual.isdigit() else (uid_of or {})[qual]
            entries.append(AclEntry(named_tag, ident, perm))
        else:
            entries.append(AclEntry(obj_tag, ACL_UNDEFINED_ID, perm))
    return tuple(entries)
