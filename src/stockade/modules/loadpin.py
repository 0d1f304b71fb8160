"""`loadpin`: kernel file loads only from the pinned filesystem (security/loadpin/loadpin.c).

The first kernel-read file (module, firmware, kexec image, policy, certificate) pins its
filesystem; every later read must come from the same one. Loads from a memory buffer
(init_module(2) rather than finit_module(2)) have no file and are refused when enforcing.
Pinning changes state, so decisions are never cached. dm-verity trusted devices are not
modelled.
"""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass, field

from stockade.lsm.module import SecurityModule, Verdict
from stockade.lsm.types import Request

# kernel_read_file_id names (include/linux/kernel_read_file.h), as loadpin.exclude= takes them.
READ_IDS = ("firmware", "kernel-module", "kexec-image", "kexec-initramfs", "security-policy",
            "x509-certificate")


@dataclass
class LoadPin(SecurityModule):
    """Pins kernel file loads to one filesystem (`pinned_dev`), set by the first load."""

    name = "loadpin"
    enforce: bool = True
    exclude: frozenset[str] = frozenset()
    pinned_dev: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def pinned_to(cls, path: str, **kw: object) -> LoadPin:
        """A LoadPin already pinned to the filesystem holding `path` (e.g. /lib/modules)."""
        return cls(pinned_dev=os.stat(path).st_dev, **kw)  # type: ignore[arg-type]

    def _verdict(self, origin: str, action: str, err: int, why: str) -> Verdict:
        fields = (("origin", origin), ("action", action))
        if err:
            return self.deny(err, why, cacheable=False, fields=fields)
        return Verdict(self.name, 0, why, cacheable=False, fields=fields)

    def hook_kernel_read_file(self, req: Request) -> Verdict | None:
        """loadpin_check() with a file: it must live on the pinned filesystem."""
        origin = req.what or "kernel-module"
        if origin in self.exclude:
            return None
        dev = req.obj.dev if req.obj is not None else None
        if dev is None:
            return self.hook_kernel_load_data(req)
        with self._lock:
            if self.pinned_dev is None:
                self.pinned_dev = dev
                return self._verdict(origin, "pinned", 0, f"pinned to device {dev:#x}")
        if dev == self.pinned_dev:
            return None
        why = f"device {dev:#x} is not the pinned device {self.pinned_dev:#x}"
        if not self.enforce:
            return self._verdict(origin, "pinning-ignored", 0, why)
        return self._verdict(origin, "denied", errno.EPERM, why)

    def hook_kernel_load_data(self, req: Request) -> Verdict | None:
        """loadpin_check() without a file: the old API, refused when enforcing."""
        origin = req.what or "kernel-module"
        if origin in self.exclude:
            return None
        if not self.enforce:
            return self._verdict(origin, "old-api-pinning-ignored", 0, "loaded without a file")
        return self._verdict(origin, "old-api-denied", errno.EPERM,
                             "a load from memory has no file to check against the pin")
