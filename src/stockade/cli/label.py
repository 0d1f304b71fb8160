"""`stockade label`: set, show and restore file labels (like chcon, getfattr and restorecon)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from stockade.cli.output import paint, print_json, table
from stockade.errors import StockadeError, UsageError
from stockade.modules import labels as lb
from stockade.modules.smack import valid_label as smack_problem

COMMAND = "label"
HELP = "set, show or restore the labels (extended attributes) of files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `stockade label set|get|restore`."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--xattr", metavar="NAME",
                        help="the attribute to use (default user.stockade.MODULE; e.g. "
                             "security.SMACK64 as root)")
    common.add_argument("-P", "--no-dereference", dest="follow", action="store_false",
                        help="act on symbolic links themselves")

    p_set = sub.add_parser("set", parents=[common], help="set a label (chcon)",
                           description="Set MODULE's label on each PATH.")
    p_set.add_argument("--module", "-m", required=True, help="smack, biba, ...")
    p_set.add_argument("-R", "--recursive", action="store_true", help="also everything below")
    p_set.add_argument("-v", "--verbose", action="store_true", help="print each change")
    p_set.add_argument("label", metavar="LABEL")
    p_set.add_argument("paths", metavar="PATH", nargs="+")

    p_get = sub.add_parser("get", parents=[common], help="show labels",
                           description="Show the labels of each PATH (every module's, or one).")
    p_get.add_argument("--module", "-m", help="only this module's label")
    p_get.add_argument("--json", action="store_true", help="machine-readable output")
    p_get.add_argument("paths", metavar="PATH", nargs="+")

    p_restore = sub.add_parser("restore", help="restore labels from a file-contexts list "
                               "(restorecon)", description="Label each PATH as the contexts file "
                               "says: lines 'REGEX [TYPE] LABEL'; an exact path beats a regex, "
                               "the last matching line wins; <<none>> leaves a file alone.")
    p_restore.add_argument("--contexts", "-f", required=True, metavar="FILE")
    p_restore.add_argument("--module", "-m", required=True, help="whose labels these are")
    p_restore.add_argument("--xattr", metavar="NAME", help="the attribute to use")
    p_restore.add_argument("-n", "--dry-run", action="store_true", help="change nothing")
    p_restore.add_argument("-v", "--verbose", action="store_true", help="print each change")
    p_restore.add_argument("-R", "--recursive", action="store_true", help="descend directories")
    p_restore.add_argument("--json", action="store_true", help="machine-readable output")
    p_restore.add_argument("paths", metavar="PATH", nargs="+")


def check_label(module: str, label: str) -> None:
    """Refuse a label the module could never accept."""
    if module == "smack":
        problem = smack_problem(label)
    elif not label or len(label) > 255 or any(c.isspace() or c == "\x00" for c in label):
        problem = "a label is 1 to 255 characters without blanks"
    else:
        problem = None
    if problem:
        raise UsageError(f"invalid {module} label {label!r}: {problem}")


def _set(args: argparse.Namespace) -> int:
    check_label(args.module, args.label)
    name = lb.xattr_name(args.module, args.xattr)
    for path, _ in lb.walk(args.paths, args.recursive):
        lb.set_label(path, args.module, args.label, args.xattr, follow=args.follow)
        if args.verbose:
            sys.stdout.write(f"{path}: {name}={args.label}\n")
    return 0


def _labels(path: str, module: str | None, xattr: str | None, follow: bool) -> dict[str, str]:
    if module is not None:
        label = lb.label_of_path(path, module, xattr, follow=follow)
        return {module: label} if label is not None else {}
    try:
        names = os.listxattr(path, follow_symlinks=follow)
    except OSError as err:
        raise StockadeError(f"{path}: cannot list attributes: {err.strerror}") from None
    found: dict[str, str] = {}
    for name in sorted(names):
        if name.startswith(lb.DEFAULT_PREFIX):
            owner = name[len(lb.DEFAULT_PREFIX):]
        elif name.startswith("security.") and name != "security.capability":
            owner = "smack" if name == "security.SMACK64" else name.removeprefix("security.")
        else:
            continue
        try:
            value = lb.decode_label(os.getxattr(path, name, follow_symlinks=follow))
        except OSError:
            continue
        found.setdefault(owner, value)
    return found


def _get(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for path in args.paths:
        if not os.path.lexists(path):
            raise StockadeError(f"{path}: no such file or directory")
        rows.append({"path": path, "labels": _labels(path, args.module, args.xattr, args.follow)})
    if args.json:
        print_json(rows)
        return 0
    cells = [(r["path"], m, lbl) for r in rows for m, lbl in sorted(r["labels"].items())]
    cells += [(r["path"], args.module or "-", "(unlabelled)") for r in rows if not r["labels"]]
    table(("path", "module", "label"), sorted(cells, key=lambda c: args.paths.index(c[0])))
    return 0


def _restore(args: argparse.Namespace) -> int:
    contexts = lb.FileContexts.load(args.contexts)
    for spec in contexts.specs:
        if spec.label != lb.NONE_LABEL:
            try:
                check_label(args.module, spec.label)
            except UsageError as err:
                raise StockadeError(f"{args.contexts}:{spec.lineno}: {err}") from None
    actions = lb.restore(contexts, args.paths, args.module, xattr=args.xattr,
                         dry_run=args.dry_run, recursive=args.recursive)
    if args.json:
        print_json([{"path": a.path, "old": a.old, "new": a.new, "changed": a.changed,
                     "line": a.spec.lineno if a.spec else None} for a in actions])
        return 0
    verb = "Would relabel" if args.dry_run else "Relabeled"
    for action in actions:
        if args.verbose and action.changed:
            old = action.old if action.old is not None else "(unlabelled)"
            sys.stdout.write(f"{verb} {action.path} from {old} to {action.new}\n")
        elif args.verbose and action.new is None and action.spec is not None \
                and action.spec.label != lb.NONE_LABEL:
            sys.stdout.write(f"Skipped {action.path}: user.* attributes cannot label a symlink\n")
        elif args.verbose and action.spec is None:
            sys.stdout.write(paint(f"{action.path}: no matching entry", "dim") + "\n")
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch to the action."""
    return {"set": _set, "get": _get, "restore": _restore}[args.action](args)
