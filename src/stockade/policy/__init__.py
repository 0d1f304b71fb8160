"""The AppArmor-compatible profile language: parser, includes, variables, globs, matcher, lint.

Public API (everything else in this package is internal):

- `load(path_or_text, include_dirs=()) -> PolicyFile`: parse a file (or text) and follow its
  includes (search: `include_dirs`, /etc/apparmor.d, stockade's bundled abstractions).
- `compile_profiles(path_or_text_or_PolicyFile, include_dirs=()) -> list[CompiledProfile]`:
  expand variables, inline includes, compile each profile's file rules into one matcher.
- `CompiledProfile`: `name`, `attachment`, `flags`, `mode`, `source`, `pos`, `children`,
  `hats`, `rules` (every rule in source order, each with `kind`, `pos`, `text`),
  `file_perms(path, *, is_dir=False, owner=True) -> FilePerms`, `capabilities`
  (`CapabilitySets`), typed rule lists (`network`, `signal`, `ptrace`, `unix`, `dbus`,
  `mount`, `pivot_root`, `change_profile`, `rlimit`, `userns`, `io_uring`, `mqueue`,
  `link_rules`, `all_rules`), `rules_of(kind)`, `rule_counts()`, `walk()`.
- `FilePerms`: `allow`, `deny`, `audit`, `quiet` (`Perm` masks over r w a l k m x),
  `exec_mode`, `exec_target`, `rules`, `allows(perm)`.
- `lint(compiled) -> list[LintWarning]` (`Warning` is an alias).
- `check(paths, include_dirs=()) -> CheckReport`: what `stockade check` runs.
- Errors: `PolicyError` (a `StockadeError` with `file`, `line`, `col`, `message`,
  `caret()`), subclasses `PolicySyntaxError`, `PolicySemanticError`, `IncludeError`.
"""

from __future__ import annotations

import sys
import types

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a plan cache hit)
if TYPE_CHECKING:
    from typing import Any

    from stockade.policy.ast import (
        AllRule,
        CapabilityRule,
        ChangeProfileRule,
        DbusRule,
        FileRule,
        IoUringRule,
        LinkRule,
        MountRule,
        MqueueRule,
        NetworkRule,
        PivotRootRule,
        PolicyFile,
        PtraceRule,
        Qualifiers,
        RlimitRule,
        Rule,
        SignalRule,
        SourcePos,
        SyscallRule,
        UnixRule,
        UsernsRule,
    )
    from stockade.policy.checker import CheckReport, check
    from stockade.policy.compiler import CapabilitySets, CompiledProfile, compile_profiles
    from stockade.policy.errors import (
        IncludeError,
        PolicyError,
        PolicySemanticError,
        PolicySyntaxError,
    )
    from stockade.policy.includes import Loader, load
    from stockade.policy.lint import LintWarning, lint
    from stockade.policy.matcher import FilePerms
    from stockade.policy.modes import Perm

    Warning = LintWarning  # the name the public API promises (shadows the builtin here only)

# The public names are loaded when first asked for (PEP 562): importing one submodule, such
# as `aare` for a plan cache hit's own-/proc rules, does not load the parser, the compiler and
# the checker (about 20 ms). (name -> (submodule, attribute))
_LAZY: dict[str, tuple[str, str]] = {
    **{n: ("ast", n) for n in (
        "AllRule", "CapabilityRule", "ChangeProfileRule", "DbusRule", "FileRule", "IoUringRule",
        "LinkRule", "MountRule", "MqueueRule", "NetworkRule", "PivotRootRule", "PolicyFile",
        "PtraceRule", "Qualifiers", "RlimitRule", "Rule", "SignalRule", "SourcePos",
        "SyscallRule", "UnixRule", "UsernsRule")},
    "CheckReport": ("checker", "CheckReport"), "check": ("checker", "check"),
    "CapabilitySets": ("compiler", "CapabilitySets"),
    "CompiledProfile": ("compiler", "CompiledProfile"),
    "compile_profiles": ("compiler", "compile_profiles"),
    **{n: ("errors", n) for n in (
        "IncludeError", "PolicyError", "PolicySemanticError", "PolicySyntaxError")},
    "Loader": ("includes", "Loader"), "load": ("includes", "load"),
    "LintWarning": ("lint", "LintWarning"), "lint": ("lint", "lint"),
    "Warning": ("lint", "LintWarning"),
    "FilePerms": ("matcher", "FilePerms"), "Perm": ("modes", "Perm"),
}


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = f"{__name__}.{where[0]}"
    __import__(module)  # not importlib.import_module: a run need not load importlib
    value = getattr(sys.modules[module], where[1])
    setattr(sys.modules[__name__], name, value)
    return value


class _Package(types.ModuleType):
    """Keeps a public name that is also a submodule's (`lint`) bound to what it was bound to
    when this package imported everything at once: the function, not the submodule (the
    import system binds a submodule to its package's attribute when it loads it)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _LAZY and _LAZY[name][0] == name:
            super().__setattr__(name, getattr(value, _LAZY[name][1]))
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = [
    "AllRule", "CapabilityRule", "CapabilitySets", "ChangeProfileRule", "CheckReport",
    "CompiledProfile", "DbusRule", "FilePerms", "FileRule", "IncludeError", "IoUringRule",
    "LinkRule", "LintWarning", "Loader", "MountRule", "MqueueRule", "NetworkRule", "Perm",
    "PivotRootRule", "PolicyError", "PolicyFile", "PolicySemanticError", "PolicySyntaxError",
    "PtraceRule", "Qualifiers", "RlimitRule", "Rule", "SignalRule", "SourcePos",
    "SyscallRule", "UnixRule", "UsernsRule", "Warning", "check", "compile_profiles", "lint", "load",
]
