"""Capabilities, mount, userns, io_uring, rlimit and the rule kinds the kernel cannot enforce
without AppArmor (dbus, change_profile, mqueue).

Capabilities unlock the baseline's refused system calls they are needed for: sys_module ->
init/finit/delete_module, sys_boot -> reboot, kexec_*; sys_admin -> swapon/off, setns; perfmon ->
perf_event_open; bpf or sys_admin -> bpf; sys_rawio -> iopl, ioperm.
"""

from __future__ import annotations

import resource

from stockade.enforce import caps as capmod
from stockade.enforce.plan.common import APPROX, EXACT, NOT_ENFORCED, Context, Verdict
from stockade.policy import CapabilityRule, RlimitRule
from stockade.policy.constants import TIME_UNITS_US

#: capability (AppArmor name) -> baseline system calls it unlocks.
CAP_SYSCALLS: dict[str, tuple[str, ...]] = {
    "sys_module": ("init_module", "finit_module", "delete_module"),
    "sys_boot": ("reboot", "kexec_load", "kexec_file_load"),
    "sys_admin": ("swapon", "swapoff", "bpf", "setns"),
    "perfmon": ("perf_event_open",),
    "bpf": ("bpf",),
    "sys_rawio": ("iopl", "ioperm"),
}
MOUNT_SYSCALLS = ("mount", "umount2", "fsopen", "fsmount", "fsconfig", "fspick", "move_mount",
                  "open_tree", "open_tree_attr", "mount_setattr")
IO_URING = ("io_uring_setup", "io_uring_enter", "io_uring_register")

RLIMIT_NUMBERS: dict[str, int] = {
    "cpu": resource.RLIMIT_CPU, "fsize": resource.RLIMIT_FSIZE, "data": resource.RLIMIT_DATA,
    "stack": resource.RLIMIT_STACK, "core": resource.RLIMIT_CORE, "rss": resource.RLIMIT_RSS,
    "nproc": resource.RLIMIT_NPROC, "nofile": resource.RLIMIT_NOFILE,
    "ofile": resource.RLIMIT_NOFILE, "memlock": resource.RLIMIT_MEMLOCK,
    "as": resource.RLIMIT_AS, "locks": 10, "sigpending": 11, "msgqueue": 12, "nice": 13,
    "rtprio": 14, "rttime": 15,
}
_SIZE = {"": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30,
         "gb": 1 << 30}


def rlimit_value(name: str, text: str) -> int:
    """The kernel value of `set rlimit NAME <= TEXT` (apparmor.d(5)); ValueError if bad."""
    text = text.strip().lower()
    if text == "infinity":
        return resource.RLIM_INFINITY
    digits = len(text) - len(text.lstrip("-0123456789"))
    number, unit = text[:digits], text[digits:].strip()
    if not number or number == "-":
        raise ValueError(f"not a number: {text!r}")
    value = int(number)
    if name == "nice":
        if unit or not -20 <= value <= 19:
            raise ValueError("nice must be a number from -20 to 19")
        return 20 - value  # RLIMIT_NICE is 20 - nice
    if value < 0:
        raise ValueError("a limit cannot be negative")
    if name in ("cpu", "rttime"):
        scale = TIME_UNITS_US.get(unit or ("s" if name == "cpu" else "us"))
        if scale is None:
            raise ValueError(f"unknown time unit {unit!r}")
        micro = value * scale
        return micro // 1_000_000 if name == "cpu" else micro
    if name in ("fsize", "data", "stack", "core", "rss", "memlock", "as", "msgqueue"):
        if unit not in _SIZE:
            raise ValueError(f"unknown size unit {unit!r}")
        return value * _SIZE[unit]
    if unit:
        raise ValueError(f"{name} takes a plain number")
    return value


def kept_capabilities(ctx: Context) -> frozenset[str]:
    """AppArmor names of the capabilities the profile keeps (allowed and not denied)."""
    return frozenset(ctx.profile.capabilities.effective)


def compile_capabilities(ctx: Context) -> set[str]:
    """Capability rules -> keep_caps; returns the baseline system calls they unlock."""
    kept = ctx.kept_caps
    numbers: set[int] = set()
    for name in kept:
        try:
            numbers.add(capmod.cap_number(name))
        except ValueError:
            ctx.notes.append(f"capability {name} is unknown to this kernel table: dropped")
    ctx.plan.keep_caps = frozenset(numbers)
    for rule in ctx.profile.rules_of("capability"):
        rule_: CapabilityRule = rule
        v = Verdict(enforced_by="capset + PR_CAPBSET_DROP")
        names = rule_.names or ("every capability",)
        if rule_.qualifiers.deny:
            v.part(EXACT, "dropped from the bounding, ambient, inheritable and effective sets")
        else:
            lost = [n for n in rule_.names if n not in kept]
            v.part(EXACT, "kept; every capability not allowed is dropped" if not lost else
                   "kept except " + ",".join(lost) + " (a deny rule wins)")
        if rule_.qualifiers.audit:
            v.part(EXACT, "audit: uses of " + ",".join(names) + " are not logged (note)")
        if rule_.qualifiers.quiet:
            v.part(EXACT, "quiet: nothing to silence (note)")
        ctx.record(rule_, v)
    unlock: set[str] = set()
    for cap, syscalls in CAP_SYSCALLS.items():
        if cap in kept:
            unlock.update(syscalls)
    return unlock


def compile_mount(ctx: Context) -> set[str]:
    """mount/remount/umount/pivot_root rules; returns the system calls to unlock."""
    unlock: set[str] = set()
    rules = ctx.profile.mount + ctx.profile.pivot_root
    landlock_fs = bool(ctx.plan.handled_fs) and ctx.abi >= 1
    for rule in rules:
        v = Verdict(enforced_by="seccomp-bpf")
        if rule.qualifiers.deny:
            v.part(EXACT, "refused by seccomp (baseline)")
        elif not ctx.has_cap("sys_admin"):
            v.part(EXACT, "the profile does not keep sys_admin: the call fails as under AppArmor")
        elif landlock_fs:
            v.part(APPROX, "narrower: Landlock refuses every mount change of a process whose "
                   "domain restricts the filesystem", "AppArmor")
        else:
            names = MOUNT_SYSCALLS if rule.kind == "mount" else ("pivot_root",)
            unlock.update(names)
            v.part(APPROX, "wider: allowed with sys_admin; options, fstype, source and mount "
                   "point are not checked", "supervisor")
        ctx.record(rule, v)
    return unlock


def compile_misc(ctx: Context) -> set[str]:
    """userns, io_uring, mqueue, dbus, change_profile; returns the system calls to unlock."""
    unlock: set[str] = set()
    for rule in ctx.profile.userns:
        v = Verdict(enforced_by="seccomp-bpf")
        if rule.qualifiers.deny:
            v.part(EXACT, "unshare/clone(CLONE_NEWUSER) refused by seccomp")
        else:
            unlock.add("userns")
            v.part(EXACT, "unshare/clone(CLONE_NEWUSER) allowed (clone3 stays ENOSYS, libc "
                   "falls back to clone)")
        ctx.record(rule, v)
    for rule in ctx.profile.io_uring:
        v = Verdict(enforced_by="seccomp-bpf")
        if rule.qualifiers.deny:
            v.part(EXACT, "io_uring_* refused by seccomp")
        else:
            unlock.update(IO_URING)
            v.part(EXACT, "io_uring_* allowed (file opens through io_uring are still checked "
                   "by Landlock)")
            if rule.access or rule.label:
                v.part(APPROX, "sqpoll/override_creds/label are not distinguished (wider)")
        ctx.record(rule, v)
    for rule in ctx.profile.mqueue:
        ctx.record_part(rule, NOT_ENFORCED, "message queues are not mediated (no Landlock right; "
                        "seccomp cannot read queue names)", "AppArmor mqueue mediation")
    for rule in ctx.profile.dbus:
        ctx.record_part(rule, NOT_ENFORCED, "D-Bus messages are mediated by an AppArmor-aware bus "
                        "daemon; the kernel has no other mechanism", "AppArmor + dbus-daemon")
    for rule in ctx.profile.change_profile:
        ctx.record_part(rule, APPROX, "narrower: no profile transitions without AppArmor; the "
                        "program stays in this sandbox (Landlock domains only add restrictions)",
                        "AppArmor")
    return unlock


def compile_rlimits(ctx: Context) -> None:
    """`set rlimit` -> setrlimit(2) in the child before exec (hard limit; soft lowered)."""
    for rule in ctx.profile.rlimit:
        rule_: RlimitRule = rule
        v = Verdict(enforced_by="setrlimit")
        number = RLIMIT_NUMBERS.get(rule_.resource)
        try:
            if number is None:
                raise ValueError(f"unknown resource {rule_.resource!r}")
            value = rlimit_value(rule_.resource, rule_.value)
        except ValueError as err:
            v.part(NOT_ENFORCED, str(err))
            ctx.record(rule_, v)
            continue
        old = ctx.plan.rlimits.get(number)
        if old is None or (value != resource.RLIM_INFINITY and
                           (old == resource.RLIM_INFINITY or value < old)):
            ctx.plan.rlimits[number] = value
        v.part(EXACT, "setrlimit in the child: hard limit lowered to it, soft limit too if "
               "above")
        if ctx.has_cap("sys_resource"):
            v.part(APPROX, "the profile keeps sys_resource, so the program could raise it again")
        ctx.record(rule_, v)
