"""Microseconds the supervisor adds per mediated system call, against an unconfined run and
against `strace -f -e trace=openat` of the same workload (20,000 opens of a few files).

Run as root or any user: `.venv/bin/python benchmarks/supervisor.py [N]`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

from stockade.enforce import defaults, prepare
from stockade.enforce.supervisor.session import supervised_launch
from stockade.enforce.supervisor.setup import build

PY = "/usr/bin/python3"


def workload(directory: str, n: int) -> list[str]:
    code = (f"import os\nnames=[{directory!r}+'/f%d' % i for i in range(4)]\n"
            f"for i in range({n}):\n    os.close(os.open(names[i & 3], os.O_RDONLY))\n")
    return [PY, "-c", code]


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best(fn, runs: int = 3) -> float:  # type: ignore[no-untyped-def]
    return min(timed(fn) for _ in range(runs))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    d = tempfile.mkdtemp(prefix="stockade-bench-")
    os.chmod(d, 0o755)
    for i in range(4):
        path = f"{d}/f{i}"
        with open(path, "w") as f:
            f.write("data\n")
        os.setxattr(path, "user.stockade.biba", b"high")
    argv = workload(d, n)
    base_argv = workload(d, 0)
    devnull = subprocess.DEVNULL

    def plain(args: list[str]) -> None:
        subprocess.run(args, check=True, stdout=devnull)

    def strace(args: list[str]) -> None:
        subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=openat", *args],
                       check=True, stdout=devnull)

    stats: dict[str, int] = {}

    def supervised(args: list[str]) -> None:
        setup = build("enforce", "capability,biba", ["biba=medium"], ["biba.default_level=high"])
        plan = defaults.adhoc_plan([d], (), (PY, "/usr", "/etc"))
        with prepare.prepare(plan, supervised=True) as prep:
            code = supervised_launch(prep, setup.supervisor, setup.routed, args)
        assert code == 0, code
        stats.clear()
        stats.update(setup.supervisor.stats.as_dict())
        stats["avc_hits"] = setup.supervisor.stack.avc.stats().hits
        setup.close()

    rows = []
    for name, fn in (("unconfined", plain), ("supervised", supervised), ("strace", strace)):
        if name == "strace" and shutil.which("strace") is None:
            continue
        start_cost = best(lambda fn=fn: fn(base_argv))
        total = best(lambda fn=fn: fn(argv))
        rows.append((name, total, start_cost))
    base = rows[0][1] - rows[0][2]
    print(f"{n} opens of 4 files (best of 3; start-up measured with 0 opens and subtracted)")
    per: dict[str, float] = {}
    for name, total, start_cost in rows:
        work = total - start_cost
        per[name] = (work - base) / n * 1e6
        print(f"  {name:11s} total {total * 1e3:8.1f} ms  loop {work * 1e3:8.1f} ms  "
              f"added per open {per[name]:6.2f} us")
    print(f"  supervisor stats (last run): {stats}")
    if "strace" in per and per["supervised"] > 0:
        print(f"  strace / supervisor overhead ratio: {per['strace'] / per['supervised']:.2f}x")
    print(f"  supervised / unconfined loop ratio: "
          f"{(rows[1][1] - rows[1][2]) / max(base, 1e-9):.1f}x")
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
