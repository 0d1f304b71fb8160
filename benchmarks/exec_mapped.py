"""What an exec whose path lies in a private file mapping costs under a module that decides
exec (`exec_race.unsettled`: the mapped file's writers looked for, the decided bytes written
over the path), against an exec of the same program whose path is on the heap, in the same
supervised run.

glibc's `system()` names "/bin/sh" from libc's own mapping; `subprocess` passes a path it
built on the heap. Both run /bin/sh -c true. Run as root (the supervisor takes a read lease on
libc) and as nobody (no lease on root's file: nobody's processes are read):
`.venv/bin/python benchmarks/exec_mapped.py [N] [--rounds R] [--user nobody]`.
The two are interleaved R rounds in one run each; medians in ms per exec and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROGRAM = """
import os, subprocess, sys, time
n, rounds = int(sys.argv[1]), int(sys.argv[2])
for _ in range(rounds):
    t = time.perf_counter()
    for _ in range(n):
        os.system("true")
    mapped = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for _ in range(n):
        subprocess.run(["/bin/sh", "-c", "true"])
    heap = (time.perf_counter() - t) / n
    print(mapped * 1000, heap * 1000, flush=True)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--user", default="")
    args = ap.parse_args()
    ids = {"user": args.user, "group": 65534, "extra_groups": []} if args.user else {}
    res = subprocess.run(
        [str(REPO / ".venv/bin/stockade"), "run", "-q", "--mode", "enforce", "--lsm",
         "capability,biba", "--context", "biba=medium", "--module-option",
         "biba.default_level=high", "--no-status-record", "--no-cache", "--rx", "/", "--",
         "/usr/bin/python3", "-c", PROGRAM, str(args.n), str(args.rounds)],
        capture_output=True, text=True, check=True, cwd="/", env={"HOME": "/tmp",
                                                                    "PATH": "/usr/bin:/bin"},
        **ids)  # type: ignore[arg-type]
    rows = [tuple(map(float, line.split())) for line in res.stdout.splitlines()]
    mapped = statistics.median(r[0] for r in rows)
    heap = statistics.median(r[1] for r in rows)
    print(f"{args.user or 'current user'}: system() (path in libc's mapping) {mapped:.2f} ms, "
          f"subprocess (path on the heap) {heap:.2f} ms, ratio {mapped / heap:.2f} "
          f"({args.rounds} rounds of {args.n})")


if __name__ == "__main__":
    sys.exit(main())
