"""prctl(2) operations the launcher needs: no_new_privs, dumpable, parent-death signal,
securebits. Each is one system call, safe between fork and exec."""

from __future__ import annotations

from stockade.enforce._libc import LIBC, check

PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_GET_SECUREBITS = 27
PR_SET_SECUREBITS = 28
PR_SET_MM = 35
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_IS_SET = 1
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_LOWER = 3
PR_CAP_AMBIENT_CLEAR_ALL = 4


class SecureBits:
    """SECBIT_* from include/uapi/linux/securebits.h, as ints (an IntFlag costs a plain run
    ~0.1 ms to create, for two prctl calls)."""

    NOROOT = 1 << 0
    NOROOT_LOCKED = 1 << 1
    NO_SETUID_FIXUP = 1 << 2
    NO_SETUID_FIXUP_LOCKED = 1 << 3
    KEEP_CAPS = 1 << 4
    KEEP_CAPS_LOCKED = 1 << 5
    NO_CAP_AMBIENT_RAISE = 1 << 6
    NO_CAP_AMBIENT_RAISE_LOCKED = 1 << 7


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """Raw prctl; OSError on failure."""
    return check(LIBC.prctl(option, arg2, arg3, arg4, arg5))  # argtypes: unsigned long


def set_no_new_privs() -> None:
    """PR_SET_NO_NEW_PRIVS: execve can never grant privileges again (setuid, file caps)."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def get_no_new_privs() -> bool:
    """Whether no_new_privs is set on the calling thread."""
    return prctl(PR_GET_NO_NEW_PRIVS) == 1


def set_dumpable(dumpable: bool) -> None:
    """PR_SET_DUMPABLE (execve resets it, so it protects the launcher, not the target)."""
    prctl(PR_SET_DUMPABLE, int(dumpable))


def get_dumpable() -> bool:
    """PR_GET_DUMPABLE."""
    return prctl(PR_GET_DUMPABLE) == 1


def set_pdeathsig(signum: int) -> None:
    """PR_SET_PDEATHSIG: deliver `signum` when the parent thread dies (0 clears)."""
    prctl(PR_SET_PDEATHSIG, signum)


def get_securebits() -> int:
    """PR_GET_SECUREBITS (a mask of SecureBits)."""
    return prctl(PR_GET_SECUREBITS)


def set_securebits(bits: int) -> None:
    """PR_SET_SECUREBITS (needs CAP_SETPCAP)."""
    prctl(PR_SET_SECUREBITS, int(bits))
