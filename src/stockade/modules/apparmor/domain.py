"""Exec domain transitions, as the kernel's profile_transition() and x_to_label() make them.

* unconfined: the profile that attaches to the executable, else stay unconfined (no audit);
* `ix`: stay in the profile;
* `px`/`Px`: the named profile (`-> NAME`), else the profile that attaches to the path;
* `cx`/`Cx`: the named child (`-> CHILD`), else the child that attaches to the path;
* `ux`/`Ux`: unconfined;
* `pix`/`cix` fall back to `ix` when no profile is found ("ix fallback"), `pux`/`cux` to
  unconfined ("ux fallback"); without a fallback the exec fails with EACCES ("profile
  transition not found");
* an uppercase mode (`Px`, `Cx`, `Ux`, `Pix`, `PUx`, ...) scrubs the environment (AT_SECURE)
  except when it fell back to `ix`;
* no `x` permission: EACCES, except in a complain-mode profile, which continues in a learning
  "null" profile `PROFILE//null-/path/to/exe` (itself in complain mode);
* no_new_privs: a confined task may only exec into its own profile (EPERM "no new privs").

`change_profile`/`change_hat` and `onexec` are not modelled.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass

from stockade.modules.apparmor.perms import Check, X, file_check, letters, rule_text
from stockade.modules.apparmor.profiles import NULL_MARK, UNCONFINED, Aare, ProfileSet
from stockade.policy import CompiledProfile
from stockade.policy.ast import FileRule, Rule


@dataclass(frozen=True, slots=True)
class Transition:
    """What an exec under a profile does: the new label, scrubbing, and the check to judge
    (None when the subject is unconfined and nothing is mediated)."""

    new: str
    scrub_env: bool
    rule: str
    check: Check | None
    exec_mode: str | None = None
    info: str = ""


def transition(profiles: ProfileSet, prof: CompiledProfile | None, exe: str, *,
               owner: bool, complain: bool = False, no_new_privs: bool = False) -> Transition:
    """The domain transition for executing `exe` under `prof` (None: unconfined);
    `complain` is the profile's effective mode."""
    if prof is None:
        found = profiles.find_attachment(exe)
        return Transition(found.profile.name if found.profile else UNCONFINED, False, "", None,
                          info=found.info)
    base = file_check(prof, "exec", exe, X, is_dir=False, owner=owner)
    perms = prof.file_perms(exe, owner=owner)
    mode = perms.exec_mode
    if not base.allow & X:
        if base.deny & X or not complain:
            return Transition(prof.name, False, "", base)
        learning = f"{prof.name}{NULL_MARK}{exe}"
        return Transition(learning, False, "", _with(base, target=learning))
    if mode is None:  # `all,` grants exec as ix
        mode = "ix"
    deciding = _exec_rules(base.allow_rules, perms.exec_mode, perms.exec_target)
    base = Check(base.op, base.cls, base.request, base.allow, base.deny, base.audit, base.quiet,
                 base.names, deciding, base.deny_rules)
    rule = rule_text(deciding[0]) if deciding else ""
    new, info = _target(profiles, prof, exe, mode, perms.exec_target)
    scrub = mode[0].isupper()
    if new is None:
        info = info or "profile transition not found"
        denied = Check(base.op, base.cls, X, base.allow & ~X, 0, base.audit, base.quiet,
                       letters, base.allow_rules, (), info)
        return Transition(prof.name, False, rule, denied, mode, info)
    if info == "ix fallback":
        scrub = False
    if no_new_privs and new != prof.name:
        denied = Check(base.op, base.cls, X, base.allow & ~X, 0, base.audit, base.quiet,
                       letters, base.allow_rules, (), "no new privs", errno.EPERM,
                       (("target", new),))
        return Transition(prof.name, False, rule, denied, mode, "no new privs")
    return Transition(new, scrub, rule, _with(base, target=new, info=info), mode, info)


def _exec_rules(rules: Sequence[Rule], mode: str | None, target: str | None) -> list[Rule]:
    """The allow rules in order of how they decided the exec mode: the rules that carry the
    chosen mode first, exact paths before globs (the merge's precedence), then the rest."""
    def rank(rule: Rule) -> tuple[int, int]:
        carries = isinstance(rule, FileRule) and (rule.exec_mode, rule.exec_target) == (mode, target)
        compiled = Aare.compiled(rule.path) if isinstance(rule, FileRule) else None
        exact = compiled is not None and compiled[0].exact
        return (0 if carries else 1, 0 if exact else 1)

    return sorted(rules, key=rank)


def _with(check: Check, *, target: str, info: str = "") -> Check:
    return Check(check.op, check.cls, check.request, check.allow, check.deny, check.audit,
                 check.quiet, check.names, check.allow_rules, check.deny_rules,
                 info or check.info, check.err, (("target", target),))


def _target(profiles: ProfileSet, prof: CompiledProfile, exe: str, mode: str,
            target: str | None) -> tuple[str | None, str]:
    """(new label or None, info) for an allowed exec with `mode`."""
    low = mode.lower()
    if low == "ix":
        return prof.name, ""
    if low == "ux":
        return UNCONFINED, ""
    found: CompiledProfile | None = None
    info = ""
    if low.startswith("c"):
        if target:
            found = profiles.get(f"{prof.name}//{target}")
        else:
            hit = profiles.find_attachment(exe, prof)
            found, info = hit.profile, hit.info
    elif target:
        found = profiles.get(target)
    else:
        hit = profiles.find_attachment(exe)
        found, info = hit.profile, hit.info
    if found is not None:
        return found.name, ""
    if "i" in low[1:]:
        return prof.name, "ix fallback"
    if "u" in low[1:]:
        return UNCONFINED, "ux fallback"
    return None, info
