"""The kernel's floor for the supervisor: a C-only supervisor (benchmarks/supervisor_floor.c,
no Python, a 4-instruction filter) against strace -f, per open, CPU, interleaved rounds.

`.venv/bin/python benchmarks/supervisor_floor.py [N] [--rounds R] [--pin CPU]` (needs gcc and
strace). What stockade's fast path (benchmarks/supervisor.py, "supervised") can at best reach:
mode 3 makes the same system calls.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Callable

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "supervisor_floor.c")


def cpu(argv: list[str]) -> float:
    """CPU seconds of `argv` and everything it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pin", type=int, default=None, metavar="CPU")
    args = ap.parse_args()
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})
    d = tempfile.mkdtemp(prefix="stockade-floor-")
    binary, target = f"{d}/floor", f"{d}/f"
    subprocess.run(["gcc", "-O2", "-o", binary, SOURCE], check=True)
    with open(target, "w") as f:
        f.write("data\n")
    os.setxattr(target, "user.stockade.biba", b"high")
    variants: dict[str, Callable[[int], list[str]]] = {
        "unconfined": lambda n: [binary, "0", str(n), target],
        "notify + CONTINUE": lambda n: [binary, "1", str(n), target],
        "notify + openat2 + fstat + ADDFD|SEND": lambda n: [binary, "2", str(n), target],
        "every call of the fast path (C only)": lambda n: [binary, "3", str(n), target],
        "strace -f -e trace=openat": lambda n: ["strace", "-f", "-qq", "-o", "/dev/null", "-e",
                                                "trace=openat", binary, "0", str(n), target],
    }
    per: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, argv in variants.items():
            per[name].append((cpu(argv(args.n)) - cpu(argv(0))) / args.n * 1e6)
    shutil.rmtree(d, ignore_errors=True)
    base = per["unconfined"]
    added = {k: statistics.median([x - b for x, b in zip(v, base, strict=True)])
             for k, v in per.items()}
    strace = added["strace -f -e trace=openat"]
    print(f"{args.n} opens, {args.rounds} interleaved rounds, µs CPU added per open (medians)")
    for name, value in added.items():
        if name != "unconfined":
            ratio = f"  strace / it {strace / value:.1f}x" if value > 0 else ""
            print(f"  {name:40s} {value:6.2f}{ratio}")


if __name__ == "__main__":
    main()
