"""Questions per second of `stockade explain --batch` against one `stockade explain` process
per question, measured in the same run.

N questions (default 10,000) are generated on real files of a scratch tree: read, write,
create, unlink, mkdir, chmod and exec, as root and as nobody, with and without a profile
(two configurations, so the batch's stack cache is used as CI would use it). The batch answers
all N in one process; the one-process-each baseline asks a sample of them (default 60, spread
over the N) one `stockade explain --json` process each, and its rate is questions / second of
that sample. Both use the default module stack without the host's SELinux policy
(`--no-host-policy`: with it each process pays the policy import, which favours the batch even
more; `--host-policy` measures that case instead).
Prints both rates and the ratio. Usage:
  .venv/bin/python benchmarks/explain_batch.py [N] [SAMPLE] [--host-policy]
"""

from __future__ import annotations

import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = str(REPO / ".venv/bin/python")
OPS = ("read", "write", "create", "unlink", "mkdir", "chmod", "exec")


def scratch(root: Path) -> tuple[list[Path], Path]:
    """Files and directories to ask about, and a profile for half of the questions."""
    paths = []
    for d in range(10):
        sub = root / f"d{d}"
        sub.mkdir()
        paths.append(sub)
        for f in range(10):
            p = sub / f"f{f}.txt"
            p.write_text("x\n")
            os.chmod(p, 0o600 if f % 3 == 0 else 0o644)
            paths.append(p)
    profile = root / "bench.profile"
    profile.write_text(f"profile bench {{\n  /usr/** rix,\n  {root}/d[0-4]/** rw,\n"
                       f"  {root}/d[5-9]/* r,\n  deny {root}/d3/f1.txt w,\n}}\n")
    return paths, profile


def questions(n: int, paths: list[Path], profile: Path) -> list[list[str]]:
    """`n` questions as command-line words."""
    rng = random.Random(7)
    out = []
    for _ in range(n):
        op = rng.choice(OPS)
        target = rng.choice(paths)
        if op in ("create", "mkdir"):
            target = target.parent / f"new{rng.randrange(100)}"
        words = [op, str(target)]
        if rng.random() < 0.5:
            words += ["--as", "nobody"]
        if op == "chmod":
            words += ["--new-mode", "600"]
        if rng.random() < 0.5:
            words += ["--profile", str(profile)]
        out.append(words)
    return out


def main() -> None:
    argv = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(argv[0]) if argv else 10_000
    sample = int(argv[1]) if len(argv) > 1 else 60
    policy = [] if "--host-policy" in sys.argv else ["--no-host-policy"]
    with tempfile.TemporaryDirectory(prefix="stockade-bench-") as tmp:
        paths, profile = scratch(Path(tmp))
        asked = questions(n, paths, profile)
        text = "".join(shlex.join(q) + "\n" for q in asked)
        start = time.perf_counter()
        proc = subprocess.run([PY, "-m", "stockade", "explain", *policy, "--batch"], input=text,
                              capture_output=True, text=True, check=False)
        batch_s = time.perf_counter() - start
        answers = [json.loads(line) for line in proc.stdout.splitlines()]
        errors = [a for a in answers if "error" in a]
        assert len(answers) == n and not errors, (len(answers), errors[:3], proc.stderr[-500:])
        step = max(1, n // sample)
        picked = list(range(0, n, step))[:sample]
        start = time.perf_counter()
        for i in picked:
            one = subprocess.run([PY, "-m", "stockade", "explain", *policy, "--json", *asked[i]],
                                 capture_output=True, text=True, check=False)
            assert json.loads(one.stdout)["decision"] == answers[i]["decision"], asked[i]
        single_s = time.perf_counter() - start
    batch_rate = n / batch_s
    single_rate = len(picked) / single_s
    denied = sum(a["decision"] == "deny" for a in answers)
    print(f"questions            {n} ({denied} denied), {' '.join(policy) or 'host policy'}")
    print(f"explain --batch      {batch_rate:10.1f} questions/s  ({batch_s:.2f} s for {n})")
    print(f"one process each     {single_rate:10.1f} questions/s  ({single_s:.2f} s for "
          f"{len(picked)}, same answers)")
    print(f"ratio                {batch_rate / single_rate:10.1f}x")


if __name__ == "__main__":
    main()
