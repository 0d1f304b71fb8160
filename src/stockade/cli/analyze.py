"""`stockade analyze`: questions about an SELinux policy (CIL files or a binary policy).

who-can read|write|PERM TYPE, infoflow SOURCE [TARGET], dta SOURCE [TARGET], mls-violations;
text, --json, or --dot FILE (rendered to FILE.svg when Graphviz is installed).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from stockade.cli import progress
from stockade.cli.output import paint, print_json, table
from stockade.errors import StockadeError, UsageError
from stockade.modules.selinux.analysis import Analyzer, Flow, FlowGraph, write_dot
from stockade.modules.selinux.module import load_policy
from stockade.modules.selinux.policy import Policy, PolicyError

COMMAND = "analyze"
HELP = "analyse an SELinux policy: who can read/write a type, information flows, transitions, MLS"
DEFAULT_POLICY = "/etc/selinux/default/policy/policy.33"


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options accepted before and after the query (SUPPRESS keeps the outer value)."""
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--policy", action="append", metavar="PATH", default=default(None),
                        help=f"CIL file(s) or one binary policy (default {DEFAULT_POLICY})")
    parser.add_argument("--boolean", action="append", default=default([]), metavar="NAME=on|off",
                        help="set a boolean before analysing")
    parser.add_argument("--json", action="store_true", default=default(False), help="machine-readable output")
    parser.add_argument("--dot", metavar="FILE", default=default(None),
                        help="write a Graphviz graph (and FILE.svg)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `stockade analyze`."""
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="query", metavar="QUERY", required=True)
    who = sub.add_parser("who-can", help="domains that may read/write (or PERM) a type")
    who.add_argument("verb", metavar="read|write|PERM")
    who.add_argument("type", metavar="TYPE")
    who.add_argument("--class", dest="tclass", default="", help="only this object class")
    flow = sub.add_parser("infoflow", help="information flows out of SOURCE (to TARGET)")
    flow.add_argument("source", metavar="SOURCE")
    flow.add_argument("target", metavar="TARGET", nargs="?")
    flow.add_argument("--min-weight", type=int, default=3, help="ignore flows lighter than this (1-10)")
    flow.add_argument("--depth", type=int, default=3, help="longest path (default 3)")
    flow.add_argument("--limit", type=int, default=10, help="paths to show")
    dta = sub.add_parser("dta", help="domain transitions out of SOURCE (paths to TARGET)")
    dta.add_argument("source", metavar="SOURCE")
    dta.add_argument("target", metavar="TARGET", nargs="?")
    dta.add_argument("--depth", type=int, default=3, help="longest path (default 3)")
    mls = sub.add_parser("mls-violations", help="allow rules whose writes survive MLS going down")
    mls.add_argument("--domain", default="", help="only this source domain")
    mls.add_argument("--limit", type=int, default=100)
    for sub_parser in (who, flow, dta, mls):
        _common(sub_parser, suppress=True)


def _policy(args: argparse.Namespace) -> Policy:
    paths = args.policy or [DEFAULT_POLICY]
    for path in paths:
        if not os.path.exists(path):
            raise UsageError(f"no such policy: {path}")
    with progress.activity("loading the SELinux policy", show=not args.json):
        policy = load_policy(paths)
    for item in args.boolean:
        name, _, value = item.partition("=")
        if value.lower() not in ("on", "off", "true", "false", "1", "0"):
            raise UsageError(f"--boolean {item}: expected NAME=on|off")
        try:
            policy.set_boolean(name, value.lower() in ("on", "true", "1"))
        except PolicyError as err:
            raise UsageError(str(err)) from None
    return policy


def run(args: argparse.Namespace) -> int:
    """Run one query."""
    policy = _policy(args)
    analyzer = Analyzer(policy)
    try:
        result, graph = _query(args, analyzer)
    except PolicyError as err:
        raise StockadeError(str(err)) from None
    if args.dot:
        svg = write_dot(graph.to_dot(args.query, _highlight(args)), args.dot)
        result["dot"] = args.dot
        result["svg"] = svg
    if args.json:
        print_json(result)
    else:
        _print(args, result)
    return 0


def _highlight(args: argparse.Namespace) -> list[str]:
    names = [getattr(args, k, None) for k in ("type", "source", "target")]
    return [f"selinux:{n}" for n in names if n]


def _query(args: argparse.Namespace, an: Analyzer) -> tuple[dict[str, Any], FlowGraph]:
    graph = FlowGraph()
    if args.query == "who-can":
        rows = an.who_can(args.verb, args.type, args.tclass)
        for dom, tclass, perms in rows:
            evidence = (f"{tclass} {{ {' '.join(perms)} }}",)
            graph.add(Flow(f"selinux:{dom}", f"selinux:{args.type}", 5, evidence))
        return {"query": "who-can", "verb": args.verb, "type": args.type,
                "domains": [{"domain": d, "class": c, "perms": p} for d, c, p in rows]}, graph
    if args.query == "infoflow":
        full = an.flow_graph(args.source, min_weight=args.min_weight,
                             max_depth=args.depth if args.target else 1)
        if args.target:
            an._type(args.target)
            paths = full.paths(f"selinux:{args.source}", f"selinux:{args.target}",
                               min_weight=args.min_weight, max_depth=args.depth, limit=args.limit)
            for path in paths:
                for flow in path:
                    graph.add(flow)
            return {"query": "infoflow", "source": args.source, "target": args.target,
                    "paths": [[{"from": f.src.split(":", 1)[1], "to": f.dst.split(":", 1)[1],
                                "weight": f.weight, "evidence": list(f.evidence)} for f in p]
                              for p in paths]}, graph
        flows = sorted(full.edges.get(f"selinux:{args.source}", {}).values(), key=lambda f: -f.weight)
        for f in flows:
            graph.add(f)
        return {"query": "infoflow", "source": args.source,
                "flows": [{"to": f.dst.split(":", 1)[1], "weight": f.weight, "evidence": list(f.evidence)}
                          for f in flows]}, graph
    if args.query == "dta":
        if args.target:
            paths = an.transition_paths(args.source, args.target, args.depth)
            for path in paths:
                for a, b, entry, _ in path:
                    graph.add(Flow(f"selinux:{a}", f"selinux:{b}", 5, (f"via {entry}",)))
            return {"query": "dta", "source": args.source, "target": args.target,
                    "paths": [[{"from": a, "to": b, "entrypoint": e, "automatic": auto}
                               for a, b, e, auto in p] for p in paths]}, graph
        steps = an.transitions(an._type(args.source))
        for dom, entry, _ in steps:
            graph.add(Flow(f"selinux:{args.source}", f"selinux:{dom}", 5, (f"via {entry}",)))
        return {"query": "dta", "source": args.source,
                "transitions": [{"to": d, "entrypoint": e, "automatic": a} for d, e, a in steps]}, graph
    rows4 = an.mls_write_down(args.domain, args.limit)
    for s, t, tclass, perms in rows4:
        graph.add(Flow(f"selinux:{s}", f"selinux:{t}", 10, (f"{tclass} {{ {' '.join(perms)} }}",)))
    return {"query": "mls-violations", "mls": an.p.mls.enabled,
            "rules": [{"source": s, "target": t, "class": c, "perms": p} for s, t, c, p in rows4]}, graph


def _print(args: argparse.Namespace, result: dict[str, Any]) -> None:
    out = sys.stdout
    q = result["query"]
    if q == "who-can":
        rows = [(d["domain"], d["class"], " ".join(d["perms"])) for d in result["domains"]]
        out.write(f"{len(rows)} domain/class pair(s) may {args.verb} {args.type}\n")
        if rows:
            table(("domain", "class", "permissions"), rows, stream=out)
    elif q == "infoflow" and "paths" in result:
        out.write(f"{len(result['paths'])} flow path(s) {args.source} -> {args.target}\n")
        for i, path in enumerate(result["paths"], 1):
            out.write(paint(f"path {i}:", "bold", out) + "\n")
            for step in path:
                evidence = "; ".join(step["evidence"])
                out.write(f"  {step['from']} -> {step['to']}  [{step['weight']}] {evidence}\n")
    elif q == "infoflow":
        out.write(f"{len(result['flows'])} direct flow(s) out of {args.source}\n")
        table(("to", "weight", "evidence"), [(f["to"], f["weight"], "; ".join(f["evidence"]))
                                             for f in result["flows"]], stream=out)
    elif q == "dta" and "paths" in result:
        out.write(f"{len(result['paths'])} transition path(s) {args.source} -> {args.target}\n")
        for i, path in enumerate(result["paths"], 1):
            out.write(paint(f"path {i}:", "bold", out) + " " + " ".join(
                f"{s['from']} -[{s['entrypoint']}]-> {s['to']}" for s in path) + "\n")
    elif q == "dta":
        out.write(f"{len(result['transitions'])} transition(s) out of {args.source}\n")
        if result["transitions"]:
            table(("domain", "entrypoint", "automatic"),
                  [(t["to"], t["entrypoint"], "yes" if t["automatic"] else "no")
                   for t in result["transitions"]], stream=out)
    else:
        if not result["mls"]:
            out.write("the policy has no MLS\n")
        out.write(f"{len(result['rules'])} rule(s) allow writing down\n")
        if result["rules"]:
            table(("source", "target", "class", "permissions"),
                  [(r["source"], r["target"], r["class"], " ".join(r["perms"]))
                   for r in result["rules"]], stream=out)
    if result.get("dot"):
        out.write(f"graph: {result['dot']}" + (f" ({result['svg']})" if result.get("svg") else "") + "\n")
