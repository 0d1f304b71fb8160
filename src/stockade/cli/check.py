"""`stockade check`: parse, resolve includes, compile and lint AppArmor profiles."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from stockade.cli import progress
from stockade.cli.output import paint, print_json, printable, table
from stockade.errors import UsageError
from stockade.policy import check
from stockade.policy.errors import PolicyError
from stockade.policy.lint import LintWarning

COMMAND = "check"
#: arguments naming profile files: a learned profile may be named by its file name
PROFILE_FILES = ("paths",)
HELP = "parse, compile and lint AppArmor profiles (or TOMOYO policy: --format tomoyo)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `stockade check`."""
    parser.add_argument("-I", "--include", dest="include_dirs", action="append", default=[],
                        metavar="DIR", help="add DIR to the include search path (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--no-lint", action="store_true", help="skip lint warnings")
    parser.add_argument("--lint-abstractions", action="store_true",
                        help="also show lint warnings about rules of shared abstractions and "
                        "tunables (abstractions/base's ecryptfs rules, in every profile that "
                        "includes it); by default they are counted, not shown (--json has "
                        "them all)")
    parser.add_argument("--format", choices=("apparmor", "tomoyo"), default="apparmor",
                        help="the policy language: AppArmor profiles (default), or a TOMOYO "
                        "policy directory or files named domain_policy.conf, "
                        "exception_policy.conf, profile.conf, manager.conf")
    parser.add_argument("paths", nargs="+", metavar="PROFILE_OR_DIR")


def _caret(line: str, col: int, width: int = 160) -> str:
    """The source line (escaped, and cut to `width` around the column) with a caret under
    the column."""
    start = max(col - 1 - width // 2, 0)
    shown, before = line[start:start + width], line[start:max(col - 1, 0)]
    head = "..." if start else ""
    tail = "..." if start + width < len(line) else ""
    # escapes widen what comes before the column: the caret goes under the escaped text
    pad = "".join(c if c == "\t" else " " for c in head + printable(before, "\t"))
    return head + printable(shown, "\t") + tail + "\n" + pad + "^\n"


def print_errors(errors: Sequence[PolicyError]) -> None:
    """`file:line:col: error: message` and the caret line, escaped, on stderr."""
    err_stream = sys.stderr
    for e in errors:
        err_stream.write(f"{printable(e.where)}: {paint('error', 'red', err_stream)}: "
                         f"{printable(e.message)}\n")
        if e.source_line is not None:
            err_stream.write(_caret(e.source_line, e.col))


def _distinct_warnings(warnings: Sequence[LintWarning]) -> list[tuple[LintWarning, int]]:
    """Each warning once, with the number of profiles it was found in: a rule of a shared
    abstraction is linted in every profile that includes it, and the text output does not
    name the profile (`--json` keeps one entry per profile)."""
    seen: dict[tuple[str, int, int, str, str], tuple[LintWarning, set[str]]] = {}
    for w in warnings:
        key = (w.file, w.line, w.col, w.code, w.message)
        seen.setdefault(key, (w, set()))[1].add(w.profile)
    return [(w, len(profiles)) for w, profiles in seen.values()]


def _own_warnings(warnings: Sequence[LintWarning], args: argparse.Namespace
                  ) -> tuple[list[LintWarning], list[LintWarning]]:
    """(warnings shown, warnings about rules of shared abstractions or tunables not shown):
    those rules are the distribution's, the same in every profile that includes them, and
    apparmor_parser says nothing about them; --lint-abstractions shows them too."""
    if args.lint_abstractions:
        return list(warnings), []
    from stockade.enforce.coverage_scope import shared_file

    shown: list[LintWarning] = []
    hidden: list[LintWarning] = []
    memo: dict[str, bool] = {}
    for w in warnings:
        shared = memo.get(w.file)
        if shared is None:
            shared = memo[w.file] = shared_file(w.file, args.include_dirs)
        (hidden if shared else shown).append(w)
    return shown, hidden


def run(args: argparse.Namespace) -> int:
    """Check the profiles; exit 0 without errors, 1 with errors, 2 for bad usage."""
    for p in [*args.paths, *args.include_dirs]:
        if not os.path.exists(p):
            raise UsageError(f"{p}: no such file or directory")
    for d in args.include_dirs:
        if not os.path.isdir(d):
            raise UsageError(f"-I {d}: not a directory")
    if args.format == "tomoyo":
        from stockade.cli._check_tomoyo import run_tomoyo

        return run_tomoyo(args)
    with progress.counter("checking profiles", unit="file", show=not args.json) as bar:
        report = check(args.paths, args.include_dirs, run_lint=not args.no_lint,
                       on_file=lambda _path: bar.update())
    warnings, hidden = _own_warnings(report.warnings, args)
    if args.json:
        print_json({
            "ok": report.ok,
            "profiles": [{"name": p.name, "file": f, "rules": len(p.rules)}
                         for f, p in report.profiles],
            "errors": [e.to_dict() for e in report.errors],
            "warnings": [w.to_dict() for w in report.warnings],  # every one: each names its file
        })
        return 0 if report.ok else 1
    out = sys.stdout
    if report.profiles:
        rows = []
        for f, p in report.profiles:
            counts = p.rule_counts()
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda x: -x[1]))
            rows.append([p.name, p.mode, len(p.rules), kinds or "-", f])
        table(["PROFILE", "MODE", "RULES", "BY KIND", "FILE"], rows, out)
    shown = _distinct_warnings(warnings)
    for w, profiles in shown:
        where = f" (in {profiles} profiles)" if profiles > 1 else ""
        out.write(f"{printable(w.file)}:{w.line}:{w.col}: {paint('warning', 'yellow', out)}: "
                  f"{printable(w.message)} [{w.code}]{where}\n")
    print_errors(report.errors)
    summary = (f"{len(report.files)} file(s), {len(report.profiles)} profile(s), "
               f"{len(report.errors)} error(s), {len(shown)} warning(s)")
    if hidden:
        summary += (f" and {len(_distinct_warnings(hidden))} about shared abstractions, not "
                    "shown (--lint-abstractions)")
    out.write(paint(summary, "green" if report.ok else "red", out) + "\n")
    return 0 if report.ok else 1
