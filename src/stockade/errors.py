"""The one error type that reaches users as a one-line message.

A leaf module: every package may import it. Raise `StockadeError` (or a subclass) for bad
input, a missing kernel feature or a dead target; the CLI prints `stockade: <message>` and
exits with `exit_code`, never a traceback.

`EXIT_STATUS` is the one rule every command follows (`stockade --help`, the man pages' EXIT
STATUS, README).
"""

EXIT_STATUS = (
    "exit status, every command: 0 done; 1 the answer asked for is no (explain: denied; "
    "check: the profiles have errors); 2 bad input: a flag, a missing or unreadable file, a "
    "profile or log that does not parse, a target that is gone (one line on stderr); 3 a "
    "--strict refusal or a kernel feature this host lacks; 70 an internal error. `run` "
    "returns the program's status, 128+N if it died of signal N, and for its own failures "
    "125 (bad input, or the program could not be confined: as env(1), timeout(1) and docker "
    "run), 126 not executable, 127 not found, 3 a --strict refusal; `learn` returns 1 when "
    "the program failed (the profile is written all the same) and 125, 126, 127 as `run` "
    "when it did not run.")


class StockadeError(Exception):
    """A user-facing error: one line, and the exit status to use (2: bad input)."""

    exit_code: int = 2

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
