"""seccomp: the return actions this kernel has and the filter flags it accepts."""

from __future__ import annotations

import ctypes
import errno
from typing import Any

from stockade.host._sys import libc, read_text, syscall_number

SECCOMP_SET_MODE_FILTER = 1
FILTER_FLAGS = {
    "tsync": 1, "log": 2, "spec_allow": 4, "new_listener": 8, "tsync_esrch": 16,
    "wait_killable_recv": 32 | 8,  # only valid together with new_listener
}  # fmt: skip


def actions_available(path: str = "/proc/sys/kernel/seccomp/actions_avail") -> list[str] | None:
    """The actions the kernel supports (`kill_process kill_thread trap errno ...`)."""
    text = read_text(path)
    return text.split() if text is not None else None


def filter_flag_supported(flag: int) -> bool:
    """seccomp(SET_MODE_FILTER, flag, NULL): EFAULT/EACCES mean the flag is known, EINVAL not.

    The NULL program is never installed: the kernel checks the flags, then fails to copy it.
    """
    nr = syscall_number("seccomp")
    if nr is None:
        return False
    rc = libc().syscall(nr, SECCOMP_SET_MODE_FILTER, ctypes.c_uint(flag), None)
    if rc == 0:  # cannot happen with a NULL filter
        return True
    return ctypes.get_errno() in (errno.EFAULT, errno.EACCES)


def seccomp_status() -> dict[str, Any]:
    """Actions and the filter flags the kernel accepts."""
    actions = actions_available()
    flags = {name: filter_flag_supported(bit) for name, bit in FILTER_FLAGS.items()}
    out: dict[str, Any] = {"actions": actions, "filter_flags": flags,
                           "user_notif": bool(actions and "user_notif" in actions)}
    if actions is None:
        out["error"] = "/proc/sys/kernel/seccomp/actions_avail unreadable (no CONFIG_SECCOMP_FILTER?)"
    return out
