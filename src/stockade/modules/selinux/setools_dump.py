"""Dump a kernel binary policy as JSON through SETools; run by the system Python.

`python3 -I -S setools_dump.py [--setools-dir DIR]... POLICY OUT.json` (OUT `-`: standard
output) — standalone on purpose (it imports nothing of stockade), because Debian's
python3-setools belongs to /usr/bin/python3, not to a venv. The launcher runs it isolated
(setools_helper.py): the only directories added to the standard library's are the
--setools-dir ones, appended as they are (no site module: no *.pth runs).
Conditional expressions and constraint expressions are kept in SETools' postfix order.
"""

from __future__ import annotations

import json
import sys
from typing import Any

FORMAT = 2  # 2: typebounds


def _names(value: Any) -> Any:
    if isinstance(value, frozenset | set | list | tuple):
        return sorted(str(v) for v in value)
    return str(value)


def dump(path: str) -> dict[str, Any]:
    """Everything the importer needs, as plain JSON values."""
    import setools

    p = setools.SELinuxPolicy(path)
    out: dict[str, Any] = {"format": FORMAT, "mls": bool(p.mls), "handle_unknown": str(p.handle_unknown)}
    out["sensitivities"] = [str(s) for s in sorted(p.sensitivities())]
    out["categories"] = [str(c) for c in sorted(p.categories())]
    out["sens_cats"] = {str(lv.sensitivity): [str(c) for c in lv.categories()] for lv in p.levels()}
    out["types"] = [[str(t), sorted(str(a) for a in t.aliases()), bool(t.ispermissive)] for t in p.types()]
    out["attributes"] = {str(a): sorted(str(t) for t in a.expand()) for a in p.typeattributes()}
    classes = {}
    for c in p.classes():
        try:
            common = c.common
            common_name, common_perms = str(common), sorted(common.perms)
        except Exception:
            common_name, common_perms = "", []
        classes[str(c)] = [common_name, common_perms, sorted(c.perms)]
    out["classes"] = classes
    out["booleans"] = {str(b): bool(b.state) for b in p.bools()}
    out["roles"] = {str(r): sorted(str(t) for t in r.types()) for r in p.roles()}
    out["users"] = {
        str(u): [sorted(str(r) for r in u.roles), str(u.mls_level) if p.mls else "",
                 str(u.mls_range) if p.mls else ""]
        for u in p.users()
    }
    role_allow, role_trans = [], []
    for r in p.rbacrules():
        if r.ruletype.name == "allow":
            role_allow.append([str(r.source), str(r.target)])
        else:
            role_trans.append([str(r.source), str(r.target), str(r.tclass), str(r.default)])
    out["role_allow"], out["role_trans"] = role_allow, role_trans
    conds: dict[str, int] = {}
    rules = []
    for r in p.terules():
        kind = r.ruletype.name
        try:
            cond = r.conditional
        except Exception:
            cond_index, branch = -1, True
        else:
            tokens = json.dumps([str(t) for t in cond.expression()])
            cond_index = conds.setdefault(tokens, len(conds))
            branch = bool(r.conditional_block)
        if kind in ("allow", "auditallow", "dontaudit", "neverallow"):
            payload: Any = sorted(r.perms)
            name = ""
        else:
            payload = str(r.default)
            name = str(getattr(r, "filename", "") or "")
        rules.append([kind, str(r.source), str(r.target), str(r.tclass), payload, cond_index,
                      branch, name])
    out["conditions"] = [json.loads(t) for t in conds]
    out["rules"] = rules
    constraints = []
    for c in p.constraints():
        expr = [_names(t) if not isinstance(t, str) else t for t in c.expression]
        constraints.append([c.ruletype.name, str(c.tclass), sorted(c.perms), expr])
    out["constraints"] = constraints
    out["typebounds"] = [[str(b.parent), str(b.child)] for b in p.bounds()
                         if b.ruletype.name == "typebounds"]
    out["range_trans"] = [[str(r.source), str(r.target), str(r.tclass), str(r.default)] for r in p.mlsrules()]
    out["portcons"] = [[str(pc.protocol.name), pc.ports.low, pc.ports.high, str(pc.context)]
                       for pc in p.portcons()]
    out["sids"] = {str(s): str(s.context) for s in p.initialsids()}
    fs: dict[str, str] = {}
    for u in p.fs_uses():
        fs[str(u.fs)] = str(u.context)
    for g in p.genfscons():
        if str(g.path) == "/":
            fs.setdefault(str(g.fs), str(g.context))
    out["fs"] = fs
    return out


def main(argv: list[str]) -> int:
    """Write the dump of POLICY to OUT.json (`-`: standard output), after putting the
    --setools-dir directories on sys.path."""
    args = argv[1:]
    while len(args) > 2 and args[0] == "--setools-dir":
        if args[1] not in sys.path:
            sys.path.append(args[1])
        args = args[2:]
    if len(args) != 2:
        sys.stderr.write("usage: setools_dump.py [--setools-dir DIR]... POLICY OUT.json\n")
        return 2
    try:
        data = dump(args[0])
    except ImportError:
        sys.stderr.write("setools is not installed for this python (apt install python3-setools)\n")
        return 3
    except Exception as err:
        sys.stderr.write(f"cannot read policy {args[0]}: {type(err).__name__}: {err}\n")
        return 1
    if args[1] == "-":
        json.dump(data, sys.stdout, separators=(",", ":"))
        sys.stdout.flush()
        return 0
    with open(args[1], "w", encoding="utf-8") as f:
        json.dump(data, f, separators=(",", ":"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
