"""Benchmark: what confirming an exec costs the supervisor (supervisor/execve/confirm.py), beside
the exec itself in the same run.

Each decided exec that changes labels takes its evidence once (`capture`: two /proc stat
reads, a stat of /proc/PID/exe, an open of /proc/PID/mem, kcmp) and settles it once at the
group's next notification (`outcome`; the dearest path, a failed exec, is measured: exe, a
read of the pinned memory, the layout and the personality). Prints the median microseconds of
each and their ratio to a fork + exec + wait of /usr/bin/true, the baseline.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from stockade.enforce.supervisor.execve.confirm import FAILED, capture, outcome

RUNS = 300


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def main() -> None:
    child = subprocess.Popen([sys.executable, "-c", "print(flush=True); input()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        child.stdout.readline()  # past its own exec
        pid = child.pid
        took, settled = [], []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            ev = capture(pid, pid, {"tomoyo": "x"})
            t1 = time.perf_counter()
            assert ev is not None and outcome(ev, pid) == FAILED
            t2 = time.perf_counter()
            ev.close()
            took.append(t1 - t0)
            settled.append(t2 - t1)
    finally:
        child.kill()
        child.wait()
    execs = []
    for _ in range(RUNS // 3):
        t0 = time.perf_counter()
        pid = os.posix_spawn("/usr/bin/true", ["true"], {})
        os.waitpid(pid, 0)
        execs.append(time.perf_counter() - t0)
    base = _median_us(execs)
    cap, out = _median_us(took), _median_us(settled)
    print(f"exec of /usr/bin/true (baseline): {base:8.1f} us")
    print(f"capture evidence:                 {cap:8.1f} us  ({cap / base:.2f}x the exec)")
    print(f"settle (failed exec, dearest):    {out:8.1f} us  ({out / base:.2f}x the exec)")


if __name__ == "__main__":
    main()
