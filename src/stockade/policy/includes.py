"""Loading files and following includes through a search path, as `apparmor_parser -I`.

Search order for `include <x>`: each `-I DIR`, then /etc/apparmor.d when present, then
stockade's bundled abstractions and tunables (package data). `include "x"` is relative to
the including file's directory first. An included directory includes each file in it
(dotfiles and editor or package-manager backups skipped). A file already being included is
skipped silently, as upstream's include cache does, so include cycles end by themselves.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Sequence

from stockade import fsview
from stockade.files import file_kind
from stockade.policy import ast
from stockade.policy.errors import IncludeError, PolicyError, PolicySyntaxError
from stockade.policy.limits import MAX_FILE_BYTES, MAX_INCLUDE_DEPTH, MAX_NESTING
from stockade.policy.parser import parse_text
from stockade.policy_dirs import BUNDLED_DIR, SYSTEM_DIR

_BACKUP_SUFFIXES = (
    "~", ".bak", ".orig", ".rej", ".swp", ".dpkg-new", ".dpkg-old", ".dpkg-dist",
    ".dpkg-bak", ".dpkg-remove", ".rpmnew", ".rpmsave", ".pacnew", ".pacsave",
)


def _not_regular(mode: int) -> str | None:
    """Why a file of this mode cannot be a profile, or None for a regular file."""
    return None if stat.S_ISREG(mode) else f"not a regular file ({file_kind(mode)})"


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
    data = b"".join(chunks)
    fsview.note_content(os.fspath(path), data)
    return data.decode("utf-8", "surrogateescape")


def skipped_name(name: str) -> bool:
    """Whether a directory entry is skipped when a directory is included or checked."""
    return name.startswith(".") or name.endswith(_BACKUP_SUFFIXES) or (
        name.startswith("#") and name.endswith("#")) or name == "README"


def search_path(include_dirs: Sequence[str] = (), *, system: bool = True,
                bundled: bool = True) -> list[str]:
    """The include search path: -I dirs, then /etc/apparmor.d, then the bundled data."""
    out = [str(d) for d in include_dirs]
    if system and fsview.isdir(SYSTEM_DIR):
        out.append(SYSTEM_DIR)
    if bundled:
        out.append(BUNDLED_DIR)
    return out


def _error(cls: type[PolicyError], message: str, node: ast.Node,
           lines: list[str]) -> PolicyError:
    line = node.pos.line
    src = lines[line - 1] if 0 < line <= len(lines) else None
    return cls(message, node.pos.file, line, node.pos.col, src)


def _too_deep(node: ast.Node, pf: ast.PolicyFile) -> PolicyError:
    return _error(PolicySyntaxError, f"nesting too deep: more than {MAX_NESTING} levels of "
                  "profiles, hats, blocks and conditionals (counted through includes)",
                  node, pf.lines)


class Loader:
    """Parses files once each and resolves their includes (one per `check` run)."""

    def __init__(self, include_dirs: Sequence[str] = (), *, system: bool = True,
                 bundled: bool = True) -> None:
        self.path = search_path(include_dirs, system=system, bundled=bundled)
        #: what the policy is read from, by the names it was asked through: every file read,
        #: every directory whose files were included, and every place an include was looked
        #: for (a file made there, or an /etc/apparmor.d made, would change the policy)
        self.inputs: dict[str, None] = {}
        if system and SYSTEM_DIR not in self.path:
            self.inputs[SYSTEM_DIR] = None
        self._cache: dict[str, ast.PolicyFile] = {}
        self._height: dict[str, int] = {}  # file -> the nesting inside it, its includes too
        self._stack: list[str] = []
        self.include_seconds = 0.0  # time spent reading and parsing included files
        self._including = 0

    def load_file(self, path: str | os.PathLike[str], _depth: int = 0) -> ast.PolicyFile:
        """Parse a file and, recursively, everything it includes."""
        self.inputs[os.path.join(os.getcwd(), path)] = None  # `..` stays: it is walked
        real = fsview.realpath(path)
        if real in self._cache:
            return self._cache[real]
        text = read_policy_file(real, str(path))
        return self.load_text(text, str(path), _real=real, _depth=_depth)

    def load_text(self, text: str, name: str = "<text>", *, _real: str | None = None,
                  _depth: int = 0) -> ast.PolicyFile:
        """Parse text (named `name` in errors) and resolve its includes."""
        pf = ast.PolicyFile(path=name, statements=parse_text(text, name),
                            lines=text.split("\n"))
        key = _real or f"<text:{id(pf)}>"
        self._stack.append(key)
        try:
            height = self._resolve(pf.statements, pf, _depth) - _depth
        finally:
            self._stack.pop()
        if _real is not None:  # kept for files only, as the cache is (text is not reused)
            self._height[_real] = height
        if _real is not None:
            self._cache[_real] = pf
        return pf

    def _resolve(self, nodes: Sequence[ast.Node], pf: ast.PolicyFile, depth: int) -> int:
        """Resolve the includes under `nodes` (`depth` blocks deep, counted across the files
        that include this one); returns the deepest nesting reached."""
        deepest = depth
        for node in nodes:
            if isinstance(node, ast.Include):
                start = time.perf_counter()
                self._including += 1
                try:
                    node.files, reached = self._include(node, pf, depth)
                finally:
                    self._including -= 1
                    if not self._including:  # nested includes are inside this time
                        self.include_seconds += time.perf_counter() - start
                deepest = max(deepest, reached)
                continue
            if isinstance(node, ast.Abi):
                self._abi(node, pf)
                continue
            if not isinstance(node, ast.Profile | ast.QualifierBlock | ast.Conditional):
                continue
            if depth >= MAX_NESTING:
                raise _too_deep(node, pf)
            deepest = max(deepest, self._resolve(node.body, pf, depth + 1))
            if isinstance(node, ast.Conditional):
                deepest = max(deepest, self._resolve(node.else_body, pf, depth + 1))
        return deepest

    def find(self, inc: ast.Include, including: str) -> str | None:
        """The file or directory an include names, or None when not found."""
        if os.path.isabs(inc.path):
            self.inputs[inc.path] = None
            return inc.path if fsview.exists(inc.path) else None
        dirs = list(self.path)
        if not inc.magic:
            # upstream opens a quoted or bare name as given (relative to the working
            # directory); stockade also tries the including file's directory, never -I
            base = os.path.dirname(including) if not including.startswith("<") else os.getcwd()
            dirs = [os.getcwd(), base]
        for d in dirs:
            cand = os.path.join(d, inc.path)
            self.inputs[os.path.join(os.getcwd(), cand)] = None  # `..` stays: it is walked
            if fsview.exists(cand):
                return cand
        return None

    def _abi(self, abi: ast.Abi, pf: ast.PolicyFile) -> None:
        """`abi <x>,` must name a features file (parser_yacc.y abi_features_base): a
        regular file found like an include; `<kernel>` and `<default>` are built in."""
        if abi.magic and abi.path in ("kernel", "default"):
            return
        found = self.find(ast.Include(pos=abi.pos, path=abi.path, magic=abi.magic), pf.path)
        if found is None or not fsview.isfile(found):
            shown = f"<{abi.path}>" if abi.magic else f'"{abi.path}"'
            what = "Could not open" if found is None else "failed to find features abi"
            raise _error(IncludeError, f"{what} {shown}", abi, pf.lines)

    def _include(self, inc: ast.Include, pf: ast.PolicyFile, depth: int,
                 ) -> tuple[list[ast.PolicyFile], int]:
        """The files `inc` names, parsed, and the deepest nesting reached through them."""
        if len(self._stack) > MAX_INCLUDE_DEPTH:
            raise _error(IncludeError, f"includes nested too deep (more than "
                         f"{MAX_INCLUDE_DEPTH} files)", inc, pf.lines)
        found = self.find(inc, pf.path)
        if found is None:
            if inc.if_exists:
                return [], depth
            shown = f"<{inc.path}>" if inc.magic else f'"{inc.path}"'
            raise _error(IncludeError, f"Could not open {shown} (searched: "
                         f"{', '.join(self.path) or 'nothing'})", inc, pf.lines)
        if fsview.isdir(found):
            names = sorted(n for n in fsview.listdir(found) if not skipped_name(n))
            targets = [os.path.join(found, n) for n in names
                       if fsview.isfile(os.path.join(found, n))]
        else:
            targets = [found]
        out = []
        deepest = depth
        for target in targets:
            real = fsview.realpath(target)
            if real in self._stack:
                # upstream's include cache skips a file already being included (a file
                # including itself, directly or not, is read once; parser_lex.l)
                continue
            try:
                out.append(self.load_file(target, depth))
                reached = depth + self._height.get(real, 0)
                if reached > MAX_NESTING:  # a file parsed before, included deeper now
                    raise _too_deep(inc, pf)
                deepest = max(deepest, reached)
            except PolicyError as err:
                if err.line:
                    raise
                # A file-level error (unreadable, not a regular file, too large): name the
                # include that asked for it.
                raise _error(IncludeError, f"cannot include {target}: {err.message}",
                             inc, pf.lines) from None
        return out, deepest


def load(source: str | os.PathLike[str], include_dirs: Sequence[str] = (), *,
         loader: Loader | None = None) -> ast.PolicyFile:
    """Parse a profile file (a path, or a string naming an existing file) or profile text (a
    string containing a newline or '{' that names no file)."""
    loader = loader or Loader(include_dirs)
    s = str(source)
    if is_path(source):
        return loader.load_file(s)
    return loader.load_text(s)


def is_path(source: str | os.PathLike[str]) -> bool:
    """Whether `source` names a file rather than holding profile text (a file name may hold
    a '{' or even a newline: an existing file wins)."""
    s = str(source)
    return isinstance(source, os.PathLike) or ("\n" not in s and "{" not in s) \
        or (len(s) < 4096 and fsview.lexists(s))
