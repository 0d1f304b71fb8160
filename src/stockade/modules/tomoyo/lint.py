"""Warnings for the ACLs of a TOMOYO policy that stockade parses but does not enforce, or
enforces on data a task can race (so that `stockade check` never lets a policy look
stronger than it is under stockade)."""

from __future__ import annotations

from collections.abc import Iterator

from stockade.modules.tomoyo.policy import Policy
from stockade.modules.tomoyo.syntax import Acl
from stockade.policy.lint import LintWarning

NOT_MEDIATED = {
    "getattr": "stat() is not mediated by stockade",
    "truncate": "truncate is not checked (the kernel layer grants it with write under run)",
    "ioctl": "ioctl() is not mediated by stockade (the kernel layer grants IOCTL_DEV)",
    "chroot": "chroot() is not checked by stockade",
    "unmount": "umount() is refused by the baseline seccomp filter, not checked",
    "pivot_root": "pivot_root() is refused by the baseline seccomp filter, not checked",
    "listen": "listen() is not routed to the supervisor",
    "accept": "accept is not a TOMOYO 2.6 operation: it never matches",
}
NEVER_TRUE = ("symlink.target", "path1.dev_", "path2.dev_")
RACEABLE = ("exec.argv[", 'exec.envp["', "exec.argc", "exec.envc")
_RACE = ("read from the caller's memory at exec: a task sharing it can change it before the "
         "kernel copies it (docs/tomoyo.md)")


def _acl_warnings(acl: Acl, owner: str) -> Iterator[LintWarning]:
    def warn(code: str, message: str) -> LintWarning:
        return LintWarning(code, message, owner, acl.file, acl.line, 1, acl.text)

    if acl.kind == "task manual_domain_transition":
        yield warn("not-mediated", f"{acl.kind} is parsed but not enforced by stockade")
    elif acl.kind == "misc env":
        yield warn("raceable", f"misc env: the variable names are {_RACE}")
    for op in acl.perms:
        if op in NOT_MEDIATED:
            yield warn("not-mediated", f"{acl.kind} {op}: {NOT_MEDIATED[op]}")
        elif op == "send" and acl.kind.startswith("network"):
            yield warn("partly-mediated", "send: only connect() of a datagram socket is "
                       "checked, not sendto()/sendmsg()")
    for cond in acl.conditions:
        if cond.left.startswith(RACEABLE) or cond.right.startswith(RACEABLE):
            yield warn("raceable", f"condition {cond.text()}: its operand is {_RACE}")
        elif cond.left.startswith(NEVER_TRUE) or cond.right.startswith(NEVER_TRUE):
            yield warn("never-true", f"condition {cond.text()} is never true under stockade "
                       "(its operand is not known): the ACL grants nothing")


def unenforced(policy: Policy) -> list[LintWarning]:
    """One warning per ACL part that stockade does not enforce as TOMOYO would."""
    found: list[LintWarning] = []
    for domain in policy.domains.values():
        for acl in domain.acls:
            found.extend(_acl_warnings(acl, domain.name))
    for group, acls in sorted(policy.acl_groups.items()):
        for acl in acls:
            found.extend(_acl_warnings(acl, f"acl_group {group}"))
    return found
