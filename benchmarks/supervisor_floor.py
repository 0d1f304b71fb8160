"""The kernel's floor for the supervisor: a C-only supervisor (benchmarks/supervisor_floor.c,
no Python, a 4-instruction filter) against strace -f, per open, interleaved rounds, with the
cost of each system call of stockade's fast path measured in place.

`.venv/bin/python benchmarks/supervisor_floor.py [N] [--rounds R] [--pin CPU | --pin A,B]
[--python]` (needs gcc and strace). "all calls" makes the same system calls as stockade's fast
path for AVC hits (benchmarks/supervisor.py, "supervised"), in the same order; "all but X" leaves
one out, so all minus it is what X costs where it runs (after a context switch, caches cold);
"all + ID_VALID" is the fast path as it was before session 5.
The per-step times are wall nanoseconds of each call in the supervisor (CLOCK_MONOTONIC around
it), medians over the opens: ADDFD|SEND includes waiting for the target to install the fd.
`--pin A,B` puts the target on CPU A and the supervisor (and strace) on CPU B; `--pin CPU` both
on one CPU. `--python` makes the target the Python loop of benchmarks/supervisor.py.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "supervisor_floor.c")
ALL = "oprsxf"  # the fast path since session 5 (no ID_VALID: the pidfd poll follows the read)
NAMES = {"p": "pidfd poll", "r": "process_vm_readv", "s": "fstat", "x": "fgetxattr",
         "f": "F_SETFL"}
VARIANTS: list[tuple[str, str]] = [
    ("unconfined", "u"),
    ("notify + CONTINUE (TOCTOU: not allowed)", "c"),
    ("notify + openat2 + ADDFD|SEND + close", "o"),
    ("  + fstat (the key, the /proc guard)", "os"),
    ("all calls of the fast path", ALL),
    *[(f"all but {name}", ALL.replace(letter, "")) for letter, name in NAMES.items()],
    ("all + ID_VALID (the fast path before)", ALL + "v"),
    ("all + poll of 2 fds (stockade's stop pipe)", ALL + "2"),
    ("all + Landlock on both sides", ALL + "l"),
]


def cpu(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall, CPU) seconds of `argv` and everything it waited for, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, env=env).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pin", default=None, metavar="CPU|A,B")
    ap.add_argument("--python", action="store_true", help="the target is a Python loop")
    args = ap.parse_args()
    env = dict(os.environ)
    target_cpu = sup_cpu = None
    if args.pin is not None:
        a, _, b = args.pin.partition(",")
        target_cpu, sup_cpu = int(a), int(b or a)
        os.sched_setaffinity(0, {target_cpu, sup_cpu})
        env["FLOOR_PIN"] = f"{target_cpu},{sup_cpu}"
    d = tempfile.mkdtemp(prefix="stockade-floor-")
    binary, target = f"{d}/floor", f"{d}/f"
    subprocess.run(["gcc", "-O2", "-o", binary, SOURCE], check=True)
    with open(target, "w") as f:
        f.write("data\n")
    os.setxattr(target, "user.stockade.biba", b"high")

    def program(n: int) -> list[str]:
        if not args.python:
            return []
        return ["/usr/bin/python3", "-c", f"import os\nfor i in range({n}):\n"
                f"    os.close(os.open({target!r}, os.O_RDONLY))\n"]

    def floor(steps: str, n: int) -> list[str]:
        return [binary, steps, str(n), target, *program(n)]

    def strace(n: int) -> list[str]:
        pin_s = ["taskset", "-c", str(sup_cpu)] if sup_cpu is not None else []
        pin_t = ["taskset", "-c", str(target_cpu)] if target_cpu is not None else []
        return [*pin_s, "strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=openat", *pin_t,
                binary, "u", str(n), target, *program(n)]

    runs = [(name, lambda n, s=steps: floor(s, n)) for name, steps in VARIANTS]
    runs.append(("strace -f -e trace=openat", strace))
    walls: dict[str, list[float]] = {name: [] for name, _ in runs}
    cpus: dict[str, list[float]] = {name: [] for name, _ in runs}
    sups: dict[str, list[float]] = {name: [] for name, _ in runs}
    steps: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, argv in runs:
            w0, c0, _o = cpu(argv(0), env)
            w1, c1, out = cpu(argv(args.n), env)
            walls[name].append((w1 - w0) / args.n * 1e6)
            cpus[name].append((c1 - c0) / args.n * 1e6)
            fields = out.split()
            sups[name].append(float(fields[3]) if len(fields) > 3 and name != "unconfined"
                              and not name.startswith("strace") else 0.0)
        _w, _c, out = cpu(floor(ALL + "vt", args.n), env)
        for item in out.split()[5:]:
            step, _, ns = item.partition("=")
            steps.setdefault(step, []).append(float(ns))
    shutil.rmtree(d, ignore_errors=True)

    def added(values: dict[str, list[float]], name: str) -> float:
        return statistics.median(v - b for v, b in zip(values[name], values["unconfined"],
                                                       strict=True))

    where = f", target on CPU {target_cpu}, supervisor on CPU {sup_cpu}" if args.pin else \
        ", unpinned"
    print(f"{args.n} opens by a {'Python' if args.python else 'C'} loop, {args.rounds} "
          f"interleaved rounds{where}; µs added per open (medians of rounds)")
    s_cpu, s_wall = added(cpus, runs[-1][0]), added(walls, runs[-1][0])
    print(f"  {'variant':44s} {'CPU':>6s} {'sup.':>6s} {'wall':>6s}  strace/it CPU, wall")
    for name, _ in runs[1:]:
        c, w = added(cpus, name), added(walls, name)
        sup = statistics.median(sups[name]) if not name.startswith("strace") else 0.0
        print(f"  {name:44s} {c:6.2f} {sup:6.2f} {w:6.2f}  {s_cpu / c:5.2f}x {s_wall / w:5.2f}x")
    full = added(cpus, "all calls of the fast path")
    print("  CPU each call costs in place (all calls minus all but it):")
    for name in NAMES.values():
        without = added(cpus, f"all but {name}")
        print(f"    {name:20s} {full - without:6.2f}")
    print(f"    {'ID_VALID':20s} {added(cpus, 'all + ID_VALID (the fast path before)') - full:6.2f}")
    print(f"    {'Landlock':20s} {added(cpus, 'all + Landlock on both sides') - full:6.2f}")
    print("  supervisor's wall time per call in place (ns, median of the rounds' medians):")
    print("    " + "  ".join(f"{k} {statistics.median(v):.0f}" for k, v in steps.items()))


if __name__ == "__main__":
    main()
