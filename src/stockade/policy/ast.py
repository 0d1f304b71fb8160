"""The syntax tree: statements and typed rules, each with its source position and text.

Rules hold text as written (variables unexpanded); the compiler returns copies with
variables expanded (`dataclasses.replace`), so the same types serve both stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from stockade.policy.modes import Perm


@dataclass(frozen=True, slots=True, init=False)
class SourcePos:
    """Where a node starts: file, 1-based line and column."""

    file: str
    line: int
    col: int

    def __init__(self, file: str, line: int, col: int) -> None:
        # the slots' own setters (one position per rule: the frozen dataclass's __init__,
        # object.__setattr__ per field, took twice as long)
        _FILE(self, file)
        _LINE(self, line)
        _COL(self, col)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


_FILE, _LINE, _COL = (SourcePos.__dict__[name].__set__ for name in ("file", "line", "col"))


@dataclass(frozen=True)
class Qualifiers:
    """Rule qualifiers: `audit`, `deny` (else allow), `owner`/`other`, `priority=N`, `quiet`."""

    audit: bool = False
    deny: bool = False
    allow: bool = False
    owner: bool = False
    other: bool = False
    quiet: bool = False
    priority: int = 0
    #: `prompt` (AppArmor 4.1): ask a prompt listener; stockade has none, so a prompt rule
    #: also sets `deny` (what the kernel does when no listener answers).
    prompt: bool = False

    def merged(self, inner: Qualifiers) -> Qualifiers:
        """Qualifiers of a rule inside a qualifier block (outer | inner)."""
        return Qualifiers(
            audit=self.audit or inner.audit,
            deny=self.deny or inner.deny,
            allow=self.allow or inner.allow,
            owner=self.owner or inner.owner,
            other=self.other or inner.other,
            quiet=self.quiet or inner.quiet,
            priority=inner.priority if inner.priority else self.priority,
            prompt=self.prompt or inner.prompt,
        )

    def words(self) -> list[str]:
        """The qualifiers as written, in canonical order."""
        out = [n for n in ("audit", "quiet", "deny", "allow", "owner", "other") if getattr(self, n)]
        if self.prompt:
            out[out.index("deny")] = "prompt"
        if self.priority:
            out.insert(0, f"priority={self.priority}")
        return out


Conds = dict[str, tuple[str, ...]]


@dataclass(kw_only=True)
class Node:
    """Every statement has a position and its source text."""

    pos: SourcePos
    text: str = ""


@dataclass(kw_only=True)
class Rule(Node):
    """A rule inside a profile; `kind` names the rule class (file, capability, ...)."""

    kind: ClassVar[str] = "rule"
    qualifiers: Qualifiers = field(default_factory=Qualifiers)


@dataclass(kw_only=True)
class FileRule(Rule):
    """`[owner] PATH MODE [-> TARGET],`, `MODE PATH`, `file ...`, and bare `file,`."""

    kind: ClassVar[str] = "file"
    path: str
    perms: Perm
    exec_mode: str | None = None
    exec_target: str | None = None
    link_target: str | None = None  # old-style `/a l -> /b,`
    path_col: int = 0  # column of the path within the line (for variable errors)


@dataclass(kw_only=True)
class LinkRule(Rule):
    """`link [subset] PATH -> TARGET,`: hard links from PATH to TARGET."""

    kind: ClassVar[str] = "link"
    path: str
    target: str
    subset: bool = False


@dataclass(kw_only=True)
class CapabilityRule(Rule):
    """`capability [NAME...],`; no names means every capability."""

    kind: ClassVar[str] = "capability"
    names: tuple[str, ...] = ()


@dataclass(kw_only=True)
class NetworkRule(Rule):
    """`network [access] [family] [type] [protocol] [ip=.. port=.. peer=(..)],`."""

    kind: ClassVar[str] = "network"
    access: tuple[str, ...] = ()
    family: str | None = None
    sock_type: str | None = None
    protocol: str | None = None
    conds: Conds = field(default_factory=dict)
    peer: Conds = field(default_factory=dict)


@dataclass(kw_only=True)
class SignalRule(Rule):
    """`signal [access] [set=(...)] [peer=LABEL],`."""

    kind: ClassVar[str] = "signal"
    access: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    peer: str | None = None


@dataclass(kw_only=True)
class PtraceRule(Rule):
    """`ptrace [access] [peer=LABEL],`."""

    kind: ClassVar[str] = "ptrace"
    access: tuple[str, ...] = ()
    peer: str | None = None


@dataclass(kw_only=True)
class UnixRule(Rule):
    """`unix [access] [type= protocol= addr= label= attr= opt=] [peer=(label= addr=)],`."""

    kind: ClassVar[str] = "unix"
    access: tuple[str, ...] = ()
    conds: Conds = field(default_factory=dict)
    peer: Conds = field(default_factory=dict)


@dataclass(kw_only=True)
class DbusRule(Rule):
    """`dbus [access] [bus= path= interface= member= name=] [peer=(name= label=)],`."""

    kind: ClassVar[str] = "dbus"
    access: tuple[str, ...] = ()
    conds: Conds = field(default_factory=dict)
    peer: Conds = field(default_factory=dict)


@dataclass(kw_only=True)
class MountRule(Rule):
    """`mount`/`remount`/`umount` with options, fstype, source and mountpoint."""

    kind: ClassVar[str] = "mount"
    operation: str = "mount"
    options: tuple[str, ...] = ()
    fstype: tuple[str, ...] = ()
    source: str | None = None
    mountpoint: str | None = None


@dataclass(kw_only=True)
class PivotRootRule(Rule):
    """`pivot_root [oldroot=PATH] [NEWROOT] [-> PROFILE],`."""

    kind: ClassVar[str] = "pivot_root"
    oldroot: str | None = None
    newroot: str | None = None
    target: str | None = None


@dataclass(kw_only=True)
class ChangeProfileRule(Rule):
    """`change_profile [safe|unsafe] [EXEC_PATH] [-> PROFILE],`."""

    kind: ClassVar[str] = "change_profile"
    exec_mode: str | None = None
    exec_path: str | None = None
    target: str | None = None


@dataclass(kw_only=True)
class RlimitRule(Rule):
    """`set rlimit RESOURCE <= VALUE,`."""

    kind: ClassVar[str] = "rlimit"
    resource: str
    value: str


@dataclass(kw_only=True)
class UsernsRule(Rule):
    """`userns [create],`."""

    kind: ClassVar[str] = "userns"
    access: tuple[str, ...] = ()


@dataclass(kw_only=True)
class IoUringRule(Rule):
    """`io_uring [sqpoll] [override_creds] [label=LABEL],`."""

    kind: ClassVar[str] = "io_uring"
    access: tuple[str, ...] = ()
    label: str | None = None


@dataclass(kw_only=True)
class MqueueRule(Rule):
    """`mqueue [access] [type=posix|sysv] [label=LABEL] [NAME],`."""

    kind: ClassVar[str] = "mqueue"
    access: tuple[str, ...] = ()
    mqueue_type: str | None = None
    label: str | None = None
    name: str | None = None


@dataclass(kw_only=True)
class SyscallRule(Rule):
    """stockade extension (AppArmor has no such rule; `stockade export --format apparmor`
    leaves it out): `[deny] syscall [default] [action=ACTION] [errno=ERRNO]
    [argN=OP:VALUE[:VALUE2]]... [NAME | (NAME, ...)],`. `deny` means action errno."""

    kind: ClassVar[str] = "syscall"
    names: tuple[str, ...] = ()
    default: bool = False
    action: str = "allow"
    errno: str | None = None
    #: (argument index, op, value, value2), op in constants.SYSCALL_ARG_OPS.
    args: tuple[tuple[int, str, int, int], ...] = ()


@dataclass(kw_only=True)
class AllRule(Rule):
    """`all,`: every access of every class."""

    kind: ClassVar[str] = "all"


# ---- statements that are not rules -------------------------------------------------------


@dataclass(kw_only=True)
class VarAssign(Node):
    """`@{NAME} = values`; `op` is `=`, `+=` (append), `?=` (unless defined) or `:=`
    (replace)."""

    name: str
    values: tuple[str, ...]
    append: bool = False
    op: str = "="


@dataclass(kw_only=True)
class BoolAssign(Node):
    """`${NAME} = true|false` (or `$NAME`); `op` is `=`, `?=` or `:=`; `expr` when the value
    is a condition (`${A} = ${B} and not ${C}`), evaluated when the preamble is read."""

    name: str
    value: bool
    op: str = "="
    expr: Cond | None = None


@dataclass(kw_only=True)
class Alias(Node):
    """`alias /from/ -> /to/,`: rules under `from` also apply under `to`."""

    source: str
    target: str


@dataclass(kw_only=True)
class Abi(Node):
    """`abi <path>,` (the feature ABI a profile was written for); `magic` for `<path>`."""

    path: str
    magic: bool = True


@dataclass(kw_only=True)
class Include(Node):
    """`include <x>`, `include "x"`, `#include`, `include if exists`; `files` set by the loader."""

    path: str
    magic: bool  # <...> searches the include path; "..." is relative
    if_exists: bool = False
    files: list[PolicyFile] = field(default_factory=list)


@dataclass(kw_only=True)
class Profile(Node):
    """A profile, child profile (`profile x` inside one) or hat (`^x`, `hat x`)."""

    name: str
    attachment: str | None = None
    flags: tuple[str, ...] = ()
    xattrs: Conds = field(default_factory=dict)
    body: list[Node] = field(default_factory=list)
    is_hat: bool = False


@dataclass(kw_only=True)
class QualifierBlock(Node):
    """`owner { ... }`, `audit deny { ... }`: qualifiers applied to each rule inside."""

    qualifiers: Qualifiers
    body: list[Node] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Cond:
    """A condition of `if`: op is 'bool' (a boolean variable), 'value' (`true`/`false`),
    'defined', 'not', 'and', 'or', or 'cmp' (`lhs name rhs` with name one of == != in > >=
    < <=, each side a set variable or a value; parser_yacc.y factor, cond_expr.cc)."""

    op: str
    name: str = ""
    args: tuple[Cond, ...] = ()
    lhs: str = ""
    rhs: str = ""


@dataclass(kw_only=True)
class Conditional(Node):
    """`if COND { ... } [else { ... }]`; `else if` nests a Conditional in `else_body`."""

    cond: Cond
    body: list[Node] = field(default_factory=list)
    else_body: list[Node] = field(default_factory=list)


@dataclass(kw_only=True)
class PolicyFile:
    """One parsed file: its statements; includes carry their parsed targets."""

    path: str
    statements: list[Node]
    lines: list[str] = field(default_factory=list, repr=False)

    def profiles(self) -> list[Profile]:
        """Top-level profiles of this file (children and hats are in their bodies)."""
        return [s for s in self.statements if isinstance(s, Profile)]
