"""Profiles -> CompiledProfile: variables expanded, includes inlined, file rules in one matcher.

`compile_profiles` walks the preamble (variables, booleans, aliases, tunables includes),
then each profile's body (rules, qualifier blocks, conditionals, abstractions includes,
hats and child profiles), expands variables in every rule, parses file patterns, checks
exec-mode conflicts as apparmor_parser does, and builds one `FileMatcher` per profile.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import re2

from stockade import fsview
from stockade.policy import ast
from stockade.policy import constants as c
from stockade.policy.aare import AareError, Pattern
from stockade.policy.aare import parse as parse_aare
from stockade.policy.aare import shapes as aare_shapes
from stockade.policy.errors import PolicyError, PolicySemanticError, PolicySyntaxError
from stockade.policy.exec_conflicts import first_exec_conflict
from stockade.policy.includes import Loader, load
from stockade.policy.limits import MAX_PATTERN_CHARS
from stockade.policy.matcher import FileEntry, FileMatcher, FilePerms
from stockade.policy.modes import Perm
from stockade.policy.variables import VariableError, Variables

_new = tuple.__new__


@dataclass(frozen=True)
class CapabilitySets:
    """Capability names allowed, denied, audited and quieted by a profile."""

    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()
    audit: frozenset[str] = frozenset()
    quiet: frozenset[str] = frozenset()

    @property
    def effective(self) -> frozenset[str]:
        """Allowed minus denied."""
        return self.allow - self.deny


#: the qualifiers of a rule outside any qualifier block (one, not one made per rule)
_NO_QUALIFIERS = ast.Qualifiers()


@dataclass
class CompiledProfile:
    """A profile ready for decisions: typed rules, one file matcher, children and hats."""

    name: str
    attachment: str | None
    flags: tuple[str, ...]
    mode: str
    source: str
    pos: ast.SourcePos
    is_hat: bool = False
    xattrs: ast.Conds = field(default_factory=dict)
    rules: list[ast.Rule] = field(default_factory=list)
    file_entries: list[FileEntry] = field(default_factory=list)
    capabilities: CapabilitySets = field(default_factory=CapabilitySets)
    children: list[CompiledProfile] = field(default_factory=list)
    matcher: FileMatcher = field(default_factory=lambda: FileMatcher([]), repr=False)
    #: `rules` by kind, for the `rules` list of that identity and length (rules are only
    #: ever appended to it; the plan asks 18 kinds of 100,000 rules)
    _kinds: tuple[list[ast.Rule], int, dict[str, list[Any]]] | None = field(
        default=None, init=False, repr=False, compare=False)

    @property
    def local_name(self) -> str:
        """The name without the parent prefix (`hat` for `parent//hat`)."""
        return self.name.rsplit("//", 1)[-1]

    @property
    def hats(self) -> list[CompiledProfile]:
        """Children declared as hats (`^name`, `hat name`)."""
        return [p for p in self.children if p.is_hat]

    def file_perms(self, path: str, *, is_dir: bool = False, owner: bool = True) -> FilePerms:
        """Permissions for a path; `owner` says whether the subject's fsuid owns the file."""
        return self.matcher.lookup(path, is_dir=is_dir, owner=owner)

    def allows(self, path: str, want: Perm, *, is_dir: bool = False, owner: bool = True) -> bool:
        """`file_perms(...).allows(want)`, uncached and without building the whole result
        (for many paths asked once each: FileMatcher.allowed)."""
        bits = int(want)
        return not (bits & ~self.matcher.allowed_within(path, bits, is_dir=is_dir, owner=owner))

    def rules_of(self, kind: str) -> list[Any]:
        """Rules of one kind ('file', 'network', 'dbus', ...) in source order."""
        index = self._kinds
        if index is None or index[0] is not self.rules or index[1] != len(self.rules):
            groups: dict[str, list[Any]] = {}
            for r in self.rules:
                groups.setdefault(r.kind, []).append(r)
            index = self._kinds = (self.rules, len(self.rules), groups)
        return list(index[2].get(kind, ()))

    @property
    def file_rules(self) -> list[ast.FileRule]:
        return self.rules_of("file")

    @property
    def link_rules(self) -> list[ast.LinkRule]:
        return self.rules_of("link")

    @property
    def network(self) -> list[ast.NetworkRule]:
        return self.rules_of("network")

    @property
    def signal(self) -> list[ast.SignalRule]:
        return self.rules_of("signal")

    @property
    def ptrace(self) -> list[ast.PtraceRule]:
        return self.rules_of("ptrace")

    @property
    def unix(self) -> list[ast.UnixRule]:
        return self.rules_of("unix")

    @property
    def dbus(self) -> list[ast.DbusRule]:
        return self.rules_of("dbus")

    @property
    def mount(self) -> list[ast.MountRule]:
        return self.rules_of("mount")

    @property
    def pivot_root(self) -> list[ast.PivotRootRule]:
        return self.rules_of("pivot_root")

    @property
    def change_profile(self) -> list[ast.ChangeProfileRule]:
        return self.rules_of("change_profile")

    @property
    def rlimit(self) -> list[ast.RlimitRule]:
        return self.rules_of("rlimit")

    @property
    def userns(self) -> list[ast.UsernsRule]:
        return self.rules_of("userns")

    @property
    def io_uring(self) -> list[ast.IoUringRule]:
        return self.rules_of("io_uring")

    @property
    def mqueue(self) -> list[ast.MqueueRule]:
        return self.rules_of("mqueue")

    @property
    def all_rules(self) -> list[ast.AllRule]:
        return self.rules_of("all")

    def rule_counts(self) -> dict[str, int]:
        """How many rules of each kind (this profile only, not children)."""
        out: dict[str, int] = {}
        for r in self.rules:
            out[r.kind] = out.get(r.kind, 0) + 1
        return out

    def walk(self) -> list[CompiledProfile]:
        """This profile and all its descendants, depth first."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def _mode_of(flags: Sequence[str]) -> str:
    for f in flags:
        if f in c.MODE_FLAGS:
            return f
    return "enforce"


@dataclass
class _State:
    rules: list[ast.Rule] = field(default_factory=list)
    children: list[tuple[ast.Profile, ast.PolicyFile]] = field(default_factory=list)
    included: set[str] = field(default_factory=set)


class _Compiler:
    def __init__(self) -> None:
        self.vars = Variables()
        self.aliases: list[tuple[str, str]] = []
        self.lines: dict[str, list[str]] = {}
        self._top_included: set[str] = set()

    # -- errors --------------------------------------------------------------------------
    def error(self, message: str, node: ast.Node, line: int | None = None,
              col: int | None = None) -> PolicyError:
        line = line or node.pos.line
        col = col or node.pos.col
        lines = self.lines.get(node.pos.file, [])
        src = lines[line - 1] if 0 < line <= len(lines) else None
        return PolicySemanticError(message, node.pos.file, line, col, src)

    def _var_error(self, err: VariableError, node: ast.Node, raw: str) -> PolicyError:
        import re

        m = re.search(r"[A-Za-z_][A-Za-z0-9_]*(?=, but| was| is)", str(err))
        needle = "@{" + m.group(0) + "}" if m else "@{"
        idx = node.text.find(needle)
        if idx < 0:
            return self.error(str(err), node)
        before = node.text[:idx]
        line = node.pos.line + before.count("\n")
        col = (node.pos.col + idx) if "\n" not in before else len(before.rsplit("\n", 1)[1]) + 1
        return self.error(str(err), node, line, col)

    def expand(self, text: str | None, node: ast.Node) -> str | None:
        if text is None or "@{" not in text:
            return text
        try:
            return self.vars.expand(text)
        except VariableError as err:
            raise self._var_error(err, node, text) from None

    # -- preamble ------------------------------------------------------------------------
    def preamble(self, nodes: Sequence[ast.Node], pf: ast.PolicyFile,
                 profiles: list[tuple[ast.Profile, ast.PolicyFile]]) -> None:
        self.lines.setdefault(pf.path, pf.lines)
        for node in nodes:
            if isinstance(node, ast.VarAssign):
                try:
                    self.vars.assign(node)
                except ValueError as err:
                    raise self.error(str(err), node) from None
            elif isinstance(node, ast.BoolAssign):
                try:
                    self.vars.assign_bool(node)
                except KeyError as err:
                    raise self.error(f"unknown boolean variable ${{{err.args[0]}}}",
                                     node) from None
                except ValueError as err:
                    raise self.error(str(err), node) from None
            elif isinstance(node, ast.Alias):
                src = self.expand(node.source, node) or node.source
                dst = self.expand(node.target, node) or node.target
                self.aliases.append((src, dst))
            elif isinstance(node, ast.Include):
                for inc in self._first_time(node.files, self._top_included):
                    self.preamble(inc.statements, inc, profiles)
            elif isinstance(node, ast.Profile):
                profiles.append((node, pf))
            elif isinstance(node, ast.Conditional):
                branch = node.body if self.evaluate(node) else node.else_body
                self.preamble(branch, pf, profiles)
            elif isinstance(node, ast.Rule | ast.QualifierBlock):
                raise self.error("rule outside of a profile (expected 'profile NAME {')", node)

    @staticmethod
    def _first_time(files: Sequence[ast.PolicyFile], seen: set[str]) -> list[ast.PolicyFile]:
        """The files not yet included in this scope (the top level, or one profile): a
        re-included file is skipped, as upstream's per-profile include cache does."""
        out = []
        for f in files:
            key = fsview.realpath(f.path) if not f.path.startswith("<") else f.path
            if key not in seen:
                seen.add(key)
                out.append(f)
        return out

    def evaluate(self, node: ast.Conditional) -> bool:
        try:
            return self.vars.evaluate(node.cond)
        except KeyError as err:
            raise self.error(f"unknown boolean variable ${{{err.args[0]}}}", node) from None
        except ValueError as err:
            raise self.error(str(err), node) from None

    # -- profiles ------------------------------------------------------------------------
    def unique_names(self, profiles: Sequence[tuple[ast.Profile, ast.PolicyFile]]) -> None:
        """Two profiles (or hats) of one name at one level are an error, as upstream's
        add_to_list/add_hat_to_policy ("... already exists")."""
        seen: set[str] = set()
        for node, _pf in profiles:
            name = self.expand(node.name, node) or node.name
            if name in seen:
                what = "Hat" if node.is_hat else "Profile"
                raise self.error(f"{what} {name} already exists", node)
            seen.add(name)

    def profile(self, node: ast.Profile, pf: ast.PolicyFile, parent: str | None,
                ) -> CompiledProfile:
        name = self.expand(node.name, node) or node.name
        full = f"{parent}//{name}" if parent else name
        attachment = self.expand(node.attachment, node)
        if attachment is not None:
            try:  # the attachment is a pattern like a file rule's path (parser_regex.c)
                parse_aare(attachment)
            except AareError as err:
                raise self.error(f"bad attachment '{attachment}': {err}", node) from None
        if attachment is None and not node.is_hat and name.startswith("/") and not parent:
            attachment = name
        self.vars.set_profile_builtins(full, attachment)
        state = _State()
        self.body(node.body, pf, ast.Qualifiers(), state)
        prof = CompiledProfile(
            name=full, attachment=attachment, flags=node.flags, mode=_mode_of(node.flags),
            source=pf.path, pos=node.pos, is_hat=node.is_hat, xattrs=dict(node.xattrs),
            rules=state.rules,
        )
        self.finish(prof)
        self.unique_names(state.children)
        for child, cpf in state.children:
            prof.children.append(self.profile(child, cpf, full))
        self.vars.set_profile_builtins(full, attachment)
        return prof

    def body(self, nodes: Sequence[ast.Node], pf: ast.PolicyFile, quals: ast.Qualifiers,
             state: _State) -> None:
        self.lines.setdefault(pf.path, pf.lines)
        for node in nodes:
            if isinstance(node, ast.Rule):
                state.rules.extend(self.rule(node, quals))
            elif isinstance(node, ast.QualifierBlock):
                merged = quals.merged(node.qualifiers)
                if merged.deny and merged.allow:
                    raise self.error("a rule cannot be both 'allow' and 'deny'", node)
                self.body(node.body, pf, merged, state)
            elif isinstance(node, ast.Include):
                for inc in self._first_time(node.files, state.included):
                    self.body(inc.statements, inc, quals, state)
            elif isinstance(node, ast.Conditional):
                branch = node.body if self.evaluate(node) else node.else_body
                self.body(branch, pf, quals, state)
            elif isinstance(node, ast.Profile):
                state.children.append((node, pf))
            elif isinstance(node, ast.VarAssign | ast.BoolAssign | ast.Alias):
                what = "alias" if isinstance(node, ast.Alias) else "variable assignment"
                raise self.error(f"{what} is not allowed inside a profile", node)

    def rule(self, node: ast.Rule, quals: ast.Qualifiers) -> list[ast.Rule]:
        q = quals.merged(node.qualifiers) if quals != _NO_QUALIFIERS else node.qualifiers
        changes: dict[str, Any] = {}
        if "@{" in node.text or not node.text:  # text without `@{`: nothing to expand
            changes = self._expanded_fields(node)
        if q is not node.qualifiers:
            changes["qualifiers"] = q
        return [dataclasses.replace(node, **changes) if changes else node]

    def _expanded_fields(self, node: ast.Rule) -> dict[str, Any]:
        """The fields of `node` that name variables, expanded."""
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(node):
            if f.name in ("pos", "text", "qualifiers"):
                continue
            val = getattr(node, f.name)
            if isinstance(val, str) and "@{" in val:
                changes[f.name] = self.expand(val, node)
            elif isinstance(val, tuple) and any(isinstance(v, str) and "@{" in v for v in val):
                changes[f.name] = tuple(self.expand(v, node) for v in val)
            elif isinstance(val, dict) and any("@{" in v for vs in val.values() for v in vs):
                changes[f.name] = {k: tuple(self.expand(v, node) or "" for v in vs)
                                   for k, vs in val.items()}
        return changes

    # -- per-profile compilation ---------------------------------------------------------
    def pattern(self, text: str, rule: ast.Rule, col: int = 0) -> Pattern:
        if len(text) > MAX_PATTERN_CHARS:
            raise self.error(f"pattern too long ({len(text)} characters; the limit is "
                             f"{MAX_PATTERN_CHARS})", rule, col=col or None)
        try:
            return aare_shapes.parse(text)
        except AareError as err:
            shown = text if len(text) <= 120 else f"{text[:100]}...({len(text)} characters)"
            raise self.error(f"bad pattern '{shown}': {err}", rule, col=col or None) from None

    def finish(self, prof: CompiledProfile) -> None:
        entries: list[FileEntry] = []
        cap_allow: set[str] = set()
        cap_deny: set[str] = set()
        cap_audit: set[str] = set()
        cap_quiet: set[str] = set()
        for rule in prof.rules:
            q = rule.qualifiers
            if isinstance(rule, ast.FileRule):
                # FileEntry's fields in order, made as the tuple it is: its __new__ with
                # keywords took 0.84 µs (100,000 rules: 0.07 s; tests/policy/test_file_entries.py
                # checks each field by name)
                entries.append(_new(FileEntry, (
                    rule, self.pattern(rule.path, rule, rule.path_col), rule.perms, q.deny,
                    q.audit, q.quiet, q.owner, q.other, q.priority,
                    None if q.deny else rule.exec_mode, rule.exec_target)))
            elif isinstance(rule, ast.LinkRule):
                entries.append(FileEntry(
                    rule=rule, pattern=self.pattern(rule.path, rule),  # type: ignore[arg-type]
                    perms=Perm.LINK, deny=q.deny, audit=q.audit, quiet=q.quiet,
                    owner=q.owner, other=q.other, priority=q.priority, exec_mode=None,
                    exec_target=None))
                self.pattern(rule.target, rule)
            elif isinstance(rule, ast.CapabilityRule):
                names = set(rule.names or c.CAPABILITIES)
                (cap_deny if q.deny else cap_allow).update(names)
                if q.audit:
                    cap_audit.update(names)
                elif q.deny or q.quiet:
                    cap_quiet.update(names)
        check_exec_conflicts(entries, self)
        prof.file_entries = entries
        try:
            prof.matcher = FileMatcher(entries, aliases=self.aliases)
        except re2.error:  # past RE2's memory bound (max_mem): an error, not a crash
            raise PolicySemanticError(
                f"the file rules of profile {prof.name[:100]} are too large to compile",
                prof.pos.file, prof.pos.line, prof.pos.col) from None
        prof.capabilities = CapabilitySets(frozenset(cap_allow), frozenset(cap_deny),
                                           frozenset(cap_audit), frozenset(cap_quiet))


def check_exec_conflicts(entries: Sequence[FileEntry], comp: _Compiler) -> None:
    """Reject overlapping allow rules whose exec modes differ, as apparmor_parser does
    (policy/exec_conflicts.py)."""
    pair = first_exec_conflict(entries)
    if pair is not None:
        a, b = pair
        where = f"{a.rule.pos.file}:{a.rule.pos.line}"
        raise comp.error(
            f"profile has merged rule with conflicting x modifiers: "
            f"'{b.rule.text.strip()}' overlaps '{a.rule.text.strip()}' at {where}",
            b.rule)


def compile_profiles(source: ast.PolicyFile | str | os.PathLike[str],
                     include_dirs: Sequence[str] = (), *,
                     loader: Loader | None = None) -> list[CompiledProfile]:
    """Compile every top-level profile (with its hats and children) of a file or text."""
    try:
        pf = source if isinstance(source, ast.PolicyFile) else load(
            source, include_dirs, loader=loader)
        comp = _Compiler()
        profiles: list[tuple[ast.Profile, ast.PolicyFile]] = []
        comp.preamble(pf.statements, pf, profiles)
        comp.unique_names(profiles)
        return [comp.profile(p, ppf, None) for p, ppf in profiles]
    except RecursionError:  # the limits (policy/limits.py) should make this unreachable
        name = source.path if isinstance(source, ast.PolicyFile) else str(source)[:200]
        raise PolicySyntaxError("nested too deeply to compile", name) from None
