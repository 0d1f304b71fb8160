"""Where the supervisor's time goes per mediated open, measured in place (not in a micro loop:
after each context switch caches and branch predictors are cold, and every step is slower there).

Both mechanics (the C extension and pure Python) are measured in the same run, interleaved, with
strace -f of the same workload as the peer. Each step's function is wrapped with a timer for the
workload of benchmarks/supervisor.py (20,000 opens); the wrappers' own cost is calibrated and
subtracted from the enclosing total.
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

from stockade.enforce.supervisor import fast, loop, notify, resolve, target
from stockade.enforce.supervisor import sys as ksys
from stockade.enforce.supervisor.handlers import open_exec as handlers
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
    ("fstat + /proc guard", resolve, "_guarded"),
    ("readlink (only when not proven)", handlers, "fd_path"),
    ("label xattrs (fgetxattr)", handlers, "labels_of"),
    ("AVC key", handlers, "file_object_key"),
    ("AVC key (request)", handlers, "request_key"),
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


class TimedLib:
    """The C extension's lib with its calls timed under the labels of the pure-Python steps."""

    def __init__(self, lib: Any) -> None:
        for attr in dir(lib):
            if attr.startswith("stk_"):
                setattr(self, attr, wrap(C_STEPS.get(attr, attr), getattr(lib, attr)))


C_STEPS = {
    "stk_next": "poll + RECV ioctl (C; includes the wait)",
    "stk_cstring": "read path (process_vm_readv)",
    "stk_id_valid": "ID_VALID ioctl",
    "stk_openat2": "openat2 (Landlock, RESOLVE_*)",
    "stk_inject_close": "ADDFD+SEND ioctl (target runs)",
}
OUTSIDE = ("RECV ioctl", "handle (total)", C_STEPS["stk_next"])


def timed_run(fn: Callable[[], None]) -> int:
    start = pc()
    fn()
    return pc() - start


def main() -> None:
    import subprocess
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
    # the steps timed here are Python's: without the C fast path for AVC hits, which answers
    # them with no Python at all (its cost: benchmarks/supervisor.py, "supervised")
    os.environ[fast.ENV_NO_MIRROR] = "1"
    for label, owner, attr in STEPS:
        setattr(owner, attr, wrap(label, getattr(owner, attr)))
    ksys.openat2_ctypes = wrap("openat2 (Landlock, RESOLVE_*)", ksys.openat2_ctypes)
    real = fast.load()
    paths = ["python"]
    if real is not None:
        timed_backend = fast.Backend(real.ffi, TimedLib(real.lib))
        fast.load = lambda: None if os.environ.get(fast.ENV_PURE) else timed_backend
        paths.append("c")
    d = tempfile.mkdtemp(prefix="stockade-bench-")
    os.chmod(d, 0o755)
    for i in range(4):
        with open(f"{d}/f{i}", "w") as f:
            f.write("data\n")
        os.setxattr(f"{d}/f{i}", "user.stockade.biba", b"high")
    labels = [label for label, _, _ in STEPS] + [C_STEPS["stk_next"], C_STEPS["stk_openat2"]]
    per: dict[str, dict[str, list[float]]] = {
        p: {label: [] for label in [*labels, "other Python in handle", "added per open (wall)"]}
        for p in paths}
    base: dict[str, list[float]] = {"unconfined": [], "strace -f": []}
    devnull = subprocess.DEVNULL

    def plain(n: int) -> None:
        subprocess.run(workload(d, n), check=True, stdout=devnull)

    def strace(n: int) -> None:
        subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=openat",
                        *workload(d, n)], check=True, stdout=devnull)

    for _ in range(args.rounds):
        plain_ns = timed_run(lambda: plain(args.n)) - timed_run(lambda: plain(0))
        base["unconfined"].append(plain_ns / args.n / 1000)
        if shutil.which("strace"):
            ns = timed_run(lambda: strace(args.n)) - timed_run(lambda: strace(0))
            base["strace -f"].append((ns - plain_ns) / args.n / 1000)
        for path in paths:
            stats: dict[str, object] = {}
            pure = path == "python"
            zero = timed_run(lambda pure=pure: run_supervised(d, workload(d, 0), {}, pure))
            for cell in ACC.values():
                cell[0] = cell[1] = 0
            wall = timed_run(lambda pure=pure, stats=stats: run_supervised(
                d, workload(d, args.n), stats, pure))
            assert stats["mechanics"] == path, stats
            notes = int(stats["notifications"])  # type: ignore[call-overload]
            inner = sum(ACC.get(label, [0, 0])[0] for label in labels if label not in OUTSIDE)
            inner_calls = sum(ACC.get(label, [0, 0])[1] for label in labels
                              if label not in OUTSIDE)
            handle = ACC["handle (total)"][0] - inner_calls * cal
            for label in labels:
                value = handle if label == "handle (total)" else ACC.get(label, [0, 0])[0]
                per[path][label].append(value / notes / 1000)
            per[path]["other Python in handle"].append((handle - inner) / notes / 1000)
            per[path]["added per open (wall)"].append((wall - zero - plain_ns) / args.n / 1000)
    shutil.rmtree(d, ignore_errors=True)
    pin = f", pinned to CPU {args.pin}" if args.pin is not None else ""
    print(f"µs per notification, median of {args.rounds} rounds of {args.n} opens{pin} "
          f"(wrapper cost {cal / 1000:.2f} µs subtracted from handle; start-up subtracted)")
    print(f"  {'step':44s} " + " ".join(f"{p:>8s}" for p in paths))
    for label in per["python"]:
        cells = []
        for path in paths:
            cells.append(f"{statistics.median(per[path][label]):8.2f}")
        print(f"  {label:44s} " + " ".join(cells))
    tr = statistics.median(base["strace -f"]) if base["strace -f"] else 0.0
    print(f"  strace -f, added per open (same run): {tr:.2f} µs; "
          f"unconfined loop {statistics.median(base['unconfined']):.2f} µs per open")
    for path in paths:
        added = statistics.median(per[path]["added per open (wall)"])
        if added > 0 and tr:
            print(f"  strace -f / supervisor ({path}): {tr / added:.2f}x (goal >= 4x, <= 20 µs)")


if __name__ == "__main__":
    main()
