"""Start-up cost of `stockade run` against the unconfined command, bwrap and the interpreter.

Prints the median of N runs (default 30) for:
  unconfined      /bin/true
  bwrap           bwrap --ro-bind / / /bin/true (the peer)
  python -c pass  the interpreter alone (the floor for any Python launcher)
  stockade run    --rx / -- /bin/true (issue 14's row; goal <= 30 ms over unconfined), as
                  `python -m stockade` and as the console script
                  and the console script again with the launcher's child in Python (the
                  fallback: STOCKADE_CHILD_PURE=1) instead of C
  stockade run    --rx /usr --ro /etc --rw /tmp --connect-tcp 443 -- /bin/true
  run -p P        P: a small profile including abstractions/base, compiled afresh
                  (--no-cache) and from the plan cache (goal <= 50 ms over unconfined)
and the overheads in ms, each with its ratio to bwrap and to python -c pass (same run).
In-process, it also times `prepare` (Landlock ruleset + seccomp compile) and `launch`.
Usage: .venv/bin/python benchmarks/run_startup.py [N]
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = str(REPO / ".venv/bin/python")
RULES = ["--rx", "/usr", "--ro", "/etc", "--rw", "/tmp", "--connect-tcp", "443"]
PY_CHILD = "console script, Python child"
PROFILE = """#include <tunables/global>
profile bench_small /usr/bin/true {
  #include <abstractions/base>
  /usr/bin/true rix,
}
"""


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (use.ru_utime + use.ru_stime) * 1000


def timed(cases: dict[str, list[str]], n: int, envs: dict[str, dict[str, str]] | None = None
          ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall times and CPU times (user+system of the process tree; less sensitive to the load
    of a shared machine) in ms of each case, `n` rounds, interleaved so that load hits all
    alike. `envs` gives a case its own environment."""
    envs = envs or {}
    for name, argv in cases.items():  # warm-up (page cache, .pyc files)
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=envs.get(name))
    samples: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(n):
        for name, argv in cases.items():
            start, cpu0 = time.perf_counter(), _cpu()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=envs.get(name))
            samples[name].append((time.perf_counter() - start) * 1000)
            cpu[name].append(_cpu() - cpu0)
    return samples, cpu


def in_process(n: int) -> tuple[float, float]:
    """Median ms of prepare() and of launch() of /bin/true, inside one Python process."""
    sys.path.insert(0, str(REPO / "src"))
    from stockade.enforce import defaults, launcher, prepare

    prep_ms, launch_ms = [], []
    for _ in range(n):
        plan = defaults.adhoc_plan(["/etc"], ["/tmp"], ["/usr"], [443])
        t0 = time.perf_counter()
        prep = prepare.prepare(plan)
        t1 = time.perf_counter()
        status = launcher.launch(prep, ["/bin/true"])
        t2 = time.perf_counter()
        assert status == 0
        prep_ms.append((t1 - t0) * 1000)
        launch_ms.append((t2 - t1) * 1000)
    return statistics.median(prep_ms), statistics.median(launch_ms)


# `stockade run` parsed by argparse (the run parser alone): what the options table's fast path
# (cli/_options.py) saves a plain run.
DIRECT = """
import argparse, sys
from stockade.cli import run
parser = argparse.ArgumentParser(prog="stockade run")
run.add_arguments(parser)
sys.exit(run.run(parser.parse_args(sys.argv[1:])))
"""

PHASES = """
import json, time
t0 = time.perf_counter()
import stockade.cli.main as m
t1 = time.perf_counter()
import stockade.cli.run  # what _fast_args loads first: the command's module and its imports
t2 = time.perf_counter()
args = m._fast_args(["run", "--rx", "/", "--", "/bin/true"])
t3 = time.perf_counter()
from stockade.enforce import caps, defaults, launcher, prctl, prepare
t4 = time.perf_counter()
print(json.dumps({"import cli.main": t1 - t0, "import cli.run (the command's module)": t2 - t1,
                  "parse run's argv (fast path)": t3 - t2, "import stockade.enforce": t4 - t3}))
"""


def phases(n: int) -> dict[str, float]:
    """Median ms of the import phases of `stockade run`, each in a fresh interpreter."""
    import json

    runs = [json.loads(subprocess.run([PY, "-c", PHASES], check=True, capture_output=True,
                                      text=True).stdout) for _ in range(n)]
    return {k: statistics.median(r[k] for r in runs) * 1000 for k in runs[0]}


def _profile_file() -> str:
    import tempfile

    fd, path = tempfile.mkstemp(prefix="stockade-bench-", suffix=".aa")
    with os.fdopen(fd, "w") as f:
        f.write(PROFILE)
    os.chmod(path, 0o644)
    return path


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    # Measure what users get: compiled .pyc files (PYTHONDONTWRITEBYTECODE would make every run
    # recompile stockade from source, about 15 ms).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "src" / "stockade")], check=True)
    profile = _profile_file()
    run = [PY, "-m", "stockade", "run"]
    cases = {
        "unconfined /bin/true": ["/bin/true"],
        "bwrap --ro-bind / / (peer)": ["bwrap", "--ro-bind", "/", "/", "/bin/true"],
        "python -c pass (floor)": [PY, "-c", "pass"],
        "stockade --version (CLI floor)": [PY, "-m", "stockade", "--version"],
        "run --rx / (issue row)": [*run, "--rx", "/", "--", "/bin/true"],
        # what a user types: the console script (no runpy, which `-m` adds)
        "stockade run --rx / (console script)": [str(REPO / ".venv/bin/stockade"), "run",
                                                 "--rx", "/", "--", "/bin/true"],
        # the same with the launcher's child in Python (the fallback) instead of C
        PY_CHILD: [str(REPO / ".venv/bin/stockade"), "run", "--rx", "/", "--", "/bin/true"],
        "run --rx /usr --ro /etc --rw /tmp ...": [*run, *RULES, "--", "/bin/true"],
        # -P: python -c puts the current directory on sys.path, which run counts as its own
        # code (enforce/own_code.py): from / every writable grant would be refused
        "run parsed by argparse": [PY, "-P", "-c", DIRECT, *RULES, "--", "/bin/true"],
        "run -p P, cold (--no-cache)": [*run, "--no-cache", "-p", profile, "--", "/bin/true"],
        "run -p P, plan cache": [*run, "-p", profile, "--", "/bin/true"],
    }
    try:
        samples, cpu_samples = timed(cases, n, {PY_CHILD: {**os.environ, "STOCKADE_CHILD_PURE": "1"}})
    finally:
        os.unlink(profile)
    med = {k: statistics.median(v) for k, v in samples.items()}
    low = {k: min(v) for k, v in samples.items()}
    cpu = {k: statistics.median(v) for k, v in cpu_samples.items()}
    prep_ms, launch_ms = in_process(n)
    bare, bwrap, floor = "unconfined /bin/true", "bwrap --ro-bind / / (peer)", \
        "python -c pass (floor)"
    print(f"{n} interleaved runs per case, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}")
    print(f"{'case':36} {'median':>7} {'min':>7} {'added':>7} {'x bwrap':>7} {'x pass':>7} "
          f"{'cpu':>6} {'x pass':>6}")
    for name in cases:
        added = med[name] - med[bare]
        print(f"{name:36} {med[name]:7.1f} {low[name]:7.1f} {added:7.1f} "
              f"{added / max(med[bwrap] - med[bare], 0.01):7.1f} "
              f"{added / max(med[floor] - med[bare], 0.01):7.1f} "
              f"{cpu[name]:6.1f} {cpu[name] / max(cpu[floor], 0.01):6.1f}")
    print("ms; added: wall median over unconfined; x bwrap / x pass: added wall time as a "
          "multiple of bwrap's and of python -c pass's own; cpu: median user+system time of "
          "the process tree, x pass: as a multiple of python -c pass's")
    print(f"of which CLI floor (python+argparse+dispatch) "
          f"{med['stockade --version (CLI floor)'] - med[bare]:.2f} ms")
    for name, ms in phases(min(n, 15)).items():
        print(f"  {name:45} {ms:6.2f} ms")
    print(f"in-process prepare() (ruleset + seccomp compile) {prep_ms:.2f} ms")
    print(f"in-process launch() of /bin/true (fork, confine, exec, wait) {launch_ms:.2f} ms")
    for name, goal in (("run --rx / (issue row)", 30.0), ("run -p P, plan cache", 50.0)):
        over = med[name] - med[bare]
        print(f"goal {name}: <= {goal:.0f} ms added: {over:.1f} ms, "
              f"{'met' if over <= goal else 'missed'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
