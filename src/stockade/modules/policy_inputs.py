"""What a module stack reads its policy from: the files and directories its module options
name (`--module-option selinux.policy_paths=...`, `tomoyo.policy_dir=...`, ...), and the host's
SELinux policy where the stack takes it.

Every later run with the same options reads them again, as every `run -p` reads its profile's
inputs (ProfilePlan.inputs): `run` refuses a plan whose program could write one of them
(cli/run/exposure.py `refuse_code_exposure`, the same name test, enforce/own_code.py
`paths_exposure`); otherwise a program could widen the policy of every later run (red team 13).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

    from stockade.modules.stack_spec import StackSpec

#: per module, the options that name files or directories its policy is read from
PATH_OPTIONS: dict[str, tuple[str, ...]] = {
    "selinux": ("policy_paths",),
    "tomoyo": ("policy_dir",),
    "apparmor": ("profiles", "include_dirs"),
    "abac": ("policy_file",),
    "smack": ("rules_file",),
}


def _paths(value: Any) -> list[str]:
    """The file names in an option's value: a name, or a list of names (AppArmor's profile
    text, which holds no file name, is left out)."""
    from stockade.policy.includes import is_path

    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [os.path.abspath(v) for v in values if isinstance(v, str) and v and is_path(v)]


def stack_inputs(spec: StackSpec) -> list[str]:
    """The files and directories the modules of `spec` read their policy from (a directory
    counts with everything beneath it; TOMOYO's by its four policy files), and what
    AppArmor's profiles include."""
    out: list[str] = []
    for name in spec.names():
        settings = spec.settings.get(name, {})
        for option in PATH_OPTIONS.get(name, ()):
            found = _paths(settings.get(option))
            if name == "tomoyo":  # the directory's policy files, present or not (a grant
                # beside them, as on an out/ directory in it, changes none of them)
                from stockade.modules.tomoyo.policy import FILE_KINDS

                found = [os.path.join(d, kind) for d in found for kind in FILE_KINDS]
            out += found
        if name == "apparmor":
            out += _apparmor_includes(settings)
    return list(dict.fromkeys(out))


def _apparmor_includes(settings: dict[str, Any]) -> list[str]:
    """What AppArmor's profiles include, as `run -p`'s loader lists it (policy.includes.Loader
    .inputs: every file by the name it was asked through, every place an include was looked
    for, /etc/apparmor.d): the module reads its profiles with the same loader."""
    from stockade.policy.checker import profile_files
    from stockade.policy.includes import Loader, is_path

    profiles = settings.get("profiles") or []
    profiles = [profiles] if isinstance(profiles, str) else profiles
    dirs = settings.get("include_dirs") or []
    loader = Loader([dirs] if isinstance(dirs, str) else list(dirs),
                    system=settings.get("system_includes", True) is not False)
    for source in profiles if isinstance(profiles, list) else []:
        if not isinstance(source, str):
            continue  # the module refuses it when it is built
        if not is_path(source):
            loader.load_text(source)
        elif os.path.isdir(source):
            for path in profile_files([source]):
                loader.load_file(path)
        else:
            loader.load_file(source)
    return list(loader.inputs)


def run_inputs(lsm: str | None, options: list[str]) -> list[str]:
    """The policy inputs of the stack `run --lsm LSM --module-option ...` builds (the host's
    SELinux policy included where selinux is named without a policy)."""
    from stockade.modules.selinux.hostconfig import host_policy
    from stockade.modules.stack_spec import stack_spec

    spec = stack_spec(lsm, (), options, (), host_policy=host_policy())
    return stack_inputs(spec)
