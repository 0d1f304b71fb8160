"""stockade.suppress against contextlib.suppress: the same exceptions end the block quietly,
the others propagate unchanged."""

from __future__ import annotations

import contextlib

import pytest

from stockade.suppress import suppress

RAISED = [None, OSError, FileNotFoundError, ProcessLookupError, ValueError, KeyboardInterrupt,
          SystemExit, BrokenPipeError]
SUPPRESSED = [(), (OSError,), (FileNotFoundError,), (FileNotFoundError, ValueError),
              (BaseException,), (Exception,), (ConnectionError,)]


def _outcome(manager: type, raised: type[BaseException] | None,
             suppressed: tuple[type[BaseException], ...]) -> tuple[str, object]:
    error = raised("x") if raised is not None else None
    ran_after = False
    try:
        with manager(*suppressed):
            if error is not None:
                raise error
            ran_after = True
    except BaseException as err:
        return "raised", err
    return "quiet", ran_after


@pytest.mark.parametrize("suppressed", SUPPRESSED)
@pytest.mark.parametrize("raised", RAISED)
def test_same_outcome_as_contextlib(raised: type[BaseException] | None,
                                    suppressed: tuple[type[BaseException], ...]) -> None:
    ours = _outcome(suppress, raised, suppressed)
    theirs = _outcome(contextlib.suppress, raised, suppressed)
    assert ours[0] == theirs[0]
    if ours[0] == "raised":  # the very exception, not a wrapper
        assert type(ours[1]) is raised and ours[1].args == ("x",)
    else:
        assert ours[1] == theirs[1]


def test_reusable_and_reentrant() -> None:
    quiet = suppress(KeyError)
    for _ in range(2):
        with quiet:
            with quiet:
                raise KeyError(1)
            raise KeyError(2)  # the outer use, after the inner one ended
