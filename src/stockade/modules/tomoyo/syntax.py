"""The grammar of TOMOYO 2.6 policy lines, checked as tomoyo-checkpolicy 2.6 checks them and
parsed into `Acl`/`Condition` values for the module.

Domain policy: `<kernel> /path ...` headers, `use_profile N`, `use_group N`, `quota_exceeded`,
`transition_failed`, and ACLs: `file OPS ...`, `network inet|unix PROTO OPS ...`,
`misc env NAME`, `task manual_domain_transition DOMAIN`, each followed by conditions.
Exception policy: `path_group`, `number_group`, `address_group`, `acl_group N ACL`,
`aggregator`, and the transition controls `[no_]initialize_domain`, `[no_]keep_domain`,
`[no_]reset_domain` (`PROGRAM|any [from DOMAIN|PROGRAM|any]`).

Where the kernel and the tool differ, this follows the tool (the issue's rule): numbers are
read as C's strtoul reads them (a sign is accepted), relative names are accepted where the
tool takes any word, extra words after a group member or an aggregator are ignored, and the
1.8/AKARI keywords the 2.6 tool rejects (`capability`, `ipc signal`, `deny_autobind`,
`task auto_execute_handler`, `file_pattern`, `alias`, ...) are errors.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from stockade.modules.tomoyo.words import correct_domain, correct_word, domain_def, split_domain

# file operations by argument shape; an ACL line combines operations of one shape only, and
# `execute` stands alone (it takes a domain-transition preference)
FILE_SHAPES: dict[str, tuple[str, ...]] = {
    "execute": ("execute",),
    "path": ("read", "write", "append", "unlink", "getattr", "rmdir", "truncate", "symlink",
             "chroot", "unmount"),
    "path2": ("link", "rename", "pivot_root"),
    "path_number": ("create", "mkdir", "mkfifo", "mksock", "ioctl", "chmod", "chown", "chgrp"),
    "mkdev": ("mkblock", "mkchar"),
    "mount": ("mount",),
}
FILE_OPS: dict[str, str] = {op: shape for shape, ops in FILE_SHAPES.items() for op in ops}
# (names, numbers) each shape takes
SHAPE_ARGS: dict[str, tuple[int, int]] = {
    "execute": (1, 0), "path": (1, 0), "path2": (2, 0), "path_number": (1, 1),
    "mkdev": (1, 3), "mount": (3, 1),
}
# network operations: bit 1 bind, 2 connection-oriented, 4 datagram
NET_OPS: dict[str, int] = {"bind": 1, "listen": 2, "connect": 2, "accept": 2, "send": 4}
NET_PROTOCOLS: dict[str, dict[str, int]] = {
    "inet": {"stream": 2, "dgram": 4, "raw": 4},
    "unix": {"stream": 2, "dgram": 4, "seqpacket": 2},
}
TRANSIT_KEYWORDS = frozenset({"keep", "child", "parent", "reset", "initialize"})
CONDITION_KEYWORDS = frozenset({
    "task.uid", "task.euid", "task.suid", "task.fsuid", "task.gid", "task.egid", "task.sgid",
    "task.fsgid", "task.pid", "task.ppid", "exec.argc", "exec.envc", "socket", "symlink",
    "file", "block", "directory", "char", "fifo", "setuid", "setgid", "sticky", "owner_read",
    "owner_write", "owner_execute", "group_read", "group_write", "group_execute",
    "others_read", "others_write", "others_execute", "exec.realpath", "symlink.target",
    *(f"path{n}.{k}" for n in (1, 2) for k in ("uid", "gid", "ino", "major", "minor", "perm",
                                               "type", "dev_major", "dev_minor")),
    *(f"path{n}.parent.{k}" for n in (1, 2) for k in ("uid", "gid", "ino", "perm")),
})
TRANSITION_CONTROLS = ("no_reset_domain", "reset_domain", "no_initialize_domain",
                       "initialize_domain", "no_keep_domain", "keep_domain")


class LineError(Exception):
    """A bad line: the tool's message and the index of the offending word."""

    def __init__(self, message: str, word: int) -> None:
        super().__init__(message)
        self.message = message
        self.word = word


def _bad(words: list[str], i: int) -> LineError:
    word = words[i] if i < len(words) else ""
    return LineError(f"'{word}' is a bad argument", i)


def _illegal(word: str, i: int) -> LineError:
    return LineError(f"'{word}' is an illegal condition", i)


@dataclass(frozen=True, slots=True)
class Condition:
    """`left=right` or `left!=right` after an ACL."""

    left: str
    negated: bool
    right: str

    def text(self) -> str:
        """As written in policy."""
        return f"{self.left}{'!=' if self.negated else '='}{self.right}"


@dataclass(frozen=True, slots=True)
class Acl:
    """One ACL: its category (`file`, `network inet`, `network unix`, `misc env`,
    `task manual_domain_transition`), operations, arguments as written, the execute
    transition preference, the network protocol, conditions, and its source line."""

    kind: str
    perms: tuple[str, ...]
    args: tuple[str, ...]
    transit: str = ""
    proto: str = ""
    conditions: tuple[Condition, ...] = ()
    text: str = ""
    line: int = 0
    file: str = ""


# -- numbers as the tool reads them (strtoul / sscanf) ------------------------------------------

_ULONG = (1 << 64) - 1


def c_strtoul(text: str, base: int) -> tuple[int, int]:
    """(value, characters consumed) as glibc strtoul(text, &end, base) gives them."""
    i = 0
    neg = False
    if i < len(text) and text[i] in "+-":
        neg = text[i] == "-"
        i += 1
    if base == 16 and text[i:i + 2].lower() == "0x" and text[i + 2:i + 3] and \
            text[i + 2] in "0123456789abcdefABCDEF":
        i += 2
    digits = "0123456789abcdef"[:base]
    start = i
    value = 0
    while i < len(text) and text[i].lower() in digits:
        value = value * base + int(text[i], 16)
        i += 1
    if i == start:
        return 0, 0
    value = min(value, _ULONG)
    return ((-value) & _ULONG if neg else value), i


def tool_ulong(text: str) -> tuple[int, str] | None:
    """The tools' tomoyo_parse_ulong: the base from the prefix, then strtoul; (value, rest)."""
    base, pos = 10, 0
    if text.startswith("0") and len(text) > 1:
        if text[1] in "xX":
            base, pos = 16, 2
        elif "0" <= text[1] <= "7":
            base, pos = 8, 1
    value, used = c_strtoul(text[pos:], base)
    if not used:
        return None
    return value, text[pos + used:]


def tool_range(text: str) -> bool:
    """A number or `min-max` with min <= max, as the tool's check_number_range."""
    first = tool_ulong(text)
    if first is None:
        return False
    low, rest = first
    if not rest:
        return True
    if rest[0] != "-":
        return False
    second = tool_ulong(rest[1:])
    return second is not None and not second[1] and low <= second[0]


def _scanf_u(text: str) -> int | None:
    """sscanf("%u"): leading digits with an optional sign, truncated to 32 bits."""
    value, used = c_strtoul(text, 10)
    return value & 0xFFFFFFFF if used else None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def address_ok(text: str) -> bool:
    """`@GROUP`, an IPv4/IPv6 address, or `min-max` of one family with min <= max."""
    if text.startswith("@"):
        return True
    low_text, sep, high_text = text.partition("-")
    low = _ip(low_text)
    high = _ip(high_text) if sep else low
    return low is not None and high is not None and low.version == high.version and low <= high


# -- conditions -------------------------------------------------------------------------------

def _quoted(value: str) -> bool:
    return len(value) >= 2 and value[0] == '"' and value[-1] == '"'


def parse_conditions(words: list[str], start: int) -> tuple[Condition, ...]:
    """The conditions in words[start:]; a LineError names the first bad one."""
    found: list[Condition] = []
    for i in range(start, len(words)):
        word = words[i]
        if not correct_word(word) or "=" not in word:
            raise _illegal(word, i)
        left, _, right = word.partition("=")
        negated = left.endswith("!")
        if negated:
            left = left[:-1]
        if left.startswith("exec.argv["):
            index = tool_ulong(left[10:])
            if index is None or index[1] != "]":
                raise _illegal(left[10:], i)
            if not _quoted(right):
                raise _illegal(right, i)
        elif left.startswith('exec.envp["'):
            if not left.endswith('"]') or len(left) < 13:
                raise _illegal(left, i)
            if right != "NULL" and not _quoted(right):
                raise _illegal(right, i)
        elif left == "auto_domain_transition":  # 1.8's, still let through by the 2.6 tool
            if not _quoted(right) or not (right[1:2] == "/" or domain_def(right[1:-1])):
                raise _illegal(right, i)
        elif left == "grant_log":
            if right not in ("yes", "no"):
                raise _illegal(right, i)
        else:
            if left not in CONDITION_KEYWORDS and not tool_range(left):
                raise _illegal(left, i)
            if left in ("exec.realpath", "symlink.target"):
                if not (len(right) >= 2 and (right[0] == "@" or _quoted(right))):
                    raise _illegal(right, i)
            elif right not in CONDITION_KEYWORDS and not (right[:1] == "@" and len(right) > 1) \
                    and not tool_range(right):
                raise _illegal(right, i)
        found.append(Condition(left, negated, right))
    return tuple(found)


# -- ACLs -------------------------------------------------------------------------------------

def _name(words: list[str], i: int) -> int:
    if i >= len(words) or not correct_word(words[i]):
        raise _bad(words, i)
    return i + 1


def _number(words: list[str], i: int) -> int:
    if i >= len(words) or not (words[i].startswith("@") or tool_range(words[i])):
        raise _bad(words, i)
    return i + 1


def _ops(token: str, table: dict[str, str] | dict[str, int], allowed: object = None
         ) -> list[str] | None:
    """Split `read/write` as the tool scans it: keywords by prefix, any number of `/`."""
    found: list[str] = []
    pos = 0
    while pos < len(token):
        if token[pos] == "/":
            pos += 1
            continue
        for key in table:
            if token.startswith(key, pos) and (allowed is None or allowed(key, found)):
                found.append(key)
                pos += len(key)
                break
        else:
            return None
    return found or None


def _transit(words: list[str], i: int) -> tuple[str, int]:
    """An execute ACL's optional transition preference at words[i]."""
    if i >= len(words):
        return "", i
    word = words[i]
    if word.startswith("<"):
        end = split_domain(words, i)
        domain = " ".join(words[i:end])
        if not correct_domain(domain):
            raise _bad(words, i)
        return domain, end
    if word in TRANSIT_KEYWORDS:
        return word, i + 1
    if "/" in word:
        left = word.partition("=")[0].removesuffix("!") if "=" in word else ""
        if not left or (left not in CONDITION_KEYWORDS and left != "grant_log"
                        and not left.startswith(("exec.argv[", 'exec.envp["'))):
            if not correct_word(word):
                raise _illegal(word, i)
            return word, i + 1
    return "", i


def _file(words: list[str], line: int, text: str) -> Acl:
    if len(words) < 2:
        raise _bad(words, 1)

    def same_shape(key: str, found: list[str]) -> bool:
        return not found or FILE_OPS[found[0]] == FILE_OPS[key]

    ops = _ops(words[1], FILE_OPS, same_shape)
    if ops is None:
        raise _bad(words, 1)
    shape = FILE_OPS[ops[0]]
    names, numbers = SHAPE_ARGS[shape]
    i = 2
    for _ in range(names):
        i = _name(words, i)
    for _ in range(numbers):
        i = _number(words, i)
    argend = i
    transit = ""
    if shape == "execute":
        transit, i = _transit(words, i)
        if transit:  # a preference and an auto_domain_transition= cannot both be given
            for j in range(i, len(words)):
                if words[j].startswith("auto_domain_transition="):
                    raise _illegal(words[j], j)
    return Acl("file", tuple(dict.fromkeys(ops)), tuple(words[2:argend]), transit, "",
               parse_conditions(words, i), text, line)


def _network(words: list[str], line: int, text: str) -> Acl:
    if len(words) < 2 or words[1] not in NET_PROTOCOLS:
        raise _bad(words, 1)
    family = words[1]
    if len(words) < 3 or words[2] not in NET_PROTOCOLS[family]:
        raise _bad(words, 2)
    mask = NET_PROTOCOLS[family][words[2]]
    ops = _ops(words[3] if len(words) > 3 else "", NET_OPS,
               lambda key, found: (NET_OPS[key] | mask) & 6 != 6)
    if ops is None:
        raise _bad(words, 3)
    i = 4
    if family == "inet":
        if i >= len(words) or not address_ok(words[i]):
            raise _bad(words, i)
        i = _number(words, i + 1)
    else:
        i = _name(words, i)
    return Acl(f"network {family}", tuple(dict.fromkeys(ops)), tuple(words[4:i]), "", words[2],
               parse_conditions(words, i), text, line)


def parse_acl(words: list[str], line: int = 0) -> Acl:
    """One ACL line (already split into words); LineError when the tool would reject it."""
    text = " ".join(words)
    head = words[0] if words else ""
    if head == "file":
        return _file(words, line, text)
    if head == "network":
        return _network(words, line, text)
    if head == "misc" and len(words) >= 2 and words[1] == "env":
        end = _name(words, 2)
        return Acl("misc env", ("env",), (words[2],), conditions=parse_conditions(words, end),
                   text=text, line=line)
    if head == "task" and len(words) >= 2 and words[1] == "manual_domain_transition":
        if len(words) < 3 or not words[2].startswith("<"):
            raise _bad(words, 2)
        end = split_domain(words, 2)
        domain = " ".join(words[2:end])
        if not correct_domain(domain):
            raise _bad(words, 2)
        return Acl("task manual_domain_transition", ("manual_domain_transition",), (domain,),
                   conditions=parse_conditions(words, end), text=text, line=line)
    raise _bad(words, 0)


def _u8(words: list[str], i: int) -> int:
    value = _scanf_u(words[i]) if i < len(words) else None
    if value is None or value >= 256:
        raise _bad(words, i)
    return value


@dataclass(frozen=True, slots=True)
class DomainLine:
    """A parsed domain-policy line: a header, a flag, use_profile/use_group, or an ACL."""

    kind: str  # "domain", "flag", "use_profile", "use_group", "acl"
    value: str = ""
    number: int = 0
    acl: Acl | None = None


def parse_domain_line(line: str, lineno: int = 0) -> DomainLine | None:
    """One domain-policy line (None for blanks and comments)."""
    text = line
    if not text or text.startswith("#"):
        return None
    words = text.split(" ")
    if domain_def(text):
        if not correct_domain(text, tool=True) or len(text) >= 4096 - 10:
            raise LineError(f"'{text}' is a bad domainname", 0)
        return DomainLine("domain", text)
    if text in ("quota_exceeded", "transition_failed"):
        return DomainLine("flag", text)
    if words[0] in ("use_profile", "use_group") and len(words) >= 2:
        return DomainLine(words[0], number=_u8(words, 1))
    return DomainLine("acl", acl=parse_acl(words, lineno))


@dataclass(frozen=True, slots=True)
class ExceptionLine:
    """A parsed exception-policy line."""

    keyword: str
    args: tuple[str, ...] = ()
    number: int = 0
    acl: Acl | None = None
    namespace: str = "<kernel>"


def _path_domain(words: list[str], i: int) -> tuple[str, str]:
    """`PROGRAM|any [from DOMAIN|PROGRAM|any]` → (program or "", domain or "")."""
    if i < len(words) and words[i] == "any":
        program = ""
        i += 1
    elif i < len(words) and words[i].startswith("/"):
        program = words[_name(words, i) - 1]
        i += 1
    else:
        raise _bad(words, i)
    if i >= len(words):
        if not program:
            raise _bad(words, i - 1)
        return program, ""
    if words[i] != "from" or i + 1 >= len(words):
        raise _bad(words, i)
    i += 1
    if words[i] == "any":
        source, end = "", i + 1
    elif words[i].startswith("/"):
        source, end = words[_name(words, i) - 1], i + 1
    else:
        end = split_domain(words, i) if words[i].startswith("<") else i + 1
        source = " ".join(words[i:end])
        if not correct_domain(source):
            raise _bad(words, i)
    if end < len(words):
        raise _bad(words, end)
    return program, source


def parse_exception_line(line: str, lineno: int = 0) -> ExceptionLine | None:
    """One exception-policy line (None for blanks and comments)."""
    if not line or line.startswith("#"):
        return None
    if line.startswith("<"):  # `<namespace> LINE`: an entry of that namespace's policy
        namespace, sep, rest = line.partition(" ")
        if not sep:
            raise LineError(f"'{line}' is a bad argument", 0)
        if not domain_def(namespace):
            raise LineError(f"'{namespace}' is a bad namespace", 0)
        parsed = parse_exception_line(rest, lineno)
        if parsed is None or rest.startswith("<"):
            raise LineError(f"'{rest.split(' ')[0]}' is a bad argument", 1)
        return replace(parsed, namespace=namespace)
    words = line.split(" ")
    key = words[0]
    if key == "acl_group":
        number = _u8(words, 1)
        acl = parse_acl(words[2:], lineno)
        return ExceptionLine(key, number=number, acl=acl)
    if key == "path_group":
        _name(words, _name(words, 1))
        return ExceptionLine(key, (words[1], words[2]))
    if key == "number_group":
        _number(words, _name(words, 1))
        return ExceptionLine(key, (words[1], words[2]))
    if key == "address_group":
        _name(words, 1)
        if len(words) < 3 or not address_ok(words[2]):
            raise _bad(words, 2)
        return ExceptionLine(key, (words[1], words[2]))
    if key == "aggregator":
        _name(words, _name(words, 1))
        return ExceptionLine(key, (words[1], words[2]))
    if key in TRANSITION_CONTROLS:
        program, source = _path_domain(words, 1)
        return ExceptionLine(key, (program, source))
    raise _bad(words, 0)
