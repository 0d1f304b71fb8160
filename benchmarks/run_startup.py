"""Start-up cost of `stockade run` with a few rules against the unconfined command.

Prints the median of N runs (default 30) for:
  unconfined      /bin/true
  python -c pass  the interpreter alone (the floor for any Python launcher)
  stockade run    --rx /usr --ro /etc --rw /tmp --connect-tcp 443 -- /bin/true
and the overheads in ms. Target: stockade run <= 30 ms over the unconfined launch.
In-process, it also times `prepare` (Landlock ruleset + seccomp compile) and `launch`.
Usage: .venv/bin/python benchmarks/run_startup.py [N]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = str(REPO / ".venv/bin/python")
RULES = ["--rx", "/usr", "--ro", "/etc", "--rw", "/tmp", "--connect-tcp", "443"]


def timed(argv: list[str], n: int) -> float:
    """Median wall time of `argv` in ms over `n` runs (after one warm-up)."""
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def in_process(n: int) -> tuple[float, float]:
    """Median ms of prepare() and of launch() of /bin/true, inside one Python process."""
    sys.path.insert(0, str(REPO / "src"))
    from stockade.enforce import defaults, launcher, prepare

    prep_ms, launch_ms = [], []
    for _ in range(n):
        plan = defaults.adhoc_plan(["/etc"], ["/tmp"], ["/usr"], [443])
        t0 = time.perf_counter()
        prep = prepare.prepare(plan)
        t1 = time.perf_counter()
        status = launcher.launch(prep, ["/bin/true"])
        t2 = time.perf_counter()
        assert status == 0
        prep_ms.append((t1 - t0) * 1000)
        launch_ms.append((t2 - t1) * 1000)
    return statistics.median(prep_ms), statistics.median(launch_ms)


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    bare = timed(["/bin/true"], n)
    interp = timed([PY, "-c", "pass"], n)
    confined = timed([PY, "-m", "stockade", "run", *RULES, "--", "/bin/true"], n)
    prep_ms, launch_ms = in_process(n)
    over = confined - bare
    print(f"runs per case: {n} (median), {os.cpu_count()} cpus")
    print(f"unconfined /bin/true           {bare:7.2f} ms")
    print(f"python -c pass (floor)         {interp:7.2f} ms")
    print(f"stockade run {' '.join(RULES)} -- /bin/true")
    print(f"                               {confined:7.2f} ms")
    print(f"overhead vs unconfined         {over:7.2f} ms  (x{confined / bare:.1f})")
    print(f"overhead vs the interpreter    {confined - interp:7.2f} ms")
    print(f"in-process prepare()           {prep_ms:7.2f} ms")
    print(f"in-process launch() of true    {launch_ms:7.2f} ms")
    target = 30.0
    print(f"target <= {target:.0f} ms over unconfined: {'met' if over <= target else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
