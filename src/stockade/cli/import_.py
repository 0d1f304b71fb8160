"""`stockade import`: policy written for other engines becomes a stockade profile."""

from __future__ import annotations

import argparse
import sys

from stockade.errors import UsageError

COMMAND = "import"
HELP = "import a Docker/Podman seccomp profile or a systemd unit's sandboxing as a profile"

_EPILOG = """\
--from oci-seccomp: Docker/Podman seccomp JSON (archMap/includes/excludes are resolved for
this machine, --caps, and the running kernel) or an OCI linux.seccomp object.
--from systemd: a unit file or drop-in; its [Service] sandboxing directives are read.
Notes on what changes in meaning go to stderr.
example: stockade import --from oci-seccomp /usr/share/containers/seccomp.json -o podman"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `stockade import`."""
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--from", dest="source_format", required=True, metavar="FORMAT",
                        help="oci-seccomp or systemd")
    parser.add_argument("-o", "--output", required=True, metavar="PROFILE",
                        help="write the profile here ('-' for stdout)")
    parser.add_argument("--profile-name", metavar="NAME",
                        help="name of the profile (default: from the file name)")
    parser.add_argument("--caps", metavar="CAP,...",
                        help="oci-seccomp: the container's capabilities for includes/excludes "
                        "(default: containers.conf default_capabilities, else Docker's)")
    parser.add_argument("file", metavar="FILE")


def run(args: argparse.Namespace) -> int:
    """Import FILE and write the profile."""
    from stockade.cli.export import _escape, _write
    from stockade.export.importers import importer

    fn = importer(args.source_format)
    caps = None
    if args.caps is not None:
        caps = tuple(c.strip().upper().removeprefix("CAP_") for c in args.caps.split(",")
                     if c.strip())
    if not args.output:
        raise UsageError("-o: empty path")
    result = fn(args.file, args.profile_name, caps=caps)
    for note in result.notes:
        sys.stderr.write(f"import {args.source_format}: {_escape(note)}\n")
    if args.output == "-":
        sys.stdout.write(result.text)
    else:
        _write(args.output, result.text)
    return 0
