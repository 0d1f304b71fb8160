"""`capability`: the kernel's commoncap (security/commoncap.c), always first in the stack.

`capable()` checks the effective set; ptrace needs the tracer's capabilities to cover the
target's permitted set unless the tracer has CAP_SYS_PTRACE; security.* xattrs other than
security.capability need CAP_SYS_ADMIN (trusted.* is the VFS's rule, in `dac`). User
namespaces are not modelled: every check is against the initial namespace.
"""

from __future__ import annotations

import errno

from stockade.lsm.caps import CAP_SETFCAP, CAP_SYS_ADMIN, CAP_SYS_PTRACE, cap_name, mask_names
from stockade.lsm.module import SecurityModule, Verdict
from stockade.lsm.types import PTRACE_MODE_FSCREDS, Request


class Capability(SecurityModule):
    """POSIX capabilities as commoncap implements them."""

    name = "capability"
    effective_set_only = True

    def hook_capable(self, req: Request) -> Verdict | None:
        """cap_capable(): the capability must be in the effective set."""
        if req.subject.cap_effective >> req.cap & 1:
            return None
        return self.deny(errno.EPERM, f"CAP_{cap_name(req.cap).upper()} is not in the effective set",
                         fields=(("capability", str(req.cap)),))

    def hook_ptrace_access_check(self, req: Request) -> Verdict | None:
        """cap_ptrace_access_check(): the target's permitted set must be a subset of ours."""
        target = req.obj.task if req.obj is not None else None
        if target is None:
            return None
        tracer = req.subject
        mine = tracer.cap_effective if req.flags & PTRACE_MODE_FSCREDS else tracer.cap_permitted
        missing = target.cap_permitted & ~mine
        if not missing:
            return None
        if self.capable is not None and self.capable(req, CAP_SYS_PTRACE):
            return None
        return self.deny(errno.EPERM, "target holds capabilities the tracer lacks: "
                         + ",".join(mask_names(missing)) + "; CAP_SYS_PTRACE not effective")

    def hook_ptrace_traceme(self, req: Request) -> Verdict | None:
        """cap_ptrace_traceme(): the parent (obj.task) must hold our permitted capabilities."""
        parent = req.obj.task if req.obj is not None else None
        if parent is None:
            return None
        missing = req.subject.cap_permitted & ~parent.cap_permitted
        if not missing or parent.cap_effective >> CAP_SYS_PTRACE & 1:
            return None
        return self.deny(errno.EPERM, "the parent lacks capabilities we hold: "
                         + ",".join(mask_names(missing)))

    def hook_inode_setxattr(self, req: Request) -> Verdict | None:
        """cap_inode_setxattr(): security.* needs CAP_SYS_ADMIN; security.capability SETFCAP."""
        name = req.what
        if name == "security.capability":
            needed = CAP_SETFCAP
        elif name.startswith("security."):
            needed = CAP_SYS_ADMIN
        else:
            return None
        if self.capable is not None and self.capable(req, needed):
            return None
        return self.deny(errno.EPERM, f"setting {name} needs CAP_{cap_name(needed).upper()}")
