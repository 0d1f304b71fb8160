"""What every consumer of the audit store answers, for a fixed corpus of logs.

The corpus: benchmarks/audit.py's mixed log and its AppArmor-denial log (the import benchmark's
events), the libapparmor-format corpus (every AppArmor record format under every prefix), real
kernel audit lines of this project's test VM (dmesg: seccomp, Landlock, SYSCALL, PROCTITLE,
CONFIG_CHANGE ...), a copy cut short and re-imported whole, and a JSON-lines export imported into
a second store. The answers: every import's output, `audit query` (JSON and table, with each
filter), `audit stats`, `audit export` in each format, `logprof --store` and `notify --store`.

`answers()` returns {name: sha256 of status, stdout and stderr}; data/store_answers.json holds
what main's store (JSON record column, before the raw-event store) answered, so the test in
test_store_answers.py proves the answers unchanged. `python tests/audit/store_answers.py DIR`
writes the outputs themselves to DIR (to diff them against another version); `--fixture DIR`
writes the fixture from such a directory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURE = HERE / "data" / "store_answers.json"


def benchmark() -> Any:
    """benchmarks/audit.py, loaded as a module (its log generators)."""
    spec = importlib.util.spec_from_file_location("bench_audit", ROOT / "benchmarks" / "audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_corpus(work: Path) -> dict[str, Path]:
    """The corpus files, written under `work`."""
    sys.path.insert(0, str(HERE.parent))
    from audit.aalog_corpus import generate as aalog_lines  # type: ignore[import-not-found]
    from audit.conftest import SAMPLE  # type: ignore[import-not-found]

    bench = benchmark()
    files = {name: work / f"{name}.log" for name in ("mixed", "aa", "aalog", "real", "sample",
                                                     "cut")}
    bench.generate(str(files["mixed"]), 6000, seed=7)  # type: ignore[attr-defined]
    bench.generate_apparmor(str(files["aa"]), 1500)  # type: ignore[attr-defined]
    files["aalog"].write_text("".join(line + "\n" for _, line in aalog_lines(5, 700)))
    files["real"].write_text((HERE / "data" / "real_dmesg_audit.txt").read_text())
    files["sample"].write_text(SAMPLE)
    lines = files["aa"].read_text().splitlines()[:900]
    files["cut"].write_text("".join((line[:len(line) // 2] if i % 7 == 3 else line) + "\n"
                                    for i, line in enumerate(lines)))
    profile = work / "app3.profile"
    profile.write_text("/usr/bin/app3 {\n  /etc/ld.so.cache r,\n}\n")
    files["profile"] = profile
    files["empty"] = work / "empty.log"
    files["empty"].write_text("")
    return files


def _run(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, "TZ": "UTC", "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-m", "stockade", *args], capture_output=True,
                          text=True, env=env, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


def outputs(work: Path) -> dict[str, str]:
    """{name: the command's status, stdout and stderr} for the whole corpus."""
    files = build_corpus(work)
    store = str(work / "s.sqlite")
    second = str(work / "second.sqlite")
    out: dict[str, str] = {}

    def record(name: str, *args: str) -> None:
        code, stdout, stderr = _run(*args)
        # the store's path is in the import message: the same in every run but for `work`
        out[name] = f"{code}\n{stdout}\n--\n{stderr}".replace(str(work), "WORK")

    for step, name in enumerate(("cut", "mixed", "aa", "aalog", "real", "sample", "aa")):
        record(f"import {step} {name}", "audit", "import", "--store", store, str(files[name]))
    filters = [(), ("--module", "apparmor"), ("--module", "selinux"), ("--module", "landlock"),
               ("--module", "seccomp"), ("--module", "kernel"), ("--result", "denied"),
               ("--result", "allowed"), ("--result", "audit"), ("--profile", "/usr/bin/app3"),
               ("--profile", "httpd_t"), ("--since", "1700000050"),
               ("--since", "1700000050", "--module", "apparmor", "--result", "denied")]
    for extra in filters:
        record(f"query --json {' '.join(extra)}", "audit", "query", "--store", store, "--json",
               *extra)
        record(f"stats --json {' '.join(extra)}", "audit", "stats", "--store", store, "--json",
               *[a for a in extra if a not in ("--result", "allowed", "audit")])
    record("query table", "audit", "query", "--store", store)
    record("query --limit 25", "audit", "query", "--store", store, "--json", "--limit", "25")
    record("stats table --top 5", "audit", "stats", "--store", store, "--top", "5")
    for fmt in ("jsonl", "ecs", "otlp", "syslog"):
        record(f"export {fmt}", "audit", "export", "--store", store, "--format", fmt,
               "--host", "h1")
    exported = work / "export.jsonl"
    _run("audit", "export", "--store", store, "--jsonl", "-o", str(exported))
    record("import jsonl", "audit", "import", "--store", second, str(exported))
    record("import jsonl again", "audit", "import", "--store", second, str(exported))
    record("import aa into the JSON store", "audit", "import", "--store", second,
           str(files["aa"]))
    record("second query --json", "audit", "query", "--store", second, "--json")
    record("second stats --json", "audit", "stats", "--store", second, "--json")
    record("logprof --store", "logprof", "-p", str(files["profile"]), "--store", store,
           "--log", str(files["empty"]), "--json")
    record("logprof --store --any-profile", "logprof", "-p", str(files["profile"]), "--store",
           store, "--log", str(files["empty"]), "--any-profile", "--glob", "dir")
    for extra in ((), ("--summary",)):  # every line: the rate limit is not the store's
        record(f"notify --store {' '.join(extra)}", "notify", "--store", store, "--audit-log", "",
               "--no-netlink", "--once", "--no-desktop", "--since", "1000000000", "--rate", "0",
               *extra)
    return out


# what differs from run to run whatever the store: the exporting process's pid (RFC 5424's
# PROCID), the export's own time (OTLP's observedTimeUnixNano) and logprof's temporary file
_VARYING = ((re.compile(r"^(<\d+>1 \S+ \S+ stockade) \d+ ", re.M), r"\1 PID "),
            (re.compile(r'"observedTimeUnixNano":"\d+"'), '"observedTimeUnixNano":"T"'),
            (re.compile(r"\.logprof-\w+\.profile"), ".logprof-TMP.profile"))


def file_name(name: str) -> str:
    """The name of an answer as a file name."""
    return name.replace("/", "_").replace(" ", "_")


def digest(text: str) -> str:
    """sha256 of an answer, with what varies from run to run masked."""
    for pattern, replacement in _VARYING:
        text = pattern.sub(replacement, text)
    return hashlib.sha256(text.encode()).hexdigest()


def answers(work: Path) -> dict[str, str]:
    """{answer's file name: its digest}."""
    return {file_name(name): digest(text) for name, text in outputs(work).items()}


if __name__ == "__main__":  # DIR: write the outputs there; --fixture DIR: their digests
    import tempfile

    if sys.argv[1] == "--fixture":
        source = Path(sys.argv[2])
        FIXTURE.write_text(json.dumps({p.name: digest(p.read_text()) for p in source.iterdir()},
                                      indent=1, sort_keys=True) + "\n")
        raise SystemExit(0)
    with tempfile.TemporaryDirectory() as tmp:
        found = outputs(Path(tmp))
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    for name, text in found.items():
        (target / file_name(name)).write_text(text)
