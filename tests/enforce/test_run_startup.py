"""A plain `stockade run` starts cheaply: it loads only what it uses, and the cyclic garbage
collector stays off during start-up only (docs/performance.md).

Each test runs the real command (a confined /bin/true) in a fresh interpreter and looks at what
it imported or how the collector was set, so a module-level import that drags a package back
onto the run path, or a collector left off while the supervisor runs, fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
from confine_helpers import drop_to_nobody

from stockade.cli import output
from stockade.enforce import status_record

#: runs `stockade ARGS` as the console script does, then prints the modules it loaded
PROBE = """
import sys
sys.argv = ["stockade", *sys.argv[1:]]
from stockade.cli.main import main
status = main()
print(status, *sorted(sys.modules), file=sys.stderr)
"""

#: what a plain run must not load: the profile language (parser, compiler, checker, RE2), the
#: learn observer and the complain judge (other modes), shutil and its compressors (argparse's
#: terminal width), dataclasses and what it imports (inspect, ast, dis, tokenize: the classes
#: on the path are stockade.slotted's), typing (annotations only, `TYPE_CHECKING = False`),
#: argparse with gettext and locale (cli/_options.py's fast path reads a plain run's flags),
#: json and re (the status record is written by stockade.json_text; cli.output and the
#: supervisor's /proc parsing use no regular expression), importlib (cli.main's __import__),
#: ipaddress (the supervisor writes an address's text itself), socket and selectors (the
#: supervisor uses socket's C core, _socket), queue (its SimpleQueue is _queue's), signal
#: (its enum conversions: the launcher and the supervisor use _signal), contextlib (the path
#: uses stockade.suppress), the rest of explain (PlanGuard's model is plan/landlock_model.py),
#: termios (the launcher saves a terminal's settings only where fds 0-2 have one: none here),
#: resource (a plain run sets no limit itself; the Python child's setrlimit loads it before fork),
#: the plan cache (the directory a run protects is stockade.cache_home's answer, whether the
#: program may reach the keyring that holds its key enforce/defaults.py's; only then it loads),
#: policy_dirs (where shared abstractions live: asked only of a profile's coverage),
#: output_file (the --audit and --learn files: none here)
NOT_ON_THE_PATH = ("stockade.policy", "re2", "stockade.enforce.supervisor.observe",
                   "stockade.enforce.supervisor.complain", "stockade.enforce.plan.net",
                   "stockade.enforce.plan.glob", "shutil", "lzma", "bz2", "dataclasses",
                   "inspect", "ast", "dis", "tokenize", "typing", "argparse", "gettext",
                   "locale", "re", "json", "importlib", "ipaddress", "socket", "selectors",
                   "queue", "signal", "contextlib", "stockade.enforce.plan.explain",
                   "termios", "resource", "stockade.enforce.plan.cache",
                   "stockade.policy_dirs", "stockade.enforce.output_file")


def _loaded(*args: str, user: str = "root") -> tuple[int, list[str]]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                         timeout=120, cwd="/", stdin=subprocess.DEVNULL,
                         preexec_fn=drop_to_nobody if user == "nobody" else None)
    status, *modules = out.stderr.strip().splitlines()[-1].split()
    return int(status), modules


def _on_path(modules: list[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_plain_run_imports_no_profile_language_nor_other_modes(user: str) -> None:
    status, modules = _loaded("run", "--rx", "/", "--", "/bin/true", user=user)
    assert status == 0
    # the run did start its supervisor (chmod, xattrs, listen, unix peers are routed)
    assert "stockade.enforce.supervisor.loop" in modules
    assert [n for n in NOT_ON_THE_PATH if _on_path(modules, n)] == []
    # the launcher's own signals need the filter's help only where Landlock cannot scope them
    from stockade.enforce import defaults, landlock, launcher_guard

    plan = defaults.adhoc_plan([], [], ["/"], [])
    if not launcher_guard.needed(plan.scopes, landlock.abi_version()):
        assert "stockade.enforce.supervisor.launcher_check" not in modules


def test_the_core_limit_constant_is_the_kernels() -> None:
    import resource

    from stockade.enforce.supervisor import session

    assert session.RLIMIT_CORE == resource.RLIMIT_CORE


def test_run_with_a_profile_still_loads_the_profile_language(tmp_path) -> None:
    profile = tmp_path / "p.aa"
    profile.write_text("profile p /bin/true {\n  / r,\n  /** rix,\n}\n")
    status, modules = _loaded("run", "--no-cache", "-p", str(profile), "--", "/bin/true")
    assert status == 0
    assert _on_path(modules, "stockade.policy")


#: what a plan cache hit must not load: it needs the plan only (and the pid glob expander for
#: the program's own /proc rules), not the compiler, the parser, RE2 or the matcher, nor
#: OpenSSL (hashlib, hmac: ~4 ms), nor dataclasses and what it imports (~20 ms: the expander's
#: classes are stockade.slotted's), nor json (the entry and its coverage side file are read by
#: stockade.json_text), argparse and typing (cli.compile: `run -p` checks its inputs with
#: cli/_profile_inputs.py), socket (the keyring mark binds one only when placed), contextlib
#: (fsview.recording), nor re (the own /proc expander, plan.glob and policy.aare, and the mount
#: table's reader work on strings; their other patterns compile at first use: stockade.lazy_re)
NOT_ON_A_HIT = ("re", "stockade.enforce.plan.profile", "stockade.enforce.plan.select",
                "stockade.enforce.plan.files", "stockade.policy.compiler",
                "stockade.policy.parser", "stockade.policy.matcher", "re2", "shutil", "lzma",
                "bz2", "hashlib", "hmac", "_hashlib",  # OpenSSL: stockade.digest is BLAKE2b
                "dataclasses", "inspect", "ast", "dis", "tokenize", "json", "stockade.cli.compile",
                "argparse", "gettext", "typing", "socket", "selectors", "contextlib")


def test_plan_cache_hit_loads_the_plan_only(tmp_path) -> None:
    from stockade.enforce.plan.cache import keyring

    if keyring.key(create=True) is None:
        pytest.skip("no kernel keyring here (the plan cache is off)")
    profile = tmp_path / "p.aa"
    profile.write_text("include <tunables/global>\nprofile p /usr/bin/true {\n  /usr/** rix,\n"
                       "  @{PROC}/@{pid}/status r,\n}\n")
    # a bare name: the PATH lookup too; -v: the coverage entries are listed (their file read)
    argv = ("run", "-v", "-p", str(profile), "--", "true")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    runs = [subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True,
                           text=True, timeout=120, cwd="/", env=env) for _ in range(2)]
    assert "plan cache: miss; stored" in runs[0].stderr and "plan cache: hit" in runs[1].stderr
    status, *modules = runs[1].stderr.strip().splitlines()[-1].split()
    assert status == "0"
    assert "stockade.enforce.plan.proc" in modules  # the own /proc rule was expanded
    assert [n for n in NOT_ON_A_HIT if _on_path(modules, n)] == []


#: runs a plain `stockade run` and says which child it forked (enforce/spawn.py)
WHICH_CHILD = """
import os, sys
from stockade.enforce import launcher, spawn
start = spawn.ChildSpec.start
def c_child(self, handover):
    os.write(2, b"child: C\\n")
    return start(self, handover)
spawn.ChildSpec.start = c_child
fork = os.fork
def python_child():
    os.write(2, b"child: Python\\n")
    return fork()
os.fork = python_child
from stockade.cli.main import main
sys.exit(main(["run", "--rx", "/", "--", "/bin/true"]))
"""


@pytest.mark.parametrize("pure", ["", "1"])
def test_a_plain_run_forks_the_c_child(pure: str) -> None:
    """No Python runs between fork and exec of a plain run where the extension is built (its
    child's ~400 page faults and ~1 ms of CPU); STOCKADE_CHILD_PURE=1 still gives the Python
    child, the fallback."""
    from stockade.enforce import spawn

    if spawn._backend() is None and not pure:
        pytest.skip("the C extension is not built (no compiler when installed)")
    env = dict(os.environ, STOCKADE_CHILD_PURE=pure)
    out = subprocess.run([sys.executable, "-c", WHICH_CHILD], capture_output=True, text=True,
                         timeout=120, cwd="/", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines() == ["child: Python" if pure else "child: C"]


def test_learn_mode_loads_the_observer_before_the_supervisor_restricts_itself(tmp_path) -> None:
    learn = tmp_path / "obs.jsonl"
    status, modules = _loaded("run", "--mode", "learn", "--learn", str(learn), "--", "/bin/true")
    assert status == 0
    assert "stockade.enforce.supervisor.observe" in modules
    assert learn.read_text().strip()  # the observations were written by the loop's thread


@pytest.mark.parametrize("columns", ["", "0", "57", "203", "x"])
def test_help_width_is_argparse_own(monkeypatch: pytest.MonkeyPatch, columns: str) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    assert output.help_width() == shutil.get_terminal_size().columns - 2


def _usage_lines(columns: str) -> list[str]:
    env = {**os.environ, "COLUMNS": columns}
    out = subprocess.run([sys.executable, "-m", "stockade", "run", "--help"], env=env,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return out.split("\n\n", 1)[0].splitlines()  # argparse wraps the usage (the epilog is raw)


def test_help_follows_columns() -> None:
    narrow, wide = _usage_lines("50"), _usage_lines("200")
    assert len(narrow) > len(wide) > 1
    assert max(len(line) for line in wide) > 100
    assert sum(len(line) <= 50 for line in narrow) >= len(narrow) - 2  # a long option may not fit


#: records whether the cyclic garbage collector ran during set-up (prepare) and at the launch,
#: and whether what start-up made was frozen out of its collections by then, and by prepare
GC_PROBE = """
import gc, sys
from stockade.cli import main
from stockade.enforce import status_record
from stockade.enforce import launcher, prepare
from stockade.enforce.supervisor import session
seen = {}
def spy(module, name):
    real = getattr(module, name)
    def wrapper(*args, **kwargs):
        seen[name] = gc.isenabled()
        seen["frozen"] = gc.get_freeze_count() > 0
        seen.setdefault("frozen at " + name, seen["frozen"])
        return real(*args, **kwargs)
    setattr(module, name, wrapper)
spy(prepare, "prepare"); spy(launcher, "launch"); spy(session, "supervised_launch")
status = main.main(sys.argv[1:])
print(status, seen.get("prepare"), seen.get("supervised_launch", seen.get("launch")),
      gc.isenabled(), seen.get("frozen"), seen.get("frozen at prepare"), file=sys.stderr)
"""


def _gc_states(*args: str, env: dict[str, str] | None = None) -> list[str]:
    out = subprocess.run([sys.executable, "-c", GC_PROBE, *args], capture_output=True,
                         text=True, timeout=120, cwd="/", env=env)
    lines = out.stderr.strip().splitlines()
    return [*lines[-1].split(), *(ln.split("plan cache: ")[1].split()[0].rstrip(";")
                                  for ln in lines if "plan cache: " in ln)]


def test_collector_is_off_for_start_up_and_on_while_the_program_runs() -> None:
    # status, during prepare, at the launch (the supervisor runs as long as the program), after,
    # start-up's objects frozen at the launch, not yet at prepare
    assert _gc_states("run", "--rx", "/", "--", "/bin/true") == \
        ["0", "False", "True", "True", "True", "False"]


def test_collector_is_on_after_a_profile_is_compiled(tmp_path) -> None:
    """The build runs without the collector (policy.collector); it is on for what follows,
    with what the build left (the plan) frozen out of its passes."""
    profile = tmp_path / "p.aa"
    profile.write_text("profile p /bin/true {\n  / r,\n  /** rix,\n}\n")
    assert _gc_states("run", "--no-cache", "-p", str(profile), "--", "/bin/true") == \
        ["0", "True", "True", "True", "True", "True"]


def test_collector_stays_off_while_a_plan_cache_hit_is_loaded(tmp_path) -> None:
    """A hit decodes its entry into objects without cycles (no collection needed until the
    program starts); a miss compiles, and the collector is on after it."""
    from stockade.enforce.plan.cache import keyring

    if keyring.key(create=True) is None:
        pytest.skip("no kernel keyring here (the plan cache is off)")
    profile = tmp_path / "p.aa"
    profile.write_text("profile p /bin/true {\n  / r,\n  /usr/** rix,\n}\n")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    argv = ("run", "-v", "-p", str(profile), "--", "/bin/true")
    assert _gc_states(*argv, env=env) == ["0", "True", "True", "True", "True", "True", "miss"]
    assert _gc_states(*argv, env=env) == ["0", "False", "True", "True", "True", "False", "hit"]


def test_other_commands_run_with_the_collector_on() -> None:
    probe = ("import gc, sys\nfrom stockade.cli import main, status\nseen = []\n"
             "real = status.run\nstatus.run = lambda args: seen.append(gc.isenabled()) or 0\n"
             "main.main(['status'])\nprint(seen)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[True]"


#: the console script's entry point, with a finalizer that says whether the interpreter's
#: finalization ran
EXIT_PROBE = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("finalized\\n"))
sys.argv = ["stockade", *sys.argv[1:]]
from stockade.cli.main import entry
entry()
"""


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_run_ends_without_finalizing_after_its_own_clean_up(user: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("switches to nobody: run as root")
    with tempfile.TemporaryDirectory() as work:
        os.chmod(work, 0o777)  # nobody writes the audit file here
        audit = os.path.join(work, "audit.jsonl")
        out = subprocess.run([sys.executable, "-c", EXIT_PROBE, "run", "--rx", "/", "--audit",
                              audit, "--", "/bin/sh", "-c", "echo out; exit 7"],
                             capture_output=True, text=True, timeout=120, cwd="/",
                             preexec_fn=drop_to_nobody if user == "nobody" else None)
        assert out.returncode == 7, out.stderr  # the program's status
        assert out.stdout == "out\n"
        assert "finalized" not in out.stderr
        with open(audit, encoding="utf-8") as f:  # written, flushed and closed by run itself
            lines = [json.loads(line) for line in f]
    assert lines[-1]["event"] == "exit" and lines[-1]["status"] == 7
    start = next(rec for rec in lines if rec["event"] == "start")
    directory = status_record.record_dir()
    if user == "root" and directory is not None:  # run removed the program's status record
        assert not os.path.exists(os.path.join(directory, f"{start['pid']}.json"))


def test_run_output_reaches_a_pipe_before_the_process_ends() -> None:
    out = subprocess.run([sys.executable, "-c", EXIT_PROBE, "run", "--rx", "/usr",
                          "--", "/nonexistent/program"], capture_output=True, text=True,
                         timeout=120, cwd="/")
    assert out.returncode == 127  # as the shell: not found
    assert out.stderr == "stockade run: /nonexistent/program: No such file or directory\n"


@pytest.mark.parametrize("argv", [["status"], ["run", "--help"]])
def test_other_commands_and_help_finalize_as_usual(argv: list[str]) -> None:
    out = subprocess.run([sys.executable, "-c", EXIT_PROBE, *argv], capture_output=True,
                         text=True, timeout=120, cwd="/")
    assert out.returncode == 0
    assert "finalized" in out.stderr
