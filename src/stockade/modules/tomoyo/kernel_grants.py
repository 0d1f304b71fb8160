"""What the kernel layer (Landlock) must grant so that a TOMOYO policy can be enforced under
the supervisor without --ro/--rx flags.

Every system call that reaches a TOMOYO file hook (open*, creat, mknod*, mkdir*, unlink*,
rmdir, rename*, link*, symlink*, chmod*, chown*) is routed to the supervisor, which performs
the call itself after the decision (docs/supervisor.md): for the Landlock rights only those
calls exercise (`EMULATED`: read, write, make, remove, refer) the exact check is TOMOYO's,
and Landlock grants them beneath `/`. Three rights are exercised by calls the supervisor lets
the kernel perform, so Landlock must carry the policy itself for them, as the union over
every domain the program can reach by exec from its first domain:

* EXECUTE: exec is decided and then continued; granted on each `file execute` name (on the
  directory that holds a pattern's first wildcard) and on the loaders the kernel opens for
  an exec (ELF interpreter, `#!` interpreter), which TOMOYO does not check;
* TRUNCATE: truncate(2)/ftruncate(2) are not routed (TOMOYO's `truncate` is not modelled);
  granted where the policy allows write, append or truncate;
* IOCTL_DEV: ioctl(2) is not routed; granted where the policy allows ioctl.

Landlock cannot tell domains apart nor express wildcards: for those three rights the kernel
layer is the coarser union. A reachable domain that does not enforce every file operation
(learning, permissive, disabled) makes the kernel layer grant everything (`everything`).
Rights are Landlock's access names (enforce/landlock.py's AccessFs members), so that this
module stays free of the kernel bindings.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field

from stockade.modules.tomoyo.domain import aggregate, next_domain, preferred_domain
from stockade.modules.tomoyo.match import const_len
from stockade.modules.tomoyo.policy import MAC_KEYWORDS, Domain, Policy
from stockade.modules.tomoyo.syntax import FILE_OPS, SHAPE_ARGS, Acl
from stockade.modules.tomoyo.words import decode_name, is_patterned

_REACH_LIMIT = 512
EMULATED = frozenset({"READ_FILE", "READ_DIR", "WRITE_FILE", "REMOVE_DIR", "REMOVE_FILE",
                      "MAKE_CHAR", "MAKE_DIR", "MAKE_REG", "MAKE_SOCK", "MAKE_FIFO",
                      "MAKE_BLOCK", "MAKE_SYM", "REFER"})
#: file operations that add, remove or replace a name (or mount over one)
NAME_OPS = frozenset({"create", "unlink", "mkdir", "rmdir", "mkfifo", "mksock", "symlink",
                      "rename", "link", "mkblock", "mkchar", "mount", "unmount", "pivot_root"})
FILE_INDEXES = tuple(k for k, v in MAC_KEYWORDS.items() if v == "file")


@dataclass
class Grants:
    """Landlock rules (path, rights, source ACL), TCP ports, and whether everything must be
    granted; `notes` say where the kernel layer is coarser than the policy."""

    rules: list[tuple[str, frozenset[str], str]] = field(default_factory=list)
    connect_tcp: set[int] = field(default_factory=set)
    bind_tcp: set[int] = field(default_factory=set)
    everything: bool = False
    domains: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: directories beneath which a reachable domain may change names (create, unlink, rename,
    #: link, mount...): an exec's name there can be swapped
    changes: list[str] = field(default_factory=list)


def literal_dir(name: str) -> str | None:
    """The filesystem path a TOMOYO name stands for, cut at the directory that holds its
    first wildcard; None for names with no absolute place (relative, `\\*:/...`)."""
    if name.startswith("proc:/"):
        return "/proc"
    if name.startswith("devpts:/"):
        return "/dev/pts"
    if not name.startswith("/"):
        return None
    if is_patterned(name):
        name = name[:name.rfind("/", 0, const_len(name) + 1) + 1] or "/"
    path = os.fsdecode(decode_name(name))
    return path.rstrip("/") or "/"


def _changed_dir(name: str) -> str:
    """The directory beneath which a file ACL on `name` can change names ("/" when unsure)."""
    path = literal_dir(name)
    if path is None:
        return "/"
    return path if is_patterned(name) else os.path.dirname(path) or "/"


def _enforcing_files(policy: Policy, domain: Domain) -> bool:
    prof = policy.profile(domain.profile)
    return prof is not None and all(prof.mode(i) == "enforcing" for i in FILE_INDEXES)


def _acls(policy: Policy, domain: Domain) -> list[Acl]:
    return [*domain.acls, *policy.group_acls(domain)]


def reachable(policy: Policy, first: str) -> list[Domain]:
    """The domains a task in `first` can reach by exec (auto-created ones inherit their
    parent's profile and group, as the kernel creates them)."""
    start = policy.domains.get(first)
    if start is None:
        return []
    seen = {first: start}
    queue = deque([start])
    while queue and len(seen) < _REACH_LIMIT:
        domain = queue.popleft()
        for acl in _acls(policy, domain):
            if acl.kind != "file" or "execute" not in acl.perms:
                continue
            for name in policy.path_groups.get(acl.args[0][1:], []) \
                    if acl.args[0].startswith("@") else [acl.args[0]]:
                # the ACL's name (pattern, group member) is the candidate, as matched_path
                target = (preferred_domain(domain.name, name, acl.transit) if acl.transit
                          else next_domain(policy, domain.name, name)).domain
                if target in seen:
                    continue
                found = policy.domains.get(target) or Domain(target, domain.profile,
                                                             domain.groups)
                seen[target] = found
                queue.append(found)
    return list(seen.values())


def _rights(acl: Acl, names: list[str]) -> list[tuple[str, frozenset[str]]]:
    """The rights the kernel performs for `acl` (EXECUTE, TRUNCATE, IOCTL_DEV) and where."""
    out: list[tuple[str, frozenset[str]]] = []
    for op in acl.perms:
        if op not in ("execute", "write", "append", "truncate", "ioctl"):
            continue
        name = names[0] if names else ""
        place = literal_dir(name)
        if place is None:
            continue
        if op == "execute":
            out.append((place, frozenset({"EXECUTE"})))
            for loader in loaders(place) if not is_patterned(name) else ():
                out.append((loader, frozenset({"EXECUTE", "READ_FILE"})))
        elif op == "ioctl":
            out.append((place, frozenset({"IOCTL_DEV"})))
        else:
            out.append((place, frozenset({"TRUNCATE"})))
    return out


def _ports(policy: Policy, text: str, grants: Grants) -> set[int]:
    texts = policy.number_groups.get(text[1:], []) if text.startswith("@") else [text]
    ports: set[int] = set()
    for t in texts:
        low, _, high = t.partition("-")
        try:
            a, b = int(low, 0), int(high or low, 0)
        except ValueError:
            continue
        if b - a > 256:
            grants.notes.append(f"port range {t} is not granted by Landlock (over 256 ports)")
            continue
        ports.update(p for p in range(a, b + 1) if 0 <= p <= 65535)
    return ports


def loaders(path: str, depth: int = 0) -> list[str]:
    """What the kernel opens for execution besides `path` itself when it is executed: an ELF
    program's interpreter (PT_INTERP), a script's `#!` interpreter (and its own). TOMOYO does
    not check these (its file_open hook skips opens made inside execve), Landlock does.
    Symbolic links are resolved (Landlock rules name inodes)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head.startswith(b"#!") and depth < 4:
                line = (head + f.read(192)).split(b"\n", 1)[0][2:].strip().split()
                if not line:
                    return []
                interp = os.path.realpath(os.fsdecode(line[0]))
                return [interp, *loaders(interp, depth + 1)]
            if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit ELF only
                return []
            phoff = int.from_bytes(head[32:40], "little")
            phentsize = int.from_bytes(head[54:56], "little")
            phnum = int.from_bytes(head[56:58], "little")
            f.seek(phoff)
            table = f.read(phentsize * phnum)
            for i in range(phnum):
                entry = table[i * phentsize:(i + 1) * phentsize]
                if int.from_bytes(entry[0:4], "little") == 3:  # PT_INTERP
                    offset = int.from_bytes(entry[8:16], "little")
                    size = int.from_bytes(entry[32:40], "little")
                    f.seek(offset)
                    return [os.path.realpath(os.fsdecode(f.read(size).rstrip(b"\0")))]
    except (OSError, IndexError, ValueError):
        return []
    return []


def first_domain(policy: Policy, program: str) -> str:
    """The domain an exec of `program` (an encoded name) from `<kernel>` enters."""
    return next_domain(policy, "<kernel>", aggregate(policy, program)).domain


def kernel_grants(policy: Policy, first: str, program: str = "") -> Grants:
    """The Landlock grants for a program whose first domain is `first`."""
    grants = Grants()
    if program:
        grants.rules.append((program, frozenset({"EXECUTE", "READ_FILE"}), "the program"))
        for loader in loaders(program):
            grants.rules.append((loader, frozenset({"EXECUTE", "READ_FILE"}),
                                 f"the loader of {program}"))
    for domain in reachable(policy, first):
        grants.domains.append(domain.name)
        if not _enforcing_files(policy, domain):
            grants.everything = True
            grants.notes.append(f"{domain.name} does not enforce every file operation "
                                "(profile mode): the kernel layer grants everything")
        for acl in _acls(policy, domain):
            if acl.kind == "file":
                count = SHAPE_ARGS[FILE_OPS[acl.perms[0]]][0]
                names = [m for a in acl.args[:count]
                         for m in (policy.path_groups.get(a[1:], []) if a.startswith("@")
                                   else [a])]
                for path, rights in _rights(acl, names[:1]):
                    grants.rules.append((path, rights, acl.text))
                if acl.perms[0] in NAME_OPS:
                    grants.changes += [_changed_dir(n) for n in names]
            elif acl.kind == "network inet" and acl.proto == "stream" and len(acl.args) > 1:
                ports = _ports(policy, acl.args[1], grants)
                if "connect" in acl.perms:
                    grants.connect_tcp |= ports
                if "bind" in acl.perms:
                    grants.bind_tcp |= ports
    return grants
