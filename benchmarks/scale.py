"""Scale: parse, compile and plan time as a profile grows, beside apparmor_parser on the same file.

Cases (each a generated profile written to a temporary directory):
  rules-N     N file rules over existing directories (N = 1,000, 10,000, 100,000)
  includes    1,000 include files of 10 rules each, included from one profile
  braces      one rule with a 10,000-alternative brace
For each: seconds in stockade's phases (parse = load with includes, compile = the compiled
profile, plan = the Landlock/seccomp plan `run -p` applies) and `apparmor_parser -Q -K` on the
same file, the ratio between the two, and for rules-N the growth per 10x rules (linear = 10x).
Goal (issue 14): 100,000 rules planned in <= 3 s; `check` not slower than apparmor_parser.
Usage: .venv/bin/python benchmarks/scale.py [--quick]   (--quick: up to 10,000 rules)
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from stockade.enforce.plan import compile_plan
from stockade.policy import Loader, compile_profiles

WORDS = ["usr", "lib", "share", "etc", "var", "log", "cache", "app", "data", "conf", "run", "srv"]
PARSER = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"


def file_rules(n: int, seed: int) -> list[str]:
    """n file rules under the real /usr and /etc trees (so planning opens real paths)."""
    rng = random.Random(seed)
    roots = ["/usr/lib", "/usr/share", "/etc", "/usr/bin", "/var/lib"]
    rules = []
    for i in range(n):
        base = rng.choice(roots)
        leaf = "/".join(rng.choice(WORDS) + str(rng.randint(0, 99)) for _ in range(rng.randint(1, 3)))
        kind = i % 4
        pattern = (f"{base}/{leaf}", f"{base}/{leaf}*", f"{base}/{leaf}/**", f"{base}/{leaf}.[0-9]")[kind]
        rules.append(f"  {pattern} {rng.choice(['r', 'rw', 'mr', 'rk'])},")
    return rules


def write_cases(tmp: Path, sizes: list[int]) -> dict[str, tuple[Path, Path]]:
    """Case name -> (profile file, include directory)."""
    cases: dict[str, tuple[Path, Path]] = {}
    for n in sizes:
        path = tmp / f"rules-{n}"
        path.write_text("profile scale /usr/bin/true {\n" + "\n".join(file_rules(n, n)) + "\n}\n")
        cases[f"rules-{n}"] = (path, tmp)
    inc = tmp / "inc"
    inc.mkdir()
    for i in range(1000):
        (inc / f"part{i}").write_text("\n".join(file_rules(10, 10_000 + i)) + "\n")
    path = tmp / "includes"
    path.write_text("profile scale /usr/bin/true {\n"
                    + "".join(f"  include <part{i}>\n" for i in range(1000)) + "}\n")
    cases["includes"] = (path, inc)
    path = tmp / "braces"
    alternatives = ",".join(f"alt{i}" for i in range(10_000))
    path.write_text("profile scale /usr/bin/true {\n  /usr/share/{" + alternatives + "}/** r,\n}\n")
    cases["braces"] = (path, tmp)
    return cases


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def stockade_phases(path: Path, include_dir: Path) -> tuple[float, float, float]:
    loader = Loader([str(include_dir)], system=False)
    parse_s, pf = timed(lambda: loader.load_file(path))
    compile_s, profiles = timed(lambda: compile_profiles(pf))  # type: ignore[arg-type]
    plan_s, _ = timed(lambda: compile_plan(profiles[0]))  # type: ignore[index]
    return parse_s, compile_s, plan_s


def apparmor_parser(path: Path, include_dir: Path) -> tuple[float | None, str]:
    """Seconds of `apparmor_parser -Q -K` on the file, or None and why it failed."""
    if not os.path.exists(PARSER):
        return None, "apparmor_parser not installed"
    start = time.perf_counter()
    proc = subprocess.run([PARSER, "-Q", "-K", "-I", str(include_dir), str(path)],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode == 0:
        return elapsed, ""
    errors = [line for line in proc.stderr.splitlines() if "Cache read/write" not in line]
    return None, (errors[-1] if errors else f"exit {proc.returncode}")[:100]


def main() -> int:
    sizes = [1_000, 10_000] if "--quick" in sys.argv else [1_000, 10_000, 100_000]
    print(f"{'case':>13} {'parse s':>8} {'compile s':>10} {'plan s':>8} {'total s':>8} "
          f"{'aa_parser s':>12} {'ratio':>6}")
    totals: dict[str, float] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="stockade-scale-") as tmp:
        for name, (path, inc) in write_cases(Path(tmp), sizes).items():
            parse_s, compile_s, plan_s = stockade_phases(path, inc)
            total = parse_s + compile_s + plan_s
            totals[name] = total
            theirs, why = apparmor_parser(path, inc)
            if why:
                failures.append(f"apparmor_parser on {name}: {why}")
            ratio = f"{total / theirs:.2f}" if theirs else "-"
            shown = f"{theirs:.2f}" if theirs else "failed"
            print(f"{name:>13} {parse_s:>8.2f} {compile_s:>10.2f} {plan_s:>8.2f} {total:>8.2f} "
                  f"{shown:>12} {ratio:>6}")
    for line in failures:
        print(line)
    for small, big in itertools.pairwise(sizes):
        growth = totals[f"rules-{big}"] / totals[f"rules-{small}"]
        print(f"growth {small} -> {big} rules: {growth:.1f}x (linear: {big / small:.0f}x)")
    biggest = f"rules-{sizes[-1]}"
    verdict = "met" if totals[biggest] <= 3.0 else "NOT met"
    print(f"goal: {biggest} planned in <= 3 s: {totals[biggest]:.2f} s, {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
