"""The one error type that reaches users as a one-line message.

A leaf module: every package may import it. Raise `StockadeError` (or a subclass) for bad
input, a missing kernel feature or a dead target; the CLI prints `stockade: <message>` and
exits with `exit_code`, never a traceback.
"""


class StockadeError(Exception):
    """A user-facing error: one line, and the exit status to use."""

    exit_code: int = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(StockadeError):
    """Bad command-line usage (exit status 2)."""

    exit_code = 2


class UnsupportedError(StockadeError):
    """A kernel feature this host lacks; the message names the feature and the kernel that has it."""

    exit_code = 3
