"""Loading files and following includes through a search path, as `apparmor_parser -I`.

Search order for `include <x>`: each `-I DIR`, then /etc/apparmor.d when present, then
stockade's bundled abstractions and tunables (package data). `include "x"` is relative to
the including file's directory first. An included directory includes each file in it
(dotfiles and editor or package-manager backups skipped). A file already being included is
skipped silently, as upstream's include cache does, so include cycles end by themselves.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from stockade.policy import ast
from stockade.policy.errors import IncludeError, PolicyError, PolicySyntaxError
from stockade.policy.parser import parse_text

SYSTEM_DIR = "/etc/apparmor.d"
BUNDLED_DIR = str(Path(__file__).resolve().parent.parent / "data" / "apparmor.d")

_BACKUP_SUFFIXES = (
    "~", ".bak", ".orig", ".rej", ".swp", ".dpkg-new", ".dpkg-old", ".dpkg-dist",
    ".dpkg-bak", ".dpkg-remove", ".rpmnew", ".rpmsave", ".pacnew", ".pacsave",
)


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
        try:
            with open(real, encoding="utf-8", errors="surrogateescape") as fh:
                text = fh.read()
        except OSError as err:
            raise PolicyError(f"cannot read: {err.strerror}", str(path), 0, 0) from None
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
            elif isinstance(node, ast.Abi):
                self._abi(node, pf)
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
            # upstream opens a quoted or bare name as given (relative to the working
            # directory); stockade also tries the including file's directory, never -I
            base = os.path.dirname(including) if not including.startswith("<") else os.getcwd()
            dirs = [os.getcwd(), base]
        for d in dirs:
            cand = os.path.join(d, inc.path)
            if os.path.exists(cand):
                return cand
        return None

    def _abi(self, abi: ast.Abi, pf: ast.PolicyFile) -> None:
        """`abi <x>,` must name a features file (parser_yacc.y abi_features_base): a
        regular file found like an include; `<kernel>` and `<default>` are built in."""
        if abi.magic and abi.path in ("kernel", "default"):
            return
        found = self.find(ast.Include(pos=abi.pos, path=abi.path, magic=abi.magic), pf.path)
        if found is None or not os.path.isfile(found):
            shown = f"<{abi.path}>" if abi.magic else f'"{abi.path}"'
            what = "Could not open" if found is None else "failed to find features abi"
            raise _error(IncludeError, f"{what} {shown}", abi, pf.lines)

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
                # upstream's include cache skips a file already being included (a file
                # including itself, directly or not, is read once; parser_lex.l)
                continue
            try:
                out.append(self.load_file(target))
            except PolicySyntaxError:
                raise
        return out


def load(source: str | os.PathLike[str], include_dirs: Sequence[str] = (), *,
         loader: Loader | None = None) -> ast.PolicyFile:
    """Parse a profile file (a path) or profile text (a string containing a newline or '{')."""
    loader = loader or Loader(include_dirs)
    s = str(source)
    if isinstance(source, os.PathLike) or ("\n" not in s and "{" not in s):
        return loader.load_file(s)
    return loader.load_text(s)
