import subprocess
import sys


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", *args], capture_output=True, text=True)


def test_version() -> None:
    out = run_cli("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("stockade ")


def test_unknown_command_is_usage_error() -> None:
    out = run_cli("no-such-command")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    # the program's name once ("stockade: ...", not "stockade stockade: ...")
    assert out.stderr.startswith("stockade: argument COMMAND: invalid choice: 'no-such-command'")


def test_version_and_one_command_import_only_what_they_need() -> None:
    probe = (
        "import sys; from stockade.cli import main; main.build_parser({argv!r}); "
        "names = {{'stockade.cli.' + n for n in main._command_names()}}; "
        "print(sorted(m for m in sys.modules if m in names))"
    )
    version = subprocess.run([sys.executable, "-c", probe.format(argv=["--version"])],
                             capture_output=True, text=True, check=True)
    assert version.stdout.strip() == "[]"
    status = subprocess.run([sys.executable, "-c", probe.format(argv=["status", "--json"])],
                            capture_output=True, text=True, check=True)
    assert status.stdout.strip() == "['stockade.cli.status']"


def test_make_completes_a_venv_left_without_pip(tmp_path) -> None:
    import os
    import shutil

    import pytest

    if not shutil.which("make"):
        pytest.skip("make not installed")
    root = os.path.join(os.path.dirname(__file__), "..")
    shutil.copy(os.path.join(root, "Makefile"), tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text("")  # python, but no pip
    out = subprocess.run(["make", "-n", ".venv/.test-installed"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "-m venv .venv" in out.stdout  # the venv is (re)made, then pip installs


def test_a_mistyped_command_gets_the_nearest_one() -> None:
    out = run_cli("rnu")
    assert out.returncode == 2
    assert out.stderr.rstrip().endswith("did you mean 'run'?")
    assert "did you mean" not in run_cli("zzz").stderr


def test_a_usage_error_names_the_whole_command_path() -> None:
    """A usage error of a sub-command names the command the user typed ("stockade label set"),
    also for unrecognized arguments, which argparse reports from the top-level parser."""
    missing = run_cli("label", "set")
    assert missing.returncode == 2
    assert missing.stderr.startswith("stockade label set: the following arguments are required")
    extra = run_cli("label", "set", "-m", "smack", "L", "/nonexistent", "--bogus")
    assert extra.returncode == 2
    assert extra.stderr == "stockade label set: unrecognized arguments: --bogus\n"
    assert run_cli("audit", "query", "--bogus").stderr.startswith("stockade audit query: ")
