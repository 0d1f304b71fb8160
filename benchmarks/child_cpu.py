"""What the launcher's child costs between fork and exec: the C child against the Python one.

A process's CPU clock and page-fault count survive execve, so a static probe that prints both
as its first act shows what its process spent before it (fork's child side, the confinement
steps, the exec itself). Runs `stockade run --rx / -- PROBE` N times (default 30) with the C
child and with the Python child (STOCKADE_CHILD_PURE=1), interleaved, and prints the medians
and minima. The probe is compiled with cc into a temporary directory.
Usage: .venv/bin/python benchmarks/child_cpu.py [N]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROBE = r"""
#include <stdio.h>
#include <time.h>
#include <sys/resource.h>
int main(void)
{
    struct timespec t;
    struct rusage u;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    getrusage(RUSAGE_SELF, &u);
    printf("%.1f %ld\n", t.tv_sec * 1e6 + t.tv_nsec / 1e3, u.ru_minflt);
    return 0;
}
"""


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with tempfile.TemporaryDirectory(prefix="stockade-child-cpu-") as tmp:
        os.chmod(tmp, 0o755)
        source, probe = Path(tmp, "probe.c"), Path(tmp, "probe")
        source.write_text(PROBE)
        subprocess.run(["cc", "-O2", "-static", "-o", str(probe), str(source)], check=True)
        argv = [str(REPO / ".venv/bin/stockade"), "run", "--rx", "/", "--", str(probe)]
        env = {k: v for k, v in os.environ.items() if k != "STOCKADE_CHILD_PURE"}
        kinds = {"C child": env, "Python child": {**env, "STOCKADE_CHILD_PURE": "1"}}
        got: dict[str, list[tuple[float, int]]] = {kind: [] for kind in kinds}
        for _ in range(n):
            for kind, kind_env in kinds.items():
                out = subprocess.run(argv, env=kind_env, check=True, capture_output=True,
                                     text=True).stdout.split()
                got[kind].append((float(out[0]), int(out[1])))
    print(f"{n} interleaved runs each, load {os.getloadavg()[0]:.1f}; the child's CPU (µs) and "
          "page faults from fork to the probe's first instruction")
    for kind, rows in got.items():
        cpu, faults = [r[0] for r in rows], [r[1] for r in rows]
        print(f"{kind:13} CPU median {statistics.median(cpu):7.0f} min {min(cpu):7.0f}   "
              f"faults median {statistics.median(faults):5.0f} min {min(faults):5d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
