"""`stockade audit`: import kernel audit logs and stockade records, query, count, export."""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from pathlib import Path

from stockade.audit.eventrows import rows_from_file, rows_from_lines, rows_from_stream
from stockade.audit.readers.sources import AUDIT_LOG, audit_log_files, kmsg_lines
from stockade.audit.ship import FORMATS as SHIP_FORMATS
from stockade.audit.ship import encode
from stockade.audit.store import AuditStore, default_store_path
from stockade.audit.when import iso, parse_since
from stockade.cli import progress
from stockade.cli._audit_follow import add_follow_parser, follow
from stockade.cli.output import paint, print_json, printable, table
from stockade.errors import StockadeError, UsageError
from stockade.files import require_input

COMMAND = "audit"
HELP = "import, query, count and export audit records (kernel audit logs and stockade's own)"

_RESULTS = {"denied": "DENIED", "allowed": "ALLOWED", "audit": "AUDIT"}


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="PATH", default=argparse.SUPPRESS,
                        help=f"the audit store (default {default_store_path()})")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="WHEN", help="30m, 1h, 2d, an ISO time or epoch seconds")
    parser.add_argument("--profile", metavar="P", help="only records of this profile")
    parser.add_argument("--module", metavar="M",
                        help="only this layer: apparmor, selinux, landlock, seccomp, kernel, ...")
    parser.add_argument("--result", choices=sorted(_RESULTS), type=str.lower,
                        help="only denied, allowed (complain/permissive) or audit records")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`import`, `query`, `stats`, `export`; `--store PATH` on each."""
    _store_option(parser)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    imp = sub.add_parser("import", help="read audit logs or stockade JSONL into the store")
    imp.add_argument("files", nargs="*", metavar="FILE",
                     help="audit.log, dmesg/journal text or stockade JSONL; '-' reads stdin; "
                          "none: /var/log/audit/audit.log and its rotations")
    imp.add_argument("--kmsg", action="store_true",
                     help="also read the kernel ring buffer (/dev/kmsg) as it is now")
    _store_option(imp)
    query = sub.add_parser("query", help="records matching filters, oldest first")
    _filters(query)
    query.add_argument("--limit", type=int, metavar="N", help="at most N records")
    query.add_argument("--json", action="store_true", help="JSON output")
    _store_option(query)
    stats = sub.add_parser("stats", help="denials counted by profile, operation and path")
    _filters(stats)
    stats.add_argument("--top", type=int, default=20, metavar="N", help="rows per table")
    stats.add_argument("--json", action="store_true", help="JSON output")
    _store_option(stats)
    export = sub.add_parser("export", help="write records for log pipelines (JSONL, ECS, OTLP, "
                            "RFC 5424)")
    export.add_argument("--format", choices=sorted(SHIP_FORMATS), default=None,
                        help="jsonl (stockade's records, the default), ecs (Elastic Common "
                             "Schema), otlp (OTLP/JSON LogsData lines), syslog (RFC 5424)")
    export.add_argument("--jsonl", action="store_true", help="the same as --format jsonl")
    export.add_argument("--host", metavar="NAME", help="host.name to ship (default: this host)")
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    _filters(export)
    _store_option(export)
    add_follow_parser(sub)
    parse = sub.add_parser("parse", help="read AppArmor log lines as libapparmor does "
                                         "(its aa_log_record, in test_multi's layout)")
    parse.add_argument("files", nargs="*", metavar="FILE", help="log files; none or '-': stdin")
    parse.add_argument("--json", action="store_true", help="one JSON object per line")


def _open(args: argparse.Namespace, *, reading: bool = False) -> AuditStore:
    """The store of --store (default: the user's); `reading` (query, stats, export): one that
    exists, never made here (a mistyped --store made its directories and an empty store)."""
    path = getattr(args, "store", None) or default_store_path()
    if path == default_store_path() and os.geteuid() != 0 and not os.environ.get("XDG_STATE_HOME"):
        from stockade.cache_home import own_home

        why = own_home("XDG_STATE_HOME or --store")[1]
        if why:  # never make ~/.local/state in a home that is not this user's
            raise StockadeError(f"no audit store for this user: {why}")
    if reading and not os.path.exists(path):
        raise StockadeError(f"no audit store at {path} (`stockade audit import` fills one)")
    return AuditStore(path)


def _since(args: argparse.Namespace) -> float | None:
    return parse_since(args.since) if getattr(args, "since", None) else None


def _query_args(args: argparse.Namespace) -> dict[str, object]:
    return {"since": _since(args), "profile": args.profile, "module": args.module,
            "result": _RESULTS[args.result] if args.result else None}


# Fewer rows than a log of this many bytes holds (an AppArmor denial's event is ~600 bytes):
# the store builds its query indexes after an import this size when it holds fewer rows.
_BYTES_PER_ROW = 2048


def _expected_rows(files: list[str]) -> int:
    """A low estimate of the rows the regular files among `files` hold."""
    size = 0
    for name in files:
        try:
            st = os.stat(name) if name != "-" else None
        except OSError:
            continue
        if st is not None and stat.S_ISREG(st.st_mode):
            size += st.st_size
    return size // _BYTES_PER_ROW


def _import(args: argparse.Namespace) -> int:
    files = [str(p) for p in audit_log_files()] if not args.files and not args.kmsg else args.files
    if not files and not args.kmsg:
        if not os.access(AUDIT_LOG.parent, os.R_OK | os.X_OK):
            raise StockadeError(f"cannot read {AUDIT_LOG.parent} (root or the adm group can); "
                                "name the files to import")
        raise StockadeError(f"no audit log at {AUDIT_LOG} (without auditd the kernel's records "
                            "go to its log buffer: --kmsg reads them); name the files to "
                            "import, or pass --kmsg")
    for name in files:
        if name != "-" and not Path(name).exists():
            raise StockadeError(f"no such file: {name}")
        if name != "-":
            require_input(name, "audit log", fifo=True)  # a pipe, as <(journalctl -k), is one
    kmsg = kmsg_lines() if args.kmsg else []
    store = _open(args)
    stats: dict[str, int] = {}
    try:
        with store.writer(bulk=True, expected=_expected_rows(files)) as writer, \
                progress.counter("importing audit records", unit="rec") as bar:
            for name in files:
                if name == "-":
                    writer.extend_rows(bar.wrap(rows_from_stream(sys.stdin, stats)))
                else:
                    writer.extend_rows(bar.wrap(rows_from_file(name, stats)))
            if kmsg:
                writer.extend_rows(bar.wrap(rows_from_lines(kmsg, stats)))
        seen, new, rejected = writer.seen, writer.inserted, writer.rejected
    finally:
        store.close()
    skipped = stats.get("skipped", 0)
    sources = len(files) + (1 if args.kmsg else 0)
    improved = f", {store.improved} replaced by a more complete copy" if store.improved else ""
    print(f"imported {new} new records ({seen - new} already in the store{improved}) from "
          f"{sources} source(s) into {store.path}")
    if skipped or rejected:
        sys.stderr.write(f"stockade audit: skipped {skipped} line(s) that were not audit records"
                         f" and {rejected} record(s) with values out of range\n")
    # Input that held lines but not one audit record is not an audit log (exit 2).
    return 2 if seen == 0 and (skipped or rejected) else 0


def _result(text: str) -> str:
    colour = {"DENIED": "red", "ALLOWED": "yellow", "AUDIT": "dim"}.get(text)
    return paint(text, colour) if colour else text


def _query(args: argparse.Namespace) -> int:
    store = _open(args, reading=True)
    try:
        records = list(store.query(**_query_args(args), limit=args.limit))  # type: ignore[arg-type]
    finally:
        store.close()
    if args.json:
        print_json([r.to_dict() for r in records])
        return 0
    rows = [(iso(r.time), r.module, _result(r.result), r.profile or r.subject, r.operation,
             r.object, f"{r.comm}[{r.pid}]" if r.pid else r.comm, r.denied or r.requested)
            for r in records]
    if not rows:
        print("no matching records")
        return 0
    table(("time", "module", "result", "profile", "operation", "object", "process", "denied"),
          rows)
    return 0


def _stats(args: argparse.Namespace) -> int:
    store = _open(args, reading=True)
    try:
        q = _query_args(args)
        if q["result"] not in (None, "DENIED"):
            raise UsageError("stats counts denials; --result can only be 'denied'")
        data = store.denial_stats(since=q["since"], profile=q["profile"],  # type: ignore[arg-type]
                                  module=q["module"], top=args.top)  # type: ignore[arg-type]
    finally:
        store.close()
    if args.json:
        print_json(data)
        return 0
    print(paint(f"{data['denials']} denials", "bold"))
    for key, title, columns in (
            ("by_profile", "by profile", ("module", "profile")),
            ("by_operation", "by operation", ("operation",)),
            ("by_path", "by path or peer", ("object",)),
            ("by_rule", "by profile, operation and path", ("module", "profile", "operation",
                                                            "object"))):
        if not data[key]:
            continue
        print(f"\n{title}:")
        table(("count", *columns), [(row["count"], *(row[c] or "-" for c in columns))
                                    for row in data[key]])
    return 0


def _export(args: argparse.Namespace) -> int:
    if args.jsonl and args.format not in (None, "jsonl"):
        raise UsageError(f"--jsonl and --format {args.format} disagree")
    fmt = args.format or "jsonl"
    store = _open(args, reading=True)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        for line in encode(fmt, store.query(**_query_args(args)), args.host):  # type: ignore[arg-type]
            out.write(line + "\n")
    except BrokenPipeError:
        raise
    except OSError as err:
        raise StockadeError(f"cannot write {args.output or 'stdout'}: {err.strerror}") from None
    finally:
        store.close()
        if out is not sys.stdout:
            out.close()
    return 0


def _parse(args: argparse.Namespace) -> int:
    from stockade.audit.readers.aalog import parse_record

    names = args.files or ["-"]
    for name in names:
        try:
            stream = sys.stdin if name == "-" else open(name, encoding="utf-8",  # noqa: SIM115
                                                         errors="surrogateescape")
        except OSError as err:
            raise StockadeError(f"cannot read {name}: {err.strerror}") from None
        with stream:
            for line in stream:
                if not line.strip():
                    continue
                rec = parse_record(line.rstrip("\n"))
                if args.json:
                    print(json.dumps(rec.as_fields(), sort_keys=True))
                else:
                    for label, value in rec.items():
                        print(f"{label}: {printable(value)}")
                    print()
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch to the sub-command."""
    actions = {"import": _import, "query": _query, "stats": _stats, "export": _export,
               "follow": follow, "parse": _parse}
    action = actions.get(getattr(args, "action", None) or "")
    if action is None:
        raise UsageError("say what to do: import, query, stats, export, follow or parse")
    return action(args)
