"""`stockade import`: policy written for other engines becomes a stockade profile."""

from __future__ import annotations

import argparse
import sys

from stockade.cli.output import printable, write_text
from stockade.errors import StockadeError, UsageError

COMMAND = "import"
HELP = ("import a Docker/Podman seccomp profile, a systemd unit's sandboxing or a TOMOYO "
        "domain as a profile")

_EPILOG = """\
--from oci-seccomp: Docker/Podman seccomp JSON (archMap/includes/excludes are resolved for
this machine, --caps, and the running kernel) or an OCI linux.seccomp object.
--from systemd: a unit file or drop-in; its [Service] sandboxing directives are read.
--from tomoyo: a TOMOYO policy directory; one domain's ACLs (--domain) become the profile,
each ACL that cannot be converted is a comment in it and a line on stderr.
Notes on what changes in meaning go to stderr.
example: stockade import --from oci-seccomp /usr/share/containers/seccomp.json -o podman"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `stockade import`."""
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--from", dest="source_format", required=True, metavar="FORMAT",
                        help="oci-seccomp, systemd or tomoyo")
    parser.add_argument("-o", "--output", metavar="PROFILE",
                        help="write the profile here (default or '-': stdout)")
    parser.add_argument("--profile-name", metavar="NAME",
                        help="name of the profile (default: from the file name)")
    parser.add_argument("--caps", metavar="CAP,...",
                        help="oci-seccomp: the container's capabilities for includes/excludes "
                        "(default: containers.conf default_capabilities, else Docker's)")
    parser.add_argument("--domain", metavar="NAME",
                        help="tomoyo: the domain to convert (default: the only one besides "
                        "<kernel>)")
    parser.add_argument("file", metavar="FILE", help="the policy file (a directory for tomoyo)")


def _tomoyo(args: argparse.Namespace) -> tuple[str, list[str]]:
    from stockade.modules.tomoyo.policy import load_policy
    from stockade.modules.tomoyo.to_apparmor import convert, default_domain

    try:
        policy = load_policy(args.file)
        done = convert(policy, args.domain or default_domain(policy))
    except StockadeError as err:
        raise UsageError(str(err)) from None
    return done.text, [f"not converted: {line}" for line in done.skipped]


def run(args: argparse.Namespace) -> int:
    """Import FILE and write the profile."""
    if args.output == "":
        raise UsageError("-o: empty path")
    if args.source_format == "tomoyo":
        text, notes = _tomoyo(args)
    else:
        from stockade.export.importers import importer

        fn = importer(args.source_format)
        caps = None
        if args.caps is not None:
            caps = tuple(c.strip().upper().removeprefix("CAP_") for c in args.caps.split(",")
                         if c.strip())
        result = fn(args.file, args.profile_name, caps=caps)
        text, notes = result.text, list(result.notes)
    for note in notes:
        sys.stderr.write(f"stockade import: {printable(note)}\n")
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        write_text(args.output, text)
    return 0
