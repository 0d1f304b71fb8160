"""Labels in extended attributes, subject contexts, exec transitions and file-contexts lists.

A module's label lives in the xattr `user.stockade.<module>` by default: `user.*` attributes
need no privilege, so labelling works without root. A module may be configured with another
name (`security.SMACK64` when stockade runs as root next to a real Smack). Values are text,
read up to the first NUL or newline, as the kernel's smk_fetch() and getfattr show them.

File contexts (`label restore`) follow restorecon's file_contexts format and precedence:
`REGEX [TYPE] LABEL` per line, regexes anchored at both ends, `<<none>>` meaning "leave alone";
a spec without regex metacharacters (an exact path) beats every regex, and among the specs of
the same kind the last matching one in file order wins (libselinux's label_file.c sorts exact
paths last and searches backwards).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from stockade.errors import StockadeError, UsageError
from stockade.lsm.types import LABEL_XATTR_PREFIX, Object, Subject
from stockade.slotted import replace

DEFAULT_PREFIX = LABEL_XATTR_PREFIX
NONE_LABEL = "<<none>>"
_MODULE_NAME = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
# file_contexts type selectors (libselinux string_to_mode)
FILE_TYPES: dict[str, int] = {
    "--": stat.S_IFREG, "-d": stat.S_IFDIR, "-l": stat.S_IFLNK, "-c": stat.S_IFCHR,
    "-b": stat.S_IFBLK, "-p": stat.S_IFIFO, "-s": stat.S_IFSOCK,
}
_META = set(".^$?*+|[({")


def xattr_name(module: str, xattr: str | None = None) -> str:
    """The attribute that holds `module`'s label: `xattr` if given, else user.stockade.<module>."""
    return xattr or DEFAULT_PREFIX + module


def decode_label(raw: bytes) -> str:
    """An xattr value as label text: up to the first NUL or newline, surrounding blanks removed."""
    text = raw.split(b"\x00", 1)[0].split(b"\n", 1)[0]
    return text.decode("utf-8", "replace").strip()


def label_of(obj: Object, module: str, xattr: str | None = None) -> str | None:
    """`module`'s label on `obj` (from the xattrs the probe read), or None when unlabelled."""
    raw = obj.xattr(xattr_name(module, xattr))
    if raw is None:
        return None
    return decode_label(raw) or None


def object_labels(obj: Object) -> dict[str, str]:
    """Every label `obj` carries, by module: user.stockade.<m> and security.<m> attributes."""
    found: dict[str, str] = {}
    for name, raw in obj.xattrs:
        if name.startswith(DEFAULT_PREFIX):
            module = name[len(DEFAULT_PREFIX):]
        elif name == "security.SMACK64":
            module = "smack"
        elif name.startswith("security.") and "." not in name[9:]:
            module = name[9:]
        else:
            continue
        label = decode_label(raw)
        if label:
            found.setdefault(module, label)
    return found


def _getxattr(target: int | str, name: str, follow: bool = True) -> str | None:
    try:
        if isinstance(target, int):
            raw = os.getxattr(target, name)
        else:
            raw = os.getxattr(target, name, follow_symlinks=follow)
    except OSError as err:
        if err.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
            return None
        raise
    return decode_label(raw) or None


def label_of_fd(fd: int, module: str, xattr: str | None = None) -> str | None:
    """`module`'s label on the file open at `fd` (for the supervisor: no path to race on)."""
    return _getxattr(fd, xattr_name(module, xattr))


def label_of_path(path: str, module: str, xattr: str | None = None, *,
                  follow: bool = True) -> str | None:
    """`module`'s label on the file at `path`; an unreadable path is an error."""
    try:
        return _getxattr(path, xattr_name(module, xattr), follow)
    except OSError as err:
        raise StockadeError(f"{path}: cannot read label: {err.strerror}") from None


def set_label(path: str, module: str, label: str, xattr: str | None = None, *,
              follow: bool = True) -> None:
    """Write `module`'s label on `path` (`chcon`); failures name the path and the reason."""
    name = xattr_name(module, xattr)
    try:
        os.setxattr(path, name, label.encode(), follow_symlinks=follow)
    except OSError as err:
        hint = ""
        if err.errno == errno.EPERM and name.startswith("security."):
            hint = " (security.* attributes need CAP_SYS_ADMIN or CAP_MAC_ADMIN)"
        elif err.errno == errno.EPERM and stat.S_ISLNK(os.lstat(path).st_mode):
            hint = " (user.* attributes cannot be set on symbolic links)"
        raise StockadeError(f"{path}: cannot set {name}: {err.strerror}{hint}") from None


def remove_label(path: str, module: str, xattr: str | None = None, *, follow: bool = True) -> bool:
    """Remove `module`'s label from `path`; False when there was none."""
    try:
        os.removexattr(path, xattr_name(module, xattr), follow_symlinks=follow)
    except OSError as err:
        if err.errno == errno.ENODATA:
            return False
        raise StockadeError(f"{path}: cannot remove label: {err.strerror}") from None
    return True


# -- subject contexts -------------------------------------------------------------------------

def parse_contexts(items: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """`["smack=foo", "biba=high"]` → `(("smack", "foo"), ("biba", "high"))`, for Subject.contexts."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in items:
        module, sep, label = item.partition("=")
        module, label = module.strip(), label.strip()
        if not sep or not label:
            raise UsageError(f"--context expects MODULE=LABEL, not {item!r}")
        if not _MODULE_NAME.match(module):
            raise UsageError(f"--context: bad module name {module!r}")
        if module in seen:
            raise UsageError(f"--context: {module} given twice")
        seen.add(module)
        pairs.append((module, label))
    return tuple(pairs)


def with_context(subject: Subject, module: str, label: str) -> Subject:
    """`subject` with `module`'s label replaced (or added)."""
    rest = tuple((m, lbl) for m, lbl in subject.contexts if m != module)
    return replace(subject, contexts=(*rest, (module, label)))


class LabelModule(Protocol):
    """What a label-based module offers besides its hooks."""

    name: str

    def subject_label(self, subject: Subject) -> str:
        """The subject's label for this module, the default when it has none."""
        ...

    def exec_label(self, exe: Object) -> str | None:
        """The label of an executable that matters for the exec transition."""
        ...

    def transition(self, subject_label: str, exe_label: str | None) -> str:
        """The subject's label after exec of a program whose exec_label is `exe_label`."""
        ...


def transition_subject(subject: Subject, exe: Object, modules: Iterable[object]) -> Subject:
    """`subject` after exec of `exe`: every label module's transition applied to its label."""
    for module in modules:
        if not hasattr(module, "transition") or not hasattr(module, "exec_label"):
            continue
        lm: LabelModule = module  # type: ignore[assignment]
        new = lm.transition(lm.subject_label(subject), lm.exec_label(exe))
        if new != subject.context(lm.name, ""):
            subject = with_context(subject, lm.name, new)
    return subject


def new_file_labels(modules: Iterable[object], subject: Subject,
                    new: Object) -> tuple[tuple[str, bytes], ...]:
    """The label attributes a file `subject` is about to create as `new` gets, by every module
    that labels new files (`create_labels`: Biba and Smack the creator's label or a transmuting
    directory's, SELinux type_transition), sorted by attribute name as the probe reads them."""
    found: dict[str, bytes] = {}
    for module in modules:
        create_labels = getattr(module, "create_labels", None)
        if create_labels is not None:
            found.update((name, label.encode()) for name, label in create_labels(subject, new))
    return tuple(sorted(found.items()))


# -- labels of running tasks -----------------------------------------------------------------

class TaskLabelStore(Protocol):
    """Where a module keeps the label of a running task that it changed (Biba's low-water-mark).

    The supervisor gives every such module its one store (keyed by pid and start time,
    inherited by children, bounded, fail closed: enforce/supervisor/target.py:TaskLabels);
    `PidLabels` is the stand-in with no process tree behind it (explain, unit tests).
    """

    def label(self, pid: int, module: str) -> str | None:
        """The changed label of thread group `pid`, or None."""
        ...

    def relabel(self, pid: int, module: str, label: str) -> bool:
        """Change it; False when it cannot be kept (the store is full: the caller refuses)."""
        ...


class PidLabels:
    """A bounded pid -> {module: label} map; when full, a new pid is refused (never evicted)."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._labels: dict[int, dict[str, str]] = {}
        self.refused = 0

    def __len__(self) -> int:
        return len(self._labels)

    def label(self, pid: int, module: str) -> str | None:
        """The changed label of `pid`, or None."""
        found = self._labels.get(pid)
        return found.get(module) if found is not None else None

    def relabel(self, pid: int, module: str, label: str) -> bool:
        """Change `pid`'s label; False when the map is full and `pid` is not in it."""
        if pid not in self._labels and len(self._labels) >= self.limit:
            self.refused += 1
            return False
        self._labels.setdefault(pid, {})[module] = label
        return True

    def forget(self, pid: int) -> None:
        """Drop an exited process."""
        self._labels.pop(pid, None)


# -- file contexts ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FileContextSpec:
    """One line of a file-contexts list."""

    regex: str
    file_type: int  # S_IFMT bits, 0 for any
    label: str
    lineno: int
    exact: bool  # no regex metacharacters: an exact path
    pattern: re.Pattern[str]


def _has_meta(regex: str) -> bool:
    i = 0
    while i < len(regex):
        if regex[i] == "\\":
            i += 2
            continue
        if regex[i] in _META:
            return True
        i += 1
    return False


class FileContexts:
    """A parsed file-contexts list and restorecon's lookup."""

    def __init__(self, specs: list[FileContextSpec]) -> None:
        # exact paths are searched first, then regexes; each kind from the last line backwards
        self.specs = specs
        self._order = ([s for s in reversed(specs) if s.exact]
                       + [s for s in reversed(specs) if not s.exact])

    @classmethod
    def parse(cls, text: str, source: str = "<contexts>") -> FileContexts:
        """Parse `REGEX [TYPE] LABEL` lines; errors name source:line."""
        specs: list[FileContextSpec] = []
        for lineno, line in enumerate(text.splitlines(), 1):
            words = line.split("#", 1)[0].split() if not line.lstrip().startswith("#") else []
            if not words:
                continue
            if len(words) == 2:
                regex, type_text, label = words[0], "", words[1]
            elif len(words) == 3:
                regex, type_text, label = words
            else:
                raise StockadeError(f"{source}:{lineno}: expected REGEX [TYPE] LABEL, "
                                    f"got {len(words)} fields")
            if type_text and type_text not in FILE_TYPES:
                raise StockadeError(f"{source}:{lineno}: unknown file type {type_text!r} "
                                    f"(one of {' '.join(FILE_TYPES)})")
            try:
                pattern = re.compile(regex)
            except re.error as err:
                raise StockadeError(f"{source}:{lineno}: bad regex {regex!r}: {err}") from None
            specs.append(FileContextSpec(regex, FILE_TYPES.get(type_text, 0), label, lineno,
                                         not _has_meta(regex), pattern))
        return cls(specs)

    @classmethod
    def load(cls, path: str) -> FileContexts:
        """Parse the file at `path`."""
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as err:
            raise StockadeError(f"{path}: {err.strerror}") from None
        return cls.parse(text, path)

    def lookup(self, path: str, mode: int = 0) -> FileContextSpec | None:
        """The spec that labels `path` with file type `mode` (st_mode), or None."""
        kind = stat.S_IFMT(mode)
        for spec in self._order:
            if spec.file_type and kind and spec.file_type != kind:
                continue
            if spec.pattern.fullmatch(path):
                return spec
        return None


@dataclass(frozen=True, slots=True)
class RestoreAction:
    """What `restore` did (or would do, with dry_run) to one path."""

    path: str
    old: str | None
    new: str | None  # None: no spec matched or <<none>>
    spec: FileContextSpec | None
    changed: bool


def walk(paths: Iterable[str], recursive: bool) -> Iterator[tuple[str, os.stat_result]]:
    """Every path (and, when recursive, everything below it, not following symlinks)."""
    for top in paths:
        try:
            st = os.lstat(top)
        except OSError as err:
            raise StockadeError(f"{top}: {err.strerror}") from None
        yield os.path.abspath(top), st
        if recursive and stat.S_ISDIR(st.st_mode):
            for root, dirs, files in os.walk(top):
                for name in sorted(dirs) + sorted(files):
                    full = os.path.abspath(os.path.join(root, name))
                    try:
                        yield full, os.lstat(full)
                    except OSError:
                        continue
                dirs.sort()


def restore(contexts: FileContexts, paths: Iterable[str], module: str, *,
            xattr: str | None = None, dry_run: bool = False,
            recursive: bool = False) -> list[RestoreAction]:
    """Set each path's label to what `contexts` says (restorecon); symlinks are labelled only
    through a security.* attribute, since the kernel refuses user.* ones on links."""
    actions: list[RestoreAction] = []
    name = xattr_name(module, xattr)
    for path, st in walk(paths, recursive):
        spec = contexts.lookup(path, st.st_mode)
        is_link = stat.S_ISLNK(st.st_mode)
        try:
            old = _getxattr(path, name, follow=False)
        except OSError:
            old = None
        if spec is None or spec.label == NONE_LABEL or (is_link and name.startswith("user.")):
            actions.append(RestoreAction(path, old, None, spec, False))
            continue
        changed = old != spec.label
        if changed and not dry_run:
            set_label(path, module, spec.label, xattr, follow=False)
        actions.append(RestoreAction(path, old, spec.label, spec, changed))
    return actions
