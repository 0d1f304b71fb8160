"""`stockade notify`: each denial as it happens, one line with the rule that would allow it."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from stockade.audit.follow import Follower, LogFileSource, NetlinkSource, Source, StoreSource
from stockade.audit.readers.sources import AUDIT_LOG
from stockade.audit.record import AuditRecord
from stockade.audit.suggest import suggest_rule
from stockade.audit.when import iso, parse_since
from stockade.cli._notify_limits import DEFAULT_RATE, RateLimit, profile_of, wanted
from stockade.cli.output import paint, printable
from stockade.errors import StockadeError
from stockade.files import require_input
from stockade.host import tools

COMMAND = "notify"
HELP = "follow the audit trail and print each denial with the rule that would allow it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sources, time window and mode."""
    parser.add_argument("--since", metavar="WHEN",
                        help="also show earlier denials: 30m, 1h, 2d, an ISO time or epoch seconds")
    parser.add_argument("--summary", action="store_true",
                        help="count denials per profile and exit (as aa-notify -s)")
    add_source_arguments(parser)
    parser.add_argument("--once", action="store_true",
                        help="process what is there now and exit")
    parser.add_argument("--no-desktop", action="store_true", help="no desktop notifications")
    parser.add_argument("--profile", metavar="NAME", action="append", default=[],
                        help="only denials of this profile or its children (NAME//...); for a "
                        "Landlock record, the profile `stockade run -p` confines its program "
                        "with (repeatable)")
    parser.add_argument("--rate", metavar="N", type=_rate, default=DEFAULT_RATE,
                        help=f"at most N denial lines per second of the records' time, then one "
                        f"'N more denials suppressed' line (default {DEFAULT_RATE}; 0: no limit)")


def _rate(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"not a number of lines per second: {text!r}")
    return int(text)


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Where records are followed from (`notify` and `audit follow`): see `open_sources`."""
    parser.add_argument("--store", metavar="PATH", action="append", default=[],
                        help="also follow records written to this audit store")
    parser.add_argument("--log", metavar="FILE", action="append", default=[],
                        help="also follow this file (stockade JSONL or audit text)")
    parser.add_argument("--audit-log", metavar="FILE", default=str(AUDIT_LOG),
                        help=f"the kernel audit log to follow (default {AUDIT_LOG}; '' for none)")
    parser.add_argument("--no-netlink", action="store_true",
                        help="do not read the live audit netlink group (read as root by default)")


def open_sources(args: argparse.Namespace, from_start: bool, since: float | None,
                 command: str = "notify") -> list[Source]:
    """The sources `add_source_arguments` named (netlink as root unless --once/--summary);
    notes about unreadable sources go to stderr under `command`'s name."""
    sources: list[Source] = []
    notes: list[str] = []
    if args.audit_log:
        log = Path(args.audit_log)
        exists = os.path.exists(log)  # False, not an exception, behind a directory we cannot search
        if exists and os.access(log, os.R_OK):
            sources.append(LogFileSource(log, from_start=from_start))
        elif exists or args.audit_log != str(AUDIT_LOG):
            notes.append(f"cannot read {log}")
        elif os.path.isdir(log.parent) and os.access(log.parent, os.R_OK | os.X_OK):
            sources.append(LogFileSource(log, from_start=from_start))  # auditd may start later
        else:
            notes.append(f"cannot read {log.parent} (root or the adm group can)")
    for name in args.log:
        if not Path(name).exists():
            raise StockadeError(f"no such file: {name}")
        require_input(name, "log")
        sources.append(LogFileSource(name, from_start=from_start))
    for name in args.store:
        if not Path(name).is_file():
            raise StockadeError(f"no such audit store: {name}")
        sources.append(StoreSource(name, since, from_start=from_start))
    if os.geteuid() == 0 and not args.no_netlink and not args.once and not args.summary:
        try:
            sources.append(NetlinkSource())
        except StockadeError as err:
            notes.append(str(err))
    for note in notes:
        sys.stderr.write(f"stockade {command}: {note}\n")
    if not sources:
        raise StockadeError("nothing to follow: no readable audit log, no --log or --store "
                            "(run as root, or pass --log FILE)")
    return sources


def line_for(record: AuditRecord) -> str:
    """The one line printed for a denial."""
    who = profile_of(record)
    proc = f"{record.comm}[{record.pid}]" if record.pid else (record.comm or "?")
    what = record.denied or record.requested or "-"
    rule = suggest_rule(record).strip()
    stamp = time.strftime("%H:%M:%S", time.localtime(record.time))
    text = (f"{stamp} {paint('DENIED', 'red')} {printable(record.module)} {printable(who)}: "
            f"{printable(record.operation)} {printable(record.object or '-')} [{printable(what)}]"
            f" by {printable(proc)}")
    if rule:
        text += f"  {paint('allow with:', 'dim')} {printable(rule)}"
    return text


class _Desktop:
    """notify-send when a session bus is there; at most one bubble per second."""

    def __init__(self, enabled: bool) -> None:
        self.command = tools.find("notify-send") if enabled else None
        if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            self.command = None
        self._last = 0.0

    def show(self, record: AuditRecord) -> None:
        if self.command is None or time.monotonic() - self._last < 1.0:
            return
        self._last = time.monotonic()
        title = printable(f"stockade: {record.module} denied {record.operation}")
        body = printable(f"{record.profile or record.subject}: {record.object} [{record.denied}]")
        try:
            subprocess.Popen([self.command, "-a", "stockade", title, body],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            self.command = None


class DomainProfiles:
    """Landlock domain -> the profile `stockade run` confines it with, for the kernel's
    records, which name only the domain: its creator (the first denial's `domain_pid`, or the
    allocation record's pid) is the program `run` launched, whose status record names the
    profile while it runs (docs/status.md). At most `limit` domains are remembered."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self.known: dict[str, str] = {}
        self._running: dict[int, str] = {}
        self._read_at = -1.0

    def _running_now(self) -> dict[int, str]:
        """pid -> profile of the runs now, read at most once a second."""
        if time.monotonic() - self._read_at > 1.0:
            from stockade.host.confinement import run_profiles

            self._running = run_profiles(os.getuid())  # another user's: `[uid N] NAME`
            self._read_at = time.monotonic()
        return self._running

    def attribute(self, record: AuditRecord) -> None:
        """Give a Landlock record of a known run its profile's name."""
        domain = record.fields.get("domain", "") if record.module == "landlock" else ""
        if not domain or record.profile:
            return
        if domain not in self.known:
            creator = record.fields.get("domain_pid") or (
                record.pid if record.operation == "domain_allocated" else "")
            if not str(creator).isdigit():
                return
            if len(self.known) >= self.limit:
                self.known.pop(next(iter(self.known)))
            self.known[domain] = self._running_now().get(int(creator), "")
        record.profile = self.known[domain]


def _summary(records: list[AuditRecord], since: float | None) -> int:
    denials = [r for r in records if r.result == "DENIED" and not r.quiet]
    first = since if since is not None else min((r.time for r in records), default=time.time())
    print(f"Denials: {len(denials)} (since {time.ctime(first)})")
    by_profile = Counter((r.module, profile_of(r)) for r in denials)
    for (module, profile), count in sorted(by_profile.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {count:6d}  {printable(module)}  {printable(profile)}")
    by_rule = Counter(suggest_rule(r).strip() for r in denials)
    by_rule.pop("", None)
    if by_rule:
        print("Rules that would allow them:")
        for rule, count in by_rule.most_common(20):
            print(f"  {count:6d}  {printable(rule)}")
    if denials:
        print(f"Last denial: {iso(max(r.time for r in denials))}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Follow the sources and print denials (or a summary)."""
    since = parse_since(args.since) if args.since else None
    from_start = since is not None or args.once or args.summary
    follower = Follower(open_sources(args, from_start, since), since=since)
    try:
        profiles = DomainProfiles()
        if args.summary:
            records = list(follower.follow(once=True))
            for record in records:
                profiles.attribute(record)
            return _summary([r for r in records if wanted(r, args.profile)], since)
        _print_denials(_records(follower, args.once), profiles, args)
    finally:
        follower.close()
    return 0


def _records(follower: Follower, once: bool) -> Iterator[AuditRecord | None]:
    """The followed records; live, a None after each idle poll (a tick for the rate limit)."""
    if once:
        yield from follower.follow(once=True)
        return
    while True:
        yield from follower.poll(1.0)
        yield None


def _print_denials(records: Iterator[AuditRecord | None], profiles: DomainProfiles,
                   args: argparse.Namespace) -> None:
    """One line per denial of the wanted profiles, at most `--rate` a second."""
    desktop = _Desktop(not args.no_desktop)
    limit = RateLimit(args.rate)

    def report(line: str | None) -> None:
        if line:
            print(paint(line, "dim"), flush=True)

    for record in records:
        if record is None:
            if limit.window_over(time.time()):
                report(limit.suppressed_line())
            continue
        profiles.attribute(record)
        if record.result != "DENIED" or record.quiet or not wanted(record, args.profile):
            continue
        report(limit.before(record.time))
        if not limit.admit(record.time):
            continue
        print(line_for(record), flush=True)
        desktop.show(record)
    report(limit.suppressed_line())
