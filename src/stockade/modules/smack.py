"""`smack`: the Simplified Mandatory Access Control Kernel (security/smack/).

Subjects and objects carry short text labels; access rules `subject object access` grant
the letters rwxatlb. The decision is smk_access()'s, in its order:

1. a `*` (star) subject gets nothing;
2. a `@` (web) object or subject: everything;
3. a `*` object: everything;
4. equal labels: everything;
5. a request for read/execute only, or lock only: granted on a `_` (floor) object and to a
   `^` (hat) subject;
6. otherwise an explicit rule must grant every requested letter (`w` implies `l`);

and smk_tskacc() then lets CAP_MAC_OVERRIDE override a denial (restricted to the `onlycap`
labels when that list is set). Network checks (host labels, unix sockets' peer labels) use
smk_access() without the override, as the kernel does. Unlabelled files get the filesystem
default `_`, unlabelled tasks `_` (init's label).

stockade's `file_open` carries the open's whole MAY_* mask, so it is checked as the kernel's
smack_inode_permission() checks the final inode, after a search (`x`) check of every
directory walked. Creating or deleting a name needs `wx` on the directory (may_create and
may_delete ask inode_permission for MAY_WRITE|MAY_EXEC). Not modelled: SMACK64MMAP, IPv6 port
labels, CIPSO, per-task rules (/proc/self/attr/smack/...), relabel-self, bring-up's
unconfined label.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass, field

from stockade.errors import StockadeError
from stockade.lsm.caps import CAP_MAC_OVERRIDE, CAP_SYS_PTRACE, cap_number
from stockade.lsm.module import SecurityModule, Verdict
from stockade.lsm.types import (
    MAY_APPEND,
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    PTRACE_MODE_ATTACH,
    PTRACE_MODE_READ,
    Object,
    Request,
    Subject,
)
from stockade.modules.labels import decode_label, label_of, xattr_name

CAP_MAC_ADMIN = cap_number("mac_admin")

# Smack's own access bits (security/smack/smack.h), beside the kernel's MAY_* bits
MAY_TRANSMUTE = 0x1000
MAY_LOCK = 0x2000
MAY_BRINGUP = 0x4000
MAY_ANYREAD = MAY_READ | MAY_EXEC
MAY_READWRITE = MAY_READ | MAY_WRITE
MAY_DELIVER = MAY_WRITE  # signal delivery (CONFIG_SECURITY_SMACK_APPEND_SIGNALS: append)
_LETTERS = (("r", MAY_READ), ("w", MAY_WRITE), ("x", MAY_EXEC), ("a", MAY_APPEND),
            ("t", MAY_TRANSMUTE), ("l", MAY_LOCK), ("b", MAY_BRINGUP))
_ALL = sum(bit for _, bit in _LETTERS)

STAR, HAT, FLOOR, WEB, HUH = "*", "^", "_", "@", "?"
SMK_LONGLABEL = 256
PTRACE_RULES = ("default", "exact", "draconian")  # /sys/fs/smackfs/ptrace
TRANSMUTE_TRUE = "TRUE"


def parse_access(text: str) -> int:
    """`rwx` → MAY_READ|MAY_WRITE|MAY_EXEC; `-` adds nothing; any other letter is an error."""
    mask = 0
    for ch in text:
        if ch == "-":
            continue
        for letter, bit in _LETTERS:
            if ch.lower() == letter:
                mask |= bit
                break
        else:
            raise ValueError(f"unknown access letter {ch!r} (use rwxatlb or -)")
    return mask


def access_string(mask: int) -> str:
    """`rwxatlb` letters for `mask`, as smackfs and the audit record print them."""
    return "".join(letter for letter, bit in _LETTERS if mask & bit)


def valid_label(label: str) -> str | None:
    """Why `label` is not a Smack label (smk_parse_smack()), or None when it is one."""
    if not label:
        return "empty label"
    if label[0] == "-":
        return "a label may not start with '-'"
    if len(label) >= SMK_LONGLABEL:
        return f"label longer than {SMK_LONGLABEL - 1} characters"
    for ch in label:
        if ch > "~" or ch <= " " or ch in "/\"\\'":
            return f"character {ch!r} is not allowed in a label"
    return None


def import_label(raw: str) -> str:
    """A label read from an xattr: cut at the first invalid character; `?` if nothing is left."""
    for i, ch in enumerate(raw):
        if ch > "~" or ch <= " " or ch in "/\"\\'":
            raw = raw[:i]
            break
    if not raw or raw[0] == "-" or len(raw) >= SMK_LONGLABEL:
        return HUH
    return raw


@dataclass(frozen=True, slots=True)
class Access:
    """The answer of smk_access(): granted or not, and which step decided."""

    granted: bool
    why: str
    bringup: bool = False


def smk_access(rules: dict[tuple[str, str], int], subject: str, obj: str, request: int) -> Access:
    """Smack's label comparison, in the kernel's order (security/smack/smack_access.c)."""
    if subject == STAR:
        return Access(False, "a '*' subject can access nothing")
    if obj == WEB or subject == WEB:
        return Access(True, "the '@' label grants everything")
    if obj == STAR:
        return Access(True, "any subject may access a '*' object")
    if subject == obj:
        return Access(True, "same label")
    if (request & MAY_ANYREAD) == request or (request & MAY_LOCK) == request:
        if obj == FLOOR:
            return Access(True, "a '_' object is readable and executable by all")
        if subject == HAT:
            return Access(True, "a '^' subject may read and execute anything")
    may = rules.get((subject, obj))
    if may is None:
        return Access(False, f"no rule for {subject} {obj}")
    if may & MAY_WRITE:
        may |= MAY_LOCK
    if not may or request & may != request:
        missing = access_string(request & ~may)
        return Access(False, f"rule '{subject} {obj} {access_string(may) or '-'}' lacks {missing}")
    return Access(True, f"rule '{subject} {obj} {access_string(may)}'", bool(may & MAY_BRINGUP))


def parse_rules(text: str, source: str = "<rules>", into: dict[tuple[str, str], int] | None = None
                ) -> dict[tuple[str, str], int]:
    """Rules in smackfs load2 format (`subject object access`) or load-change format
    (`subject object allow deny`); a later line for the same pair replaces (load2) or
    modifies (change-rule) the earlier one. `#` starts a comment."""
    rules = {} if into is None else into
    for lineno, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) not in (3, 4):
            raise StockadeError(f"{source}:{lineno}: expected 'subject object access' "
                                f"(or 'subject object allow deny'), got {len(words)} fields")
        for label in words[:2]:
            problem = valid_label(label)
            if problem:
                raise StockadeError(f"{source}:{lineno}: bad label {label!r}: {problem}")
        try:
            masks = [parse_access(w) for w in words[2:]]
        except ValueError as err:
            raise StockadeError(f"{source}:{lineno}: {err}") from None
        pair = (words[0], words[1])
        if len(masks) == 1:
            rules[pair] = masks[0]
        else:
            rules[pair] = (rules.get(pair, 0) | masks[0]) & ~masks[1] & _ALL
    return rules


def parse_netlabels(entries: list[str] | tuple[str, ...]) -> list[tuple[ipaddress.IPv4Network |
                                                                       ipaddress.IPv6Network, str]]:
    """Host labels in smackfs netlabel format (`ADDR[/MASK] LABEL`), longest prefix first."""
    found = []
    for entry in entries:
        words = entry.split()
        if len(words) != 2:
            raise StockadeError(f"netlabel entry {entry!r}: expected 'ADDR[/MASK] LABEL'")
        try:
            net = ipaddress.ip_network(words[0], strict=False)
        except ValueError as err:
            raise StockadeError(f"netlabel entry {entry!r}: {err}") from None
        if (problem := valid_label(words[1])) is not None:
            raise StockadeError(f"netlabel entry {entry!r}: {problem}")
        found.append((net, words[1]))
    found.sort(key=lambda item: item[0].prefixlen, reverse=True)
    return found


@dataclass
class Smack(SecurityModule):
    """Smack's label checks over the hooks stockade mediates."""

    name = "smack"
    exclusive = True
    rules: dict[tuple[str, str], int] = field(default_factory=dict)
    rules_text: str = ""
    rules_file: str | None = None
    xattr: str | None = None  # access label attribute; default user.stockade.smack
    onlycap: frozenset[str] = frozenset()
    ptrace_rule: str = "default"
    netlabels: tuple[str, ...] = ()
    default_label: str = FLOOR  # unlabelled files: the filesystem's smackfsdef
    subject_default: str = FLOOR  # unlabelled tasks

    def __post_init__(self) -> None:
        self.rules = dict(self.rules)
        if self.rules_file:
            try:
                with open(self.rules_file, encoding="utf-8") as f:
                    parse_rules(f.read(), self.rules_file, self.rules)
            except OSError as err:
                raise StockadeError(f"{self.rules_file}: {err.strerror}") from None
        if self.rules_text:
            parse_rules(self.rules_text, "<rules>", self.rules)
        if self.ptrace_rule not in PTRACE_RULES:
            raise StockadeError(f"smack ptrace rule must be one of {', '.join(PTRACE_RULES)}")
        self.onlycap = frozenset(self.onlycap)
        self._hosts = parse_netlabels(tuple(self.netlabels))
        self.access_xattr = xattr_name(self.name, self.xattr)
        if self.access_xattr == "security.SMACK64":
            self.exec_xattr = "security.SMACK64EXEC"
            self.transmute_xattr = "security.SMACK64TRANSMUTE"
        else:
            self.exec_xattr = self.access_xattr + ".exec"
            self.transmute_xattr = self.access_xattr + ".transmute"

    # -- policy -------------------------------------------------------------------------------

    def load(self, text: str, source: str = "<rules>") -> None:
        """Add rules (as writing to /sys/fs/smackfs/load2 does); the stack's AVC is flushed."""
        parse_rules(text, source, self.rules)
        self.reload()

    def rule_lines(self) -> list[str]:
        """The rules as load2 lines."""
        return [f"{s} {o} {access_string(m) or '-'}" for (s, o), m in sorted(self.rules.items())]

    # -- labels -------------------------------------------------------------------------------

    def subject_label(self, subject: Subject) -> str:
        """The task's label (its `smack` context), `_` when it has none."""
        return subject.context(self.name, self.subject_default)

    def object_label(self, obj: Object | None) -> str:
        """The label of a file, a task or a socket's inode."""
        if obj is None:
            return self.default_label
        if obj.task is not None:
            return self.subject_label(obj.task)
        raw = obj.xattr(self.access_xattr)
        return import_label(decode_label(raw)) if raw is not None else self.default_label

    def exec_label(self, exe: Object) -> str | None:
        """SMACK64EXEC of an executable: the label a program runs with, if any."""
        label = label_of(exe, self.name, self.exec_xattr)
        return import_label(label) if label else None

    def transition(self, subject_label: str, exe_label: str | None) -> str:
        """smack_bprm_creds_for_exec(): the SMACK64EXEC label, else unchanged."""
        return exe_label if exe_label and exe_label not in (STAR, WEB) else subject_label

    def is_transmuting(self, directory: Object) -> bool:
        """SMACK64TRANSMUTE=TRUE on a directory."""
        return directory.is_dir and label_of(directory, self.name, self.transmute_xattr) == TRANSMUTE_TRUE

    def new_object_label(self, subject_label: str, directory: Object | None,
                         is_dir: bool = False) -> tuple[str, bool]:
        """smack_inode_init_security(): the label of a new file in `directory` and whether a
        new directory is itself transmuting. A transmuting directory gives its own label when
        the subject's explicit rule for it has `t`."""
        if directory is None:
            return subject_label, False
        dir_label = self.object_label(directory)
        may = self.rules.get((subject_label, dir_label), 0)
        if may & MAY_TRANSMUTE and self.is_transmuting(directory):
            return dir_label, is_dir
        return subject_label, False

    def create_labels(self, subject: Subject, new: Object) -> tuple[tuple[str, str], ...]:
        """(attribute, label) pairs of a file `subject` creates as `new`
        (smack_inode_init_security): its label, and TRANSMUTE on a directory made in a
        transmuting one."""
        label, transmute = self.new_object_label(self.subject_label(subject), new.parent,
                                                 new.is_dir)
        if transmute:
            return (self.access_xattr, label), (self.transmute_xattr, TRANSMUTE_TRUE)
        return ((self.access_xattr, label),)

    # -- checks -------------------------------------------------------------------------------

    def privileged(self, req: Request, cap: int, subject: Subject | None = None) -> bool:
        """smack_privileged(): the capability, restricted to the onlycap labels when set."""
        who = subject or req.subject
        if self.onlycap and self.subject_label(who) not in self.onlycap:
            return False
        if self.capable is None:
            return bool(who.cap_effective >> cap & 1)
        return self.capable(req if subject is None else Request("capable", who, cap=cap), cap)

    def _deny(self, fn: str, subj: str, obj_label: str, request: int, why: str,
              target: Object | None, err: int = errno.EACCES, rule: str = "") -> Verdict:
        fields = (("fn", fn), ("subject", subj), ("object", obj_label),
                  ("requested", access_string(request)),
                  ("dev", str(target.dev) if target is not None else ""),
                  ("ino", str(target.ino) if target is not None else ""))
        return self.deny(err, why, rule, fields=fields)

    def _tskacc(self, req: Request, fn: str, target: Object | None, request: int,
                label: str | None = None, subject: Subject | None = None) -> Verdict | None:
        """smk_tskacc(): smk_access(), then CAP_MAC_OVERRIDE; a denial as a Verdict."""
        who = subject or req.subject
        subj = self.subject_label(who)
        obj_label = label if label is not None else self.object_label(target)
        result = smk_access(self.rules, subj, obj_label, request)
        if result.granted:
            if result.bringup:
                return Verdict(self.name, 0, f"bring-up: {result.why}", result.why, audit=True,
                               fields=(("fn", fn), ("subject", subj), ("object", obj_label),
                                       ("requested", access_string(request))))
            return None
        if self.privileged(req, CAP_MAC_OVERRIDE, subject):
            return None
        return self._deny(fn, subj, obj_label, request, result.why, target)

    def _access(self, req: Request, fn: str, subj: str, obj_label: str, request: int,
                target: Object | None) -> Verdict | None:
        """smk_access() alone (network checks): no capability override."""
        result = smk_access(self.rules, subj, obj_label, request)
        if result.granted:
            return None
        return self._deny(fn, subj, obj_label, request, result.why, target)

    def _walk(self, req: Request, obj: Object) -> Verdict | None:
        """Search (`x`) on every directory of the path walk."""
        dirs = (*obj.ancestors, obj.parent) if obj.parent is not None else obj.ancestors
        for directory in dirs:
            verdict = self._tskacc(req, "smack_inode_permission", directory, MAY_EXEC)
            if verdict is not None and verdict.errno:
                return verdict
        return None

    def _first(self, *checks: Verdict | None) -> Verdict | None:
        for verdict in checks:
            if verdict is not None:
                return verdict
        return None

    # -- file hooks ---------------------------------------------------------------------------

    def hook_file_open(self, req: Request) -> Verdict | None:
        """The walk, then smack_inode_permission() on the file with the open's mask."""
        obj = req.obj
        if obj is None:
            return None
        denied = self._walk(req, obj)
        if denied is not None:
            return denied
        mask = req.access & (MAY_READ | MAY_WRITE | MAY_EXEC | MAY_APPEND)
        if not mask:
            return None
        return self._tskacc(req, "smack_inode_permission", obj, mask)

    def hook_inode_permission(self, req: Request) -> Verdict | None:
        """smack_inode_permission(): the mask (rwxa) on the inode."""
        mask = req.access & (MAY_READ | MAY_WRITE | MAY_EXEC | MAY_APPEND)
        if req.obj is None or not mask:
            return None
        return self._tskacc(req, "smack_inode_permission", req.obj, mask)

    def _dir_write(self, req: Request, directory: Object | None) -> Verdict | None:
        if directory is None:
            return None
        return self._tskacc(req, "smack_inode_permission", directory, MAY_WRITE | MAY_EXEC)

    def _create(self, req: Request) -> Verdict | None:
        obj = req.obj
        if obj is None:
            return None
        return self._first(self._walk(req, obj), self._dir_write(req, obj.parent))

    hook_inode_create = _create
    hook_inode_mkdir = _create
    hook_inode_mknod = _create
    hook_inode_symlink = _create

    def _delete(self, req: Request, fn: str) -> Verdict | None:
        obj = req.obj
        if obj is None:
            return None
        return self._first(self._walk(req, obj), self._tskacc(req, fn, obj, MAY_WRITE),
                           self._dir_write(req, obj.parent))

    def hook_inode_unlink(self, req: Request) -> Verdict | None:
        """smack_inode_unlink(): `w` on the file, then `wx` on the directory."""
        return self._delete(req, "smack_inode_unlink")

    def hook_inode_rmdir(self, req: Request) -> Verdict | None:
        """smack_inode_rmdir(): `w` on the directory removed, then `wx` on its parent."""
        return self._delete(req, "smack_inode_rmdir")

    def hook_inode_rename(self, req: Request) -> Verdict | None:
        """smack_inode_rename(): `rw` on the file and on a replaced target; `wx` on both dirs."""
        obj, target = req.obj, req.target
        if obj is None:
            return None
        checks = [self._walk(req, obj), self._tskacc(req, "smack_inode_rename", obj, MAY_READWRITE)]
        if target is not None:
            if target.exists:
                checks.append(self._tskacc(req, "smack_inode_rename", target, MAY_READWRITE))
            checks.append(self._dir_write(req, target.parent))
        checks.append(self._dir_write(req, obj.parent))
        return self._first(*checks)

    def hook_inode_link(self, req: Request) -> Verdict | None:
        """smack_inode_link(): `w` on the file and on a replaced target; `wx` on the new dir."""
        obj, target = req.obj, req.target
        if obj is None:
            return None
        checks = [self._tskacc(req, "smack_inode_link", obj, MAY_WRITE)]
        if target is not None:
            if target.exists:
                checks.append(self._tskacc(req, "smack_inode_link", target, MAY_WRITE))
            checks.append(self._dir_write(req, target.parent))
        return self._first(*checks)

    def hook_inode_setattr(self, req: Request) -> Verdict | None:
        """smack_inode_setattr(): `w` on the file."""
        return self._tskacc(req, "smack_inode_setattr", req.obj, MAY_WRITE) if req.obj else None

    def hook_file_lock(self, req: Request) -> Verdict | None:
        """smack_file_lock(): `l` (granted by `w` too)."""
        return self._tskacc(req, "smack_file_lock", req.obj, MAY_LOCK) if req.obj else None

    def hook_inode_setxattr(self, req: Request) -> Verdict | None:
        """smack_inode_setxattr(): Smack's own attributes need CAP_MAC_ADMIN and a valid value
        (`req.target.xattrs` carries the new value when known); every attribute needs `w`."""
        obj = req.obj
        if obj is None:
            return None
        name = req.what
        if name in (self.access_xattr, self.exec_xattr, self.transmute_xattr):
            subj = self.subject_label(req.subject)
            label = self.object_label(obj)
            if not self.privileged(req, CAP_MAC_ADMIN):
                return self._deny("smack_inode_setxattr", subj, label, MAY_WRITE,
                                  f"setting {name} needs CAP_MAC_ADMIN", obj, errno.EPERM)
            raw = req.target.xattr(name) if req.target is not None else None
            if raw is not None:
                value = decode_label(raw)
                if name == self.transmute_xattr:
                    problem = None if value == TRANSMUTE_TRUE else "SMACK64TRANSMUTE must be TRUE"
                else:
                    problem = valid_label(value)
                    if problem is None and name == self.exec_xattr and value in (STAR, WEB):
                        problem = f"'{value}' cannot be an exec label"
                if problem:
                    return self._deny("smack_inode_setxattr", subj, label, MAY_WRITE, problem,
                                      obj, errno.EINVAL)
        return self._tskacc(req, "smack_inode_setxattr", obj, MAY_WRITE)

    def hook_bprm_check_security(self, req: Request) -> Verdict | None:
        """smack_bprm_creds_for_exec(): a SMACK64EXEC transition is refused under
        no_new_privs (an "unsafe" exec); ptrace-unsafe execs are not modelled."""
        if req.obj is None:
            return None
        new = self.exec_label(req.obj)
        current = self.subject_label(req.subject)
        if new is None or new == current or not req.subject.no_new_privs:
            return None
        return self._deny("smack_bprm_creds_for_exec", current, new, 0,
                          f"exec would change the label to {new} under no_new_privs",
                          req.obj, errno.EPERM)

    # -- tasks --------------------------------------------------------------------------------

    def hook_task_kill(self, req: Request) -> Verdict | None:
        """smack_task_kill(): signal 0 is an existence test; delivery needs `w` on the target."""
        if not req.signal or req.obj is None or req.obj.task is None:
            return None
        return self._tskacc(req, "smack_task_kill", req.obj, MAY_DELIVER)

    def _ptrace(self, req: Request, tracer: Subject, tracee_label: str, mode: int, fn: str,
                target: Object | None) -> Verdict | None:
        """smk_ptrace_rule_check() with the ptrace rule set in `ptrace_rule`."""
        tracer_label = self.subject_label(tracer)
        if mode & PTRACE_MODE_ATTACH and self.ptrace_rule != "default":
            if tracer_label == tracee_label:
                return None
            if self.ptrace_rule == "exact":
                probe = Request("capable", tracer, cap=CAP_SYS_PTRACE)
                if self.capable(probe, CAP_SYS_PTRACE) if self.capable else False:
                    return None
            why = f"ptrace rule {self.ptrace_rule}: labels differ"
            return self._deny(fn, tracer_label, tracee_label, 0, why, target)
        request = MAY_READWRITE if mode & PTRACE_MODE_ATTACH else (
            MAY_READ if mode & PTRACE_MODE_READ else 0)
        return self._tskacc(req, fn, target, request, tracee_label, tracer)

    def hook_ptrace_access_check(self, req: Request) -> Verdict | None:
        """smack_ptrace_access_check(): `rw` to attach, `r` to read, on the target's label."""
        if req.obj is None or req.obj.task is None:
            return None
        return self._ptrace(req, req.subject, self.subject_label(req.obj.task), req.flags,
                            "smack_ptrace_access_check", req.obj)

    def hook_ptrace_traceme(self, req: Request) -> Verdict | None:
        """smack_ptrace_traceme(): the parent must be able to attach to us."""
        if req.obj is None or req.obj.task is None:
            return None
        return self._ptrace(req, req.obj.task, self.subject_label(req.subject),
                            PTRACE_MODE_ATTACH, "smack_ptrace_traceme", req.obj)

    # -- sockets ------------------------------------------------------------------------------

    def host_label(self, address: str) -> str | None:
        """smack_ipv4host_label()/smack_ipv6host_label(): the longest matching host entry."""
        try:
            addr = ipaddress.ip_address(address)
        except ValueError:
            return None
        if addr.is_unspecified:
            return None
        for net, label in self._hosts:
            if addr.version == net.version and addr in net:
                return label
        return None

    def hook_socket_connect(self, req: Request) -> Verdict | None:
        """smk_ipv4_check()/smk_ipv6_check(): `w` from the task to a labelled host."""
        obj = req.obj
        if obj is None or obj.family not in (socket.AF_INET, socket.AF_INET6):
            return None
        host = self.host_label(obj.address)
        if host is None:
            return None
        fn = "smk_ipv4_check" if obj.family == socket.AF_INET else "smk_ipv6_check"
        return self._access(req, fn, self.subject_label(req.subject), host, MAY_WRITE, None)

    def hook_unix_stream_connect(self, req: Request) -> Verdict | None:
        """smack_unix_stream_connect(): `w` both ways between us and the listening peer
        (`obj.task`, else the socket inode's label), unless CAP_MAC_OVERRIDE."""
        obj = req.obj
        if obj is None:
            return None
        if self.privileged(req, CAP_MAC_OVERRIDE):
            return None
        mine = self.subject_label(req.subject)
        peer = self.object_label(obj)
        result = smk_access(self.rules, mine, peer, MAY_WRITE)
        if result.granted:
            result = smk_access(self.rules, peer, mine, MAY_WRITE)
            if result.granted:
                return None
            mine, peer = peer, mine
        return self._deny("smack_unix_stream_connect", mine, peer, MAY_WRITE, result.why, None)
