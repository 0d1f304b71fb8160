"""`stockade check --format tomoyo`: the same table and JSON as the AppArmor check, per
domain (name, mode from its profile, ACL count by kind, file)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from stockade.cli.check import print_errors
from stockade.cli.output import paint, print_json, table
from stockade.errors import StockadeError, UsageError
from stockade.modules.tomoyo.policy import Domain, Policy, load_files


def _mode(policy: Policy, domain: Domain) -> str:
    prof = policy.profile(domain.profile)
    mode = prof.default if prof is not None else "undefined"
    return f"{mode} ({domain.profile})"


def _kinds(domain: Domain) -> str:
    counts = Counter(acl.kind.split(" ")[0] for acl in domain.acls)
    return ", ".join(f"{k} {n}" for k, n in counts.most_common()) or "-"


def run_tomoyo(args: argparse.Namespace) -> int:
    """Check TOMOYO policy files; every bad line is reported (file:line:col)."""
    try:
        policy = load_files(args.paths)
    except StockadeError as err:  # a path of no known kind: bad usage, not a bad policy
        raise UsageError(str(err)) from None
    ok = not policy.errors
    from stockade.modules.tomoyo.lint import unenforced

    warnings = [] if args.no_lint else unenforced(policy)
    if args.json:
        print_json({
            "ok": ok,
            "profiles": [{"name": d.name, "file": d.file, "rules": len(d.acls)}
                         for d in policy.domains.values()],
            "errors": [e.to_dict() for e in policy.errors],
            "warnings": [w.to_dict() for w in warnings],
        })
        return 0 if ok else 1
    out = sys.stdout
    if policy.domains:
        rows = [[d.name, _mode(policy, d), len(d.acls), _kinds(d), d.file]
                for d in policy.domains.values()]
        table(["DOMAIN", "MODE", "RULES", "BY KIND", "FILE"], rows, out)
    for w in warnings:
        out.write(f"{w.file}:{w.line}:{w.col}: {paint('warning', 'yellow', out)}: "
                  f"{w.message} [{w.code}]\n")
    print_errors(policy.errors)
    summary = (f"{len(policy.files)} file(s), {len(policy.domains)} domain(s), "
               f"{len(policy.errors)} error(s), {len(warnings)} warning(s)")
    out.write(paint(summary, "green" if ok else "red", out) + "\n")
    return 0 if ok else 1
