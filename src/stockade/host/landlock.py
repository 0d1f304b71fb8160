"""The Landlock ABI version: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)."""

from __future__ import annotations

import ctypes
import errno

from stockade.host._sys import libc, syscall_number

LANDLOCK_CREATE_RULESET_VERSION = 1 << 0


def landlock_abi() -> tuple[int, str]:
    """(ABI version, note): 0 with the reason when Landlock is not usable."""
    nr = syscall_number("landlock_create_ruleset")
    if nr is None:
        return 0, "unknown architecture"
    abi = libc().syscall(nr, None, ctypes.c_size_t(0), LANDLOCK_CREATE_RULESET_VERSION)
    if abi >= 0:
        return int(abi), ""
    err = ctypes.get_errno()
    if err == errno.ENOSYS:
        return 0, "the kernel has no Landlock (Linux 5.13+ with CONFIG_SECURITY_LANDLOCK)"
    if err == errno.EOPNOTSUPP:
        return 0, "Landlock is built in but not enabled (add landlock to lsm=)"
    return 0, errno.errorcode.get(err, str(err))
