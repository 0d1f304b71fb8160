"""Capability sets: names, capget/capset, the bounding set and the ambient set.

`restrict_to(keep)` is what the launcher runs in the child before exec: ambient cleared,
bounding set cut to `keep` (when we hold CAP_SETPCAP), permitted/effective/inheritable cut to
`keep`, and for a non-root caller the kept capabilities raised into the ambient set so that
they survive execve. With no_new_privs set first, execve cannot add anything back: the
kernel caps a setuid-root or file-capability binary's permitted set at the old one.
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Iterable

from stockade.enforce._libc import LIBC, check
from stockade.enforce.prctl import (
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAP_AMBIENT_IS_SET,
    PR_CAP_AMBIENT_RAISE,
    PR_CAPBSET_DROP,
    PR_CAPBSET_READ,
    SecureBits,
    prctl,
    set_securebits,
)
from stockade.lsm import caps as lsm_caps
from stockade.slotted import Frozen
from stockade.suppress import suppress

#: The kernel's spelling (CAP_CHOWN = 0 ...) of the one capability table, `stockade.lsm.caps`.
CAP_NAMES: tuple[str, ...] = tuple(f"CAP_{name.upper()}" for name in lsm_caps.CAP_NAMES)
CAP_BY_NAME: dict[str, int] = {name: i for i, name in enumerate(CAP_NAMES)}
CAP_SETPCAP = CAP_BY_NAME["CAP_SETPCAP"]

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def cap_number(name: str | int) -> int:
    """The number of a capability given as `CAP_NET_RAW`, `net_raw` or `13`."""
    if isinstance(name, int):
        if 0 <= name < 64:
            return name
        raise ValueError(f"capability number out of range: {name}")
    key = name.strip().upper()
    if key.isdigit():
        return cap_number(int(key))
    if not key.startswith("CAP_"):
        key = "CAP_" + key
    try:
        return CAP_BY_NAME[key]
    except KeyError:
        raise ValueError(f"unknown capability {name!r}") from None


def cap_name(number: int) -> str:
    """`CAP_NET_RAW` for 13; `cap_41` for numbers newer than this table."""
    return CAP_NAMES[number] if 0 <= number < len(CAP_NAMES) else f"cap_{number}"


def mask_of(caps: Iterable[int]) -> int:
    """A 64-bit mask from capability numbers."""
    mask = 0
    for c in caps:
        mask |= 1 << c
    return mask


def names_of(mask: int) -> list[str]:
    """Capability names of the bits in `mask`."""
    return [cap_name(i) for i in range(64) if mask >> i & 1]


_last_cap: int | None = None


def last_cap() -> int:
    """The highest capability the running kernel knows (/proc/sys/kernel/cap_last_cap)."""
    global _last_cap
    if _last_cap is None:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                _last_cap = int(f.read())
        except (OSError, ValueError):
            _last_cap = lsm_caps.CAP_LAST_CAP
    return _last_cap


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


LIBC.capget.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]
LIBC.capset.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]


class CapState(Frozen):
    """The three per-thread capability sets as 64-bit masks."""

    FIELDS = ("effective", "permitted", "inheritable")
    __slots__ = FIELDS
    effective: int
    permitted: int
    inheritable: int

    def __init__(self, effective: int, permitted: int, inheritable: int) -> None:
        object.__setattr__(self, "effective", effective)
        object.__setattr__(self, "permitted", permitted)
        object.__setattr__(self, "inheritable", inheritable)

    def has_effective(self, cap: int) -> bool:
        """Whether `cap` is in the effective set."""
        return bool(self.effective >> cap & 1)


def capget(pid: int = 0) -> CapState:
    """capget(2) for `pid` (0: the calling thread)."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_CapData * 2)()
    check(LIBC.capget(ctypes.byref(hdr), data))
    return CapState(
        data[0].effective | data[1].effective << 32,
        data[0].permitted | data[1].permitted << 32,
        data[0].inheritable | data[1].inheritable << 32,
    )


def capset(state: CapState) -> None:
    """capset(2) on the calling thread."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        shift = 32 * i
        data[i].effective = state.effective >> shift & 0xFFFFFFFF
        data[i].permitted = state.permitted >> shift & 0xFFFFFFFF
        data[i].inheritable = state.inheritable >> shift & 0xFFFFFFFF
    check(LIBC.capset(ctypes.byref(hdr), data))


def bounding_has(cap: int) -> bool:
    """Whether `cap` is in the bounding set (PR_CAPBSET_READ)."""
    return prctl(PR_CAPBSET_READ, cap) == 1


def bounding_set() -> int:
    """The bounding set as a mask."""
    return mask_of(c for c in range(last_cap() + 1) if bounding_has(c))


def drop_bounding(cap: int) -> None:
    """PR_CAPBSET_DROP (needs CAP_SETPCAP)."""
    prctl(PR_CAPBSET_DROP, cap)


def ambient_is_set(cap: int) -> bool:
    """PR_CAP_AMBIENT_IS_SET."""
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap) == 1


def ambient_clear() -> None:
    """PR_CAP_AMBIENT_CLEAR_ALL (a no-op before Linux 4.3, which has no ambient set)."""
    try:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise


def ambient_raise(cap: int) -> None:
    """PR_CAP_AMBIENT_RAISE (the capability must be permitted and inheritable)."""
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)


def can_trim_bounding() -> bool:
    """Whether this process may drop from the bounding set (CAP_SETPCAP effective)."""
    return capget().has_effective(CAP_SETPCAP)


#: Root is nobody special any more, for good: no capabilities from uid 0 at exec, no ambient
#: raise, and the bits locked (SECBIT_KEEP_CAPS_LOCKED too) so no descendant can undo them.
LOCKED_NOROOT = (
    SecureBits.NOROOT | SecureBits.NOROOT_LOCKED | SecureBits.NO_CAP_AMBIENT_RAISE
    | SecureBits.NO_CAP_AMBIENT_RAISE_LOCKED | SecureBits.KEEP_CAPS_LOCKED
)


def restrict_to(keep: int, trim_bounding: bool, raise_ambient: bool,
                lock_securebits: bool = False) -> None:
    """Cut every capability set to the mask `keep` (child side of the launcher).

    Raises OSError; the caller reports the stage. `trim_bounding` and `lock_securebits` need
    CAP_SETPCAP, so they are decided before fork (`can_trim_bounding`).
    """
    ambient_clear()
    if lock_securebits:
        set_securebits(LOCKED_NOROOT)
    bounding = ~0
    if trim_bounding:  # what stays is the kept part of what was there
        bounding = 0
        for cap in range(last_cap() + 1):
            if not keep >> cap & 1:
                drop_bounding(cap)  # succeeds (changes nothing) where the bit is clear
            elif bounding_has(cap):
                bounding |= 1 << cap
    now = capget()
    kept = keep & now.permitted
    inheritable = kept & bounding
    capset(CapState(kept, kept, inheritable))
    if raise_ambient:
        for cap in range(last_cap() + 1):
            if inheritable >> cap & 1:
                with suppress(OSError):  # blocked by SECBIT_NO_CAP_AMBIENT_RAISE
                    ambient_raise(cap)
