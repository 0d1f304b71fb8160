"""SETools' own seinfoflow/sedta answers; run by /usr/bin/python3 (python3-setools).

`python3 setools_analysis_oracle.py POLICY QUESTIONS.json OUT.json`: for each flow source, its
direct out-flows with weights (InfoFlowAnalysis with SETools' default permission map, all
rules, as seinfoflow does); for each (source, target) pair, the length of the shortest flow
path (None when there is none); for each dta source, its transitions (DomainTransitionAnalysis,
as sedta lists them): target, entrypoint types, whether setexec or dyntransition rules count.
"""

import json
import sys

import setools


def main():
    policy_path, questions_path, out_path = sys.argv[1:4]
    p = setools.SELinuxPolicy(policy_path)
    with open(questions_path) as f:
        q = json.load(f)
    flow = setools.InfoFlowAnalysis(p, setools.PermissionMap())
    flows = {}
    for source in q["flow_sources"]:
        flows[source] = {str(step.target): step.weight
                         for step in flow.infoflows(source, out=True)}
    paths = []
    for source, target in q["flow_pairs"]:
        found = [list(path) for path in flow.shortest_path(source, target)]
        paths.append(len(found[0]) if found else None)
    dta = setools.DomainTransitionAnalysis(p)
    transitions = {}
    for source in q["dta_sources"]:
        rows = []
        for t in dta.transitions(source):
            rows.append({"target": str(t.target),
                         "entrypoints": sorted(str(e.name) for e in t.entrypoints),
                         "dyntransition": bool(t.dyntransition)})
        transitions[source] = rows
    with open(out_path, "w") as f:
        json.dump({"flows": flows, "paths": paths, "transitions": transitions}, f)


main()
