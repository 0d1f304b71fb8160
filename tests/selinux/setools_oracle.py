"""SETools' own answers to (source, target, class, permission) queries; run by /usr/bin/python3.

`python3 setools_oracle.py POLICY QUERIES.json OUT.json`. Queries are grouped by source type:
one `TERuleQuery(ruletype=["allow"], source=S)` (source attributes expanded, as sesearch -s
does) per group, then each query is matched against those rules' classes, permissions and
expanded targets. A sample of queries is also asked as a full four-field TERuleQuery, to show
that the grouping gives the same answer. Conditional rules count when their branch is the one
selected by the booleans' default values.
"""

import json
import sys

import setools


def active(rule, defaults):
    try:
        cond = rule.conditional
    except Exception:  # setools raises RuleNotConditional
        return True
    return cond.evaluate(**{b.name: defaults[b.name] for b in cond.booleans}) == rule.conditional_block


def main():
    policy_path, queries_path, out_path = sys.argv[1:4]
    p = setools.SELinuxPolicy(policy_path)
    defaults = {b.name: b.state for b in p.bools()}
    with open(queries_path) as f:
        data = json.load(f)
    answers = {}
    for source, group in data["groups"].items():
        rules = [r for r in setools.TERuleQuery(p, ruletype=["allow"], source=source).results()
                 if active(r, defaults)]
        expanded = [(str(r.tclass), set(r.perms), {str(t) for t in r.target.expand()}) for r in rules]
        for qid, target, tclass, perm in group:
            answers[qid] = any(c == tclass and perm in perms and target in targets
                               for c, perms, targets in expanded)
    exact = {}
    for qid, source, target, tclass, perm in data["exact"]:
        q = setools.TERuleQuery(p, ruletype=["allow"], source=source, target=target,
                                tclass=[tclass], perms=[perm])
        exact[qid] = any(active(r, defaults) for r in q.results())
    with open(out_path, "w") as f:
        json.dump({"answers": answers, "exact": exact}, f)


main()
