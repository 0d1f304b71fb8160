"""AppArmor permission checks: one `Check` per request, judged into a `Verdict`.

`judge` is the kernel's aa_audit_file()/aa_check_perms() with aa_apply_modes_to_perms():
denied = request & ~allow; an allowed request is recorded (AUDIT) when one of its
permissions carries the `audit` qualifier or the profile has `flags=(audit)`; a denial is
`hard` when an explicit `deny` rule denies it (it keeps denying in complain mode), `quiet`
when every denied permission is quieted (a plain `deny` rule; `audit deny` is loud), and in a
complain-mode profile the denial is let through and recorded ALLOWED. `kill` mode denies
with the errno and marks the record `kill=SIGKILL` (the kernel kills the task);
`default_allow` allows what no explicit `deny` rule denies, without a record.

File permissions map to the classic letters as the kernel's map_old_perms() does: `r` is
read+getattr+open; `w` is write, append, create, delete, setattr, chmod, chown, rename; `a`
is append only; `l` link, `k` lock, `m` mmap PROT_EXEC, `x` exec.
"""

from __future__ import annotations

import errno as errnos
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stockade.lsm.module import Verdict
from stockade.policy import CompiledProfile, Perm
from stockade.policy.ast import FileRule, LinkRule, Rule
from stockade.policy.modes import ALL_FILE_PERMS

NAME = "apparmor"
R, W, A, L, K, M, X = (int(Perm.READ), int(Perm.WRITE), int(Perm.APPEND), int(Perm.LINK),
                       int(Perm.LOCK), int(Perm.MMAP), int(Perm.EXEC))
ALL_FILE = int(ALL_FILE_PERMS) | X


def letters(mask: int) -> str:
    """`rw` for READ|WRITE, in apparmor's canonical order."""
    return Perm(mask & ALL_FILE).letters()


def rule_text(rule: Rule) -> str:
    """`file:line: text` of a rule, on one line."""
    text = " ".join(rule.text.split())
    return f"{rule.pos.file}:{rule.pos.line}: {text}"


@dataclass(frozen=True, slots=True)
class Check:
    """One AppArmor check: what is requested, what the profile allows, and who said so.

    Masks are ints over the class's own bits (file: Perm; other classes: their access
    words). `allow_rules`/`deny_rules` are the matching rules for the verdict's `rule`.
    """

    op: str
    cls: str
    request: int
    allow: int
    deny: int = 0
    audit: int = 0
    quiet: int = 0
    names: Callable[[int], str] = letters
    allow_rules: Sequence[Rule] = ()
    deny_rules: Sequence[Rule] = ()
    info: str = ""
    err: int = errnos.EACCES
    fields: tuple[tuple[str, str], ...] = field(default=())
    mask_fields: bool = True  # requested_mask/denied_mask (the capability record has none)


def judge(prof: CompiledProfile, mode: str, check: Check) -> Verdict:
    """The verdict of one check under the profile's mode (enforce, complain, kill, ...)."""
    denied = check.request & ~check.allow
    audit_all = "audit" in prof.flags
    names = check.names
    fields: list[tuple[str, str]] = [
        ("profile", prof.name), ("operation", check.op), ("class", check.cls)]
    if check.mask_fields:
        fields.append(("requested", names(check.request)))
    if check.info:
        fields.append(("info", check.info))
    fields.extend(check.fields)
    if not denied:
        rules = [r for r in check.allow_rules if not r.qualifiers.deny]
        rule = rule_text(rules[0]) if rules else ""
        why = f"allowed by {rule}" if rule else "allowed"
        if check.info:
            why += f" ({check.info})"
        return Verdict(NAME, 0, f"profile {prof.name}: {why}", rule,
                       audit=audit_all or bool(check.request & check.audit),
                       fields=tuple(fields))
    if check.mask_fields:
        fields.append(("denied", names(denied)))
    explicit = denied & check.deny
    hard = bool(explicit)
    if hard and check.deny_rules:
        first = check.deny_rules[0]
        rule = rule_text(first)
        reason = (f"profile {prof.name}: {names(explicit)} denied by deny rule at "
                  f"{first.pos.file}:{first.pos.line}")
    elif check.info:
        rule = rule_text(check.allow_rules[0]) if check.allow_rules else ""
        reason = f"profile {prof.name}: {names(denied)} denied: {check.info}"
    else:
        rule = ""
        reason = f"profile {prof.name}: no rule allows {names(denied)}"
    if mode == "default_allow" and not hard:
        return Verdict(NAME, 0, f"profile {prof.name}: allowed by default_allow", "",
                       fields=tuple(fields))
    if mode == "kill":
        fields.append(("kill", "SIGKILL"))
        reason += "; kill mode: the task is killed with SIGKILL"
    quiet = not audit_all and not (denied & ~check.quiet)
    return Verdict(NAME, check.err, reason, rule, quiet=quiet, hard=hard,
                   complain=mode == "complain", fields=tuple(fields))


# -- file ------------------------------------------------------------------------------------


def all_rule_allows(prof: CompiledProfile) -> Rule | None:
    """An allowing `all,` rule of the profile, if any (it grants every class)."""
    for rule in prof.all_rules:
        if not rule.qualifiers.deny:
            return rule
    return None


def file_check(prof: CompiledProfile, op: str, path: str, request: int, *, is_dir: bool,
               owner: bool, fields: tuple[tuple[str, str], ...] = ()) -> Check:
    """The Check of `request` (Perm bits) on `path` under the profile's file rules."""
    perms = prof.file_perms(path, is_dir=is_dir, owner=owner)
    allow = int(perms.allow)
    allow_rules: list[Rule] = [r for r in perms.rules if not r.qualifiers.deny
                               and _rule_perms(r) & request]
    everything = all_rule_allows(prof)
    if everything is not None:
        allow |= ALL_FILE & ~int(perms.deny)
        allow_rules.append(everything)
    deny_rules = [r for r in perms.rules if r.qualifiers.deny and _rule_perms(r) & request]
    return Check(op, "file", request, allow, int(perms.deny), int(perms.audit),
                 int(perms.quiet), letters, allow_rules, deny_rules, fields=fields)


def _rule_perms(rule: Rule) -> int:
    if isinstance(rule, FileRule):
        return int(rule.perms)
    if isinstance(rule, LinkRule):
        return L
    return 0


def link_check(prof: CompiledProfile, link: str, target: str, *, is_dir: bool, owner: bool,
               match: Callable[[str, str], bool]) -> Check:
    """profile_path_link(): `l` on the link name paired with the target; with `subset`
    (a bare `l` or `link subset`) the link may not grant more than the target has."""
    fields = (("target", target),)
    lperms = prof.file_perms(link, is_dir=is_dir, owner=owner)
    live = lperms.rules
    pairs_allow = [r for r in live if not r.qualifiers.deny and _rule_perms(r) & L
                   and _link_target_matches(r, target, match)]
    pairs_deny = [r for r in live if r.qualifiers.deny and _rule_perms(r) & L
                  and _link_target_matches(r, target, match)]
    everything = all_rule_allows(prof)
    if everything is not None and not pairs_allow:
        pairs_allow = [everything]
    info = ""
    if not pairs_allow and any(not r.qualifiers.deny and _rule_perms(r) & L for r in live):
        info = "target restricted"
    allow = L if pairs_allow and not pairs_deny else 0
    deny = L if pairs_deny else 0
    audit = L if any(r.qualifiers.audit for r in pairs_allow + pairs_deny) else 0
    quiet = L if pairs_deny and not any(r.qualifiers.audit for r in pairs_deny) else 0
    if allow and any(_is_subset(r) for r in pairs_allow):
        tperms = prof.file_perms(target, is_dir=is_dir, owner=owner)
        extra = int(lperms.allow) & ~L & ~int(tperms.allow)
        if int(lperms.allow) & X and int(tperms.allow) & X and \
                (lperms.exec_mode, lperms.exec_target) != (tperms.exec_mode, tperms.exec_target):
            extra |= X
        if extra:
            return Check("link", "file", L | extra, int(lperms.allow) & ~extra, 0, audit, 0,
                         letters, pairs_allow, (), "link not subset of target", fields=fields)
    return Check("link", "file", L, allow, deny, audit, quiet, letters, pairs_allow, pairs_deny,
                 info, fields=fields)


def _is_subset(rule: Rule) -> bool:
    if isinstance(rule, LinkRule):
        return rule.subset
    if isinstance(rule, FileRule):
        return rule.link_target is None
    return False  # `all,`


def _link_target_matches(rule: Rule, target: str, match: Callable[[str, str], bool]) -> bool:
    want = rule.target if isinstance(rule, LinkRule) else getattr(rule, "link_target", None)
    return want is None or match(want, target)

