"""`stockade import --from tomoyo DIR -o PROFILE`: a policy of another system as an
AppArmor-syntax profile (what `run -p` enforces with Landlock and seccomp)."""

from __future__ import annotations

import argparse
import sys

from stockade.errors import StockadeError, UsageError

COMMAND = "import"
HELP = "convert another system's policy to an AppArmor-syntax profile (--from tomoyo)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `stockade import`."""
    parser.add_argument("--from", dest="source", required=True, choices=("tomoyo",),
                        help="the policy's system")
    parser.add_argument("path", metavar="DIR", help="the policy (a TOMOYO policy directory)")
    parser.add_argument("-o", "--output", metavar="PROFILE", help="write here (default stdout)")
    parser.add_argument("--domain", metavar="NAME",
                        help="the TOMOYO domain to convert (default: the only one besides "
                             "<kernel>)")


def run(args: argparse.Namespace) -> int:
    """Convert; each ACL left out is named on stderr (it is a comment in the profile)."""
    from stockade.modules.tomoyo.policy import load_policy
    from stockade.modules.tomoyo.to_apparmor import convert, default_domain

    try:
        policy = load_policy(args.path)
        done = convert(policy, args.domain or default_domain(policy))
    except StockadeError as err:
        raise UsageError(str(err)) from None
    for line in done.skipped:
        sys.stderr.write(f"stockade import: not converted: {line}\n")
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(done.text)
        except OSError as err:
            raise StockadeError(f"cannot write {args.output}: {err.strerror}") from None
    else:
        sys.stdout.write(done.text)
    return 0
