"""Which profile of a file `run`, `compile`, `explain` and `export` take, what `run` grants
the program that profile attaches to, and the exec transitions no Landlock sandbox can apply.

A file may hold several profiles (usr.bin.man: /usr/bin/man, man_groff, man_filter). `run`
takes the one that attaches to the program as the kernel's find_attach chooses it
(`modules/apparmor`'s `ProfileSet.find_attachment`); without a program, the only one that
attaches to any program. Px/Cx rules and hats move a program into another profile, which a
Landlock domain (inherited unchanged on exec) cannot do: `run` refuses them at start with one
line unless --inherit-transitions (docs/enforce.md, "Exec transitions and hats").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from stockade import fsview
from stockade.enforce import landlock as ll
from stockade.enforce.plan.common import APPROX, rule_text, source_of
from stockade.errors import StockadeError

if TYPE_CHECKING:  # a plan cache hit imports this module, not the policy package
    from stockade.enforce.plan.profile import ProfilePlan
    from stockade.policy import CompiledProfile


def select_profile(profiles: Sequence[CompiledProfile], name: str | None,
                   source: str = "", program: str | None = None) -> CompiledProfile:
    """The profile called `name` (name, local name or attachment); without a name, the only
    profile, else the one that attaches to `program` (the kernel's find_attach, on the
    resolved executable), else the only top-level profile that attaches to any program (the
    others of the file, such as usr.bin.man's man_groff, are reached by transitions), else,
    when none attaches, the only one that no other profile of the file transitions to."""
    where = f" in {source}" if source else ""
    if not profiles:
        raise StockadeError(f"no profile{where}")
    if name is not None:
        for prof in profiles:
            for p in prof.walk():
                if name in (p.name, p.attachment):
                    return p
        names = ", ".join(p.name for prof in profiles for p in prof.walk())
        raise StockadeError(f"no profile named {name!r}{where} (profiles: {names})")
    if len(profiles) == 1:
        return profiles[0]
    from stockade.modules.apparmor.profiles import ProfileSet

    policy = ProfileSet()
    policy.add(profiles)
    if program is not None:
        found = policy.find_attachment(fsview.realpath(program)).profile
        if found is not None:
            return found
    attaching = [p for p in profiles if p.attachment]
    if len(attaching) == 1:
        return attaching[0]
    if not attaching:  # named profiles only: the one no other profile here transitions to
        targets = {r.exec_target.lstrip("&") for p in profiles for r in p.file_rules
                   if r.exec_target}
        entry = [p for p in profiles if p.name not in targets]
        if len(entry) == 1:
            return entry[0]
    names = ", ".join(p.name for p in (attaching or profiles))
    why = f", none attaches to {program}" if program is not None else ""
    if attaching:
        why += f" and {len(attaching)} attach to programs"
    raise StockadeError(f"{len(profiles)} profiles{where}{why} ({names}): choose one with "
                        "--profile-name")


def transitions(profile: CompiledProfile) -> list[str]:
    """The profile's exec rules that move a program into another profile (px, cx and their
    variants, stacks `-> &NAME` too) and its hats, one line each: a Landlock sandbox is
    inherited unchanged on exec and cannot be entered by change_hat, so none can be applied."""
    out = []
    for rule in profile.file_rules:
        mode = (rule.exec_mode or "").lower()
        if rule.qualifiers.deny or not mode or mode[0] not in "pc":
            continue
        target = rule.exec_target or ""
        if target.startswith("&"):
            target = f"the stack of this profile and {target[1:]}"
        elif target:
            target = f"profile {target}"
        else:
            target = ("the child profile" if mode[0] == "c" else "the profile") + \
                " attaching to it"
        out.append(f"{source_of(rule)}: `{rule_text(rule)}` runs {rule.path} in {target}")
    for hat in profile.hats:
        out.append(f"{hat.pos.file}:{hat.pos.line}: hat {hat.name.rpartition('//')[2]} "
                   "(change_hat) cannot be entered")
    return out


def refuse_transitions(pp: ProfilePlan, also: str | None = None, *, target: str = "Landlock",
                       instead: str = "run it under this profile's sandbox instead") -> None:
    """Raise the one-line refusal when the plan has transitions `target` cannot apply;
    `also`: what else the user must change before the plan can run (said in the same line,
    so that one round trip names every flag to add)."""
    if not pp.transitions:
        return
    more = f" (and {len(pp.transitions) - 1} more)" if len(pp.transitions) > 1 else ""
    raise StockadeError(f"{pp.transitions[0]}{more}: {target} cannot move a program into "
                        "another profile (the confinement is inherited unchanged on exec); "
                        f"pass --inherit-transitions to {instead}"
                        + (f"; also {also}" if also else ""))


def grant_attached_program(pp: ProfilePlan, profile: CompiledProfile, program: str) -> None:
    """Let the program a profile attaches to be started in its sandbox.

    AppArmor checks the exec that attaches a profile against the caller's profile (here: none),
    so a stock profile need not grant `x` on its own program (usr.bin.passwd, dumpcap: `mr`
    only). The launcher execs the program inside the sandbox, so execute and read_file are
    granted on the resolved file, reported as approximated (wider: it may run itself again).
    A profile that attaches to no program (lsb_release's: entered by `Px -> lsb_release`) is
    the one `run -p P -- CMD` was told to put CMD in, as `aa-exec -p P -- CMD` does, whose
    exec AppArmor also checks against the caller: CMD is granted the same way. Not when the
    profile denies exec there, nor for a profile that attaches to other programs.
    """
    from stockade.enforce.plan.explain import LandlockModel
    from stockade.enforce.plan.types import FsRule
    from stockade.modules.apparmor.profiles import ProfileSet
    from stockade.policy import Perm

    exe = fsview.realpath(program)
    if not fsview.isfile(exe) or not pp.plan.handled_fs & ll.AccessFs.EXECUTE:
        return
    only = ProfileSet()
    only.add([profile])
    if profile.attachment and only.find_attachment(exe).profile is not profile:
        return
    if profile.file_perms(exe).deny & Perm.EXEC:
        return
    want = ll.AccessFs.EXECUTE | ll.AccessFs.READ_FILE
    have, _ = LandlockModel(pp.plan, pp.abi).granted(exe)
    if not want & ~have:
        return
    src = f"{profile.pos.file}:{profile.pos.line}"
    pp.plan.fs_rules.append(FsRule(exe, want, src))
    what = "attaches to" if profile.attachment else "is put on (it attaches to no program)"
    pp.coverage.add(f"profile {profile.name} {what} {exe}", APPROX,
                    "execute and read granted on it so that it can be started in the sandbox "
                    "(AppArmor checks that exec against the caller, not this profile): wider, "
                    "the program may run itself again", source=src, enforced_by="Landlock")
