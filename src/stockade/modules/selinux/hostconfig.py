"""The SELinux policy this host configures: /etc/selinux/config's SELINUX and SELINUXTYPE.

`explain` uses it by default (modules/stack_spec.py), as the kernel would load it at boot:
the highest-numbered /etc/selinux/TYPE/policy/policy.N. STOCKADE_SELINUX_CONFIG names another
config file (a chroot's, or none for a test that must not depend on the host).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

_POLICY_FILE = re.compile(r"policy\.(\d+)")
_TYPE = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class HostPolicy:
    """The host's configured SELinux policy."""

    name: str          # SELINUXTYPE
    path: str          # /etc/selinux/NAME/policy/policy.N
    enforcing: bool    # SELINUX=enforcing (permissive: denials are recorded, not enforced)

    def describe(self) -> str:
        """One line for people: which policy, and whether it enforces."""
        mode = "enforcing" if self.enforcing else "permissive: denials are recorded, not enforced"
        return f"host SELinux policy {self.name} ({self.path}, {mode})"


def kernel_runs_selinux() -> bool:
    """Whether the running kernel has SELinux active (selinuxfs, or securityfs's lsm list)."""
    from stockade.host.lsm import from_securityfs
    from stockade.host.selinux import SELINUXFS

    return os.path.isfile(f"{SELINUXFS}/enforce") or "selinux" in (from_securityfs() or [])


def host_policy(config: str | None = None) -> HostPolicy | None:
    """The policy /etc/selinux/config names, when the kernel runs SELinux, SELINUX is not
    `disabled` and a policy file exists; else None. A config named by the caller or by
    STOCKADE_SELINUX_CONFIG is taken as the host's without the kernel check (a chroot's, a
    test's). On a kernel without SELinux the file on disk decides nothing, so answering with it
    would contradict the host; `--lsm ...,selinux` still asks it."""
    from stockade.host.selinux import CONFIG, config_values

    chosen = config or os.environ.get("STOCKADE_SELINUX_CONFIG")
    if chosen is None and not kernel_runs_selinux():
        return None
    config = chosen or CONFIG
    values = config_values(config)
    mode, name = values.get("SELINUX", "").lower(), values.get("SELINUXTYPE", "")
    if mode not in ("enforcing", "permissive") or not _TYPE.fullmatch(name) or name in (".", ".."):
        return None
    directory = os.path.join(os.path.dirname(config), name, "policy")
    try:
        found = [(int(m.group(1)), entry) for entry in os.listdir(directory)
                 if (m := _POLICY_FILE.fullmatch(entry))]
    except OSError:
        return None
    for _, entry in sorted(found, reverse=True):
        path = os.path.join(directory, entry)
        if os.path.isfile(path):
            return HostPolicy(name, path, mode == "enforcing")
    return None
