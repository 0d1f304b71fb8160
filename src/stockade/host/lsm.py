"""Which LSMs the kernel runs, in order, and which of them is the major (exclusive) one.

Sources, first that answers wins: securityfs `/sys/kernel/security/lsm`; the
`lsm_list_modules` syscall (Linux 6.8, LSM ids from include/uapi/linux/lsm.h); `lsm=` on the
kernel command line; the `/proc/self/attr/<lsm>` directories (unordered, incomplete).
"""

from __future__ import annotations

import ctypes
import os

from stockade.host._sys import libc, read_text, syscall_number

SECURITYFS_LSM = "/sys/kernel/security/lsm"
LSM_IDS = {
    100: "capability", 101: "selinux", 102: "smack", 103: "tomoyo", 104: "apparmor",
    105: "yama", 106: "loadpin", 107: "safesetid", 108: "lockdown", 109: "bpf",
    110: "landlock", 111: "ima", 112: "evm", 113: "ipe",
}  # fmt: skip
MAJOR = ("selinux", "apparmor", "smack", "tomoyo")


def from_securityfs(path: str = SECURITYFS_LSM) -> list[str] | None:
    """The list securityfs gives (None when securityfs is not mounted)."""
    text = read_text(path)
    if text is None:
        return None
    return [name for name in text.strip().split(",") if name]


def from_syscall() -> list[str] | None:
    """lsm_list_modules(2): the ids of the active LSMs in order (None when unavailable)."""
    nr = syscall_number("lsm_list_modules")
    if nr is None:
        return None
    ids = (ctypes.c_uint64 * 64)()
    size = ctypes.c_uint32(ctypes.sizeof(ids))
    count = libc().syscall(nr, ids, ctypes.byref(size), 0)
    if count < 0:
        return None
    return [LSM_IDS.get(ids[i], f"lsm{ids[i]}") for i in range(count)]


def from_cmdline(path: str = "/proc/cmdline") -> list[str] | None:
    """The `lsm=` boot parameter (what was asked for, not necessarily what runs)."""
    text = read_text(path)
    if text is None:
        return None
    for word in text.split():
        if word.startswith("lsm="):
            return [name for name in word[4:].split(",") if name]
    return None


def from_attr(path: str = "/proc/self/attr") -> list[str] | None:
    """LSMs with their own `/proc/self/attr/<lsm>` directory (only the labelling ones)."""
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return None
    found = [n for n in names if os.path.isdir(os.path.join(path, n))]
    return found or None


def active_lsms() -> tuple[list[str], str]:
    """(the active LSMs in order, how that was determined)."""
    for how, probe in (("securityfs", from_securityfs), ("lsm_list_modules", from_syscall),
                       ("kernel command line lsm=", from_cmdline),
                       ("/proc/self/attr (partial, unordered)", from_attr)):
        names = probe()
        if names:
            return names, how
    return [], "unknown"


def major_lsm(lsms: list[str]) -> str | None:
    """The first major LSM in the list (apparmor, selinux, smack, tomoyo), or None."""
    return next((name for name in lsms if name in MAJOR), None)
