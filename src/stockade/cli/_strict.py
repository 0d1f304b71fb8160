"""`--strict[=own|all]`, shared by `run` and `compile`: one flag, one meaning."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stockade.cli._options import Group, Option

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse

    from stockade.enforce.plan.types import CoverageEntry


def strict_option(action: str, group: Group | None = None) -> Option:
    """`--strict[=own|all]` (dest `strict`: None, 'own' or 'all')."""
    return Option(("--strict",), dict(
        nargs="?", const="own", default=None, metavar="own|all",
        help=f"{action} unless every rule of the profile itself is enforced exactly; rules "
        "from shared abstractions and tunables (abstractions/, tunables/ of /etc/apparmor.d, "
        "-I dirs or stockade's bundled copy) count only with --strict=all"), group)


def add_strict(group: argparse._ActionsContainer, action: str) -> None:
    """Add `--strict[=own|all]` (dest `strict`: None, 'own' or 'all')."""
    option = strict_option(action)
    group.add_argument(*option.flags, **option.kwargs)


def check_strict(args: argparse.Namespace, positional: str | None = None) -> None:
    """Validate args.strict; `--strict PROFILE` (no value) gave the positional argument
    `positional` to --strict: hand it back."""
    from stockade.enforce.coverage_scope import STRICT_SCOPES
    from stockade.errors import UsageError

    if args.strict is None or args.strict in STRICT_SCOPES:
        return
    if positional is not None and getattr(args, positional) is None:
        setattr(args, positional, args.strict)
        args.strict = "own"
        return
    raise UsageError(f"--strict={args.strict}: one of {', '.join(STRICT_SCOPES)}")


def strict_judge(scope: str | None, include_dirs: Sequence[str]
                 ) -> Callable[[list[CoverageEntry]], list[CoverageEntry]] | None:
    """What `--strict=SCOPE` judges of the weakened entries (None: no --strict)."""
    if scope is None:
        return None
    from stockade.enforce.coverage_scope import judged

    return lambda entries: judged(entries, scope, include_dirs)
