"""Cost of complain mode (`run --complain -p`) against enforcing the same profile (`run -p`).

A python program opens one file N_OPENS times (the profile grants it) and one file it does not
grant once (complain lets it through and records it; enforce is not asked to). Interleaved
rounds, medians in ms and the ratio to `run -p` measured in the same run:
  enforce     stockade run -p P            (Landlock; no supervisor for opens)
  complain    stockade run --complain -p P (supervisor asks the profile's plan per open)
  learn       stockade run --mode learn    (supervisor records every open, no profile)
Usage: .venv/bin/python benchmarks/complain.py [ROUNDS] [N_OPENS]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_startup import PY, timed

PYTHON = "/usr/bin/python3"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    opens = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    with tempfile.TemporaryDirectory(prefix="stockade-bench-") as tmp:
        granted, other = Path(tmp, "granted.txt"), Path(tmp, "other.txt")
        granted.write_text("x")
        other.write_text("y")
        code = (f"[open({str(granted)!r}).close() for _ in range({opens})]; "
                f"open({str(other)!r}).close()")
        profile = Path(tmp, "p.profile")
        subprocess.run([PY, "-m", "stockade", "learn", "-o", str(profile), "--", PYTHON, "-c",
                        f"open({str(granted)!r}).close()"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        program = [PYTHON, "-c", code.replace(f"; open({str(other)!r}).close()", "")]
        run = [PY, "-m", "stockade", "run", "--no-status-record"]
        audit = os.path.join(tmp, "a.jsonl")
        cases = {
            "enforce": [*run, "-p", str(profile), "--", *program],
            "complain": [*run, "--complain", "-p", str(profile), "--audit", audit, "--",
                         PYTHON, "-c", code],
            "learn": [*run, "--mode", "learn", "--learn", os.path.join(tmp, "o.jsonl"), "--",
                      PYTHON, "-c", code],
        }
        samples = timed(cases, rounds)
    base = statistics.median(samples["enforce"])
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"{name:10s} {med:8.1f} ms  x{med / base:.2f} of enforce  ({opens} opens)")


if __name__ == "__main__":
    main()
