"""A TOMOYO domain's ACLs as an AppArmor-syntax profile, so that the kernel plan (Landlock +
seccomp) can enforce it with its coverage report.

Only what translates exactly is converted; the rest stays in the profile as a comment that
says why (fail closed: an ACL left out grants nothing):

* names: `\\*` → `*`, `\\?` → `?`, `\\+` → `[0-9]`, `\\x` → `[0-9a-fA-F]`, `\\a` → `[a-zA-Z]`,
  `/\\{\\*\\}/` → `/**/`; `\\@`, `\\$`, `\\X`, `\\A`, `\\-` and other repetitions have no AARE
  equivalent; `proc:/self/` → `@{PROC}/@{pid}/`, `proc:/` → `@{PROC}/`, `devpts:/` →
  `/dev/pts/`; relative and `\\*:/` names are not converted; `@groups` are expanded;
* read → r, write → w, append → a, create/mkdir/mkfifo/mksock/mkblock/mkchar/symlink/unlink/
  rmdir/truncate/chmod/chown/chgrp → w, rename → w on both names, link → a `link` rule,
  execute → `ix` (the child keeps this profile: TOMOYO would move it to its own domain;
  stockade runs under no_new_privs, where AppArmor refuses profile transitions anyway);
* added: the program's own exec (`ix`) and the loaders the kernel opens for an exec (ELF and
  `#!` interpreters, `mr`), which TOMOYO does not check but Landlock does;
* not converted: getattr, ioctl (not mediated by AppArmor 3), chroot, mount, unmount,
  pivot_root, network (AppArmor 3 has no address or port), misc env, task, and every ACL
  with conditions (a condition narrows an ACL; dropping it would widen it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stockade.errors import StockadeError
from stockade.modules.tomoyo.kernel_grants import loaders
from stockade.modules.tomoyo.policy import KERNEL, Domain, Policy
from stockade.modules.tomoyo.syntax import FILE_OPS, SHAPE_ARGS, Acl
from stockade.modules.tomoyo.words import decode_name, encode_name, is_patterned

_WRITE_OPS = frozenset({"write", "create", "mkdir", "mkfifo", "mksock", "mkblock", "mkchar",
                        "symlink", "unlink", "rmdir", "truncate", "chmod", "chown", "chgrp",
                        "rename"})
_LETTERS = {"read": "r", "append": "a", "execute": "ix"}
_EXACT = {"*": "*", "?": "?", "+": "[0-9]", "x": "[0-9a-fA-F]", "a": "[a-zA-Z]"}
_AARE_SPECIAL = set('*?[]{}^\\"#@,')


class NotConverted(Exception):
    """An ACL (or a name) with no exact AppArmor equivalent."""


def aare(name: str) -> str:
    """The AARE for a TOMOYO name; NotConverted when it has none."""
    if name.startswith("proc:/self/"):
        return "@{PROC}/@{pid}/" + aare("/" + name[11:])[1:]
    if name.startswith("proc:/"):
        return "@{PROC}/" + aare("/" + name[6:])[1:]
    if name.startswith("devpts:/"):
        return "/dev/pts/" + aare("/" + name[8:])[1:]
    if not name.startswith("/"):
        raise NotConverted(f"{name}: no absolute path")
    name = name.replace("/\\{\\*\\}/", "/\0/")  # one or more directories
    out: list[str] = []
    i = 0
    while i < len(name):
        c = name[i]
        if c == "\0":
            out.append("**")
            i += 1
            continue
        if c != "\\":
            out.append("\\" + c if c in _AARE_SPECIAL else c)
            i += 1
            continue
        nxt = name[i + 1:i + 2]
        if nxt in _EXACT:
            out.append(_EXACT[nxt])
            i += 2
        elif nxt == "\\":
            out.append("\\\\")
            i += 2
        elif re.fullmatch(r"[0-3][0-7]{2}", name[i + 1:i + 4]):
            char = decode_name(name[i:i + 4]).decode("latin-1")
            if char in "\n\r\x00":
                raise NotConverted(f"{name}: a {char!r} byte")
            out.append(char)
            i += 4
        else:
            raise NotConverted(f"{name}: \\{nxt} has no AppArmor equivalent")
    return "".join(out)


def _path(text: str) -> str:
    return f'"{text}"' if any(c in text for c in ' \t"') else text


@dataclass
class Conversion:
    """The profile text and what was left out (one line each)."""

    text: str
    skipped: list[str] = field(default_factory=list)


def _names(policy: Policy, arg: str) -> list[str]:
    return policy.path_groups.get(arg[1:], []) if arg.startswith("@") else [arg]


def _rules(policy: Policy, acl: Acl) -> list[str]:
    if acl.kind != "file":
        raise NotConverted(f"{acl.kind} has no exact AppArmor equivalent")
    if acl.conditions:
        raise NotConverted("conditions would be dropped")
    count = SHAPE_ARGS[FILE_OPS[acl.perms[0]]][0]
    out: list[str] = []
    for op in acl.perms:
        if op in ("getattr", "ioctl", "chroot", "mount", "unmount", "pivot_root"):
            raise NotConverted(f"{op} is not mediated by AppArmor 3 profiles here")
        if op == "link":
            for new in _names(policy, acl.args[1]):
                for old in _names(policy, acl.args[0]):
                    out.append(f"link {_path(aare(new))} -> {_path(aare(old))},")
            continue
        perm = "w" if op in _WRITE_OPS else _LETTERS[op]
        names = [n for a in acl.args[:count if op == "rename" else 1] for n in _names(policy, a)]
        for name in names:
            out.append(f"{_path(aare(name))} {perm},")
            if op == "execute" and not is_patterned(name):
                out += [f"{_path(aare(encode_name(x)))} mr," for x in loaders(aare(name))]
    return out


def profile_name(domain: str) -> str:
    """A profile name for a domain: `tomoyo` + its programs, `/` and `\\` made `_`."""
    programs = domain.split(" ")[1:] or ["kernel"]
    return "tomoyo" + re.sub(r"[^A-Za-z0-9._-]", "_", "_".join(programs))


def convert(policy: Policy, domain_name: str) -> Conversion:
    """The profile for one domain (its ACLs and its ACL group's)."""
    domain: Domain | None = policy.domains.get(domain_name)
    if domain is None:
        raise StockadeError(f"no domain {domain_name!r} in the policy")
    program = domain_name.rsplit(" ", 1)[-1]
    attach = f" {_path(aare(program))}" if program.startswith("/") and \
        not is_patterned(program) else ""
    lines = ["# converted from the TOMOYO domain", f"#   {domain_name}",
             "# by stockade import --from tomoyo: execute became ix, see docs/tomoyo.md",
             "include <tunables/global>", "",
             f"profile {profile_name(domain_name)}{attach} {{"]
    skipped: list[str] = []
    seen: set[str] = set()
    if attach:  # what the exec of the program itself opens (TOMOYO: the parent's business)
        lines.append(f"  {attach.strip()} ix,")
        seen.add(f"{attach.strip()} ix,")
        for loader in loaders(program):
            lines.append(f"  {_path(aare(encode_name(loader)))} mr,")
            seen.add(f"{_path(aare(encode_name(loader)))} mr,")
    for acl in [*domain.acls, *policy.group_acls(domain)]:
        try:
            rules = _rules(policy, acl)
        except NotConverted as why:
            skipped.append(f"{acl.text}  ({why})")
            lines.append(f"  # not converted ({why}): {acl.text}")
            continue
        for rule in rules:
            if rule not in seen:
                seen.add(rule)
                lines.append(f"  {rule}")
    lines.append("}")
    return Conversion("\n".join(lines) + "\n", skipped)


def default_domain(policy: Policy) -> str:
    """The one domain other than `<kernel>`; an error names them when there are several."""
    names = [n for n in policy.domains if n != KERNEL]
    if len(names) != 1:
        listed = ", ".join(names) or "none"
        raise StockadeError(f"choose a domain with --domain (the policy has: {listed})")
    return names[0]
