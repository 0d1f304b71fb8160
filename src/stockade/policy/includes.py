"""Loading files and following includes through a search path, as `apparmor_parser -I`.

Search order for `include <x>`: each `-I DIR`, then /etc/apparmor.d when present, then
stockade's bundled abstractions and tunables (package data). `include "x"` is relative to
the including file's directory first. An included directory includes each file in it
(dotfiles and editor or package-manager backups skipped). Cycles are errors.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from stockade.policy import ast
from stockade.policy.errors import IncludeError, PolicyError
from stockade.policy.parser import parse_text

SYSTEM_DIR = "/etc/apparmor.d"
BUNDLED_DIR = str(Path(__file__).resolve().parent.parent / "data" / "apparmor.d")

_BACKUP_SUFFIXES = (
    "~", ".bak", ".orig", ".rej", ".swp", ".dpkg-new", ".dpkg-old", ".dpkg-dist",
    ".dpkg-bak", ".dpkg-remove", ".rpmnew", ".rpmsave", ".pacnew", ".pacsave",
)


MAX_FILE_BYTES = 16 << 20  # a profile or include file larger than this is refused

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _not_regular(mode: int) -> str | None:
    """Why a file of this mode cannot be a profile, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), None)
    return f"not a regular file ({kind})" if kind else "not a regular file"


def read_policy_file(path: str | os.PathLike[str], name: str | None = None) -> str:
    """The text of a profile or include file: a regular file of at most MAX_FILE_BYTES.

    FIFOs, devices and sockets are refused before they are opened (opening some devices has
    effects) and again on the open descriptor (O_NONBLOCK, so a FIFO swapped in cannot block).
    """
    shown = str(path) if name is None else name
    try:
        why = _not_regular(os.stat(path).st_mode)
        if why is not None:
            raise PolicyError(why, shown)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        raise PolicyError(f"cannot read: {err.strerror}", shown) from None
    try:
        st = os.fstat(fd)
        why = _not_regular(st.st_mode)
        if why is not None:
            raise PolicyError(why, shown)
        if st.st_size > MAX_FILE_BYTES:
            raise PolicyError(f"file too large ({st.st_size} bytes; the limit is "
                              f"{MAX_FILE_BYTES} bytes)", shown)
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, min(1 << 20, MAX_FILE_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise PolicyError(f"file too large (more than {MAX_FILE_BYTES} bytes)", shown)
    except OSError as err:
        raise PolicyError(f"cannot read: {err.strerror}", shown) from None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "surrogateescape")


def skipped_name(name: str) -> bool:
    """Whether a directory entry is skipped when a directory is included or checked."""
    return name.startswith(".") or name.endswith(_BACKUP_SUFFIXES) or (
        name.startswith("#") and name.endswith("#")) or name == "README"


def search_path(include_dirs: Sequence[str] = (), *, system: bool = True,
                bundled: bool = True) -> list[str]:
    """The include search path: -I dirs, then /etc/apparmor.d, then the bundled data."""
    out = [str(d) for d in include_dirs]
    if system and os.path.isdir(SYSTEM_DIR):
        out.append(SYSTEM_DIR)
    if bundled:
        out.append(BUNDLED_DIR)
    return out


def _error(cls: type[PolicyError], message: str, node: ast.Node,
           lines: list[str]) -> PolicyError:
    line = node.pos.line
    src = lines[line - 1] if 0 < line <= len(lines) else None
    return cls(message, node.pos.file, line, node.pos.col, src)


class Loader:
    """Parses files once each and resolves their includes (one per `check` run)."""

    def __init__(self, include_dirs: Sequence[str] = (), *, system: bool = True,
                 bundled: bool = True) -> None:
        self.path = search_path(include_dirs, system=system, bundled=bundled)
        self._cache: dict[str, ast.PolicyFile] = {}
        self._stack: list[str] = []

    def load_file(self, path: str | os.PathLike[str]) -> ast.PolicyFile:
        """Parse a file and, recursively, everything it includes."""
        real = os.path.realpath(path)
        if real in self._cache:
            return self._cache[real]
        text = read_policy_file(real, str(path))
        pf = self.load_text(text, str(path), _real=real)
        return pf

    def load_text(self, text: str, name: str = "<text>", *, _real: str | None = None,
                  ) -> ast.PolicyFile:
        """Parse text (named `name` in errors) and resolve its includes."""
        pf = ast.PolicyFile(path=name, statements=parse_text(text, name),
                            lines=text.split("\n"))
        key = _real or f"<text:{id(pf)}>"
        self._stack.append(key)
        try:
            self._resolve(pf.statements, pf)
        finally:
            self._stack.pop()
        if _real is not None:
            self._cache[_real] = pf
        return pf

    def _resolve(self, nodes: Sequence[ast.Node], pf: ast.PolicyFile) -> None:
        for node in nodes:
            if isinstance(node, ast.Include):
                node.files = self._include(node, pf)
            elif isinstance(node, ast.Profile | ast.QualifierBlock):
                self._resolve(node.body, pf)
            elif isinstance(node, ast.Conditional):
                self._resolve(node.body, pf)
                self._resolve(node.else_body, pf)

    def find(self, inc: ast.Include, including: str) -> str | None:
        """The file or directory an include names, or None when not found."""
        if os.path.isabs(inc.path):
            return inc.path if os.path.exists(inc.path) else None
        dirs = list(self.path)
        if not inc.magic:
            base = os.path.dirname(including) if not including.startswith("<") else os.getcwd()
            dirs = [base, os.getcwd(), *dirs]
        for d in dirs:
            cand = os.path.join(d, inc.path)
            if os.path.exists(cand):
                return cand
        return None

    def _include(self, inc: ast.Include, pf: ast.PolicyFile) -> list[ast.PolicyFile]:
        found = self.find(inc, pf.path)
        if found is None:
            if inc.if_exists:
                return []
            shown = f"<{inc.path}>" if inc.magic else f'"{inc.path}"'
            raise _error(IncludeError, f"Could not open {shown} (searched: "
                         f"{', '.join(self.path) or 'nothing'})", inc, pf.lines)
        if os.path.isdir(found):
            names = sorted(n for n in os.listdir(found) if not skipped_name(n))
            targets = [os.path.join(found, n) for n in names
                       if os.path.isfile(os.path.join(found, n))]
        else:
            targets = [found]
        out = []
        for target in targets:
            real = os.path.realpath(target)
            if real in self._stack:
                chain = " -> ".join([*self._stack[self._stack.index(real):], real])
                raise _error(IncludeError, f"include cycle: {chain}", inc, pf.lines)
            try:
                out.append(self.load_file(target))
            except PolicyError as err:
                if err.line:
                    raise
                # A file-level error (unreadable, not a regular file, too large): name the
                # include that asked for it.
                raise _error(IncludeError, f"cannot include {target}: {err.message}",
                             inc, pf.lines) from None
        return out


def load(source: str | os.PathLike[str], include_dirs: Sequence[str] = (), *,
         loader: Loader | None = None) -> ast.PolicyFile:
    """Parse a profile file (a path) or profile text (a string containing a newline or '{')."""
    loader = loader or Loader(include_dirs)
    s = str(source)
    if isinstance(source, os.PathLike) or ("\n" not in s and "{" not in s):
        return loader.load_file(s)
    return loader.load_text(s)
