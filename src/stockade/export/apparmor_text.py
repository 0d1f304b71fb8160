"""The `apparmor` export: one self-contained AppArmor profile text from the parse tree.

The compiler already did the work that makes a profile self-contained: includes are
inlined, conditionals decided, variables (including `@{profile_name}`) expanded and
qualifier blocks pushed into each rule. This module only writes each typed rule of the
`CompiledProfile` back in apparmor.d(5) syntax, nested children and hats included, with the
preamble the rules still need: the file's `abi` line and its `alias` rules.

Two spellings need care because apparmor_parser lexes text before it expands variables:
a path that an expanded variable makes start with `{` (e.g. `@{HOME}` → `{/home/*/,/root/}`)
is rewritten so it starts with `/` (`/{home/*/x,root/x}`), and values with spaces or
separators are quoted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from stockade.enforce.plan.types import CoverageStatus
from stockade.errors import StockadeError
from stockade.export import ExportInput, ExportResult, Losses, register
from stockade.policy import CompiledProfile, Perm, PolicyFile, ast, load

#: What `file,` parses to (the parser's spelling of "every file access, ix").
_BARE_FILE_PATH = "/{**,}"
_ALL_FILE = Perm.READ | Perm.WRITE | Perm.APPEND | Perm.LINK | Perm.LOCK | Perm.MMAP | Perm.EXEC
_NEEDS_QUOTES = re.compile(r'[\s"()=#]|^$')


#: stockade's own rule kinds, which AppArmor has no spelling for (left out, reported lost).
NOT_APPARMOR = frozenset({"syscall"})


@dataclass(frozen=True)
class AppArmorText:
    """The exported text, the names of its top-level profiles, the rules left out."""

    text: str
    profiles: tuple[str, ...]
    omitted: tuple[ast.Rule, ...] = ()


def _bare_comma(value: str) -> bool:
    depth = 0
    for ch in value:
        depth += (ch == "{") - (ch == "}")
        if ch == "," and depth <= 0:
            return True
    return False


def quote(value: str) -> str:
    """A value as apparmor_parser lexes it back: quoted when it has spaces or separators."""
    if _NEEDS_QUOTES.search(value) or _bare_comma(value):
        return '"' + value.replace('"', '\\"') + '"'
    return value


def _group_end(text: str, start: int) -> int:
    """Index just past the `}` closing the group that opens at `text[start]`."""
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        depth += (ch == "{") - (ch == "}")
        if depth == 0:
            return i + 1
        i += 1
    raise StockadeError(f"unbalanced '{{' in path {text!r}")


def _alternatives(group: str) -> list[str]:
    """`{a,b{c,d}}` -> ['a', 'b{c,d}']."""
    alts: list[str] = []
    depth, start, i = 0, 1, 0
    while i < len(group):
        ch = group[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "{}":
            depth += 1 if ch == "{" else -1
        elif ch == "," and depth == 1:
            alts.append(group[start:i])
            start = i + 1
        i += 1
    alts.append(group[start:-1])
    return alts


def _split_group(text: str) -> tuple[list[str], str]:
    """`{a,b{c,d}}rest` -> (['a', 'b{c,d}'], 'rest'); text starts with `{`."""
    end = _group_end(text, 0)
    return _alternatives(text[:end]), text[end:]


def fold_slashes(path: str) -> str:
    """Drop the `/` that doubles one before or after a group, in each alternative.

    This is what apparmor_parser does when it expands a variable whose values end in `/`
    before a `/` (`@{etc_ro}/x` with `/etc/ /usr/etc/` is `{/etc,/usr/etc}/x`), and the
    same after one (`/@{run}` is `/{run,var/run}`); the
    compiler's expansion keeps both slashes, which only the matcher folds.
    """
    out: list[str] = []
    i = 0
    while i < len(path):
        ch = path[i]
        if ch == "\\":
            out.append(path[i:i + 2])
            i += 2
            continue
        if ch != "{":
            out.append(ch)
            i += 1
            continue
        end = _group_end(path, i)
        alts = [fold_slashes(a) for a in _alternatives(path[i:end])]
        if path[end:end + 1] == "/":
            alts = [a[:-1] if a.endswith("/") else a for a in alts]
        if out and out[-1].endswith("/"):
            alts = [a[1:] if a.startswith("/") else a for a in alts]
        out.append("{" + ",".join(alts) + "}")
        i = end
    return "".join(out)


def rooted(path: str) -> str:
    """A path that starts with `{` rewritten to start with `/`, matching the same strings.

    Only the leading `/` moves (`{/etc,/usr/etc}/x` -> `/{etc,usr/etc}/x`, `{/usr,}/bin` ->
    `/{usr/,}bin`): apparmor_parser reads `/**` differently from `**` inside a group, so
    the text after the group is never distributed into it.
    """
    if not path.startswith("{"):
        return path
    alts, rest = _split_group(path)
    alts = [rooted(a) for a in alts]
    if all(a.startswith("/") for a in alts):
        return "/{" + ",".join(a[1:] for a in alts) + "}" + rest
    if rest.startswith("/") and all(a == "" or a.startswith("/") for a in alts):
        return "/{" + ",".join(a[1:] + "/" if a else "" for a in alts) + "}" + rest[1:]
    return path  # not an absolute path pattern: left for apparmor_parser to judge


def path_text(path: str) -> str:
    """A path pattern as apparmor_parser lexes it back: starts with `/`, doubled `/` folded,
    quoted when needed."""
    return quote(rooted(fold_slashes(path)))


_path = path_text


def _listed(value: str) -> str:
    """A value inside `( )`, where any comma separates: quoted when it has one."""
    return '"' + value.replace('"', '\\"') + '"' if "," in value else quote(value)


def _conds(conds: ast.Conds, *, nested: bool = False) -> list[str]:
    out = []
    for key, vals in conds.items():
        if len(vals) == 1:
            out.append(f"{key}={_listed(vals[0]) if nested else quote(vals[0])}")
        else:
            out.append(f"{key}=({' '.join(_listed(v) for v in vals)})")
    return out


def _peer(peer: ast.Conds) -> list[str]:
    return [f"peer=({' '.join(_conds(peer, nested=True))})"] if peer else []


def _access(access: Sequence[str]) -> list[str]:
    if not access:
        return []
    return [access[0]] if len(access) == 1 else [f"({' '.join(access)})"]


def file_mode(rule: ast.FileRule) -> str:
    """The mode letters of a file rule (`w` implies `a`, so `a` is dropped beside `w`)."""
    perms = rule.perms
    if perms & Perm.WRITE:
        perms &= ~Perm.APPEND
    letters = (perms & ~Perm.EXEC).letters()
    if perms & Perm.EXEC:
        letters += rule.exec_mode or "x"
    return letters


def _file(r: ast.FileRule) -> list[str]:
    if (r.path == _BARE_FILE_PATH and r.perms == _ALL_FILE and r.link_target is None
            and r.exec_target is None and r.exec_mode in (None, "ix")):
        return ["file"]
    words = [_path(r.path), file_mode(r)]
    target = r.exec_target or r.link_target
    if target is not None:
        words += ["->", _path(target) if r.link_target else quote(target)]
    return words


def _mount(r: ast.MountRule) -> list[str]:
    words = [r.operation]
    if r.options:
        words.append(f"options=({','.join(r.options)})")
    if r.fstype:
        words.append(f"fstype=({' '.join(quote(f) for f in r.fstype)})")
    if r.operation == "mount":
        if r.source is not None:
            words.append(_path(r.source) if r.source.startswith(("/", "{")) else quote(r.source))
        if r.mountpoint is not None:
            words += ["->", _path(r.mountpoint)]
    elif r.mountpoint is not None:
        words.append(_path(r.mountpoint))
    return words


def _network(r: ast.NetworkRule) -> list[str]:
    words = ["network", *_access(r.access)]
    words += [w for w in (r.family, r.sock_type, r.protocol) if w]
    return words + _conds(r.conds) + _peer(r.peer)


def _arrow(target: str | None) -> list[str]:
    return ["->", quote(target)] if target is not None else []


def _render_words(rule: ast.Rule) -> list[str]:
    if isinstance(rule, ast.FileRule):
        return _file(rule)
    if isinstance(rule, ast.LinkRule):
        return ["link", *(["subset"] if rule.subset else []), _path(rule.path), "->",
                _path(rule.target)]
    if isinstance(rule, ast.CapabilityRule):
        return ["capability", *rule.names]
    if isinstance(rule, ast.NetworkRule):
        return _network(rule)
    if isinstance(rule, ast.SignalRule):
        words = ["signal", *_access(rule.access)]
        if rule.signals:
            words.append(f"set=({' '.join(rule.signals)})")
        return words + ([f"peer={quote(rule.peer)}"] if rule.peer else [])
    if isinstance(rule, ast.PtraceRule):
        return ["ptrace", *_access(rule.access),
                *([f"peer={quote(rule.peer)}"] if rule.peer else [])]
    if isinstance(rule, ast.UnixRule | ast.DbusRule):
        return [rule.kind, *_access(rule.access), *_conds(rule.conds), *_peer(rule.peer)]
    if isinstance(rule, ast.MountRule):
        return _mount(rule)
    if isinstance(rule, ast.PivotRootRule):
        words = ["pivot_root"]
        if rule.oldroot:
            words.append(f"oldroot={_path(rule.oldroot)}")
        if rule.newroot:
            words.append(_path(rule.newroot))
        return words + _arrow(rule.target)
    if isinstance(rule, ast.ChangeProfileRule):
        words = ["change_profile", *([rule.exec_mode] if rule.exec_mode else [])]
        if rule.exec_path:
            words.append(_path(rule.exec_path))
        return words + _arrow(rule.target)
    if isinstance(rule, ast.RlimitRule):
        return ["set", "rlimit", rule.resource, "<=", rule.value]
    if isinstance(rule, ast.UsernsRule):
        return ["userns", *_access(rule.access)]
    if isinstance(rule, ast.IoUringRule):
        return ["io_uring", *rule.access, *([f"label={quote(rule.label)}"] if rule.label else [])]
    if isinstance(rule, ast.MqueueRule):
        words = ["mqueue", *_access(rule.access)]
        if rule.mqueue_type:
            words.append(f"type={rule.mqueue_type}")
        if rule.label:
            words.append(f"label={quote(rule.label)}")
        return words + ([quote(rule.name)] if rule.name else [])
    if isinstance(rule, ast.AllRule):
        return ["all"]
    raise StockadeError(f"{rule.pos}: no AppArmor spelling for a {rule.kind} rule")


def render_rule(rule: ast.Rule) -> str:
    """One rule as apparmor.d(5) text, qualifiers first, ending in a comma."""
    return " ".join([*rule.qualifiers.words(), *_render_words(rule)]) + ","


def _header(prof: CompiledProfile, parent: CompiledProfile | None) -> str:
    name = prof.name[len(parent.name) + 2:] if parent else prof.name
    if prof.is_hat:
        words = [f"^{name}" if not _NEEDS_QUOTES.search(name) else f"hat {quote(name)}"]
    else:
        words = ["profile", quote(name)]
        if prof.attachment is not None and not (parent is None and prof.attachment == name):
            words.append(_path(prof.attachment))
    if prof.xattrs:
        words.append(f"xattrs=({' '.join(_conds(prof.xattrs, nested=True))})")
    if prof.flags:
        words.append(f"flags=({','.join(prof.flags)})")
    return " ".join(words) + " {"


def render_profile(prof: CompiledProfile, parent: CompiledProfile | None = None,
                   indent: str = "", omitted: list[ast.Rule] | None = None) -> list[str]:
    """A profile with its rules, child profiles and hats, as lines; stockade-only rules
    are left out (appended to `omitted`)."""
    inner = indent + "  "
    lines = [indent + _header(prof, parent)]
    for rule in prof.rules:
        if rule.kind in NOT_APPARMOR:
            if omitted is not None:
                omitted.append(rule)
            continue
        lines.append(inner + render_rule(rule))
    for child in prof.children:
        lines.append("")
        lines += render_profile(child, prof, inner, omitted)
    lines.append(indent + "}")
    return lines


def _abi(nodes: Sequence[ast.Node]) -> ast.Abi | None:
    """The first `abi` statement of a file's preamble (through includes)."""
    for node in nodes:
        if isinstance(node, ast.Abi):
            return node
        if isinstance(node, ast.Include):
            for inc in node.files:
                found = _abi(inc.statements)
                if found:
                    return found
    return None


def flatten(pf: PolicyFile, profiles: Sequence[CompiledProfile]) -> AppArmorText:
    """The self-contained text of `profiles` (compiled from `pf`)."""
    lines = [f"# Exported by stockade from {pf.path}: includes, variables and conditionals "
             "resolved."]
    abi = _abi(pf.statements)
    if abi is not None:
        lines.append(f"abi <{abi.path}>," if not abi.path.startswith("/") else
                     f'abi "{abi.path}",')
    aliases = profiles[0].matcher.aliases if profiles else ()
    lines += [f"alias {_path(src)} -> {_path(dst)}," for src, dst in aliases]
    omitted: list[ast.Rule] = []
    for prof in profiles:
        lines.append("")
        lines += render_profile(prof, omitted=omitted)
    return AppArmorText("\n".join(lines) + "\n", tuple(p.name for p in profiles),
                        tuple(omitted))


def export_text(inp: ExportInput) -> AppArmorText:
    """The self-contained text of the profile of `inp` (with its children and hats)."""
    top = inp.profile
    if "//" in top.name:
        raise StockadeError(f"{top.name}: export the top-level profile (a child or hat is "
                            "exported with its parent)")
    pf = load(inp.path, inp.include_dirs) if inp.path else PolicyFile("<profile>", [])
    return flatten(pf, [top])


@register("apparmor", "one self-contained AppArmor profile (includes, variables and "
          "conditionals resolved) for hosts where AppArmor is the LSM")
def export_apparmor(inp: ExportInput) -> ExportResult:
    """Format `apparmor`: AppArmor enforces the profile as written, except stockade's own
    rules (`syscall`), which are left out and reported."""
    out = export_text(inp)
    losses = Losses("apparmor")
    for rule in out.omitted:
        losses.add(rule.text.strip() or render_rule(rule), CoverageStatus.NOT_ENFORCED,
                   f"AppArmor has no {rule.kind} rule (a stockade extension): left out",
                   source=str(rule.pos), enforced_by="stockade run, or the oci-seccomp format")
    return ExportResult(out.text, losses.entries, from_plan=False)
