"""Profile parsing time against path length: lexing and parsing a rule, and translating its
pattern (AARE) to a regex, must both be linear in the length of the pattern.

For each shape of pattern (plain path, `?`, `*`, character classes, alternations, escapes, a
quoted path with spaces) times `parse_text` (lexer + parser) and `aare.parse` (glob to RE2) at
N and 4N characters, best of `--runs` (the machine is shared), and prints the ratio: about 4
when linear, about 16 when quadratic. The exit status is 0 when every ratio is under 8.

    .venv/bin/python benchmarks/parse_scaling.py [--chars 320000] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable

from stockade.policy.aare import parse as parse_aare
from stockade.policy.parser import parse_text

SHAPES: dict[str, Callable[[int], str]] = {
    "plain": lambda n: "/a" * (n // 2),
    "any": lambda n: "/" + "?" * (n - 1),
    "star": lambda n: "/*a" * (n // 3),
    "class": lambda n: "/" + "[ab]" * (n // 4),
    "alternation": lambda n: "/" + "{a,b}c" * (n // 6),
    "single-branch": lambda n: "/" + "{a}" * (n // 3),
    "escape": lambda n: "/" + "\\a" * (n // 2),
    "quoted": lambda n: '"/' + "a b" * (n // 3) + '"',
}


def timed(small: Callable[[], object], large: Callable[[], object],
          runs: int) -> tuple[float, float]:
    """The best of `runs` timings of each, interleaved (a busy spell slows both sides) and
    with the garbage collector off (its pauses depend on what else is alive)."""
    best = [float("inf"), float("inf")]
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(runs):
            for k, fn in enumerate((small, large)):
                start = time.perf_counter()
                fn()
                best[k] = min(best[k], time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return best[0], best[1]


def scaling(shape: str, chars: int, runs: int) -> tuple[float, float, float, float]:
    """(parse N, parse 4N, aare N, aare 4N) seconds for one shape."""
    small, large = SHAPES[shape](chars), SHAPES[shape](4 * chars)
    p1, p4 = timed(lambda: parse_text(f"profile p {{\n  {small} r,\n}}\n"),
                   lambda: parse_text(f"profile p {{\n  {large} r,\n}}\n"), runs)
    a1, a4 = timed(lambda: parse_aare(small.strip('"')), lambda: parse_aare(large.strip('"')),
                   runs)
    return p1, p4, a1, a4


def main(argv: list[str] | None = None) -> int:
    """Print the table; exit 0 when every 4x ratio is under 8."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chars", type=int, default=320_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    worst = 0.0
    print(f"{'shape':14} {'parse N':>9} {'parse 4N':>9} {'ratio':>6} {'aare N':>9} "
          f"{'aare 4N':>9} {'ratio':>6}   (N = {args.chars} characters)")
    for shape in SHAPES:
        p1, p4, a1, a4 = scaling(shape, args.chars, args.runs)
        rp, ra = p4 / max(p1, 1e-9), a4 / max(a1, 1e-9)
        worst = max(worst, rp, ra)
        print(f"{shape:14} {p1:9.3f} {p4:9.3f} {rp:6.1f} {a1:9.3f} {a4:9.3f} {ra:6.1f}")
    print(f"worst ratio {worst:.1f}: {'linear' if worst < 8 else 'NOT linear'}")
    return 0 if worst < 8 else 1


if __name__ == "__main__":
    sys.exit(main())
