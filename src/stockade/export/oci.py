"""`oci`: the `process` and `linux` parts (plus `mounts`) of an OCI runtime `config.json`.

From the same plan `stockade run` enforces: `linux.seccomp` is `oci_seccomp(plan)`;
capabilities are the plan's kept ones in the bounding, effective, permitted and ambient sets
(the launcher drops every other one); `noNewPrivileges` is always true; rlimits are the plan's
hard limits with the soft limit lowered to them (as the launcher does).

Files: a container cannot say "deny what is not granted" (Landlock). What it can say:
  * `maskedPaths` for literal paths the profile denies reading (`deny /etc/shadow r,`);
  * `readonlyPaths` for literal paths denied only writing, and for granted trees where no
    rule at or beneath grants a write right;
  * bind `mounts` of granted data trees (anything outside the operating system's own
    directories), read-only unless the plan grants writes, `noexec` unless it grants execute.
Everything else follows the image's own permissions, and the coverage says so.
"""

from __future__ import annotations

import json
import os
import resource
from typing import Any

from stockade.enforce import landlock as ll
from stockade.enforce.caps import cap_name
from stockade.enforce.plan.syscalls import RLIMIT_NUMBERS
from stockade.enforce.plan.types import EnforcementPlan, FsRule
from stockade.export import ExportInput, ExportResult, Losses, register
from stockade.export._files import WRITE_RIGHTS, denied_literals, under
from stockade.export.oci_seccomp import landlock_losses, oci_seccomp
from stockade.policy import CompiledProfile

TARGET = "oci"
OCI_VERSION = "1.0.2"
#: Directories an image provides: granted trees here become readonlyPaths, never bind mounts.
SYSTEM_TREES = ("/usr", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin",
                "/proc", "/sys", "/dev", "/run", "/boot", "/var/lib/dpkg", "/opt")
#: Too broad to bind as a whole (their subdirectories may be bound).
NO_BIND = frozenset({"/", "/tmp", "/var", "/var/tmp", "/home", "/root", "/srv", "/mnt",
                     "/media"})
#: RLIMIT_* number -> name, from the plan compiler's table (`ofile` is nofile's old name).
RLIMIT_NAMES = {number: f"RLIMIT_{name.upper()}" for name, number in RLIMIT_NUMBERS.items()
                if name != "ofile"}

def capabilities(plan: EnforcementPlan) -> dict[str, list[str]]:
    """process.capabilities: the kept capabilities in every set but inheritable."""
    names = sorted(cap_name(c).upper() for c in plan.keep_caps)
    return {"bounding": names, "effective": names, "permitted": names, "ambient": names}


def rlimits(plan: EnforcementPlan) -> list[dict[str, Any]]:
    """process.rlimits: hard = soft = the plan's limit (RLIM_INFINITY as the uint64 max)."""
    out = []
    for number, value in sorted(plan.rlimits.items()):
        limit = (1 << 64) - 1 if value == resource.RLIM_INFINITY else value
        out.append({"type": RLIMIT_NAMES.get(number, f"RLIMIT_{number}"), "hard": limit,
                    "soft": limit})
    return out


def _tree_rules(plan: EnforcementPlan) -> list[FsRule]:
    """Granted directories, outermost first."""
    rules = [r for r in plan.fs_rules if os.path.isdir(r.path)]
    return sorted(rules, key=lambda r: (r.path.count("/"), r.path))


def _writes_beneath(plan: EnforcementPlan, tree: str) -> bool:
    return any(r.access & WRITE_RIGHTS and under(r.path, tree) for r in plan.fs_rules)


def file_paths(profile: CompiledProfile, plan: EnforcementPlan,
               losses: Losses) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(maskedPaths, readonlyPaths, mounts) for what a container can express."""
    masked, readonly = denied_literals(profile, losses)
    mounts: list[dict[str, Any]] = []
    bound: list[str] = []
    for rule in _tree_rules(plan):
        path = rule.path
        if any(under(path, t) for t in readonly + bound):
            continue
        system = any(under(path, t) for t in SYSTEM_TREES)
        writes = _writes_beneath(plan, path)
        if system or path in NO_BIND:
            if not writes and path != "/":
                readonly.append(path)
            continue
        options = ["rbind", "rw" if writes else "ro", "nosuid", "nodev"]
        if not rule.access & ll.AccessFs.EXECUTE:
            options.append("noexec")
        mounts.append({"destination": path, "type": "bind", "source": path,
                       "options": options})
        bound.append(path)
    return sorted(set(masked)), sorted(set(readonly)), mounts


def oci_config(inp: ExportInput, losses: Losses) -> dict[str, Any]:
    """The config.json fragment: process, linux and mounts."""
    plan = inp.planned.plan
    masked, readonly, mounts = file_paths(inp.profile, plan, losses)
    process: dict[str, Any] = {"capabilities": capabilities(plan), "noNewPrivileges": True}
    if plan.rlimits:
        process["rlimits"] = rlimits(plan)
    linux: dict[str, Any] = {"seccomp": oci_seccomp(plan, losses)}
    if masked:
        linux["maskedPaths"] = masked
    if readonly:
        linux["readonlyPaths"] = readonly
    out: dict[str, Any] = {"ociVersion": OCI_VERSION, "process": process, "linux": linux}
    if mounts:
        out["mounts"] = mounts
    return out


@register(TARGET, "the process, linux and mounts parts of an OCI config.json (runc, crun)")
def export_oci(inp: ExportInput) -> ExportResult:
    """Format `oci`: JSON to merge into a bundle's config.json."""
    plan = inp.planned.plan
    losses = Losses(TARGET)
    obj = oci_config(inp, losses)
    landlock_losses(plan, losses)
    return ExportResult(json.dumps(obj, indent=2) + "\n", losses.entries)
