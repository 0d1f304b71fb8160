"""Microseconds the supervisor adds per mediated system call, against an unconfined run and
against `strace -f -e trace=openat` of the same workload (20,000 opens of 4 files).

Run as root or any user:
`.venv/bin/python benchmarks/supervisor.py [N] [--rounds R] [--pin CPU] [--compare NAME=SRC ...]`.
`--compare before=/tmp/old/src` adds the supervisor of another source tree (e.g. a `git archive`
of an older commit), measured in the same interleaved rounds. With the C extension built,
"supervised" is the C mechanics with the fast path for AVC hits, "supervised-nomirror" without
it, "supervised-pure" the pure-Python loop. The goal is judged on the CPU figure.

The machine is shared and noisy, so the three variants are interleaved, R rounds of each, and
the medians are reported. Each round measures a variant with 0 and with N opens and subtracts
the start-up; "added per open" is then the variant's loop minus the unconfined loop, per open.
`--pin CPU` runs everything (supervisor, target, strace) on one CPU: no cross-CPU wake-ups, so
what is left is the work itself (system calls, Python, the notification round trip).
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
        print(timed(lambda: run_supervised(d, workload(d, n), {})))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pin", type=int, default=None, metavar="CPU")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=SRC")
    args = ap.parse_args()
    n = args.n
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})  # inherited by the supervisor thread and children
    d = tempfile.mkdtemp(prefix="stockade-bench-")
    os.chmod(d, 0o755)
    for i in range(4):
        path = f"{d}/f{i}"
        with open(path, "w") as f:
            f.write("data\n")
        os.setxattr(path, "user.stockade.biba", b"high")
    devnull = subprocess.DEVNULL

    def plain(argv: list[str]) -> None:
        subprocess.run(argv, check=True, stdout=devnull)

    def strace(argv: list[str]) -> None:
        subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=openat", *argv],
                       check=True, stdout=devnull)

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

    def other(src: str, count: int) -> float:
        env = {**os.environ, "PYTHONPATH": src}
        out = subprocess.run([sys.executable, __file__, "--measure-supervised", d, str(count)],
                             check=True, capture_output=True, text=True, env=env).stdout
        return float(out.split()[-1])

    cpus: dict[str, list[float]] = {name: [] for name, _ in variants}
    for _ in range(args.rounds):
        for name, fn in variants:
            start_cost, start_cpu = cpu_timed(lambda fn=fn: fn(workload(d, 0)))  # type: ignore[misc]
            total, total_cpu = cpu_timed(lambda fn=fn: fn(workload(d, n)))  # type: ignore[misc]
            loops[name].append(total - start_cost)
            cpus[name].append(total_cpu - start_cpu)
        for name, src in compare.items():
            loops[f"supervised@{name}"].append(other(src, n) - other(src, 0))
    shutil.rmtree(d, ignore_errors=True)
    pin = f", pinned to CPU {args.pin}" if args.pin is not None else ""
    print(f"{n} opens of 4 files ({args.rounds} interleaved rounds, medians{pin}; start-up "
          "measured with 0 opens and subtracted)")
    base = statistics.median(loops["unconfined"])
    per: dict[str, float] = {}
    for name, values in loops.items():
        work = statistics.median(values)
        rounds = [(v - b) / n * 1e6 for v, b in zip(values, loops["unconfined"], strict=True)]
        per[name] = statistics.median(rounds)
        spread = " ".join(f"{x:.1f}" for x in sorted(rounds))
        print(f"  {name:19s} loop {work * 1e3:8.1f} ms  added per open {per[name]:6.2f} us"
              + (f"  (rounds: {spread})" if name != "unconfined" else ""))
    cpu_per: dict[str, float] = {}
    for name, values in cpus.items():
        rounds = [(v - b) / n * 1e6 for v, b in zip(values, cpus["unconfined"], strict=True)]
        cpu_per[name] = statistics.median(rounds)
        if name != "unconfined":
            print(f"  {name:19s} CPU added per open {cpu_per[name]:6.2f} us (target + supervisor"
                  " or strace; robust to a busy machine)")
    if "strace" in cpu_per:
        for name in ("supervised", "supervised-nomirror", "supervised-pure"):
            if cpu_per.get(name, 0) > 0:
                print(f"  strace / {name} CPU ratio: {cpu_per['strace'] / cpu_per[name]:.2f}x")
    print(f"  supervisor stats (last run): {stats}")
    if "strace" in per and per["supervised"] > 0:
        print(f"  strace / supervisor overhead ratio: {per['strace'] / per['supervised']:.2f}x"
              f" (mechanics: {stats.get('mechanics')})")
    if "strace" in per and per.get("supervised-pure", 0) > 0:
        print(f"  strace / pure-Python supervisor ratio: "
              f"{per['strace'] / per['supervised-pure']:.2f}x")
    print(f"  supervised / unconfined loop ratio: "
          f"{statistics.median(loops['supervised']) / max(base, 1e-9):.1f}x")
    cpu_sup = cpu_per.get("supervised", 0.0)
    ratio = cpu_per["strace"] / cpu_sup if "strace" in cpu_per and cpu_sup > 0 else 0.0
    print(f"  goal (CPU): <= 20 us per mediated open ({cpu_sup:.1f}: "
          f"{'met' if cpu_sup <= 20 else 'not met'}); >= 4x faster than strace -f "
          f"({ratio:.2f}x: {'met' if ratio >= 4 else 'not met'})")

if __name__ == "__main__":
    main()
