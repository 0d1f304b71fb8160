"""explain --profile agrees with run -p: generated profiles x operations on real files.

For each generated profile a fresh tree is built, `stockade explain`'s decision (the same
functions the command uses: cli.explain.evaluate) is taken for every operation, then ONE
confined child (`stockade run -p`, the real launcher with Landlock, seccomp and the hybrid
supervisor) performs all of them and prints OK or the errno of each. The kernel is the oracle.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from confine_helpers import PY, STOCKADE, policy_dir, unconfinable_reason

from stockade.cli import explain as cli_explain
from stockade.cli.explain import evaluate as explain_eval

PROFILES = int(os.environ.get("SWEEP_PROFILES", "24"))
DIRS = ("da", "db", "dc", "dd")
COPIES = 6  # objects per operation kind and directory: one object per operation, no overlap
PERMS = ("r", "w", "rw", "a", "ix", "rix", "rwix", "rwl", "rk", "wk")
DENY_PERMS = ("r", "w", "x", "rw")

CHILD = r"""
import errno, json, os, subprocess, sys
def attempt(op, a, b):
    if op == "read":
        if os.path.isdir(a):
            os.listdir(a)
        else:
            with open(a, "rb") as f:
                f.read(1)
    elif op == "write":
        os.close(os.open(a, os.O_WRONLY))
    elif op == "append":
        os.close(os.open(a, os.O_WRONLY | os.O_APPEND))
    elif op == "create":
        os.close(os.open(a, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    elif op == "unlink":
        os.unlink(a)
    elif op == "mkdir":
        os.mkdir(a)
    elif op == "rmdir":
        os.rmdir(a)
    elif op == "rename":
        os.rename(a, b)
    elif op == "chmod":
        os.chmod(a, 0o640)
    elif op == "exec":
        r = subprocess.run([a], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode == 126:
            raise PermissionError(errno.EACCES, "exec")
        if r.returncode != 0:
            raise OSError(r.returncode, "exit")
for line in sys.stdin:
    op, a, b = json.loads(line)
    try:
        attempt(op, a, b)
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
    else:
        print("OK", flush=True)
"""


def build_tree(root: Path) -> list[tuple[str, str, str]]:
    """The tree's objects and the operations on them: (op, path, second path)."""
    ops: list[tuple[str, str, str]] = []
    for d in DIRS:
        base = root / d
        (base / "sub").mkdir(parents=True)
        (base / "empty").mkdir()
        for i in range(COPIES):
            for name in (f"f{i}.txt", f"g{i}.log", f"u{i}.txt", f"r{i}.txt"):
                (base / name).write_text("x\n")
            (base / "sub" / f"s{i}.txt").write_text("s\n")
            (base / f"e{i}").mkdir()
            shutil.copy("/usr/bin/true", base / f"p{i}")
            ops += [("read", f"{base}/f{i}.txt", ""), ("read", f"{base}/sub/s{i}.txt", ""),
                    ("write", f"{base}/g{i}.log", ""), ("append", f"{base}/f{i}.txt", ""),
                    ("create", f"{base}/n{i}.txt", ""), ("create", f"{base}/sub/n{i}.o", ""),
                    ("unlink", f"{base}/u{i}.txt", ""), ("mkdir", f"{base}/m{i}", ""),
                    ("rmdir", f"{base}/e{i}", ""), ("rename", f"{base}/r{i}.txt",
                                                       f"{base}/r{i}.new"),
                    ("chmod", f"{base}/g{i}.log", "")]
            if i < 2:
                ops += [("exec", f"{base}/p{i}", "")]
        ops += [("read", str(base), ""), ("read", f"{base}/sub", "")]
    return ops


def gen_profile(rng: random.Random, root: Path) -> str:
    rules = []
    for _ in range(rng.randint(2, 7)):
        d = f"{root}/{rng.choice(DIRS)}"
        path = rng.choice((f"{d}/**", f"{d}/", f"{d}/f{rng.randrange(COPIES)}.txt", f"{d}/*",
                           f"{d}/*.txt", f"{d}/sub/**", f"{d}/sub/*", f"{d}/u*",
                           f"{d}/g{rng.randrange(COPIES)}.log", f"{d}/{{,**}}",
                           f"{d}/p{rng.randrange(2)}", f"{d}/sub/"))
        rules.append(f"  {path} {rng.choice(PERMS)},")
    if rng.random() < 0.4:
        d = f"{root}/{rng.choice(DIRS)}"
        path = rng.choice((f"{d}/f0.txt", f"{d}/sub/**", f"{d}/u*", f"{d}/**"))
        rules.append(f"  deny {path} {rng.choice(DENY_PERMS)},")
    return ("profile sweep {\n  /usr/** rix,\n  /etc/** r,\n  /proc/** r,\n  /dev/null rw,\n"
            + "\n".join(rules) + "\n}\n")


def explain_all(profile: Path, ops: list[tuple[str, str, str]]) -> list[str]:
    """explain's decision for each operation: "OK" or the errno name."""
    parser = argparse.ArgumentParser()
    cli_explain.add_arguments(parser)
    base = parser.parse_args(["--profile", str(profile), "read", "/"])
    conf = explain_eval.configure(base)
    subject = explain_eval.subject_of(base, conf.apparmor_label)
    out = []
    for op, a, b in ops:
        args = parser.parse_args(["--profile", str(profile), op, a, *(["--to", b] if b else [])])
        requests = explain_eval.requests_of(args, subject)
        _, _, final = explain_eval.evaluate(conf.stack, conf.plan, requests)
        out.append("OK" if final is None else final.errno)
    return out


def test_explain_agrees_with_run_on_generated_profiles() -> None:
    reason = unconfinable_reason()
    if reason:
        pytest.skip(reason)
    rng = random.Random(11)
    pairs = agree = 0
    classes: collections.Counter[str] = collections.Counter()
    outcomes: collections.Counter[str] = collections.Counter()
    examples: dict[str, str] = {}
    for n in range(PROFILES):
        root = Path(tempfile.mkdtemp(prefix=f"stockade-sweep{n}-", dir="/tmp"))
        try:
            ops = build_tree(root)
            profile = policy_dir(root) / "p.profile"  # outside what it may write
            profile.write_text(gen_profile(rng, root))
            predicted = explain_all(profile, ops)
            res = subprocess.run([*STOCKADE, "run", "-p", str(profile), "--no-status-record",
                                  "--", PY, "-c", CHILD], capture_output=True, text=True,
                                 timeout=120,
                                 input="".join(json.dumps(o) + "\n" for o in ops))
            got = res.stdout.split()
            assert len(got) == len(ops), res.stderr[-2000:]
            for (op, a, _), want, real in zip(ops, predicted, got, strict=True):
                pairs += 1
                outcomes[f"{op} {'OK' if real == 'OK' else 'denied'}"] += 1
                if (want == "OK") == (real == "OK"):
                    agree += 1
                    continue
                key = f"{op}: explain {want}, run {real}"
                classes[key] += 1
                examples.setdefault(key, f"{a} under\n{profile.read_text()}")
        finally:
            shutil.rmtree(root, ignore_errors=True)
    rate = agree / pairs
    print(f"\nexplain/run agreement: {agree}/{pairs} = {rate:.5f}; disagreements: "
          f"{dict(classes)}; outcomes: {dict(sorted(outcomes.items()))}")
    assert pairs >= 5000
    for op in ("read", "write", "create", "unlink", "mkdir", "rename", "chmod", "exec"):
        assert outcomes[f"{op} OK"] and outcomes[f"{op} denied"], outcomes  # both seen
    assert rate >= 0.999, "\n".join(f"{k} ({classes[k]}x), e.g. {examples[k]}"
                                    for k in classes)
