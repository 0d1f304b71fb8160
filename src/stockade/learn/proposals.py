"""Profile rules proposed from what a program did or was denied.

An `Access` is one thing a program needed (read a path, execute a program, a capability, a
socket family); `accesses_from_record` reads it from an audit record (AppArmor's own, the
stack's, or the kernel's Landlock records). `propose` merges accesses into `Proposal`s, leaving
out what a profile already allows, and renders them as profile rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from stockade.audit.record import AuditRecord
from stockade.audit.suggest import LANDLOCK_FS, LANDLOCK_MAKE_REMOVE, mask_letters
from stockade.learn.globs import (
    WALKED,
    collapse,
    created_glob,
    escape,
    fan_out_dirs,
    into_fan_out,
    into_walked,
    made_temp_names,
    walked_roots,
)
from stockade.learn.trees import whole_trees
from stockade.policy import CompiledProfile, Perm
from stockade.policy.constants import SIGNALS, signal_name

#: characters no observed name may bring into a profile line (a newline would end the rule
#: and start another: red team 4)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: what a capability, network family, socket type or peer name may be (else no rule)
_WORD = re.compile(r"[A-Za-z0-9_.:/@+-]*")

FILE_LETTERS = "rwamkl"
_PERM_BITS = {"r": Perm.READ, "w": Perm.WRITE, "a": Perm.APPEND, "m": Perm.MMAP, "k": Perm.LOCK,
              "l": Perm.LINK}


@dataclass(frozen=True)
class Access:
    """One observed need: a file access, an exec, a capability, a network socket, a signal."""

    kind: str  # file | exec | capability | network | signal | ptrace | unix
    path: str = ""
    letters: str = ""  # file letters from FILE_LETTERS
    name: str = ""  # capability name, network family, signal name, peer
    detail: str = ""  # socket type
    is_dir: bool = False
    created: bool = False  # the program made or removed this name in its directory
    #: a kernel Landlock record of something made or removed in `path`'s directory, whose
    #: name the kernel does not give (`path` is DIR, `glob` is `/*`)
    in_directory: bool = False
    #: AARE appended to the escaped `path` (`/*`, `/*/`, `/**`): `path` itself is always a
    #: literal name from a log or an observation, never trusted as a glob
    glob: str = ""


@dataclass
class Proposal:
    """A rule to add: file rules merge their permission letters per path."""

    kind: str
    path: str = ""
    letters: set[str] = field(default_factory=set)
    exec_mode: str = ""
    name: str = ""
    detail: str = ""
    count: int = 0
    deny: bool = False
    #: the program created or replaced this name (enforced through its directory)
    created: bool = False

    def render(self) -> str:
        """The rule as a profile line (without indentation)."""
        return ("deny " if self.deny else "") + self._rule()

    def _rule(self) -> str:
        if self.kind == "file":
            letters = self.letters - {"a"} if "w" in self.letters else self.letters  # w covers a
            perms = "".join(c for c in FILE_LETTERS if c in letters) + self.exec_mode
            return f"{self.path} {perms},"
        if self.kind == "capability":
            return f"capability {self.name},"
        if self.kind == "network":
            return f"network {self.name} {self.detail},".replace(" ,", ",")
        if self.kind == "signal":
            return f"signal (send) set=({self.name})," if self.name else "signal (send),"
        if self.kind == "ptrace":
            return f"ptrace (read, trace) peer={self.name},"
        if self.kind == "unix":
            return f"unix ({self.detail or 'connect'}),"
        raise ValueError(f"unknown proposal kind {self.kind}")


def accesses_from_record(record: AuditRecord) -> list[Access]:
    """What a denial (or a complain-mode allowance) says the program needed."""
    if record.result not in ("DENIED", "ALLOWED"):
        return []
    f = record.fields
    if record.module == "landlock":
        return _landlock(record)
    if record.module == "supervisor" and record.requested and record.object.startswith("/"):
        # `run -p`'s supervisor: the plan lacked this AppArmor mask (chmod, xattrs: `w`)
        return [Access("file", path=record.object, letters=mask_letters(record.requested))]
    if record.module not in ("apparmor", "stockade"):
        return []
    op = f.get("operation", record.operation)
    if op == "capable" or f.get("class") == "cap":
        return [Access("capability", name=record.object)] if record.object else []
    if f.get("class") == "net" or op in ("create", "connect", "bind", "listen", "socket_create",
                                         "socket_connect", "socket_bind"):
        family = f.get("family", "")
        return [Access("network", name=family, detail=f.get("sock_type", ""))] if family else []
    if f.get("class") == "signal" or op in ("signal", "task_kill"):
        return [Access("signal", name=_signal_word(f.get("signal", "")))]
    if f.get("class") == "ptrace" or op.startswith("ptrace"):
        return [Access("ptrace", name=f.get("peer", record.object))]
    if not record.object.startswith("/"):
        return []
    letters = mask_letters(record.denied or record.requested)
    if "x" in letters:
        return [Access("exec", path=record.object)] + (
            [Access("file", path=record.object, letters=letters.replace("x", ""))]
            if letters.replace("x", "") else [])
    return [Access("file", path=record.object, letters=letters or "r")]


_DIR_MAKE_REMOVE = frozenset({"fs.make_dir", "fs.remove_dir"})


def _signal_word(text: str) -> str:
    """A record's signal (`term`, `15`, `SIGTERM`) in `set=` spelling; "" when unknown."""
    word = str(text).strip().lower().removeprefix("sig")
    if word.isdigit():
        word = signal_name(int(word))
    return word if word in SIGNALS else ""


def _landlock(record: AuditRecord) -> list[Access]:
    blockers = [b for b in record.denied.split(",") if b]
    out: list[Access] = []
    fs = [b for b in blockers if b in LANDLOCK_FS]
    if fs and record.object.startswith("/"):
        if "fs.execute" in fs:
            out.append(Access("exec", path=record.object))
        letters = "".join(sorted({LANDLOCK_FS[b][0] for b in fs} - {"x"}))
        if letters:
            in_dir = all(b in LANDLOCK_MAKE_REMOVE for b in fs if LANDLOCK_FS[b][0] != "x")
            path = record.object.rstrip("/") if in_dir else record.object
            glob = "/*" if in_dir else ""
            if in_dir and set(fs) <= _DIR_MAKE_REMOVE:  # mkdir/rmdir: AppArmor asks `DIR/`
                glob += "/"
            out.append(Access("file", path=path, letters=letters, glob=glob,
                              is_dir="fs.read_dir" in fs and not in_dir,
                              in_directory=glob == "/*"))
    for b in blockers:
        if b.startswith("net."):
            out.append(Access("network", name="inet", detail="stream"))
        elif b == "scope.signal":
            out.append(Access("signal", name=""))
    return out


def _allowed(profile: CompiledProfile | None, access: Access) -> bool:
    if profile is None:
        return False
    if access.kind == "capability":
        return access.name in profile.capabilities.effective
    if access.kind not in ("file", "exec") or access.glob:
        return False
    perms = profile.file_perms(access.path, is_dir=access.is_dir)
    if access.kind == "exec":
        return perms.allows(Perm.EXEC)
    need = Perm(0)
    for c in access.letters:
        need |= _PERM_BITS[c]
    return perms.allows(need)


def _own_directory(profile: CompiledProfile | None, access: Access) -> Access:
    """A file made in a directory the program makes itself, seen in a kernel Landlock record:
    the program's whole use of that directory, `DIR/** rw`.

    Landlock's records name only the directory of what is made (never the new name), and the
    program stops at its first refusal, so from kernel records `mkdir out/new; write
    out/new/f; read out/new/f` would take a logprof round per step. aa-logprof never has this
    problem (AppArmor's records name each path, as stockade's complain records do: one round)
    and offers `DIR/*` then `DIR/**` as its Glob choices. Where the profile already lets the
    program create DIR itself (`out/*/ w`, from the previous round's mkdir record), DIR is made
    anew by each run and holds only what the program puts there: granting read and write over
    its tree (`out/new/** rw`) gives away nothing that existed before the run, and is the usual
    AppArmor idiom for a program's own working directory. Anywhere else the narrower
    `DIR/* w` stays.
    """
    if profile is None or not access.in_directory or access.kind != "file":
        return access
    directory = access.path
    if not profile.file_perms(directory + "/", is_dir=True).allows(Perm.WRITE):
        return access
    return Access("file", path=directory, glob="/**", letters="rw", created=True)


#: the letters that write a name or what it holds
_WRITES = frozenset("wacl")


def _written(path: str, written: set[str]) -> bool:
    """Whether the program writes `path`, or `path` lies in a directory it made or writes
    (a file in mkdtemp's directory)."""
    if path in written:
        return True
    head = path.rstrip("/")
    while "/" in head[1:]:
        head = head.rsplit("/", 1)[0]
        if head + "/" in written or head in written:
            return True
    return False


def _reads_only(access: Access) -> bool:
    """A file or directory read, and nothing else."""
    return access.kind == "file" and set(access.letters) <= {"r"} and not access.created


def _lists_only(access: Access, glob: str) -> bool:
    """A directory read, and nothing else (what walking a tree does)."""
    return glob.endswith("/") and _reads_only(access)


def propose(accesses: Iterable[Access], profile: CompiledProfile | None = None, *,
            exec_mode: str = "ix", homes: list[str] | None = None) -> list[Proposal]:
    """Merge `accesses` into proposals, dropping what `profile` already allows."""
    merged: dict[tuple[str, str, str], Proposal] = {}
    files: list[tuple[Access, str]] = []
    accesses = list(accesses)
    # the names it writes may be random (mkstemp's): every use of such a path is globbed alike
    written = {a.path for a in accesses if a.created or set(a.letters) & _WRITES}
    made = made_temp_names(a.path for a in accesses if a.created and a.kind == "file")
    for access in accesses:
        if _allowed(profile, access):
            continue
        access = _own_directory(profile, access)
        if access.kind in ("file", "exec"):
            if _CONTROL.search(access.path):
                continue  # no rule for a name with control characters (fail closed)
            glob = collapse(access.path, homes, made, written=_written(access.path, written)) \
                + access.glob
            if access.is_dir and not glob.endswith("/"):
                glob += "/"
            files.append((access, glob))
            continue
        if not (_WORD.fullmatch(access.name) and _WORD.fullmatch(access.detail)):
            continue  # a name that is no word would be profile syntax: no rule
        key = (access.kind, access.name, access.detail)
        prop = merged.setdefault(key, Proposal(access.kind, name=access.name, detail=access.detail))
        prop.count += 1
    fan_outs = fan_out_dirs(glob for _, glob in files)  # git's objects/03/: every 2-digit dir
    # a tree the program walked (`find D`): its listed directories as one `D/**/ r,`; one it
    # read whole (`tar czf x D`: every file beneath D, as it is now): `D/** r,`
    walked = walked_roots(glob for access, glob in files if _lists_only(access, glob))
    reads = {i for i, (access, _) in enumerate(files) if _reads_only(access)}
    whole = whole_trees(files, walked, reads, WALKED) if walked else set()
    created = {access.path for access, _ in files if access.created}
    for i, (access, glob) in enumerate(files):
        glob = into_fan_out(glob, fan_outs) if fan_outs else glob
        if whole and i in reads and (root := next((r for r in whole if glob.startswith(r)
                                                   and glob != r), None)):
            glob = root + "**"
        elif walked and _lists_only(access, glob):
            glob = into_walked(glob, walked)
        if access.path in created:  # its other uses too: the next run names it otherwise
            glob = created_glob(glob)
        key = ("file", glob, "")
        prop = merged.setdefault(key, Proposal("file", path=glob))
        prop.letters.update(access.letters)
        prop.created = prop.created or access.created
        if access.kind == "exec":
            prop.exec_mode = exec_mode
        prop.count += 1
    order = {"capability": 0, "network": 1, "signal": 2, "ptrace": 3, "unix": 4, "file": 5}
    return sorted(merged.values(), key=lambda p: (order.get(p.kind, 9), p.path, p.name))


__all__ = ["Access", "Proposal", "accesses_from_record", "escape", "propose"]


def new_proposals(accesses: Iterable[Access], profile: CompiledProfile | None, text: str, *,
                  exec_mode: str = "ix") -> list[Proposal]:
    """`propose`, less the rules the profile's `text` already holds as a line (stripped)."""
    present = {line.strip() for line in text.splitlines() if line.strip().endswith(",")}
    return [p for p in propose(accesses, profile, exec_mode=exec_mode)
            if p.render() not in present]
