"""SELinux decisions per second on Debian's imported policy, beside SETools in the same run.

(a) uncached: Policy.compute_av on random (scontext, tcontext, class) triples, no cache;
(b) module AVC hits: SELinux.compute_av again on the same triples (the SID-keyed AVC);
(c) stack AVC hits: Stack.decide on prebuilt file_open requests served from the Stack's AVC;
(d) SETools: TERuleQuery(ruletype=allow, source, target, class, perms) in /usr/bin/python3 —
    what `sesearch -A` answers; measured on a small sample because each query scans the rules.
Ratios are against (d), measured in the same run.
"""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
import tempfile
import time

from stockade.lsm.stack import Stack
from stockade.lsm.types import MAY_OPEN, MAY_READ, Object, ObjectKind, Request, Subject
from stockade.modules.selinux.importer import import_policy
from stockade.modules.selinux.module import SELinux

POLICY = "/etc/selinux/default/policy/policy.33"
N, ROUNDS, N_SETOOLS = 5000, 5, 20

SETOOLS = """
import json, sys, time, setools
p = setools.SELinuxPolicy(sys.argv[1])
qs = json.load(open(sys.argv[2]))
t = time.perf_counter()
for s, tt, c, perm in qs:
    list(setools.TERuleQuery(p, ruletype=["allow"], source=s, target=tt, tclass=[c], perms=[perm]).results())
print(len(qs) / (time.perf_counter() - t))
"""


def main() -> int:
    if not os.path.exists(POLICY):
        print(f"skipped: {POLICY} is not installed")
        return 0
    t0 = time.perf_counter()
    policy = import_policy(POLICY)
    print(f"import (cached after the first run): {time.perf_counter() - t0:.2f}s, "
          f"{len(policy.type_names)} types+attributes, {len(policy.rules)} rules")
    rng = random.Random(1)
    domains = sorted(policy.type_names[t] for t in policy.expand(policy.type_id("domain")))
    files = sorted(policy.type_names[t] for t in policy.expand(policy.type_id("file_type")))
    triples = []
    for _ in range(N):
        dom, fil = rng.choice(domains), rng.choice(files)
        s = policy.make_context("system_u", "system_r", dom, policy.mls.parse_range("s0"))
        t = policy.make_context("system_u", "object_r", fil, policy.mls.parse_range("s0"))
        triples.append((s, t, rng.choice(("file", "dir", "lnk_file", "sock_file"))))

    start = time.perf_counter()
    for _ in range(ROUNDS):
        for s, t, c in triples:
            policy.compute_av(s, t, c)
    uncached = ROUNDS * N / (time.perf_counter() - start)

    module = SELinux(policy=policy, avc_size=2 * N)
    for s, t, c in triples:
        module.compute_av(s, t, c)
    start = time.perf_counter()
    for _ in range(ROUNDS):
        for s, t, c in triples:
            module.compute_av(s, t, c)
    module_hits = ROUNDS * N / (time.perf_counter() - start)

    stack = Stack([module], avc_threshold=2 * N)
    requests = [Request("file_open", Subject(pid=1, contexts=(("selinux", str(s)),)),
                        Object(kind=ObjectKind.FILE, path=f"/f{i}", mode=stat.S_IFREG | 0o644,
                               xattrs=(("user.stockade.selinux", str(t).encode()),)), MAY_READ | MAY_OPEN)
                for i, (s, t, _) in enumerate(triples)]
    for r in requests:
        stack.decide(r)
    start = time.perf_counter()
    for _ in range(ROUNDS):
        for r in requests:
            stack.decide(r)
    stack_hits = ROUNDS * N / (time.perf_counter() - start)

    sample = [(s.type, t.type, c, rng.choice(list(policy.classes[c].perms)))
              for s, t, c in triples[:N_SETOOLS]]
    with tempfile.TemporaryDirectory() as tmp:
        qpath = os.path.join(tmp, "q.json")
        with open(qpath, "w") as f:
            json.dump(sample, f)
        proc = subprocess.run(["/usr/bin/python3", "-c", SETOOLS, POLICY, qpath],
                              capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print("setools unavailable:", proc.stderr.strip().splitlines()[-1:])
        setools_rate = float("nan")
    else:
        setools_rate = float(proc.stdout.strip())
    print(f"{'':28}{'decisions/s':>14}{'x setools':>12}")
    for name, rate in (("compute_av (uncached)", uncached), ("module AVC hits", module_hits),
                       ("stack AVC hits (file_open)", stack_hits), ("setools TERuleQuery", setools_rate)):
        print(f"{name:28}{rate:14,.0f}{rate / setools_rate:12,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
