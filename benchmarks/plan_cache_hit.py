"""Where the CPU time of a repeated `stockade run -p P -- /bin/true` goes (a plan cache hit).

P is benchmarks/run_startup.py's small profile (including abstractions/base). Each sample is a
fresh interpreter that runs `stockade run -p P -- /bin/true` in-process with the steps of a hit
wrapped by CPU timers (time.process_time of the launcher: the supervisor thread's own time
counts, the child's does not; the steps that overlap the directory check, which runs in a
thread of its own, count their own thread's time); medians of N samples (default 20), and
the whole run's CPU.
With --no-cache, the same for a fresh compile; with --src DIR (repeatable), the trees whose
src directories are given, interleaved (before/after in one run). Usage:
  .venv/bin/python benchmarks/plan_cache_hit.py [N] [--no-cache] [--src DIR ...]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = str(REPO / ".venv/bin/python")
sys.path.insert(0, str(REPO / "benchmarks"))

SAMPLE = r"""
import json, sys, time
t_start = time.process_time()
spent = {}

def timed(owner, name, label, clock=time.process_time):
    inner = getattr(owner, name)
    def wrapper(*a, **kw):
        t0 = clock()
        try:
            return inner(*a, **kw)
        finally:
            spent[label] = spent.get(label, 0.0) + clock() - t0
    setattr(owner, name, wrapper)

from stockade import fsview
from stockade.enforce import prepare
from stockade.enforce.plan import cache
from stockade.enforce.plan.cache import codec, store
from stockade.enforce.plan import landlock_model
timed(store.Store, "read", "read+authenticate+parse entry")
timed(fsview, "still_valid", "re-check recorded answers", time.thread_time)
timed(codec, "plan_from_json", "decode plan", time.thread_time)
timed(cache, "exposure", "cache exposure check")
timed(prepare, "_landlock", "prepare: Landlock ruleset (open, add rules)")
timed(prepare, "prepare", "prepare (all)")
timed(prepare, "prepare", "prepare (all, wall)", time.perf_counter)
timed(landlock_model.LandlockModel, "__init__", "supervisor plan model (resolve paths)")
from stockade.enforce.plan import proc
timed(proc, "own_proc_rules", "own /proc/PID grants (launcher, model)")
from stockade.enforce import fsbatch, launcher
from stockade.enforce.plan.cache import keyring, marks
timed(cache, "cache_key", "  cache key (code fingerprint)")
timed(marks, "present", "  keyring marks (2 reads)")
timed(keyring, "held", "  keyring key")
timed(store.Store, "open", "  open the cache directory")
timed(cache, "_load", "read, re-check, decode (all)")
timed(cache, "_load", "read, re-check, decode (all, wall)", time.perf_counter)
# in a thread of its own (C): its own CPU time
if hasattr(fsbatch, "_kinds_dirs"):  # one C call for the file types, owners, directories
    timed(fsbatch, "_kinds_dirs", "  re-check: directories (C, own thread)", time.thread_time)
else:
    timed(fsbatch, "_check_pairs" if hasattr(fsbatch, "_check_pairs") else "check_dirs",
          "  re-check: directories (C, own thread)", time.thread_time)
timed(fsbatch, "check_kinds", "  re-check: file types, owners (C)", time.thread_time)
timed(fsview, "answer_now", "  re-check: other answers", time.thread_time)
if hasattr(prepare, "prebuild"):  # a hit's rulesets, built while the directories are checked
    timed(prepare, "prebuild", "  re-check: rulesets built ahead (open, add rules)",
          time.thread_time)
timed(prepare, "_seccomp", "  prepare: seccomp filter")
timed(fsbatch, "add_path_rules", "  open, add rules (C; ahead or in prepare)", time.thread_time)
timed(launcher, "launch", "launch (fork to exit, launcher side)")
from stockade.enforce.supervisor import plan_guard, setup
timed(plan_guard.PlanGuard, "__init__", "plan guard (supervisor)")
timed(setup, "build_hybrid", "supervisor setup")
from stockade.cli import run as run_cli
timed(run_cli, "_refuse_code_exposure", "own code and profile-input checks")
from stockade.enforce import mount_position
timed(mount_position, "mounts", "  mount table reads (mountinfo)")
inner_compile = cache.compile_file
def compile_file(*a, **kw):
    pp, how = inner_compile(*a, **kw)
    spent["how"] = how
    return pp, how
cache.compile_file = compile_file
t_imports = time.process_time()
from stockade.cli.main import main
spent["imports before the run (sample's own)"] = t_imports - t_start
sys.argv = ["stockade", "run", "-q", *sys.argv[1:], "--", "/bin/true"]
try:
    main()
except SystemExit:
    pass
spent["whole run (CPU, launcher process)"] = time.process_time() - t_start
import resource
use = resource.getrusage(resource.RUSAGE_CHILDREN)
spent["the program's process (fork to exit)"] = use.ru_utime + use.ru_stime
print(json.dumps(spent))
"""


def main() -> int:
    """Usage: [N] [--no-cache] [--src DIR ...] (the trees to compare, interleaved; default
    this one's src)."""
    argv_in = sys.argv[1:]
    trees = [argv_in[k + 1] for k, a in enumerate(argv_in) if a == "--src"]
    args = [a for k, a in enumerate(argv_in)
            if not a.startswith("--") and (k == 0 or argv_in[k - 1] != "--src")]
    n = int(args[0]) if args else 20
    extra = ["--no-cache"] if "--no-cache" in argv_in else []
    from run_startup import _profile_file

    profile = _profile_file()
    # a cache of our own: entries of other runs of this user must not evict ours
    cache_home = tempfile.mkdtemp(prefix="stockade-bench-cache-")
    envs = {src: dict(os.environ, PYTHONPATH=src, XDG_CACHE_HOME=cache_home)
            for src in trees or [str(REPO / "src")]}
    runs: dict[str, list[dict[str, float]]] = {src: [] for src in envs}
    try:
        argv = [PY, "-c", SAMPLE, *extra, "-p", profile]
        for env in envs.values():
            subprocess.run(argv, check=True, env=env, capture_output=True)  # fill the cache
        for _ in range(n):  # interleaved, so that the load hits every tree alike
            for src, env in envs.items():
                out = subprocess.run(argv, check=True, env=env, capture_output=True, text=True)
                runs[src].append(json.loads(out.stdout.splitlines()[-1]))
    finally:
        os.unlink(profile)
        shutil.rmtree(cache_home)
    for src, samples in runs.items():
        hows = [r.pop("how", "?").split(" (")[0] for r in samples]
        if not extra:  # a hit's split only (another session may drop the keyring key)
            samples = [r for r, how in zip(samples, hows, strict=True) if how == "hit"] or samples
        print(f"{src}: {n} runs{' (--no-cache)' if extra else ''}, load "
              f"{os.getloadavg()[0]:.1f}; CPU ms, median (min); plan cache: "
              f"{', '.join(sorted(set(hows)))} ({hows.count('hit')} hits"
              f"{'' if extra else ', counted'})")
        for label in dict.fromkeys(label for r in samples for label in r):
            values = [r.get(label, 0.0) * 1000 for r in samples]
            print(f"  {label:48} {statistics.median(values):7.1f} ({min(values):6.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
