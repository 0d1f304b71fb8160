"""`biba`: mandatory integrity control, Biba's strict integrity and its low-water-mark variant.

A label is an integrity level from an ordered list (default `low < medium < high`), with an
optional category set (`high:build,net`). Label A dominates B when A's level is at or above
B's and A's categories include B's. Strict integrity (as FreeBSD's mac_biba enforces it):

- no read down: a subject may read (and execute: the program's code is read into it) only
  objects that dominate it;
- no write up: a subject may write, create in, remove from or relabel only objects it
  dominates;
- no invoke up: a subject may signal or trace only tasks it dominates.

The low-water-mark variant (LOMAC) never denies a read: reading a lower object lowers the
subject's current label to the meet of the two (lower level, common categories), after which
no-write-up applies at the new label. The current labels are kept in a task-label store
(`task_labels`): under the supervisor its one store, keyed by pid and start time and inherited
by children (a forked child starts at its parent's lowered label); otherwise a bounded pid map.
When the store is full, a subject not yet in it falls back to strict integrity (the read is
denied) rather than anyone's lowered label being forgotten. A read that would lower the subject
while it holds a file open for writing above the new label is denied (the kernel re-checks
each write on an open file; the supervisor cannot, so it refuses the demotion instead). Those
verdicts depend on state, so they are never cached.

Unlabelled objects and subjects get configurable defaults (both `low` unless set), so an
unlabelled system works and labelling a file `high` protects it. Sockets are not labelled.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from stockade.errors import StockadeError
from stockade.lsm.caps import cap_number
from stockade.lsm.module import SecurityModule, Verdict
from stockade.lsm.types import (
    MAY_APPEND,
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    Object,
    Request,
    Subject,
    access_names,
)
from stockade.modules.labels import PidLabels, TaskLabelStore, decode_label, label_of, xattr_name

#: the files a task holds open for writing (or None when that cannot be told): set by the
#: supervisor, which can look at a real task's descriptors and shared mappings
WritableFiles = Callable[[int], Iterable[Object] | None]

CAP_MAC_ADMIN = cap_number("mac_admin")
DEFAULT_LEVELS = ("low", "medium", "high")
MODELS = ("strict", "lwm")


@dataclass(frozen=True, slots=True)
class Integrity:
    """A parsed Biba label: the level's rank and its categories."""

    rank: int
    categories: frozenset[str]
    text: str

    def dominates(self, other: Integrity) -> bool:
        """At or above `other`: level not lower, categories a superset."""
        return self.rank >= other.rank and self.categories >= other.categories


@dataclass
class Biba(SecurityModule):
    """Biba strict integrity, or the low-water-mark variant with `model="lwm"`."""

    name = "biba"
    levels: tuple[str, ...] = DEFAULT_LEVELS
    model: str = "strict"
    default_level: str = ""  # unlabelled objects; default the lowest level
    default_subject: str = ""  # unlabelled subjects; default the lowest level
    xattr: str | None = None
    max_tracked: int = 4096
    task_labels: TaskLabelStore | None = None
    writable_files: WritableFiles | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    overflows: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.levels = tuple(self.levels)
        if not self.levels or len(set(self.levels)) != len(self.levels):
            raise StockadeError("biba levels must be a non-empty list of distinct names")
        for level in self.levels:
            if not level or any(c in level for c in ":, \t"):
                raise StockadeError(f"bad biba level name {level!r}")
        if self.model not in MODELS:
            raise StockadeError(f"biba model must be one of {', '.join(MODELS)}, not {self.model!r}")
        if self.max_tracked < 1:
            raise StockadeError("biba max_tracked must be at least 1")
        self._rank = {level: i for i, level in enumerate(self.levels)}
        self._object_default = self.parse(self.default_level or self.levels[0])
        self._subject_default = self.parse(self.default_subject or self.levels[0])
        self.label_xattr = xattr_name(self.name, self.xattr)
        if self.task_labels is None:
            self.task_labels = PidLabels(self.max_tracked)

    # -- labels -------------------------------------------------------------------------------

    def parse(self, text: str) -> Integrity:
        """`high` or `high:cat1,cat2`; an unknown level is an error."""
        level, _, cats = text.strip().partition(":")
        if level not in self._rank:
            raise StockadeError(f"unknown biba level {level!r} (levels: {', '.join(self.levels)})")
        categories = frozenset(c.strip() for c in cats.split(",") if c.strip())
        canonical = level + (":" + ",".join(sorted(categories)) if categories else "")
        return Integrity(self._rank[level], categories, canonical)

    def _parse_or_lowest(self, text: str) -> Integrity:
        """A label read from a file: an invalid one counts as the lowest level (fail closed)."""
        try:
            return self.parse(text)
        except StockadeError:
            return Integrity(0, frozenset(), self.levels[0])

    def meet(self, a: Integrity, b: Integrity) -> Integrity:
        """The greatest lower bound: the lower level and the common categories."""
        rank = min(a.rank, b.rank)
        cats = a.categories & b.categories
        text = self.levels[rank] + (":" + ",".join(sorted(cats)) if cats else "")
        return Integrity(rank, cats, text)

    def configured(self, subject: Subject) -> Integrity:
        """The subject's label from its contexts, or the default."""
        text = subject.context(self.name)
        return self._parse_or_lowest(text) if text else self._subject_default

    def current(self, subject: Subject) -> Integrity:
        """The subject's label now: lowered by low-water-mark reads, if any."""
        assert self.task_labels is not None
        found = self.task_labels.label(subject.pid, self.name) if subject.pid else None
        return self._parse_or_lowest(found) if found else self.configured(subject)

    def lowest_label(self) -> str:
        """The label of a task whose label cannot be known (fail closed): the lowest level."""
        return self.levels[0]

    def subject_label(self, subject: Subject) -> str:
        """The subject's current label as text."""
        return self.current(subject).text

    def object_integrity(self, obj: Object | None) -> Integrity:
        """An object's label: a task's current label, a file's xattr, else the default."""
        if obj is None:
            return self._object_default
        if obj.task is not None:
            return self.current(obj.task)
        raw = obj.xattr(self.label_xattr)
        if raw is None:
            return self._object_default
        text = decode_label(raw)
        return self._parse_or_lowest(text) if text else self._object_default

    def exec_label(self, exe: Object) -> str | None:
        """The program's own label: under low-water-mark, running it is reading it."""
        return label_of(exe, self.name, self.xattr)

    def transition(self, subject_label: str, exe_label: str | None) -> str:
        """Strict: unchanged (a lower program is refused). LWM: the meet with the program."""
        if self.model != "lwm" or not exe_label:
            return subject_label
        return self.meet(self._parse_or_lowest(subject_label), self._parse_or_lowest(exe_label)).text

    def new_object_label(self, subject: Subject) -> str:
        """A file created by `subject` carries its current label."""
        return self.current(subject).text

    def create_labels(self, subject: Subject, new: Object) -> tuple[tuple[str, str], ...]:
        """(attribute, label) pairs of a file `subject` creates: its current label."""
        return ((self.label_xattr, self.current(subject).text),)

    def forget(self, pid: int) -> None:
        """Drop a process's lowered label (it exited; the supervisor's store does this itself)."""
        forget = getattr(self.task_labels, "forget", None)
        if forget is not None:
            with self._lock:
                forget(pid)

    def tracked(self) -> int:
        """How many subjects have a changed label."""
        return len(self.task_labels)  # type: ignore[arg-type]

    # -- decisions ----------------------------------------------------------------------------

    def _fields(self, subj: Integrity, obj: Integrity, access: str) -> tuple[tuple[str, str], ...]:
        return (("model", self.model), ("subject_level", subj.text), ("object_level", obj.text),
                ("requested", access))

    def _deny(self, subj: Integrity, obj: Integrity, access: str, why: str,
              err: int = errno.EACCES) -> Verdict:
        return self.deny(err, why, fields=self._fields(subj, obj, access),
                         cacheable=self.model == "strict")

    def _ok(self) -> Verdict | None:
        # In LWM mode an allow depends on the map: an explicit uncacheable allow keeps the
        # stack from caching a later walk around it.
        return Verdict(self.name, 0, cacheable=False) if self.model == "lwm" else None

    def _read(self, req: Request, obj: Integrity, access: str) -> Verdict | None:
        subj = self.current(req.subject)
        if obj.dominates(subj):
            return self._ok()
        if self.model == "strict":
            return self._deny(subj, obj, access, f"no read down: {obj.text} is below {subj.text}")
        lowered = self.meet(subj, obj)
        held = self._held_above(req.subject.pid, lowered)
        if held:
            return self._deny(subj, obj, access, f"no read down while writing above: reading "
                              f"{obj.text} would lower {subj.text} to {lowered.text}, and "
                              f"{held} is open for writing")
        with self._lock:
            full = not self.task_labels.relabel(req.subject.pid, self.name, lowered.text)  # type: ignore[union-attr]
            if full:
                self.overflows += 1
        if full:
            return self._deny(subj, obj, access, f"no read down: {obj.text} is below {subj.text} "
                              "(low-water-mark table full: the task-label store keeps no new subject)")
        # a demotion is recorded (an AUDIT event), as LOMAC logs demotions
        return Verdict(self.name, 0, f"low-water-mark: {subj.text} lowered to {lowered.text}",
                       audit=True, cacheable=False, fields=self._fields(subj, obj, access))

    def _held_above(self, pid: int, lowered: Integrity) -> str:
        """A file `pid` holds open for writing whose label `lowered` would not dominate (its
        path), "" when none; fail closed when the descriptors cannot be looked at."""
        if self.writable_files is None or not pid:
            return ""
        files = self.writable_files(pid)
        if files is None:
            return "a file that cannot be looked at"
        for obj in files:
            if not lowered.dominates(self.object_integrity(obj)):
                return obj.path or "a file"
        return ""

    def _write(self, req: Request, obj: Integrity, access: str, what: str = "") -> Verdict | None:
        subj = self.current(req.subject)
        if subj.dominates(obj):
            return self._ok()
        where = f" {what}" if what else ""
        return self._deny(subj, obj, access, f"no write up:{where} {obj.text} is above {subj.text}")

    def _file(self, req: Request, obj: Object, mask: int) -> Verdict | None:
        level = self.object_integrity(obj)
        access = ",".join(access_names(mask))
        if mask & (MAY_WRITE | MAY_APPEND):
            verdict = self._write(req, level, access)
            if verdict is not None and verdict.errno:
                return verdict
        if mask & (MAY_READ | MAY_EXEC):
            return self._read(req, level, access)
        return self._ok()

    def hook_file_open(self, req: Request) -> Verdict | None:
        """Read/execute: no read down; write/append: no write up."""
        if req.obj is None:
            return None
        return self._file(req, req.obj, req.access & (MAY_READ | MAY_WRITE | MAY_APPEND | MAY_EXEC))

    def hook_file_permission(self, req: Request) -> Verdict | None:
        """Each read or write on an open file (the LWM label may have dropped since open)."""
        return self.hook_file_open(req)

    def hook_bprm_check_security(self, req: Request) -> Verdict | None:
        """Executing a program reads it."""
        if req.obj is None:
            return None
        return self._read(req, self.object_integrity(req.obj), "exec")

    def _modify_dir(self, req: Request, obj: Object | None, also_obj: bool) -> Verdict | None:
        if obj is None:
            return None
        if also_obj and obj.exists:
            verdict = self._write(req, self.object_integrity(obj), "write", "object")
            if verdict is not None and verdict.errno:
                return verdict
        if obj.parent is not None:
            return self._write(req, self.object_integrity(obj.parent), "write", "directory")
        return self._ok()

    def hook_inode_create(self, req: Request) -> Verdict | None:
        """Creating a name writes the directory."""
        return self._modify_dir(req, req.obj, False)

    hook_inode_mkdir = hook_inode_create
    hook_inode_mknod = hook_inode_create
    hook_inode_symlink = hook_inode_create

    def hook_inode_unlink(self, req: Request) -> Verdict | None:
        """Removing a name writes the object and its directory."""
        return self._modify_dir(req, req.obj, True)

    hook_inode_rmdir = hook_inode_unlink

    def hook_inode_rename(self, req: Request) -> Verdict | None:
        """Both directories and a replaced target are written."""
        verdict = self._modify_dir(req, req.obj, True)
        if (verdict is None or not verdict.errno) and req.target is not None:
            return self._modify_dir(req, req.target, True)
        return verdict

    def hook_inode_link(self, req: Request) -> Verdict | None:
        """A new link writes the target directory (and the object's link count)."""
        verdict = self._modify_dir(req, req.obj, True)
        if (verdict is None or not verdict.errno) and req.target is not None:
            return self._modify_dir(req, req.target, False)
        return verdict

    def hook_inode_setattr(self, req: Request) -> Verdict | None:
        """chmod, chown, truncate: writes."""
        if req.obj is None:
            return None
        return self._write(req, self.object_integrity(req.obj), "setattr")

    def hook_inode_setxattr(self, req: Request) -> Verdict | None:
        """Relabelling: the object must be at or below the subject, and so must the new label
        (carried in `req.target.xattrs` when known), unless CAP_MAC_ADMIN."""
        obj = req.obj
        if obj is None:
            return None
        verdict = self._write(req, self.object_integrity(obj), "setxattr")
        if req.what != self.label_xattr or (verdict is not None and verdict.errno):
            return verdict
        raw = req.target.xattr(req.what) if req.target is not None else None
        if raw is None:
            return verdict
        subj = self.current(req.subject)
        try:
            new = self.parse(decode_label(raw))
        except StockadeError as err:
            return self._deny(subj, self.object_integrity(obj), "relabel", str(err), errno.EINVAL)
        if subj.dominates(new):
            return verdict
        if self.capable is not None and self.capable(req, CAP_MAC_ADMIN):
            return self._ok()
        return self._deny(subj, new, "relabel", f"cannot raise a label to {new.text} above "
                          f"{subj.text} without CAP_MAC_ADMIN", errno.EPERM)

    def _invoke(self, req: Request, what: str) -> Verdict | None:
        if req.obj is None or req.obj.task is None:
            return None
        subj = self.current(req.subject)
        target = self.current(req.obj.task)
        if subj.dominates(target):
            return self._ok()
        return self._deny(subj, target, what, f"no invoke up: task {req.obj.task.pid} is at "
                          f"{target.text}, above {subj.text}", errno.EPERM)

    def hook_task_kill(self, req: Request) -> Verdict | None:
        """Signals go only to tasks at or below (signal 0 is an existence test)."""
        return self._invoke(req, "signal") if req.signal else None

    def hook_ptrace_access_check(self, req: Request) -> Verdict | None:
        """Tracing only tasks at or below."""
        return self._invoke(req, "ptrace")
