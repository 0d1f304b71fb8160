"""A thin typed binding to the Landlock system calls (include/uapi/linux/landlock.h).

Why our own ctypes binding rather than a package: the PyPI `landlock` package stops at
filesystem rights (no TCP ports, scopes or audit-log flags). `landlockpy` 0.2 does cover ABI
4-7, but its `Ruleset` hides what negotiation dropped (it masks rights silently and only in
aggregate, while stockade must report every weakened rule by name), always sets
no_new_privs itself, opens each path inside `allow_path` (stockade opens every path with
O_PATH before anything is restricted and keeps the fds), and encodes constants for ABIs 8-11
that no kernel we can test on has. The kernel interface is three system calls and four
structures, so a binding of about 250 lines that we test against the running kernel is the
smaller risk. System call numbers 444-446 are in the generic table: identical on x86_64 and
aarch64.

Everything here is safe to call between fork and exec of a single-threaded process:
`restrict_self` is one system call on a pre-built ruleset fd.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import functools
import os

from stockade.enforce._libc import (
    SYS_LANDLOCK_ADD_RULE,
    SYS_LANDLOCK_CREATE_RULESET,
    SYS_LANDLOCK_RESTRICT_SELF,
    raw_syscall,
)
from stockade.errors import UnsupportedError
from stockade.slotted import Frozen

CREATE_RULESET_VERSION = 1 << 0
CREATE_RULESET_ERRATA = 1 << 1
RULE_PATH_BENEATH = 1
RULE_NET_PORT = 2

#: Landlock ABI version -> the first mainline kernel that has it.
ABI_KERNEL: dict[int, str] = {
    1: "5.13", 2: "5.19", 3: "6.2", 4: "6.7", 5: "6.10", 6: "6.12", 7: "6.15",
}
LATEST_KNOWN_ABI = max(ABI_KERNEL)


class AccessFs(enum.IntFlag):
    """LANDLOCK_ACCESS_FS_* rights."""

    EXECUTE = 1 << 0
    WRITE_FILE = 1 << 1
    READ_FILE = 1 << 2
    READ_DIR = 1 << 3
    REMOVE_DIR = 1 << 4
    REMOVE_FILE = 1 << 5
    MAKE_CHAR = 1 << 6
    MAKE_DIR = 1 << 7
    MAKE_REG = 1 << 8
    MAKE_SOCK = 1 << 9
    MAKE_FIFO = 1 << 10
    MAKE_BLOCK = 1 << 11
    MAKE_SYM = 1 << 12
    REFER = 1 << 13
    TRUNCATE = 1 << 14
    IOCTL_DEV = 1 << 15


class AccessNet(enum.IntFlag):
    """LANDLOCK_ACCESS_NET_* rights (TCP ports)."""

    BIND_TCP = 1 << 0
    CONNECT_TCP = 1 << 1


class Scope(enum.IntFlag):
    """LANDLOCK_SCOPE_* flags: IPC the domain may not reach outside itself."""

    ABSTRACT_UNIX_SOCKET = 1 << 0
    SIGNAL = 1 << 1


class RestrictFlag(enum.IntFlag):
    """LANDLOCK_RESTRICT_SELF_* flags (audit logging of denials)."""

    LOG_SAME_EXEC_OFF = 1 << 0
    LOG_NEW_EXEC_ON = 1 << 1
    LOG_SUBDOMAINS_OFF = 1 << 2


NO_FS = AccessFs(0)
NO_NET = AccessNet(0)
NO_SCOPE = Scope(0)
NO_RESTRICT_FLAGS = RestrictFlag(0)

#: The oldest ABI that knows each right or flag, per kind (IntFlag members of different kinds
#: compare equal by value, so one dict for all kinds would mix them up).
_MIN_ABI: dict[type[enum.IntFlag], dict[int, int]] = {
    AccessFs: {**{int(r): 1 for r in AccessFs}, AccessFs.REFER: 2, AccessFs.TRUNCATE: 3,
               AccessFs.IOCTL_DEV: 5},
    AccessNet: {AccessNet.BIND_TCP: 4, AccessNet.CONNECT_TCP: 4},
    Scope: {Scope.ABSTRACT_UNIX_SOCKET: 6, Scope.SIGNAL: 6},
    RestrictFlag: {int(f): 7 for f in RestrictFlag},
}

#: Rights that make sense on a non-directory; directory-only rights on a file are EINVAL.
FILE_RIGHTS = (
    AccessFs.EXECUTE | AccessFs.WRITE_FILE | AccessFs.READ_FILE | AccessFs.TRUNCATE
    | AccessFs.IOCTL_DEV
)
ALL_FS = AccessFs((1 << 16) - 1)
ALL_NET = AccessNet.BIND_TCP | AccessNet.CONNECT_TCP
ALL_SCOPES = Scope.ABSTRACT_UNIX_SOCKET | Scope.SIGNAL

#: Bits of the errata bitmask (security/landlock/errata/abi-*.h): bit N-1 is erratum N.
ERRATA: dict[int, str] = {
    1: "TCP socket identification (ABI 4): non-TCP stream sockets were restricted",
    2: "scoped signal handling (ABI 6): signals between threads of a process",
    3: "disconnected directory handling (ABI 1): rename across bind-mounted trees",
}


def min_abi(flag: enum.IntFlag) -> int:
    """The oldest Landlock ABI that supports the single right or flag `flag`."""
    return _MIN_ABI[type(flag)][int(flag)]


def needs(feature: str, abi: int) -> str:
    """Message naming a feature and the ABI and kernel that have it.

    >>> needs("Landlock TCP rules", 4)
    'Landlock TCP rules need ABI 4 (Linux 6.7)'
    """
    verb = "need" if feature.endswith("s") else "needs"
    return f"{feature} {verb} ABI {abi} (Linux {ABI_KERNEL[abi]})"


TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import TypeVar

    _F = TypeVar("_F", bound=enum.IntFlag)


@functools.lru_cache(maxsize=64)
def rights_for_abi(kind: type[_F], abi: int) -> _F:
    """All rights of type `kind` (AccessFs, AccessNet, Scope, RestrictFlag) known to `abi`
    (memoized: a run asks ~20 times, ~10 us each for AccessFs)."""
    mask = kind(0)
    for flag in kind:
        if _MIN_ABI[kind][int(flag)] <= abi:
            mask |= flag
    return mask


def flag_name(flag: enum.IntFlag) -> str:
    """The lower-case name of one right or flag (as the kernel's audit records spell it)."""
    return (flag.name or hex(int(flag))).lower()


def flag_names(flags: enum.IntFlag) -> list[str]:
    """The lower-case names of the bits in `flags`."""
    return list(_flag_names(type(flags), int(flags)))


@functools.lru_cache(maxsize=1024)
def _flag_names(kind: type[enum.IntFlag], value: int) -> tuple[str, ...]:
    # memoized: a plan prints thousands of grants with a few distinct rights sets
    flags = kind(value)
    return tuple(flag_name(f) for f in kind if f in flags)


class LandlockStatus(Frozen):
    """What the running kernel offers: ABI version (0: none), errata bitmask, and why not."""

    FIELDS = ("abi", "errata", "reason")
    __slots__ = FIELDS
    abi: int
    errata: int
    reason: str

    def __init__(self, abi: int, errata: int, reason: str = "") -> None:
        object.__setattr__(self, "abi", abi)
        object.__setattr__(self, "errata", errata)
        object.__setattr__(self, "reason", reason)

    @property
    def kernel_hint(self) -> str:
        """The mainline kernel version of this ABI."""
        return ABI_KERNEL.get(self.abi, "?")


_status_cache: LandlockStatus | None = None


def status() -> LandlockStatus:
    """Probe the kernel once: landlock_create_ruleset(NULL, 0, VERSION) and the errata query."""
    global _status_cache
    if _status_cache is not None:
        return _status_cache
    try:
        abi = raw_syscall(SYS_LANDLOCK_CREATE_RULESET, None, 0, CREATE_RULESET_VERSION)
    except OSError as err:
        reason = {
            errno.ENOSYS: "the kernel has no Landlock (Linux 5.13 with CONFIG_SECURITY_LANDLOCK)",
            errno.EOPNOTSUPP: "Landlock is built in but disabled (add it to the lsm= boot option)",
        }.get(err.errno or 0, f"Landlock probe failed: {err.strerror}")
        _status_cache = LandlockStatus(0, 0, reason)
        return _status_cache
    try:
        errata = raw_syscall(SYS_LANDLOCK_CREATE_RULESET, None, 0, CREATE_RULESET_ERRATA)
    except OSError:
        errata = 0  # kernels before the errata interface (backported to stable trees)
    _status_cache = LandlockStatus(abi, errata)
    return _status_cache


def abi_version() -> int:
    """The running kernel's Landlock ABI version, 0 when Landlock is unavailable."""
    return status().abi


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


# Size of struct landlock_ruleset_attr per ABI: the kernel rejects (E2BIG) a larger struct
# with non-zero bytes it does not know, and a smaller one cannot carry the new fields.
def _attr_size(abi: int) -> int:
    if abi >= 6:
        return 24
    if abi >= 4:
        return 16
    return 8


class Ruleset:
    """A Landlock ruleset fd: handled rights plus the rules that grant some of them back.

    The fd is close-on-exec (the kernel creates it so); it is inherited across fork, so the
    parent builds the ruleset and the child only calls `restrict_self(fd)`.
    """

    def __init__(
        self,
        handled_fs: AccessFs = NO_FS,
        handled_net: AccessNet = NO_NET,
        scoped: Scope = NO_SCOPE,
        abi: int | None = None,
    ) -> None:
        self.abi = abi_version() if abi is None else abi
        if self.abi < 1:
            raise UnsupportedError(f"Landlock unavailable: {status().reason}")
        for kind, wanted in ((AccessFs, handled_fs), (AccessNet, handled_net), (Scope, scoped)):
            extra = wanted & ~rights_for_abi(kind, self.abi)
            if extra:
                first = min((f for f in kind if f in extra), key=min_abi)
                raise UnsupportedError(needs(f"Landlock {flag_name(first)}", min_abi(first)))
        self.handled_fs = handled_fs
        self.handled_net = handled_net
        self.scoped = scoped
        attr = _RulesetAttr(int(handled_fs), int(handled_net), int(scoped))
        self.fd = raw_syscall(
            SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), _attr_size(self.abi), 0
        )

    def add_path_fd(self, parent_fd: int, rights: AccessFs) -> None:
        """Grant `rights` beneath the file or directory open (O_PATH) as `parent_fd`."""
        add_path_rule(self.fd, parent_fd, rights)

    def add_path(self, path: str, rights: AccessFs) -> None:
        """Open `path` with O_PATH and grant `rights` beneath it."""
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            self.add_path_fd(fd, rights)
        finally:
            os.close(fd)

    def add_port(self, port: int, rights: AccessNet) -> None:
        """Grant TCP `rights` (bind and/or connect) on `port`."""
        if self.abi < 4:
            raise UnsupportedError(needs("Landlock TCP rules", 4))
        if not 0 <= port <= 65535:
            raise ValueError(f"TCP port out of range: {port}")
        attr = _NetPortAttr(int(rights), port)
        raw_syscall(SYS_LANDLOCK_ADD_RULE, self.fd, RULE_NET_PORT, ctypes.byref(attr), 0)

    def restrict_self(self, flags: RestrictFlag = NO_RESTRICT_FLAGS) -> None:
        """Enforce this ruleset on the calling thread (needs no_new_privs or CAP_SYS_ADMIN)."""
        restrict_self(self.fd, flags)

    def close(self) -> None:
        """Close the ruleset fd (an enforced domain stays in force)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Ruleset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def add_path_rule(ruleset_fd: int, parent_fd: int, rights: AccessFs) -> None:
    """landlock_add_rule(2) of a path-beneath rule to the ruleset open as `ruleset_fd`."""
    attr = _PathBeneathAttr(int(rights), parent_fd)
    raw_syscall(SYS_LANDLOCK_ADD_RULE, ruleset_fd, RULE_PATH_BENEATH, ctypes.byref(attr), 0)


def restrict_self(ruleset_fd: int, flags: RestrictFlag = NO_RESTRICT_FLAGS) -> None:
    """landlock_restrict_self(2); ruleset_fd -1 with LOG_SUBDOMAINS_OFF only sets logging."""
    raw_syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset_fd, int(flags))
