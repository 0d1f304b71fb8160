"""Decisions per second through the reference monitor, beside PyCasbin on the same policy.

(a) AVC hits: prebuilt requests decided again and again, served from the cache;
(b) full evaluation: the same requests with the AVC disabled, every layer run
    (DAC with ACL-free mode checks and ancestor search, capability, yama, loadpin, lockdown);
(c) PyCasbin's enforce() on an ACL policy that grants exactly what DAC grants.
Ratios are printed against PyCasbin measured in the same run. Rates are decisions per second
of this process's CPU time (time.process_time): on a shared machine, wall-clock rates fall
with the load of other processes (72k/s wall was 220k/s CPU in one run under a load of 8 on
2 cores), while the CPU time is what a decision costs. The wall-clock rate is printed beside.
Goal (issue 14): full stack >= 150,000 decisions/s.
"""

from __future__ import annotations

import random
import stat
import sys
import time

import casbin

from stockade.lsm.types import MAY_OPEN, MAY_READ, MAY_WRITE, Object, ObjectKind, Request, Subject
from stockade.modules.registry import build_stack

N_FILES, N_USERS, ROUNDS = 64, 8, 20


def make_requests(seed: int = 7) -> list[Request]:
    rng = random.Random(seed)
    root_dir = Object(kind=ObjectKind.FILE, path="/", mode=stat.S_IFDIR | 0o755)
    data_dir = Object(kind=ObjectKind.FILE, path="/data", mode=stat.S_IFDIR | 0o755,
                      ancestors=())
    files = [
        Object(kind=ObjectKind.FILE, path=f"/data/f{i}", uid=1000 + rng.randrange(N_USERS),
               gid=1000 + rng.randrange(N_USERS), mode=stat.S_IFREG | rng.choice(
                   [0o600, 0o640, 0o644, 0o660, 0o664, 0o400, 0o000]),
               parent=data_dir, ancestors=(root_dir,))
        for i in range(N_FILES)
    ]
    users = [Subject(pid=100 + u, comm="bench", uid=1000 + u, euid=1000 + u, suid=1000 + u,
                     fsuid=1000 + u, gid=1000 + u, egid=1000 + u, sgid=1000 + u,
                     fsgid=1000 + u, groups=frozenset({1000 + (u + 1) % N_USERS}))
             for u in range(N_USERS)]
    return [Request("file_open", s, f, acc | MAY_OPEN)
            for s in users for f in files for acc in (MAY_READ, MAY_WRITE)]


def rate(fn, items, rounds: int) -> tuple[float, float]:
    """(calls per CPU second, calls per wall-clock second)."""
    start, wall = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        for item in items:
            fn(item)
    calls = rounds * len(items)
    return calls / (time.process_time() - start), calls / (time.perf_counter() - wall)


def casbin_enforcer(requests: list[Request], allowed: list[bool]) -> casbin.Enforcer:
    model = casbin.Enforcer.new_model(text="""
[request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = r.sub == p.sub && r.obj == p.obj && r.act == p.act
""")
    enforcer = casbin.Enforcer(model)
    for req, ok in zip(requests, allowed, strict=True):
        if ok:
            enforcer.add_policy(*casbin_args(req))
    return enforcer


def casbin_args(req: Request) -> tuple[str, str, str]:
    return (str(req.subject.fsuid), req.obj.path, "read" if req.access & MAY_READ else "write")


def main() -> int:
    requests = make_requests()
    cached = build_stack(avc_threshold=len(requests) * 2)
    full = build_stack(avc_threshold=0)
    allowed = [full.decide(r).allowed for r in requests]
    enforcer = casbin_enforcer(requests, allowed)
    args = [casbin_args(r) for r in requests]
    agree = sum(enforcer.enforce(*a) == ok for a, ok in zip(args, allowed, strict=True))
    for r in requests:
        cached.decide(r)
    hits = rate(cached.decide, requests, ROUNDS * 10)
    allowed_requests = [r for r, ok in zip(requests, allowed, strict=True) if ok]
    allowed_hits = rate(cached.decide, allowed_requests, ROUNDS * 30)
    uncached = rate(full.decide, requests, ROUNDS)
    pycasbin = rate(lambda a: enforcer.enforce(*a), args, 2)
    print(f"requests: {len(requests)} ({N_USERS} users x {N_FILES} files x read/write), "
          f"{sum(allowed)} allowed; PyCasbin agrees on {agree}/{len(requests)}")
    print("(mix: 69% denials, each one replayed with its own audit record)")
    print(f"{'path':<30}{'decisions/s':>14}{'x PyCasbin':>12}{'wall-clock/s':>14}")
    for name, (value, wall) in (("stockade AVC hits (allowed)", allowed_hits),
                                ("stockade AVC hits (mix)", hits),
                                ("stockade full stack", uncached),
                                ("PyCasbin enforce()", pycasbin)):
        print(f"{name:<30}{value:>14,.0f}{value / pycasbin[0]:>12.1f}{wall:>14,.0f}")
    verdict = "met" if uncached[0] >= 150_000 else "NOT met"
    print(f"goal: full stack >= 150,000 decisions/s (CPU): {uncached[0]:,.0f}, {verdict}")
    stats = cached.avc.stats()
    print(f"AVC: lookups={stats.lookups} hits={stats.hits} misses={stats.misses}")
    return 0 if agree == len(requests) else 1


if __name__ == "__main__":
    sys.exit(main())
