"""Microseconds the supervisor adds per mediated system call, against an unconfined run and
against `strace -f -e trace=openat` of the same workload (20,000 opens of 4 files).

Run as root or any user:
`.venv/bin/python benchmarks/supervisor.py [N] [--rounds R] [--pin CPU | --pin A,B]
[--compare NAME=SRC ...]`.
`--compare before=/tmp/old/src` adds the supervisor of another source tree (e.g. a `git archive`
of an older commit), measured in the same interleaved rounds. With the C extension built,
"supervised" is the C mechanics with the fast path for AVC hits, "supervised-nomirror" without
it, "supervised-pure" the pure-Python loop.

The machine is shared and noisy, so the variants are interleaved, R rounds of each, and the
medians are reported. Each round measures a variant with 0 and with N opens and subtracts the
start-up; "added per open" is then the variant's loop minus the unconfined loop, per open.
Two figures (docs/performance.md, "What the supervisor figures mean"):
* wall: elapsed time added, what a user waits; it includes waiting for a CPU (other load) and
  waking an idle CPU, so it swings with the machine's load and with where the scheduler puts
  the two tasks.
* CPU: CPU time added (the target and strace from getrusage, the supervisor thread's own from
  time.thread_time): the work done, not the waiting; stable on a shared machine. The goal is
  judged on it.
Placement: unpinned by default (the scheduler decides); `--pin CPU` runs everything
(supervisor, target, strace) on one CPU; `--pin A,B` puts the target on CPU A and the
supervisor thread (and strace) on CPU B, every notification then crossing CPUs.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from stockade.enforce import defaults, prepare
from stockade.enforce.supervisor import fast
from stockade.enforce.supervisor.session import supervised_launch
from stockade.enforce.supervisor.setup import build

PY = "/usr/bin/python3"


def workload(directory: str, n: int) -> list[str]:
    code = (f"import os\nnames=[{directory!r}+'/f%d' % i for i in range(4)]\n"
            f"for i in range({n}):\n    os.close(os.open(names[i & 3], os.O_RDONLY))\n")
    return [PY, "-c", code]


SUPERVISOR_CPU_NS = [0]
#: `--pin A,B`: the CPU the supervisor thread moves to once the target is forked (on CPU A)
SUPERVISOR_PIN: list[int] = []


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cpu_timed(fn: Callable[[], None]) -> tuple[float, float]:
    """(wall, CPU) seconds of `fn`: CPU of the children it waited for (target, strace) plus the
    supervisor thread's; CPU does not count the time spent waiting for a CPU on a busy machine."""
    SUPERVISOR_CPU_NS[0] = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = timed(fn)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
           + SUPERVISOR_CPU_NS[0] / 1e9)
    return wall, cpu


def run_supervised(d: str, argv: list[str], stats: dict[str, object], pure: bool = False,
                   mirror: bool = True) -> None:
    """One supervised run of `argv` (Biba: a medium subject reading high files); `pure`: the
    pure-Python mechanics even where the C extension is built; `mirror`: the C fast path for
    AVC hits (fast.FastPath) where the C mechanics are used."""
    if pure:
        os.environ[fast.ENV_PURE] = "1"
    else:
        os.environ.pop(fast.ENV_PURE, None)
    if mirror:
        os.environ.pop(fast.ENV_NO_MIRROR, None)
    else:
        os.environ[fast.ENV_NO_MIRROR] = "1"
    setup = build("enforce", "capability,biba", ["biba=medium"], ["biba.default_level=high"])
    serve = setup.supervisor.run

    def run_timed(listener: object) -> None:  # the supervisor thread's own CPU time
        if SUPERVISOR_PIN:  # this thread only (the target, forked already, stays where it is)
            os.sched_setaffinity(0, set(SUPERVISOR_PIN))
        start = time.thread_time_ns()
        try:
            serve(listener)  # type: ignore[arg-type]
        finally:
            SUPERVISOR_CPU_NS[0] += time.thread_time_ns() - start
    setup.supervisor.run = run_timed  # type: ignore[method-assign]
    plan = defaults.adhoc_plan([d], (), (PY, "/usr", "/etc"))
    with prepare.prepare(plan, supervised=True) as prep:
        code = supervised_launch(prep, setup.supervisor, setup.routed, argv)
    assert code == 0, code
    stats.clear()
    stats.update(setup.supervisor.stats.as_dict())
    stats["mechanics"] = fast.name(setup.supervisor.backend)
    stats["avc_hits"] = setup.supervisor.stack.avc.stats().hits
    listener = setup.supervisor.listener
    stats["sync_wakeup"] = getattr(listener, "sync_wakeup", None)
    setup.close()


def main() -> None:
    if sys.argv[1:2] == ["--measure-supervised"]:  # a --compare tree, in its own interpreter
        d, n = sys.argv[2], int(sys.argv[3])
        if len(sys.argv) > 4:  # --pin A,B: this process was started on A
            SUPERVISOR_PIN[:] = [int(sys.argv[4])]
        print(*cpu_timed(lambda: run_supervised(d, workload(d, n), {})))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pin", default=None, metavar="CPU|A,B",
                    help="one CPU for everything, or the target on A and the supervisor on B")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=SRC")
    ap.add_argument("--once", action="store_true",
                    help="one supervised run of N opens, nothing else: for `perf trace -s`, "
                         "which counts the system calls of each thread")
    args = ap.parse_args()
    n = args.n
    target_cpu = sup_cpu = None
    if args.pin is not None:
        a, _, b = args.pin.partition(",")
        target_cpu, sup_cpu = int(a), int(b or a)
        os.sched_setaffinity(0, {target_cpu})  # inherited by the supervisor thread and children
        if sup_cpu != target_cpu:
            SUPERVISOR_PIN[:] = [sup_cpu]
    d = tempfile.mkdtemp(prefix="stockade-bench-")
    os.chmod(d, 0o755)
    for i in range(4):
        path = f"{d}/f{i}"
        with open(path, "w") as f:
            f.write("data\n")
        os.setxattr(path, "user.stockade.biba", b"high")
    if args.once:
        once: dict[str, object] = {}
        run_supervised(d, workload(d, n), once)
        shutil.rmtree(d, ignore_errors=True)
        print(f"{n} opens, one supervised run: {once}")
        return
    devnull = subprocess.DEVNULL

    def plain(argv: list[str]) -> None:
        subprocess.run(argv, check=True, stdout=devnull)

    # strace itself on the supervisor's CPU, its target on the target's
    pin_s = ["taskset", "-c", str(sup_cpu)] if SUPERVISOR_PIN else []
    pin_t = ["taskset", "-c", str(target_cpu)] if SUPERVISOR_PIN else []

    def strace(argv: list[str]) -> None:
        subprocess.run([*pin_s, "strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=openat",
                        *pin_t, *argv], check=True, stdout=devnull)

    stats: dict[str, object] = {}

    def supervised(argv: list[str]) -> None:
        run_supervised(d, argv, stats)

    pure_stats: dict[str, object] = {}

    def pure(argv: list[str]) -> None:
        run_supervised(d, argv, pure_stats, pure=True)

    def no_mirror(argv: list[str]) -> None:
        run_supervised(d, argv, {}, mirror=False)

    variants: list[tuple[str, Callable[[list[str]], None]]] = [
        ("unconfined", plain), ("supervised", supervised)]
    if fast.load() is not None:  # the C extension is built: without its fast path, pure Python
        variants.append(("supervised-nomirror", no_mirror))
        variants.append(("supervised-pure", pure))
    if shutil.which("strace") is not None:
        variants.append(("strace", strace))
    compare: dict[str, str] = dict(item.partition("=")[::2] for item in args.compare)
    loops: dict[str, list[float]] = {name: [] for name, _ in variants}
    loops.update({f"supervised@{name}": [] for name in compare})

    def other(src: str, count: int) -> tuple[float, float]:
        env = {**os.environ, "PYTHONPATH": src}
        out = subprocess.run([sys.executable, __file__, "--measure-supervised", d, str(count),
                              *[str(c) for c in SUPERVISOR_PIN]],
                             check=True, capture_output=True, text=True, env=env).stdout
        wall, cpu = out.split()[-2:]
        return float(wall), float(cpu)

    cpus: dict[str, list[float]] = {name: [] for name, _ in variants}
    cpus.update({f"supervised@{name}": [] for name in compare})
    for _ in range(args.rounds):
        for name, fn in variants:
            start_cost, start_cpu = cpu_timed(lambda fn=fn: fn(workload(d, 0)))  # type: ignore[misc]
            total, total_cpu = cpu_timed(lambda fn=fn: fn(workload(d, n)))  # type: ignore[misc]
            loops[name].append(total - start_cost)
            cpus[name].append(total_cpu - start_cpu)
        for name, src in compare.items():  # its own CPU only: no children of ours
            (w0, c0), (w1, c1) = other(src, 0), other(src, n)
            loops[f"supervised@{name}"].append(w1 - w0)
            cpus[f"supervised@{name}"].append(c1 - c0)
    shutil.rmtree(d, ignore_errors=True)
    report(n, args.rounds, placement(target_cpu, sup_cpu), loops, cpus, stats)


def placement(target_cpu: int | None, sup_cpu: int | None) -> str:
    """Where the target and the supervisor ran, in words."""
    if target_cpu is None:
        return "unpinned (the scheduler places the target and the supervisor)"
    if target_cpu == sup_cpu:
        return f"everything on CPU {target_cpu}"
    return f"target on CPU {target_cpu}, supervisor and strace on CPU {sup_cpu}"


def per_open(values: list[float], base: list[float], n: int) -> list[float]:
    """Each round's µs added per open over the unconfined round."""
    return [(v - b) / n * 1e6 for v, b in zip(values, base, strict=True)]


def report(n: int, rounds: int, where: str, loops: dict[str, list[float]],
           cpus: dict[str, list[float]], stats: dict[str, object]) -> None:
    """The table: wall and CPU added per open, and each one's ratio to strace."""
    print(f"{n} opens of 4 files, {rounds} interleaved rounds, {where}; µs added per open "
          "over the unconfined loop (medians of rounds; start-up measured with 0 opens and "
          "subtracted)")
    wall = {k: statistics.median(per_open(v, loops["unconfined"], n)) for k, v in loops.items()}
    cpu = {k: statistics.median(per_open(v, cpus["unconfined"], n)) for k, v in cpus.items()}
    print(f"  {'variant':22s} {'wall':>7s} {'CPU':>7s}   strace/it: wall    CPU   "
          "(wall rounds)")
    for name in loops:
        if name == "unconfined":
            continue
        c = cpu.get(name)
        ratios = ("" if "strace" not in wall else
                  f"{wall['strace'] / wall[name]:11.2f}x" if wall[name] > 0 else f"{'-':>12s}")
        if "strace" in cpu and c is not None and c > 0:
            ratios += f" {cpu['strace'] / c:6.2f}x"
        spread = " ".join(f"{x:.1f}" for x in sorted(per_open(loops[name], loops["unconfined"],
                                                              n)))
        cpu_text = f"{c:7.2f}" if c is not None else f"{'-':>7s}"
        print(f"  {name:22s} {wall[name]:7.2f} {cpu_text}   {ratios:20s} ({spread})")
    print("  CPU per round (sorted): " + "; ".join(
        f"{name} " + " ".join(f"{x:.1f}" for x in sorted(per_open(v, cpus["unconfined"], n)))
        for name, v in cpus.items() if name != "unconfined"))
    for name in (k for k in cpus if k.startswith("supervised@")):
        diffs = sorted((a - b) / n * 1e6 for a, b in zip(cpus["supervised"], cpus[name],
                                                          strict=True))
        print(f"  supervised - {name}, CPU, paired by round: median {statistics.median(diffs):+.2f}"
              f" us (rounds: {' '.join(f'{x:+.2f}' for x in diffs)})")
    print(f"  supervisor stats (last run): {stats}")
    base = statistics.median(loops["unconfined"])
    print(f"  supervised / unconfined loop ratio (wall): "
          f"{statistics.median(loops['supervised']) / max(base, 1e-9):.1f}x")
    best = cpu.get("supervised", 0.0)
    ratio = cpu["strace"] / best if "strace" in cpu and best > 0 else 0.0
    wall_ratio = wall["strace"] / wall["supervised"] \
        if "strace" in wall and wall["supervised"] > 0 else 0.0
    print(f"  goal, judged on CPU: <= 20 us per mediated open ({best:.1f}: "
          f"{'met' if best <= 20 else 'not met'}); >= 4x faster than strace -f "
          f"({ratio:.2f}x: {'met' if ratio >= 4 else 'not met'}); by wall time "
          f"{wall['supervised']:.1f} us, {wall_ratio:.2f}x strace")


if __name__ == "__main__":
    main()
