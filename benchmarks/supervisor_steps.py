"""Where the supervisor's time goes per mediated open, measured in place (not in a micro loop:
after each context switch caches and branch predictors are cold, and every step is slower there).

Each step's function is wrapped with a timer for the benchmark workload of benchmarks/supervisor.py
(20,000 opens); the wrappers' own cost is calibrated and subtracted from the enclosing total.
`.venv/bin/python benchmarks/supervisor_steps.py [N] [--rounds R] [--pin CPU]`
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from stockade.enforce.supervisor import handlers, loop, notify, resolve, target
from stockade.enforce.supervisor import sys as ksys
from stockade.lsm import stack

pc = time.perf_counter_ns
ACC: dict[str, list[int]] = {}  # step -> [ns, calls]

# (label, owner, attribute): owner is a module or class whose attribute is replaced
STEPS: list[tuple[str, Any, str]] = [
    ("RECV ioctl", notify.Listener, "receive"),
    ("handle (total)", loop.Supervisor, "handle"),
    ("task lookup + pidfd poll", target.TaskCache, "get"),
    ("read path (process_vm_readv)", ksys.MemReader, "cstring"),
    ("ID_VALID ioctl", notify.Listener, "id_valid"),
    ("credentials (act_as)", loop.Supervisor, "act_as"),
    ("openat2 (Landlock, RESOLVE_*)", ksys, "openat2"),
    ("fstat + /proc guard", resolve, "_guarded"),
    ("readlink (only when not proven)", handlers, "fd_path"),
    ("label xattrs (fgetxattr)", handlers, "labels_of"),
    ("AVC key", handlers, "file_object_key"),
    ("AVC key ", handlers, "request_key"),
    ("Stack.decide_key (AVC hit)", stack.Stack, "decide_key"),
    ("ADDFD+SEND ioctl (target runs)", notify.Listener, "inject"),
]


def wrap(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    cell = ACC.setdefault(label, [0, 0])

    def timed(*args: Any, **kw: Any) -> Any:
        start = pc()
        try:
            return fn(*args, **kw)
        finally:
            cell[0] += pc() - start
            cell[1] += 1
    return timed


def calibrate() -> float:
    """ns a wrapper adds to its caller."""
    def nop() -> None:
        return None
    w = wrap("_cal", nop)
    start = pc()
    for _ in range(200000):
        w()
    with_w = pc() - start
    start = pc()
    for _ in range(200000):
        nop()
    del ACC["_cal"]
    return (with_w - (pc() - start)) / 200000


def main() -> None:
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from supervisor import run_supervised, workload  # type: ignore[import-not-found]

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pin", type=int, default=None, metavar="CPU")
    args = ap.parse_args()
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})
    cal = calibrate()
    for label, owner, attr in STEPS:
        setattr(owner, attr, wrap(label, getattr(owner, attr)))
    d = tempfile.mkdtemp(prefix="stockade-bench-")
    os.chmod(d, 0o755)
    for i in range(4):
        with open(f"{d}/f{i}", "w") as f:
            f.write("data\n")
        os.setxattr(f"{d}/f{i}", "user.stockade.biba", b"high")
    per: dict[str, list[float]] = {label: [] for label, _, _ in STEPS}
    per["other Python in handle"] = []
    per["wall per open"] = []
    for _ in range(args.rounds):
        for cell in ACC.values():
            cell[0] = cell[1] = 0
        stats: dict[str, object] = {}
        start = pc()
        run_supervised(d, workload(d, args.n), stats)
        wall = pc() - start
        notes = int(stats["notifications"])  # type: ignore[call-overload]
        inner = sum(ACC[label][0] for label, _, _ in STEPS
                    if label not in ("RECV ioctl", "handle (total)"))
        inner_calls = sum(ACC[label][1] for label, _, _ in STEPS
                          if label not in ("RECV ioctl", "handle (total)"))
        handle = ACC["handle (total)"][0] - inner_calls * cal
        for label, _, _ in STEPS:
            value = handle if label == "handle (total)" else ACC[label][0]
            per[label].append(value / notes / 1000)
        per["other Python in handle"].append((handle - inner) / notes / 1000)
        per["wall per open"].append(wall / args.n / 1000)
    shutil.rmtree(d, ignore_errors=True)
    pin = f", pinned to CPU {args.pin}" if args.pin is not None else ""
    print(f"µs per notification, median of {args.rounds} rounds of {args.n} opens{pin} "
          f"(wrapper cost {cal / 1000:.2f} µs subtracted from handle)")
    merged: dict[str, list[float]] = {}
    for label, values in per.items():
        merged.setdefault(label.strip(), []).append(statistics.median(values))
    for label, values in merged.items():
        print(f"  {label:34s} {sum(values):6.2f}")


if __name__ == "__main__":
    main()
