"""Profile errors that name file:line:col, with the offending line for a caret display."""

from __future__ import annotations

from stockade.errors import StockadeError


class PolicyError(StockadeError):
    """A broken profile: where (file, line, col, 1-based) and what was expected."""

    def __init__(
        self, message: str, file: str = "<text>", line: int = 0, col: int = 0,
        source_line: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.source_line = source_line
        super().__init__(f"{self.where}: {message}")

    @property
    def where(self) -> str:
        """`file:line:col`, or the file alone for an error about the whole file (line 0)."""
        return f"{self.file}:{self.line}:{self.col}" if self.line else self.file

    def caret(self) -> str:
        """The offending line and a caret under the column ("" when the line is unknown)."""
        if self.source_line is None:
            return ""
        prefix = "".join(c if c == "\t" else " " for c in self.source_line[: max(self.col - 1, 0)])
        return f"{self.source_line}\n{prefix}^"

    def to_dict(self) -> dict[str, object]:
        """The JSON shape used by `stockade check --json`."""
        return {"file": self.file, "line": self.line, "col": self.col, "message": self.message}


class PolicySyntaxError(PolicyError):
    """The text does not follow the grammar of apparmor.d(5)."""


class PolicySemanticError(PolicyError):
    """Well-formed text with a meaning apparmor_parser rejects (unknown name, conflict...)."""


class IncludeError(PolicyError):
    """A missing include target or an include cycle."""
