"""`stockade learn`: run a program under the supervisor in learn mode and write its profile."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence

from stockade.cli import progress
from stockade.cli._args import trailing_command
from stockade.cli.output import printable
from stockade.errors import StockadeError, UsageError
from stockade.learn.abstractions import choose
from stockade.learn.genprof import render
from stockade.learn.globs import glob_directory, glob_with_extension
from stockade.learn.merge import Existing, additions, merged_text, read_existing
from stockade.learn.observations import accesses
from stockade.learn.proposals import Proposal, propose

COMMAND = "learn"
HELP = "run a program, watch what it does, and write an AppArmor-syntax profile for it (genprof)"

#: `stockade run` statuses that mean the program never ran (cli/run/command.py)
_NOT_RUN = {125: "it could not be confined", 126: "it could not be executed",
            127: "not found"}
#: learn's exit status when the program it watched failed (the profile is still written)
PROGRAM_FAILED = 1
REVIEW_HELP = "(A)llow  (D)eny  (G)lob  Glob with (E)xtension  (I)gnore  (F)inish"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `stockade learn`."""
    parser.add_argument("-o", "--output", metavar="PROFILE",
                        help="where to write the profile (default: ~/.config/stockade/profiles/, "
                        "named as aa-genprof names it in /etc/apparmor.d: /usr/bin/tar's is "
                        "usr.bin.tar; the current directory for a user without a home); an "
                        "existing one is "
                        "kept and only what it lacks is added (as aa-logprof does)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing PROFILE instead of adding to it")
    parser.add_argument("--name", help="the profile's name (default: the program's name)")
    parser.add_argument("--review", action="store_true",
                        help="ask about each rule, as aa-genprof does: " + REVIEW_HELP)
    parser.add_argument("-I", dest="include_dirs", action="append", default=[], metavar="DIR",
                        help="include search directory for abstractions (repeatable)")
    parser.add_argument("--exec-mode", default="ix", choices=("ix", "px", "Px", "cx", "Cx"),
                        help="exec mode for programs it runs (default ix)")
    parser.add_argument("--keep-observations", metavar="FILE",
                        help="also keep the raw observations (JSON lines) here")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress on the terminal and no summary line")
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS",
                        help="the command to learn (without root, the calls of a program "
                        "that makes itself undumpable, as daemons that drop privileges do, "
                        "are refused and not learned: learn it as root)")


def _nameless_file() -> int:
    """A file for the observations that no other process can open by a name: O_TMPFILE in
    the temporary directory (a file of /tmp/stockade-learn-*/ was appended to by a concurrent
    `run --rw /tmp` sandbox of the same user, and the learned profile granted what it wrote:
    red team 13, rt/learn_observations_in_tmp.sh). Where the file system has no O_TMPFILE,
    a file made in a private directory and unlinked at once (docs/learn.md)."""
    directory = tempfile.gettempdir()
    flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
    try:
        return os.open(directory, flags | os.O_TMPFILE, 0o600)
    except OSError:
        pass
    private = tempfile.mkdtemp(prefix="stockade-learn-")
    try:
        path = os.path.join(private, "observations.jsonl")
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.unlink(path)
        return fd
    finally:
        os.rmdir(private)


def _read_lines(fd: int) -> list[dict]:
    """The JSON lines of the observations file `fd`, from its start."""
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    text = b"".join(chunks).decode("utf-8", "surrogateescape")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _observe(command: list[str], observations: int, keep_caps: Sequence[str] = ()) -> int:
    """Run `command` under `stockade run --mode learn` (keeping `keep_caps`, names without
    `CAP_`); the program's exit status (0 when it died of a signal learn was sent and passed
    on)."""
    # Learning must not change what the program can do: `run --mode learn` without a profile
    # applies no Landlock limit (files, TCP, signals pass; a domain only isolates ptrace) and
    # the supervisor, in learn mode, lets everything through while it records.
    # -P: the current directory (the user's, which the program may write) is not searched,
    # not even for the package itself, which runpy finds before stockade/__main__.py runs
    argv = [sys.executable, "-P", "-m", "stockade", "run", "--mode", "learn", "--lsm", "capability",
            f"--learn-fd={observations}", "--no-status-record",
            *(f"--keep-cap=CAP_{name.upper()}" for name in keep_caps), "--", *command]
    child = subprocess.Popen(argv, pass_fds=(observations,))
    forwarded: set[int] = set()

    def forward(signum: int, _frame: object) -> None:
        # a server is stopped with ^C or kill: the program gets the signal (through `run`),
        # learn stays to write what was seen
        forwarded.add(signum)
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        status = _wait(child, observations)
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)
    # stopped by the signal the user sent (a server's ^C): that is how it ends, not a failure
    return 0 if status - 128 in forwarded else status


def _wait(child: subprocess.Popen[bytes], observations: int) -> int:
    """The child's status; on a terminal, meanwhile, the time and the events observed so far
    (the lines of the observations file `observations`, counted at most ~4 times a second)."""
    with progress.counter("learning: events observed", unit="ev") as bar:
        if not bar.shown:
            return child.wait()
        seen = offset = 0
        while True:
            try:
                return child.wait(timeout=progress.INTERVAL)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(OSError):
                while chunk := os.pread(observations, 1 << 16, offset):
                    offset += len(chunk)
                    seen += chunk.count(b"\n")
            bar.set_count(seen)


def review(proposals: list[Proposal], ask: Callable[[str], str]) -> list[Proposal]:
    """aa-genprof's per-rule questions; `ask(prompt)` returns the answer's first letter."""
    kept: list[Proposal] = []
    for i, prop in enumerate(proposals):
        while True:
            # input() on a terminal writes its prompt itself, past sys.stdout: escape here
            answer = ask(f"[{i + 1}/{len(proposals)}] {printable(prop.render())}\n"
                         f"{REVIEW_HELP}? ").strip()
            choice = (answer[:1] or "a").lower()
            if choice == "a":
                kept.append(prop)
            elif choice == "d":
                prop.deny = True
                kept.append(prop)
            elif choice in ("g", "e") and prop.kind == "file":
                prop.path = (glob_directory if choice == "g" else glob_with_extension)(prop.path)
                continue  # show the globbed rule and ask again
            elif choice == "i":
                pass
            elif choice == "f":
                return kept + proposals[i:]  # finish: accept what has not been reviewed
            else:
                continue
            break
    return kept


def _write_output(path: str, what: str, text: str) -> None:
    """Write `path` from scratch without following a symbolic link planted there (the
    program ran with every write granted)."""
    from stockade.enforce.output_file import open_output

    with os.fdopen(open_output(path, what, truncate=True), "w", encoding="utf-8") as f:
        f.write(text)


def run(args: argparse.Namespace) -> int:
    """Learn the command's profile and write it."""
    command = trailing_command(args.argv, "stockade learn [-o PROFILE] -- CMD ARGS...")
    if args.quiet:
        progress.quiet()
    for d in args.include_dirs:  # checked before the program runs, as check/compile/run do
        if not os.path.isdir(d):
            raise UsageError(f"-I {d}: not a directory")
    program = shutil.which(command[0])
    if program is None:
        raise StockadeError(f"command not found: {command[0]}", exit_code=127)
    program = os.path.realpath(program)
    name = args.name or os.path.basename(program)
    chosen = args.output is None
    if chosen:
        args.output = default_profile_path(program)
    _check_writable(args.output, chosen)  # before the program runs: learning it is not free
    existing = None
    if not args.overwrite and os.path.lexists(args.output):
        from stockade.enforce.output_file import open_output

        os.close(open_output(args.output, "profile"))  # never a link: refused as for writing
        # read before the program runs: it may write where the user can
        existing = read_existing(args.output, args.include_dirs, [name, program])
    observations = _nameless_file()
    try:
        status = _observe(command, observations, _kept_by(existing))
        lines = _read_lines(observations)
        if not lines and status in _NOT_RUN:  # `run` said why on stderr
            raise StockadeError(f"{command[0]} was not run ({_NOT_RUN[status]}): no profile "
                                "written", status)
        if not lines:
            raise StockadeError("the supervisor recorded nothing (did the program start?)")
        if args.keep_observations:
            _write_output(args.keep_observations, "--keep-observations file",
                          "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
    finally:
        os.close(observations)
    seen = accesses(lines)
    if existing is not None:
        abstractions, proposals = additions(existing, seen, args.include_dirs, args.exec_mode)
    else:
        abstractions, rest = choose(seen, args.include_dirs)
        proposals = propose(rest, None, exec_mode=args.exec_mode)
    if args.review:
        proposals = review(proposals, input)
    if existing is None:
        text = render(name, program, abstractions, proposals, command=command)
        what = "written to"
    else:
        text = merged_text(existing, abstractions, proposals)
        what = "added to"
    if existing is None or text != existing.text:
        _write_output(args.output, "profile", text)
    if not args.quiet:
        rules, abst = len(proposals), len(abstractions)
        print(f"stockade learn: {len(lines)} accesses seen, {rules} rule{'s' * (rules != 1)} and "
              f"{abst} abstraction{'s' * (abst != 1)} {what} {args.output} (program exit "
              f"{status})", file=sys.stderr)
        refused = _refused_by_run(args.output, args.include_dirs, program)
        if refused:
            print(f"stockade learn: note: `stockade run -p` refuses this profile: its input "
                  f"{printable(refused)}, so the program could rewrite it (it made files "
                  "there, and Landlock grants making files in a directory with everything "
                  "beneath it): keep the profile outside that tree (-o FILE), or let the "
                  "program write into a directory of its own", file=sys.stderr)
        elif chosen:
            import shlex

            print(f"stockade learn: confine it with: stockade run -p {shlex.quote(args.output)} "
                  f"-- {shlex.join(command)}", file=sys.stderr)
    later = _later_processes_proc(lines)
    if later and not args.quiet:
        more = f" and {len(later) - 1} more" if len(later) > 1 else ""
        print(f"stockade learn: note: processes the program started read /proc entries of "
              f"processes started after launch ({printable(later[0])}{more}): `stockade run` "
              "cannot grant those (Landlock grants /proc/PID only of processes alive at launch "
              "and of the program itself), so the learned `@{PROC}/@{pid}/...` rules do not "
              "reach them; `@{PROC}/** r,` does (every process's entries)", file=sys.stderr)
    if status != 0:
        root = ("; as root: learn, like `run -p`, keeps only the capabilities the profile "
                "grants (none in a new one), so files of other users that their mode bits "
                "close to root stay closed: `stockade explain --profile PROFILE write PATH` "
                "names the capability rule to add before learning again"
                ) if os.geteuid() == 0 else ""
        print(f"stockade learn: note: {command[0]} {_failure(status)}: the profile holds what "
              f"it did until then; learn again once it succeeds{root}", file=sys.stderr)
        return PROGRAM_FAILED
    return 0


def _refused_by_run(path: str, include_dirs: Sequence[str], program: str) -> str | None:
    """Why `run -p` would refuse the profile at `path` because its program could change the
    files it was read from (own_code.inputs_exposure, which run asks); None if it would not
    (or the profile cannot be planned: run says why)."""
    from stockade.enforce import own_code
    from stockade.enforce.plan.profile import compile_file
    from stockade.enforce.status_record import write_grants

    try:
        pp = compile_file(path, include_dirs, program=program)
    except StockadeError:
        return None
    return own_code.inputs_exposure(pp.inputs, write_grants(pp.plan))


def _check_writable(path: str, chosen: bool) -> None:
    """A usage error when this user cannot write the profile at `path` (checked again, and
    links refused, when it is written)."""
    where = os.path.dirname(path) or "."
    hint = " (-o names another place)" if chosen else ""
    if os.path.islink(path):
        return  # refused, naming the link, when it is opened (output_file.open_output)
    if os.path.lexists(path):
        if not os.access(path, os.W_OK):
            raise UsageError(f"cannot write the profile {path}: Permission denied{hint}")
    elif not os.path.isdir(where):
        raise UsageError(f"cannot write the profile {path}: {where} is not a directory")
    elif not os.access(where, os.W_OK | os.X_OK):
        shown = f"the current directory {os.getcwd()}" if where == "." else where
        raise UsageError(f"cannot write the profile {path}: {shown} is not writable by this "
                         f"user{hint}")


def default_profile_path(program: str) -> str:
    """Where a new profile of `program` goes without -o: aa-genprof's name for it in
    ~/.config/stockade/profiles ($XDG_CONFIG_HOME), made private if missing, as aa-genprof
    writes /etc/apparmor.d: a place programs do not write, so that `run -p` does not refuse a
    profile its program could rewrite (learned in the current directory, a program that
    creates files there could). The current directory for a user without a home."""
    from stockade.cache_home import profiles_dir

    directory = profiles_dir()
    if directory is not None:
        try:
            os.makedirs(directory, 0o700, exist_ok=True)
            return os.path.join(directory, profile_file_name(program))
        except OSError:
            pass  # the current directory, checked as any -o
    return profile_file_name(program)


def profile_file_name(program: str) -> str:
    """The file a new profile of `program` (an absolute path) is written to without -o:
    aa-genprof's name for it (get_new_profile_filename: the path without its leading `/`,
    each `/` a `.`), in the current directory."""
    return program.lstrip("/").replace("/", ".")


_PROC_PID = re.compile(r"/proc/([0-9]+)(?:/.*)?")


def _later_processes_proc(observations: list[dict]) -> list[str]:
    """The /proc/PID paths opened for a process of the sandbox other than the program (its
    children, started after launch): `run -p` cannot grant them (enforce/plan/proc.py)."""
    execs = [o for o in observations if o.get("op") == "exec"]
    if not execs:
        return []
    program = execs[0].get("pid")
    sandbox = {o.get("pid") for o in observations} | {o.get("tid") for o in observations}
    found: list[str] = []
    for o in observations:
        path = str(o.get("path") or "")
        m = _PROC_PID.fullmatch(path) if o.get("op") == "open" else None
        if m and int(m.group(1)) != program and int(m.group(1)) in sandbox and path not in found:
            found.append(path)
    return found


def _kept_by(existing: Existing | None) -> list[str]:
    """The capabilities `run -p` keeps for root under the existing profile (its capability
    rules): learn runs the program with them too, so a rule added after a refusal (root
    without CAP_DAC_OVERRIDE) lets the next round get further."""
    if existing is None or os.geteuid() != 0:
        return []
    return sorted(existing.profile.capabilities.effective)


def _failure(status: int) -> str:
    """How the program ended, for the note (`run` exits 128+N after signal N)."""
    if status > 128 and status - 128 < signal.NSIG:
        try:
            return f"was killed by {signal.Signals(status - 128).name}"
        except ValueError:
            pass
    return f"exited with status {status}"
