"""Linux capability numbers and names (include/uapi/linux/capability.h), and set helpers."""

from __future__ import annotations

from collections.abc import Iterable

from stockade.errors import StockadeError

CAP_NAMES: tuple[str, ...] = (
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid",
    "setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin",
    "net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace",
    "sys_pacct", "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time",
    "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
    "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read",
    "perfmon", "bpf", "checkpoint_restore",
)  # fmt: skip
CAP_LAST_CAP = len(CAP_NAMES) - 1
ALL_CAPS = (1 << len(CAP_NAMES)) - 1
_BY_NAME = {name: number for number, name in enumerate(CAP_NAMES)}

# Named constants for the ones the kernel's own checks use.
CAP_CHOWN = _BY_NAME["chown"]
CAP_DAC_OVERRIDE = _BY_NAME["dac_override"]
CAP_DAC_READ_SEARCH = _BY_NAME["dac_read_search"]
CAP_FOWNER = _BY_NAME["fowner"]
CAP_FSETID = _BY_NAME["fsetid"]
CAP_KILL = _BY_NAME["kill"]
CAP_SETUID = _BY_NAME["setuid"]
CAP_NET_BIND_SERVICE = _BY_NAME["net_bind_service"]
CAP_NET_RAW = _BY_NAME["net_raw"]
CAP_SYS_MODULE = _BY_NAME["sys_module"]
CAP_SYS_RAWIO = _BY_NAME["sys_rawio"]
CAP_SYS_PTRACE = _BY_NAME["sys_ptrace"]
CAP_SYS_ADMIN = _BY_NAME["sys_admin"]
CAP_SETFCAP = _BY_NAME["setfcap"]
CAP_MAC_OVERRIDE = _BY_NAME["mac_override"]
CAP_PERFMON = _BY_NAME["perfmon"]
CAP_BPF = _BY_NAME["bpf"]


def cap_number(name: str) -> int:
    """The number of a capability named `sys_admin`, `CAP_SYS_ADMIN` or `21`."""
    key = name.strip().lower().removeprefix("cap_")
    if key.isdigit() and int(key) <= CAP_LAST_CAP:
        return int(key)
    try:
        return _BY_NAME[key]
    except KeyError:
        raise StockadeError(f"unknown capability {name!r}") from None


def cap_name(number: int) -> str:
    """`sys_admin` for 21."""
    return CAP_NAMES[number] if 0 <= number <= CAP_LAST_CAP else f"cap_{number}"


def caps_mask(names: Iterable[str]) -> int:
    """A bitmask from capability names; `all` means every capability, `none` none."""
    mask = 0
    for name in names:
        key = name.strip().lower()
        if not key or key == "none":
            continue
        if key == "all":
            mask |= ALL_CAPS
        else:
            mask |= 1 << cap_number(key)
    return mask


def mask_names(mask: int) -> list[str]:
    """The capability names set in `mask`, in number order."""
    return [CAP_NAMES[i] for i in range(len(CAP_NAMES)) if mask >> i & 1]


def has_cap(mask: int, cap: int) -> bool:
    """True when `cap` is in `mask`."""
    return bool(mask >> cap & 1)
