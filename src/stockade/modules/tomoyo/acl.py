"""Requests as TOMOYO sees them (`Access`), and the search of a domain's ACLs and its ACL
group for one that grants them, conditions included (security/tomoyo/file.c, network.c,
environ.c, condition.c)."""

from __future__ import annotations

import ipaddress
import stat
from dataclasses import dataclass, field
from functools import lru_cache

from stockade.lsm.types import Object, Subject
from stockade.modules.tomoyo.match import const_len, path_matches_pattern
from stockade.modules.tomoyo.policy import Domain, Policy
from stockade.modules.tomoyo.syntax import Acl, Condition, tool_ulong
from stockade.modules.tomoyo.words import is_patterned

# path1.type values and mode bits, as condition.c names them
TYPE_KEYWORDS = {"socket": stat.S_IFSOCK, "symlink": stat.S_IFLNK, "file": stat.S_IFREG,
                 "block": stat.S_IFBLK, "directory": stat.S_IFDIR, "char": stat.S_IFCHR,
                 "fifo": stat.S_IFIFO}
MODE_KEYWORDS = {"setuid": 0o4000, "setgid": 0o2000, "sticky": 0o1000, "owner_read": 0o400,
                 "owner_write": 0o200, "owner_execute": 0o100, "group_read": 0o40,
                 "group_write": 0o20, "group_execute": 0o10, "others_read": 0o4,
                 "others_write": 0o2, "others_execute": 0o1}
FILE_TYPE_NAMES = {v: k for k, v in TYPE_KEYWORDS.items()}
FILE_TYPE_NAMES[stat.S_IFDIR] = "directory"


@dataclass(frozen=True)
class Access:
    """One request in TOMOYO's terms: the MAC index deciding its mode (`open`, `execute`,
    `inet_stream_connect`, `env`, ...), the category and operation, names (encoded),
    numbers, network protocol, address and port, and what conditions may look at."""

    index: str
    kind: str
    op: str
    names: tuple[str, ...] = ()
    numbers: tuple[int, ...] = ()
    proto: str = ""
    address: str = ""
    port: int = 0
    subject: Subject | None = None
    path1: Object | None = None
    path2: Object | None = None
    argv: tuple[str, ...] | None = None
    envp: tuple[tuple[str, str], ...] | None = None
    realpath: str = ""
    number_formats: tuple[str, ...] = field(default=())

    def line(self) -> str:
        """The ACL line TOMOYO logs and learns for this request."""
        if self.kind == "file":
            nums = [fmt % n if fmt else str(n)
                    for n, fmt in zip(self.numbers, self.number_formats or
                                      ("",) * len(self.numbers), strict=True)]
            return " ".join(["file", self.op, *self.names, *nums])
        if self.kind == "network inet":
            return f"network inet {self.proto} {self.op} {self.address} {self.port}"
        if self.kind == "network unix":
            return f"network unix {self.proto} {self.op} {self.names[0]}"
        return f"misc env {self.names[0]}"


@lru_cache(maxsize=4096)
def _range(text: str) -> tuple[int, int] | None:
    first = tool_ulong(text)
    if first is None:
        return None
    low, rest = first
    if not rest:
        return low, low
    second = tool_ulong(rest[1:]) if rest.startswith("-") else None
    return (low, second[0]) if second is not None and not second[1] else None


def name_matches(policy: Policy, name: str, arg: str) -> str | None:
    """The pattern (or group member) `arg` that matches `name`, or None."""
    if arg.startswith("@"):
        for member in policy.path_groups.get(arg[1:], ()):
            if path_matches_pattern(name, member):
                return member
        return None
    return arg if path_matches_pattern(name, arg) else None


def number_matches(policy: Policy, value: int, arg: str) -> bool:
    """`arg` (a number, a range or @number_group) contains `value`."""
    texts = policy.number_groups.get(arg[1:], []) if arg.startswith("@") else [arg]
    for text in texts:
        bounds = _range(text)
        if bounds is not None and bounds[0] <= value <= bounds[1]:
            return True
    return False


def _address_range(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
    low, sep, high = text.partition("-")
    first = ipaddress.ip_address(low)
    return (first, ipaddress.ip_address(high) if sep else first)


def address_matches(policy: Policy, address: str, arg: str) -> bool:
    """`arg` (an address, a range or @address_group) contains `address`."""
    try:
        value = ipaddress.ip_address(address)
    except ValueError:
        return False
    for text in policy.address_groups.get(arg[1:], []) if arg.startswith("@") else [arg]:
        try:
            low, high = _address_range(text)
        except ValueError:
            continue
        if low.version == value.version and low <= value <= high:
            return True
    return False


# -- conditions -------------------------------------------------------------------------------

def _task_value(subject: Subject, key: str) -> int | None:
    if key == "ppid":
        return subject.ancestors[0] if subject.ancestors else None
    return getattr(subject, key, None) if key in ("uid", "euid", "suid", "fsuid", "gid",
                                                 "egid", "sgid", "fsgid", "pid") else None


def _object_value(obj: Object | None, key: str) -> int | None:
    if obj is None or not obj.exists:
        return None
    if key.startswith("parent."):
        return _object_value(obj.parent, key[7:]) if key[7:] in ("uid", "gid", "ino",
                                                                  "perm") else None
    values = {"uid": obj.uid, "gid": obj.gid, "ino": obj.ino, "perm": obj.mode & 0o7777,
              "type": stat.S_IFMT(obj.mode), "major": obj.dev >> 8 & 0xFFF,
              "minor": (obj.dev & 0xFF) | (obj.dev >> 12 & 0xFFF00)}
    return values.get(key)


def _value(access: Access, key: str) -> int | None:
    """A numeric condition operand: a task, path or exec attribute, or None if unknown."""
    if key.startswith("task.") and access.subject is not None:
        return _task_value(access.subject, key[5:])
    if key.startswith("path1."):
        return _object_value(access.path1, key[6:])
    if key.startswith("path2."):
        return _object_value(access.path2, key[6:])
    if key == "exec.argc" and access.argv is not None:
        return len(access.argv)
    if key == "exec.envc" and access.envp is not None:
        return len(access.envp)
    return None


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def condition_holds(policy: Policy, access: Access, cond: Condition) -> bool:
    """One condition; an operand the request does not carry makes it false (an ACL only
    grants: failing to evaluate a condition never grants more)."""
    left, right = cond.left, cond.right
    if left in ("grant_log", "auto_domain_transition"):
        return True  # not a filter
    result: bool | None
    if left.startswith("exec.argv["):
        index = tool_ulong(left[10:])
        if access.argv is None or index is None or index[0] >= len(access.argv):
            return False
        result = access.argv[index[0]] == _unquote(right)
    elif left.startswith('exec.envp["'):
        if access.envp is None:
            return False
        env = dict(access.envp)
        name = left[11:-2]
        result = (name not in env) if right == "NULL" else env.get(name) == _unquote(right)
    elif left == "exec.realpath":
        if not access.realpath:
            return False
        pattern = right if right.startswith("@") else _unquote(right)
        result = name_matches(policy, access.realpath, pattern) is not None
    elif left == "symlink.target":
        return False  # symlink targets are not carried by stockade's requests
    else:
        result = _numeric(policy, access, left, right)
        if result is None:
            return False
    return result != cond.negated


def _numeric(policy: Policy, access: Access, left: str, right: str) -> bool | None:
    value = _value(access, left)
    if value is None:
        bounds = _range(left)
        if bounds is None:
            return None
        value = bounds[0] if bounds[0] == bounds[1] else None
        if value is None:
            return None
    if right in TYPE_KEYWORDS:
        return value == TYPE_KEYWORDS[right]
    if right in MODE_KEYWORDS:
        return bool(value & MODE_KEYWORDS[right])
    if right.startswith("@"):
        return number_matches(policy, value, right)
    other = _value(access, right)
    if other is not None:
        return value == other
    bounds = _range(right)
    return None if bounds is None else bounds[0] <= value <= bounds[1]


# -- ACL search -------------------------------------------------------------------------------

def _args_match(policy: Policy, acl: Acl, access: Access) -> str | None:
    """The matched name (pattern) of the first path argument when `acl`'s arguments cover
    `access`, else None."""
    if acl.kind == "network inet":
        if acl.proto != access.proto or len(acl.args) < 2:
            return None
        if not address_matches(policy, access.address, acl.args[0]) or \
                not number_matches(policy, access.port, acl.args[1]):
            return None
        return acl.args[0]
    if acl.kind == "network unix" and acl.proto != access.proto:
        return None
    if len(acl.args) != len(access.names) + len(access.numbers):
        return None
    matched = ""
    for i, name in enumerate(access.names):
        hit = name_matches(policy, name, acl.args[i])
        if hit is None:
            return None
        if i == 0:
            matched = hit
    for value, text in zip(access.numbers, acl.args[len(access.names):], strict=True):
        if not number_matches(policy, value, text):
            return None
    return matched


@dataclass(frozen=True, slots=True)
class Match:
    """The ACL that granted a request, and the name it matched (execute's candidate)."""

    acl: Acl
    matched: str
    conditional: bool


def _dir_prefix(pattern: str) -> str:
    """The literal part of `pattern` up to its last `/`: every name it matches starts with it
    (path_matches_pattern compares the literal prefix, or the whole name, first)."""
    literal = pattern[:const_len(pattern)] if is_patterned(pattern) else pattern
    return literal[:literal.rfind("/") + 1]


def _file_index(policy: Policy, acls: list[Acl]) -> dict[str, list[int]]:
    """Positions of `acls`' `file` ACLs by the directory prefix of their first name ("" for a
    group name), built once per list at its length (ACL lists only grow: parse, learning)."""
    cached = policy.acl_index.get(id(acls))
    if cached is not None and cached[0] is acls and cached[1] == len(acls):
        return cached[2]
    index: dict[str, list[int]] = {}
    for i, acl in enumerate(acls):
        if acl.kind == "file" and acl.args:
            first = acl.args[0]
            index.setdefault("" if first.startswith("@") else _dir_prefix(first), []).append(i)
    policy.acl_index[id(acls)] = (acls, len(acls), index)
    return index


def _candidates(policy: Policy, acls: list[Acl], access: Access) -> list[Acl]:
    """The ACLs of `acls` that can grant `access`, in order: for a file request only those
    whose first name's directory prefix is one of the name's (the reference monitor's hot
    path: a domain of 1,000 ACLs tries a handful)."""
    if access.kind != "file" or not access.names:
        return acls
    index = _file_index(policy, acls)
    name = access.names[0]
    found = list(index.get("", ()))
    slash = name.find("/")
    while slash >= 0:
        found.extend(index.get(name[:slash + 1], ()))
        slash = name.find("/", slash + 1)
    return [acls[i] for i in sorted(found)]


def find_acl(policy: Policy, domain: Domain, access: Access) -> Match | None:
    """The first ACL of the domain, then of its ACL groups, that grants `access`."""
    lists = [domain.acls, *(policy.acl_groups[g] for g in sorted(domain.groups)
                            if g in policy.acl_groups)]
    for acls in lists:
        for acl in _candidates(policy, acls, access):
            if acl.kind != access.kind or access.op not in acl.perms:
                continue
            matched = _args_match(policy, acl, access)
            if matched is None:
                continue
            if all(condition_holds(policy, access, c) for c in acl.conditions):
                return Match(acl, matched, bool(acl.conditions))
    return None


def count_entries(domain: Domain) -> int:
    """What tomoyo_domain_quota_is_ok counts: one per permission bit of each ACL."""
    return sum(len(acl.perms) for acl in domain.acls)


def _numscan(text: str, head: str, tail: str = "") -> int:
    """How many digits follow `head` at the start of `text` (0: none, or not followed by
    `tail` when one is given)."""
    if not text.startswith(head):
        return 0
    rest = text[len(head):]
    width = len(rest) - len(rest.lstrip("0123456789"))
    if tail and rest[width:width + 1] != tail:
        return 0
    return width


def patternize(line: str) -> str:
    """The kernel's tomoyo_patternize_path for a learned `file` line: the first name with a
    `:` gets `pipe:[\\$]`, `socket:[\\$]`, `proc:/\\$` (not for pid 1), `/task/\\$`,
    `/fd/\\$`, `/fdinfo/\\$` where the numbers are volatile."""
    if not line.startswith("file ") or ":" not in line[5:]:
        return line
    colon = line.index(":", 5)
    start = line.rindex(" ", 0, colon) + 1
    head, cp = line[:start], line[start:]
    out: list[str] = [head]
    for prefix in ("pipe:[", "socket:["):
        width = _numscan(cp, prefix, "]")
        if width:
            return "".join(out) + prefix + "\\$" + cp[len(prefix) + width:]
    if cp.startswith("proc:/self"):
        out.append("proc:/self")
        cp = cp[10:]
    else:
        width = _numscan(cp, "proc:/")
        if not width:
            return line
        out.append("proc:/1" if cp[6:6 + width] == "1" else "proc:/\\$")
        cp = cp[6 + width:]
    width = _numscan(cp, "/task/")
    if width:
        out.append("/task/\\$")
        cp = cp[6 + width:]
    for part in ("/fd/", "/fdinfo/"):
        width = _numscan(cp, part)
        if width:
            out.append(part + "\\$")
            cp = cp[len(part) + width:]
            break
    return "".join(out) + cp
