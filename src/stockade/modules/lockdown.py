"""`lockdown`: the kernel lockdown LSM (security/lockdown/lockdown.c).

Levels none < integrity < confidentiality. Each restricted feature has a reason from
`enum lockdown_reason` (include/linux/security.h); a reason is refused when the level is at
or above it: integrity refuses everything that could modify the running kernel, and
confidentiality also everything that could read kernel memory.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

from stockade.errors import StockadeError
from stockade.lsm.module import SecurityModule, Verdict
from stockade.lsm.types import Request

# (name, description) in enum order; INTEGRITY_MAX and CONFIDENTIALITY_MAX are the levels.
REASONS: tuple[tuple[str, str], ...] = (
    ("none", "none"),
    ("module_signature", "unsigned module loading"),
    ("dev_mem", "/dev/mem,kmem,port"),
    ("efi_test", "/dev/efi_test access"),
    ("kexec", "kexec of unsigned images"),
    ("hibernation", "hibernation"),
    ("pci_access", "direct PCI access"),
    ("ioport", "raw io port access"),
    ("msr", "raw MSR access"),
    ("acpi_tables", "modifying ACPI tables"),
    ("device_tree", "modifying device tree contents"),
    ("pcmcia_cis", "direct PCMCIA CIS storage"),
    ("tiocsserial", "reconfiguration of serial port IO"),
    ("module_parameters", "unsafe module parameters"),
    ("mmiotrace", "unsafe mmio"),
    ("debugfs", "debugfs access"),
    ("xmon_wr", "xmon write access"),
    ("bpf_write_user", "use of bpf to write user RAM"),
    ("dbg_write_kernel", "use of kgdb/kdb to write kernel RAM"),
    ("rtas_error_injection", "RTAS error injection"),
    ("integrity_max", "integrity"),
    ("kcore", "/proc/kcore access"),
    ("kprobes", "use of kprobes"),
    ("bpf_read_kernel", "use of bpf to read kernel RAM"),
    ("dbg_read_kernel", "use of kgdb/kdb to read kernel RAM"),
    ("perf", "unsafe use of perf"),
    ("tracefs", "use of tracefs"),
    ("xmon_rw", "xmon read and write access"),
    ("xfrm_secret", "xfrm SA secret"),
    ("confidentiality_max", "confidentiality"),
)
REASON_INDEX = {name: i for i, (name, _) in enumerate(REASONS)}
LEVELS = {"none": 0, "integrity": REASON_INDEX["integrity_max"],
          "confidentiality": REASON_INDEX["confidentiality_max"]}


def reason_level(reason: str) -> str:
    """`integrity` or `confidentiality`: the lowest level that refuses `reason`."""
    return "integrity" if REASON_INDEX[reason] < LEVELS["integrity"] else "confidentiality"


def host_lockdown_level() -> str | None:
    """The running kernel's level from securityfs, or None when it cannot be read."""
    try:
        text = Path("/sys/kernel/security/lockdown").read_text()
    except OSError:
        return None
    for word in text.split():
        if word.startswith("["):
            return word.strip("[]")
    return None


@dataclass
class Lockdown(SecurityModule):
    """Refuses the features at or below its level, as lockdown_is_locked_down() does."""

    name = "lockdown"
    level: str = "none"

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise StockadeError(
                f"unknown lockdown level {self.level!r} (none, integrity, confidentiality)")

    def hook_locked_down(self, req: Request) -> Verdict | None:
        """Refuse `req.what` (a reason name) when the level is at or above it."""
        index = REASON_INDEX.get(req.what)
        if index is None or index >= LEVELS["confidentiality"]:
            # the kernel WARNs and refuses an out-of-range reason
            return self.deny(errno.EPERM, f"invalid lockdown reason {req.what!r}")
        if LEVELS[self.level] < index:
            return None
        description = REASONS[index][1]
        return self.deny(
            errno.EPERM, f"{description} is restricted at lockdown level {self.level}",
            fields=(("description", description), ("reason", req.what)))
