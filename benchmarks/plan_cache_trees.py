"""A repeated `stockade run -p P -- /bin/true` (a plan cache hit, not quiet, as
benchmarks/run_startup.py's row runs it) of several source trees, seen from outside, interleaved
in one run with `/bin/true` and `python -c pass`: before/after of a change.

P is run_startup.py's small profile. Each tree runs with PYTHONPATH=TREE (its src directory,
with its .pyc files and C extensions) and a cache directory of its own (their entries differ:
the key holds the code's fingerprint). Prints the wall median (min) and the time added over
/bin/true, and the CPU (user+system of the process tree) median (min) and its ratio to
`python -c pass`. Run it from a directory the profile's grants do not cover (the current
directory is on sys.path of `python -m`). Usage:
  .venv/bin/python benchmarks/plan_cache_trees.py N SRC [SRC ...]
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = str(REPO / ".venv/bin/python")
sys.path.insert(0, str(REPO / "benchmarks"))


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (use.ru_utime + use.ru_stime) * 1000


def main() -> int:
    """Usage: N SRC [SRC ...]."""
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    from run_startup import _profile_file

    n, trees = int(sys.argv[1]), sys.argv[2:]
    profile = _profile_file()
    base = dict(os.environ)
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    homes = [tempfile.mkdtemp(prefix="stockade-bench-cache-") for _ in trees]
    cases: dict[str, tuple[list[str], dict[str, str]]] = {
        "/bin/true": (["/bin/true"], base), "python -c pass": ([PY, "-c", "pass"], base)}
    for tree, home in zip(trees, homes, strict=True):
        cases[tree] = ([PY, "-m", "stockade", "run", "-p", profile, "--", "/bin/true"],
                       dict(base, PYTHONPATH=tree, XDG_CACHE_HOME=home))
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    try:
        for argv, env in cases.values():  # the cache filled, the page cache warm
            for _ in range(2):
                subprocess.run(argv, env=env, check=True, capture_output=True)
        for _ in range(n):
            for name, (argv, env) in cases.items():
                start, cpu0 = time.perf_counter(), _cpu()
                subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                wall[name].append((time.perf_counter() - start) * 1000)
                cpu[name].append(_cpu() - cpu0)
    finally:
        os.unlink(profile)
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)
    floor, per_pass = statistics.median(wall["/bin/true"]), statistics.median(cpu["python -c pass"])
    print(f"{n} interleaved rounds, load {os.getloadavg()[0]:.1f}; ms")
    for name in cases:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"{name:40} wall {w:6.1f} ({min(wall[name]):6.1f}) added {w - floor:6.1f} | "
              f"CPU {c:6.1f} ({min(cpu[name]):6.1f}) x pass {c / per_pass:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
