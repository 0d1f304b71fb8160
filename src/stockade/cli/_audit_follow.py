"""`stockade audit follow`: ship records live to stdout, syslog or the journal.

The sources are `notify`'s (audit.log, the audit netlink group as root, --log files,
--store databases), merged by the same `Follower`; the formats are `audit export`'s.
"""

from __future__ import annotations

import argparse
from typing import Any

from stockade.audit.ship import FORMATS, encoder
from stockade.audit.ship.outputs import JournalOutput, Output, StreamOutput, SyslogOutput
from stockade.audit.when import parse_since
from stockade.cli.notify import add_source_arguments

_RESULTS = {"denied": "DENIED", "allowed": "ALLOWED", "audit": "AUDIT"}
#: The format each destination ships when --format is not given.
DEFAULT_FORMAT = {"stdout": "jsonl", "syslog": "syslog", "journal": "syslog"}


def add_follow_parser(sub: Any) -> None:
    """The `follow` sub-command's options."""
    p = sub.add_parser("follow", help="ship records live to stdout, syslog or the journal")
    p.add_argument("--to", choices=sorted(DEFAULT_FORMAT), default="stdout",
                   help="destination (default stdout)")
    p.add_argument("--format", choices=sorted(FORMATS), default=None,
                   help="jsonl, ecs, otlp or syslog (RFC 5424); default jsonl on stdout, the "
                        "kernel-style line as the message for syslog and journal")
    p.add_argument("--syslog-address", metavar="PATH|HOST:PORT", default="/dev/log",
                   help="syslog socket or UDP address for --to syslog (default /dev/log)")
    p.add_argument("--host", metavar="NAME", help="host.name to ship (default: this host)")
    p.add_argument("--result", choices=sorted(_RESULTS), type=str.lower,
                   help="only denied, allowed (complain/permissive) or audit records")
    p.add_argument("--since", metavar="WHEN",
                   help="also ship earlier records: 30m, 1h, 2d, an ISO time or epoch seconds")
    add_source_arguments(p)
    p.add_argument("--once", action="store_true", help="ship what is there now and exit")


def _output(args: argparse.Namespace, fmt: str) -> Output:
    enc = encoder(fmt)
    if args.to == "syslog":
        return SyslogOutput(enc, fmt, args.syslog_address, args.host)
    if args.to == "journal":
        return JournalOutput(enc, fmt, args.host)
    return StreamOutput(enc, host=args.host)


def follow(args: argparse.Namespace) -> int:
    """Follow the sources and ship each new record (a batch per poll)."""
    from stockade.audit.follow import Follower
    from stockade.cli.notify import open_sources

    fmt = args.format or DEFAULT_FORMAT[args.to]
    since = parse_since(args.since) if args.since else None
    output = _output(args, fmt)
    args.summary = False
    follower = Follower(open_sources(args, since is not None or args.once, since, "audit follow"),
                        since=since)
    want = _RESULTS.get(args.result or "")
    try:
        batches = iter([follower.drain()]) if args.once else iter(
            lambda: follower.poll(1.0), None)
        for batch in batches:
            chosen = [r for r in batch if want is None or r.result == want]
            if chosen:
                output.send(chosen)
    finally:
        follower.close()
        output.close()
    return 0
