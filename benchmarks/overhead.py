"""Overhead of confinement on real workloads: unconfined vs `stockade run -p` vs bubblewrap.

Workloads (in /tmp/stockade-bench, the directory benchmarks/profiles/bench.aa grants):
  files   a C program that stats, opens and reads 20,000 files (syscall-heavy)
  import  python3 -c "import email, json, http.client, xml.dom.minidom, asyncio"
  gcc     compile and link four C files

Each run is timed twice: inside the sandbox by a tiny C timer (`timeit`, exec'd by the
launcher, so the launcher's own start-up is excluded: this is the cost of the confinement
the kernel enforces) and from outside (wall time including `stockade run`'s Python start-up
and plan compilation, or bwrap's namespace set-up). Modes are interleaved, medians reported.
Run as root: python3 benchmarks/overhead.py [--reps N]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from stockade.enforce import defaults, launcher, prepare
from stockade.enforce import landlock as ll
from stockade.enforce.plan.types import EnforcementPlan

REPO = Path(__file__).resolve().parent.parent
BENCH = Path("/tmp/stockade-bench")
PROFILE = REPO / "benchmarks/profiles/bench.aa"
NFILES = 20_000

TIMEIT_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
int main(int argc, char **argv) {
    struct timespec a, b; int st; struct rusage ru;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pid_t p = fork();
    if (p == 0) { execvp(argv[1], argv + 1); _exit(127); }
    wait4(p, &st, 0, &ru);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("TIME %ld\n", (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec));
    printf("CPU %ld\n", (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000L
           + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000L);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
"""
WALK_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char path[512], buf[256]; struct stat st; long total = 0;
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/f%05d.txt", argv[1], i);
        if (stat(path, &st) < 0) return 2;
        int fd = open(path, O_RDONLY);
        if (fd < 0) return 3;
        total += read(fd, buf, sizeof buf);
        close(fd);
    }
    return total > 0 ? 0 : 4;
}
"""
UNITS = {f"u{i}.c": f"int f{i}(int x) {{ int s = 0; for (int j = 0; j < x; j++) s += j * {i}; "
         f"return s; }}\n" for i in range(3)}
UNITS["main.c"] = ("#include <stdio.h>\nint f0(int),f1(int),f2(int);\n"
                   "int main(void) { printf(\"%d\\n\", f0(3) + f1(4) + f2(5)); return 0; }\n")


def setup() -> None:
    """Create the work tree, the files and the two helper programs."""
    shutil.rmtree(BENCH, ignore_errors=True)
    (BENCH / "files").mkdir(parents=True)
    (BENCH / "bin").mkdir()
    (BENCH / "src").mkdir()
    (BENCH / "tmp").mkdir()
    (BENCH / "secret").write_text("not for the job\n")
    for i in range(NFILES):
        (BENCH / "files" / f"f{i:05d}.txt").write_text(f"file {i}\n")
    for name, code in (("timeit", TIMEIT_C), ("walk", WALK_C.replace(
            "#include <unistd.h>", "#include <unistd.h>\n#include <stdlib.h>"))):
        src = BENCH / "src" / f"{name}.c"
        src.write_text(code)
        subprocess.run(["gcc", "-O2", "-o", str(BENCH / "bin" / name), str(src)], check=True)
    for name, code in UNITS.items():
        (BENCH / "src" / name).write_text(code)


WORKLOADS: dict[str, list[str]] = {
    "files": [str(BENCH / "bin/walk"), str(BENCH / "files"), str(NFILES)],
    "import": ["/usr/bin/python3", "-c",
               "import email, json, http.client, xml.dom.minidom, asyncio"],
    "gcc": ["/bin/sh", "-c", f"cd {BENCH}/src && gcc -O1 -c u0.c u1.c u2.c main.c && "
            f"gcc -o {BENCH}/tmp/prog u0.o u1.o u2.o main.o"],
}


def wrap(mode: str, argv: list[str]) -> list[str]:
    """The command line of one mode around `timeit argv`."""
    inner = [str(BENCH / "bin/timeit"), *argv]
    if mode == "unconfined":
        return inner
    if mode in ("stockade", "before"):
        return [sys.executable, "-m", "stockade", "run", "-p", str(PROFILE), "--", *inner]
    return ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--bind", str(BENCH), str(BENCH), "--die-with-parent", "--", *inner]


#: mode "before": `stockade run -p` from another source tree (--before SRC), e.g. the commit
#: before a change, measured in the same interleaved runs
BEFORE_SRC: list[str] = []


#: CPU seconds (user+sys of the workload's process tree, from wait4) per workload and mode:
#: less sensitive than wall time to other load on a shared machine
CPU: dict[tuple[str, str], list[float]] = {}


def once(mode: str, argv: list[str]) -> tuple[float, float]:
    """(inside seconds, outside seconds) of one run; the CPU time goes to CPU."""
    src = BEFORE_SRC[0] if mode == "before" else str(REPO / "src")
    env = {**os.environ, "TMPDIR": str(BENCH / "tmp"), "PYTHONPATH": src,
           "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.perf_counter()
    res = subprocess.run(wrap(mode, argv), capture_output=True, text=True, env=env)
    outside = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{mode} {argv[0]} failed ({res.returncode}): {res.stderr.strip()}")
    line = [x for x in res.stdout.splitlines() if x.startswith("TIME ")][-1]
    cpu = [x for x in res.stdout.splitlines() if x.startswith("CPU ")][-1]
    CPU.setdefault((argv[-1], mode), []).append(int(cpu.split()[1]) / 1e9)
    return int(line.split()[1]) / 1e9, outside


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="runs per workload and mode")
    parser.add_argument("--before", metavar="SRC",
                        help="also run `stockade run -p` from this src/ tree (mode 'before')")
    parser.add_argument("--only", metavar="W1,W2",
                        help="only these workloads (files, import, gcc); skips the decomposition")
    args = parser.parse_args()
    if args.before:
        BEFORE_SRC.append(os.path.abspath(args.before))
    if os.geteuid() != 0 or not shutil.which("bwrap") or not shutil.which("gcc"):
        print("needs root, bwrap and gcc", file=sys.stderr)
        return 1
    setup()
    modes = ["unconfined", "stockade", *(["before"] if args.before else []), "bwrap"]
    chosen = args.only.split(",") if args.only else list(WORKLOADS)
    t0 = time.perf_counter()
    compile_start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "stockade", "compile", "--json", str(PROFILE)],
                   capture_output=True, check=True, env={**os.environ,
                                                         "PYTHONPATH": str(REPO / "src")})
    compile_s = time.perf_counter() - compile_start
    print(f"profile {PROFILE.name}: `stockade compile` {compile_s * 1000:.0f} ms (process)")
    print(f"{'workload':8} {'mode':11} {'inside ms':>10} {'ratio':>7} {'outside ms':>11} "
          f"{'ratio':>7}")
    for name, argv in WORKLOADS.items():
        if name not in chosen:
            continue
        reps = max(3, args.reps // 2) if name == "gcc" else args.reps
        inside: dict[str, list[float]] = {m: [] for m in modes}
        outside: dict[str, list[float]] = {m: [] for m in modes}
        for mode in modes:  # warm-up (page cache, pyc files)
            once(mode, argv)
        for _ in range(reps):
            for mode in modes:
                i, o = once(mode, argv)
                inside[mode].append(i)
                outside[mode].append(o)
        base_i = statistics.median(inside["unconfined"])
        base_o = statistics.median(outside["unconfined"])
        for mode in modes:
            mi, mo = statistics.median(inside[mode]), statistics.median(outside[mode])
            print(f"{name:8} {mode:11} {mi * 1000:10.1f} {mi / base_i:7.3f} {mo * 1000:11.1f} "
                  f"{mo / base_o:7.3f}")
        si, bi = statistics.median(inside["stockade"]), statistics.median(inside["bwrap"])
        print(f"{name:8} stockade/bwrap inside: {si / bi:.3f}")
        if args.before:
            b_i, b_o = statistics.median(inside["before"]), statistics.median(outside["before"])
            so = statistics.median(outside["stockade"])
            sc = statistics.median(CPU[(argv[-1], "stockade")][1:])
            bc = statistics.median(CPU[(argv[-1], "before")][1:])
            print(f"{name:8} stockade/before inside: {si / b_i:.3f}  outside: {so / b_o:.3f}  "
                  f"CPU time: {sc / bc:.3f} ({sc * 1000:.1f} / {bc * 1000:.1f} ms)")
    if not args.only:
        decompose(args.reps)
    print(f"total {time.perf_counter() - t0:.0f} s")
    shutil.rmtree(BENCH, ignore_errors=True)
    return 0


def _inside(plan: EnforcementPlan | None, argv: list[str]) -> float:
    """Seconds measured inside one run of `argv` under `plan` (None: unconfined)."""
    inner = [str(BENCH / "bin/timeit"), *argv]
    if plan is None:
        out = subprocess.run(inner, capture_output=True, text=True, check=True).stdout
    else:
        r, w = os.pipe()
        with prepare.prepare(plan) as prep:
            pid = os.fork()
            if pid == 0:
                os.dup2(w, 1)
                os._exit(launcher.launch(prep, inner))
        os.close(w)
        with os.fdopen(r) as f:
            out = f.read()
        os.waitpid(pid, 0)
    return int([x for x in out.splitlines() if x.startswith("TIME ")][-1].split()[1]) / 1e9


def decompose(reps: int) -> None:
    """Which kernel mechanism costs what on the syscall-heavy workload: the same whole-tree
    grant enforced by seccomp alone, Landlock alone, and both."""
    both = defaults.adhoc_plan([], ["/"], ["/"], [], [], keep_caps=[], clear_env=False)
    plans: dict[str, EnforcementPlan | None] = {
        "unconfined": None,
        "seccomp only": dataclasses.replace(both, handled_fs=ll.AccessFs(0), fs_rules=[],
                                            handled_net=ll.AccessNet(0), net_rules=[],
                                            scopes=ll.Scope(0)),
        "landlock only": dataclasses.replace(both, seccomp_rules=[], seccomp_log=False),
        "both": both,
    }
    times: dict[str, list[float]] = {name: [] for name in plans}
    for _ in range(reps):
        for name, plan in plans.items():
            times[name].append(_inside(plan, WORKLOADS["files"]))
    base = statistics.median(times["unconfined"])
    print("files workload, whole-tree grant (`--rx / --rw /`), by mechanism:")
    for name, values in times.items():
        print(f"  {name:14} {statistics.median(values) * 1000:8.1f} ms "
              f"{statistics.median(values) / base:7.3f}")


if __name__ == "__main__":
    raise SystemExit(main())
