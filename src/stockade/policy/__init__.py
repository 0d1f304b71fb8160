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

__all__ = [
    "AllRule", "CapabilityRule", "CapabilitySets", "ChangeProfileRule", "CheckReport",
    "CompiledProfile", "DbusRule", "FilePerms", "FileRule", "IncludeError", "IoUringRule",
    "LinkRule", "LintWarning", "Loader", "MountRule", "MqueueRule", "NetworkRule", "Perm",
    "PivotRootRule", "PolicyError", "PolicyFile", "PolicySemanticError", "PolicySyntaxError",
    "PtraceRule", "Qualifiers", "RlimitRule", "Rule", "SignalRule", "SourcePos",
    "SyscallRule", "UnixRule", "UsernsRule", "Warning", "check", "compile_profiles", "lint", "load",
]
