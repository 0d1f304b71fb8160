"""Benchmark: TOMOYO ACL search cost vs ACL count, beside AppArmor's compiled lookup of the
same rules in the same run.

The kernel scans a domain's ACL list in order; stockade keeps that order but tries only the
`file` ACLs whose first name's literal directory prefix is one of the request's (an index built
once per list), so the cost grows with the ACLs under the request's directories, not the whole
list; AppArmor compiles its rules into one matcher. Prints the median microseconds per
request for domains of 10, 100 and 1,000 `file read` ACLs (a third exact names, a third
`\\*` patterns, a third `/\\{\\*\\}/` patterns), hits and misses, and the ratio to the AppArmor
lookup of the equivalent profile.
"""

from __future__ import annotations

import random
import statistics
import time

from stockade.modules.tomoyo.acl import Access, find_acl
from stockade.modules.tomoyo.policy import Domain, Policy, parse_domain_policy
from stockade.policy import Loader, compile_profiles
from stockade.policy.matcher import FileMatcher

SIZES = (10, 100, 1_000)
REQUESTS = 2_000


def generate(n: int, seed: int = 15) -> tuple[str, str, list[str]]:
    """(TOMOYO domain policy, AppArmor profile, request paths: half hits, half misses)."""
    rng = random.Random(seed)
    acls, rules, probes = [], [], []
    for i in range(n):
        base = f"/srv/d{rng.randint(0, 99)}/e{rng.randint(0, 99)}"
        kind = i % 3
        if kind == 0:
            name, aa, hit = f"{base}/f{i}", f"{base}/f{i}", f"{base}/f{i}"
        elif kind == 1:
            name, aa, hit = f"{base}/f{i}.\\*", f"{base}/f{i}.*", f"{base}/f{i}.log"
        else:
            name, aa, hit = f"{base}/\\{{\\*\\}}/f{i}", f"{base}/**/f{i}", f"{base}/a/b/f{i}"
        acls.append(f"file read {name}")
        rules.append(f"  {aa} r,")
        probes.append(hit)
    misses = [f"/srv/d{rng.randint(0, 99)}/x{i}" for i in range(len(probes))]
    tomoyo = "<kernel> /bench\nuse_profile 3\n" + "\n".join(acls) + "\n"
    profile = "profile bench {\n" + "\n".join(rules) + "\n}\n"
    return tomoyo, profile, probes + misses


def _median_us(fn, paths: list[str]) -> float:
    times = []
    for path in paths:
        start = time.perf_counter_ns()
        fn(path)
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1000


def main() -> None:
    rng = random.Random(3)
    print("ACLs   TOMOYO us/request   AppArmor us/request   ratio")
    for n in SIZES:
        tomoyo_text, profile_text, probes = generate(n)
        policy = Policy()
        parse_domain_policy(tomoyo_text, policy)
        domain = policy.domains["<kernel> /bench"]
        paths = [rng.choice(probes) for _ in range(REQUESTS)]

        def tomoyo(path: str, policy: Policy = policy, domain: Domain = domain) -> object:
            return find_acl(policy, domain, Access("open", "file", "read", (path,)))

        (compiled,) = compile_profiles(Loader().load_text(profile_text, "bench"))

        def apparmor(path: str, matcher: FileMatcher = compiled.matcher) -> object:
            matcher.clear_cache()  # uncached, as TOMOYO's search (no AVC on either side)
            return matcher.lookup(path)

        t_us, a_us = _median_us(tomoyo, paths), _median_us(apparmor, paths)
        print(f"{n:>5}  {t_us:>17.1f}  {a_us:>20.1f}  {t_us / a_us:>6.1f}x")


if __name__ == "__main__":
    main()
