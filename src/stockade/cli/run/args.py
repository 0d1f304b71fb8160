"""`stockade run`'s options (the one definition of them: `run.add_arguments` is this)."""

from __future__ import annotations

from stockade.cli._options import REMAINDER, Group, Option, add_options
from stockade.cli._stack_args import LSM_HELP, stack_options
from stockade.cli._strict import strict_option

SETUP_FAILED = 125  # as env(1), timeout(1): the program did not run

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse

_EPILOG = """\
Without a profile, everything Landlock handles is denied except what --ro/--rw/--rx and
--connect-tcp/--bind-tcp grant; abstract unix sockets and signals cannot leave the sandbox;
with -p PROFILE the profile's plan applies and the flags add grants to it. A symbolic link in
a --ro/--rw/--rx PATH is followed only if root owns it and its directory (so /bin -> usr/bin
works); any other link is refused: a sandbox could have planted it, name the target
instead. Devices are files to Landlock: `> /dev/null` needs --rw /dev/null (bwrap's
--dev /dev, firejail's private /dev). --strict refuses
(exit 3) a profile with a rule that is not enforced exactly. seccomp refuses
kernel-modifying calls, io_uring, mount, new user/mount namespaces, ptrace, TIOCSTI, the
kernel keyring (--allow-keyring), MPTCP/SCTP and the x32 ABI; no capability is kept;
no_new_privs is set. chmod, chown, utime, xattrs, listen and pathname unix peers, which
Landlock does not mediate, are decided on the same grants by a small supervisor.
UDP is not restricted by Landlock up to ABI 7: --net tcp refuses UDP, raw and netlink
sockets in seccomp, --net none every socket but AF_UNIX socketpair. Exit status: the
command's, 128+N if it died of signal N, 125 if it did not run (bad profile, flags or input,
or it could not be confined), 126 if it could not be executed, 127 if not found, 3 for a
--strict refusal (--strict judges the profile's own rules; --strict=all abstractions too).
Signals sent to stockade are forwarded to the command. Quiet by default: one line about
weakened rules (-v lists them, -q says nothing) and, when the command exits non-zero, one
line naming what the sandbox refused or how to see it (a Landlock refusal leaves no record
without --audit as root).
example: stockade run --rx /usr --ro /etc --rw /tmp -- /bin/sh -c 'ls /tmp'
example: stockade run --rx / --rw "$PWD" --rw /dev/null -- make   (as bwrap --ro-bind / /
         --bind "$PWD" "$PWD" --dev /dev, and no network)"""


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        import argparse  # only argparse calls this with a bad port (the fast path declines)

        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    port = int(text)
    if not 0 <= port <= 65535:
        import argparse

        raise argparse.ArgumentTypeError(f"TCP port out of range (0-65535): {port}")
    return port


_MODE = Group(exclusive=True)
_CHATTER = Group(exclusive=True)
_MONITOR = Group("reference monitor (seccomp user notification)")

#: the flags of `stockade run`, in the order help lists them (cli/_options.py: argparse and
#: the fast path of a plain run both read this)
OPTIONS = (
    Option(("-p", "--profile"), dict(
        metavar="PROFILE",
        help="confine with this AppArmor-syntax profile file, or a learned one's name "
        "(usr.bin.tar: ~/.config/stockade/profiles/usr.bin.tar); ad-hoc flags add to it")),
    Option(("-I", "--include"), dict(
        dest="include_dirs", action="append", default=[], metavar="DIR",
        help="add DIR to the profile include path (repeatable)")),
    Option(("--profile-name",), dict(
        metavar="NAME", help="the profile to use when the file has several")),
    *(Option((flag,), dict(action="append", default=[], metavar="PATH",
                           help=f"allow {what} beneath PATH (repeatable)"))
      for flag, what in (("--ro", "read"), ("--rw", "read, write, create and remove"),
                         ("--rx", "read and execute"))),
    Option(("--connect-tcp",), dict(
        action="append", default=[], type=_port, metavar="PORT",
        help="allow TCP connect to PORT (repeatable)")),
    Option(("--bind-tcp",), dict(
        action="append", default=[], type=_port, metavar="PORT",
        help="allow TCP bind on PORT (repeatable)")),
    Option(("--net",), dict(
        choices=("none", "tcp"),
        help="none: no sockets at all but AF_UNIX socketpair; tcp: unix and TCP sockets only "
        "(no UDP, raw or netlink), TCP ports only those granted by --connect-tcp/--bind-tcp "
        "(and the profile's port rules); with -p it narrows the profile")),
    Option(("--keep-cap",), dict(
        action="append", default=[], metavar="CAP",
        help="keep this capability, e.g. CAP_NET_BIND_SERVICE (repeatable)")),
    strict_option("refuse to start (exit 3)", _MODE),
    Option(("--best-effort",), dict(
        dest="strict", action="store_const", const=None,
        help="enforce what this kernel can, one summary line about weakened rules (default)"),
        _MODE),
    Option(("--audit",), dict(
        metavar="FILE",
        help="append JSON lines of what was applied, the start, the exit and (as root) the "
        "kernel's denial records of the program")),
    Option(("-v", "--verbose"), dict(
        action="store_true",
        help="one line per weakened rule (abstractions included) instead of one summary line"),
        _CHATTER),
    Option(("-q", "--quiet"), dict(
        action="store_true",
        help="nothing on stderr about weakened rules, notes or open UDP; only errors"),
        _CHATTER),
    Option(("--allow-keyring",), dict(
        action="store_true",
        help="allow add_key, keyctl and request_key (refused by default: the per-user kernel "
        "keyring is shared with the host); no run uses the plan cache meanwhile, and processes "
        "the program leaves are killed when it exits")),
    Option(("--keep-running",), dict(
        action="store_true",
        help="leave running the processes the program leaves behind when it exits (by "
        "default they are ended with it, as firejail does); they keep the sandbox, the "
        "status record names them while they live (status lists them; later runs count "
        "their grants), and their later denials are not recorded")),
    Option(("--no-status-record",), dict(
        dest="status_record", action="store_false",
        help="do not write the status record (PID.json in /run/stockade for root, else in "
        "$XDG_RUNTIME_DIR/stockade, read by `stockade status`); needed when a writable grant "
        "covers its directory")),
    Option(("--no-cache",), dict(
        dest="cache", action="store_false",
        help="compile the profile afresh: neither use nor update the plan cache "
        "($XDG_CACHE_HOME/stockade/plans or ~/.cache/stockade/plans)")),
    Option(("--inherit-transitions",), dict(
        action="store_true",
        help="run programs that a px/cx rule moves into another profile under this profile's "
        "sandbox (refused by default: Landlock has no transition on exec)")),
    Option(("--clear-env",), dict(
        action="store_true",
        help="pass only PATH, TERM, LANG, LC_ALL, HOME, USER, LOGNAME, TZ")),
    Option(("--mode",), dict(
        choices=("enforce", "complain", "learn"),
        help="put the module stack on the program's system calls: enforce its verdicts, "
        "complain (allow and record would-be denials), or learn (also record every access to "
        "--learn FILE; without -p, nothing but the baseline seccomp refusals blocks: no "
        "Landlock limit)"), _MONITOR),
    Option(("--complain",), dict(
        action="store_true",
        help="same as --mode complain; with -p the profile is asked, not enforced: the "
        "program's files, ports and signals are NOT confined, each access the profile would "
        "deny is allowed and recorded in --audit FILE (any user)"), _MONITOR),
    *stack_options("modules for --mode, " + LSM_HELP.replace("modules, ", ""), _MONITOR),
    Option(("--learn",), dict(
        metavar="FILE",
        help="append every access the program makes here, one JSON object per line (time, "
        "pid, comm, exe, syscall, op, path, access, target, peer, result, ...), as `stockade "
        "learn` reads them"), _MONITOR),
    Option(("--learn-fd",), dict(
        type=int, metavar="FD",
        help="as --learn, to this inherited descriptor: the nameless file `stockade learn` "
        "hands its run (no other sandbox can open it by a name)"), _MONITOR),
    Option(("argv",), dict(nargs=REMAINDER, metavar="-- CMD ARGS", help="the command to run")),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `stockade run`."""
    import argparse

    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_options(parser, OPTIONS)
