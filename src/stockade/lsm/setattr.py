"""How an inode_setattr request encodes chmod and chown (modules/dac.py documents every hook's
encoding). Small on purpose: the supervisor's chmod/chown handlers and `explain`'s
operations build these requests without importing the DAC model. Like every setattr, they ask
MAY_WRITE (the supervisor's records show it)."""

from __future__ import annotations

from stockade.lsm.types import MAY_WRITE, Object, Request, Subject

_ID_MASK = 0xFFFFFFFF


def chown_flags(uid: int, gid: int) -> int:
    """The `flags` of a chown request: uid in the high 32 bits, gid in the low; -1 = unchanged."""
    return (uid & _ID_MASK) << 32 | (gid & _ID_MASK)


def chown_ids(flags: int) -> tuple[int, int]:
    """(uid, gid) from `chown_flags`; -1 where unchanged."""
    uid, gid = flags >> 32 & _ID_MASK, flags & _ID_MASK
    return (-1 if uid == _ID_MASK else uid), (-1 if gid == _ID_MASK else gid)


def chmod_request(subject: Subject, obj: Object, mode: int) -> Request:
    """An inode_setattr request for chmod(obj, mode)."""
    return Request("inode_setattr", subject, obj, MAY_WRITE, what="chmod", flags=mode)


def chown_request(subject: Subject, obj: Object, uid: int, gid: int) -> Request:
    """An inode_setattr request for chown(obj, uid, gid)."""
    return Request("inode_setattr", subject, obj, MAY_WRITE, what="chown",
                   flags=chown_flags(uid, gid))
