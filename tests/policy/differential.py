"""Run generated profiles through apparmor_parser (the oracle) and stockade; measure agreement.

`python -m tests.policy.differential` prints agreement by rule kind and refreshes the oracle
cache (tests/policy/data/oracle-apparmor-3.0.json: sha256 of the case -> accepted). The test
suite reads the cache and asks the installed parser only for cases missing from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from stockade.policy import Loader, PolicyError, compile_profiles
from tests.policy.profilegen import Case, cases

PARSER = shutil.which("apparmor_parser") or (
    "/usr/sbin/apparmor_parser" if Path("/usr/sbin/apparmor_parser").exists() else None)
CACHE = Path(__file__).parent / "data" / "oracle-apparmor-3.0.json"


def case_key(case: Case) -> str:
    """Stable hash of a case's text and its extra files (before the temp dir is filled in)."""
    h = hashlib.sha256(case.text.encode())
    for name in sorted(case.files):
        h.update(b"\0" + name.encode() + b"\0" + case.files[name].encode())
    return h.hexdigest()[:20]


def write_case(case: Case, workdir: Path) -> Path:
    """Write the profile (and its include files) under `workdir`; return the profile path."""
    for name, text in case.files.items():
        p = workdir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    prof = workdir / "profile.sd"
    prof.write_text(case.text.replace("{dir}", str(workdir)))
    return prof


def oracle_accepts(prof: Path, workdir: Path) -> bool:
    """apparmor_parser's verdict: -Q (no kernel load), -K (no cache), -I the case's dir."""
    assert PARSER is not None
    proc = subprocess.run([PARSER, "-Q", "-K", "-I", str(workdir), str(prof)],
                          capture_output=True, text=True, timeout=60, cwd=workdir)
    return proc.returncode == 0


def stockade_accepts(prof: Path, workdir: Path) -> tuple[bool, str]:
    """stockade's verdict and its error message."""
    try:
        compile_profiles(str(prof), loader=Loader([str(workdir)], bundled=False))
    except PolicyError as err:
        return False, str(err)
    return True, ""


def load_cache() -> dict[str, bool]:
    """The stored oracle answers."""
    if CACHE.exists():
        return json.loads(CACHE.read_text())
    return {}


def run(all_cases: list[Case], cache: dict[str, bool]) -> list[tuple[Case, bool, bool, str]]:
    """(case, oracle, stockade, stockade's message) for every case the oracle can answer."""
    out = []
    for case in all_cases:
        with tempfile.TemporaryDirectory(prefix="stockade-diff-") as tmp:
            workdir = Path(tmp)
            prof = write_case(case, workdir)
            key = case_key(case)
            if key not in cache:
                if PARSER is None:
                    continue
                cache[key] = oracle_accepts(prof, workdir)
            ours, msg = stockade_accepts(prof, workdir)
            out.append((case, cache[key], ours, msg))
    return out


def table(results: list[tuple[Case, bool, bool, str]]) -> str:
    """Agreement by kind as text."""
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for case, theirs, ours, _ in results:
        row = by_kind[case.kind]
        row[0] += 1
        row[1] += theirs == ours
        row[2] += ours and not theirs
        row[3] += theirs and not ours
    lines = [f"{'kind':<15}{'cases':>6}{'agree':>7}{'%':>8}{'we accept':>11}{'we reject':>11}"]
    total = [0, 0, 0, 0]
    for kind in sorted(by_kind):
        r = by_kind[kind]
        total = [a + b for a, b in zip(total, r, strict=True)]
        lines.append(f"{kind:<15}{r[0]:>6}{r[1]:>7}{100 * r[1] / r[0]:>8.1f}{r[2]:>11}{r[3]:>11}")
    lines.append(f"{'total':<15}{total[0]:>6}{total[1]:>7}{100 * total[1] / total[0]:>8.1f}"
                 f"{total[2]:>11}{total[3]:>11}")
    return "\n".join(lines)


def main() -> int:
    """Print the agreement table (and disagreements with -v); refresh the cache file."""
    cache = load_cache() if "--fresh" not in sys.argv else {}
    results = run(cases(), cache)
    if PARSER is not None:
        CACHE.parent.mkdir(exist_ok=True)
        CACHE.write_text(json.dumps(dict(sorted(cache.items())), indent=0) + "\n")
    print(table(results))
    if "-v" in sys.argv:
        for case, theirs, ours, msg in results:
            if theirs != ours:
                shown = case.text.replace("\n", "\\n")
                print(f"{case.name}: apparmor {'accepts' if theirs else 'rejects'} {shown!r}"
                      f" -- stockade: {(msg or 'accepts').split(': ', 1)[-1]}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
