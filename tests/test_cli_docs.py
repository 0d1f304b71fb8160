"""Man pages and shell completion, generated from the argparse tree."""

import os
import shutil
import subprocess
import sys

import pytest

from stockade.cli._manpages import write_pages
from stockade.cli.main import _command_modules


def test_a_man_page_per_command_renders_without_warnings(tmp_path) -> None:
    pages = write_pages(str(tmp_path / "man1"))
    names = {os.path.basename(p) for p in pages}
    assert "stockade.1" in names
    assert {f"stockade-{m.COMMAND}.1" for m in _command_modules([])} <= names
    if not shutil.which("man"):
        pytest.skip("man-db not installed")
    env = {**os.environ, "MANWIDTH": "80", "LC_ALL": "C.UTF-8"}
    out = subprocess.run(["man", "--warnings", "-l", str(tmp_path / "man1" / "stockade-run.1")],
                         capture_output=True, text=True, env=env, check=True)
    assert out.stdout.startswith("STOCKADE-RUN(1)")
    assert "--connect-tcp" in out.stdout
    assert "warning" not in out.stderr


def _complete(script: str, words: list[str]) -> list[str]:
    line = " ".join(words)
    probe = (f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
             f"_shtab_stockade; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_bash_completion_completes_commands_and_their_flags(tmp_path) -> None:
    script = tmp_path / "stockade.bash"
    out = subprocess.run([sys.executable, "-m", "stockade", "completion", "bash"],
                         capture_output=True, text=True, check=True)
    script.write_text(out.stdout)
    assert _complete(str(script), ["stockade", "ru"]) == ["run"]
    assert set(_complete(str(script), ["stockade", "run", "--co"])) == {
        "--complain", "--connect-tcp", "--context"}


def test_completion_refuses_an_unknown_shell() -> None:
    out = subprocess.run([sys.executable, "-m", "stockade", "completion", "fish"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr


def test_readme_says_how_the_man_pages_are_built() -> None:
    # `make .venv/.test-installed` installs no man pages: the README's `man stockade-run`
    # needs `make man` (which make demo and make test run)
    root = os.path.join(os.path.dirname(__file__), "..")
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert "man stockade-run" in text and "make man" in text
    with open(os.path.join(root, "Makefile"), encoding="utf-8") as f:
        assert "\nman:" in f.read()


def test_no_man_page_names_a_file_of_our_source_tree(tmp_path) -> None:
    """A man page reader has the installed program, not our repository: no page sends them to
    a source file (`enforce/supervisor/observe.py`) or a document of the checkout."""
    import re

    ours = re.compile(r"(?<![/\w\\])(?:[\w.-]+/)*[\w-]+\.(?:py|md)\b"
                      r"|(?<![/\w])(?:docs|tests|src|enforce|policy|learn|modules|audit|cli|host"
                      r"|export|lsm)/")
    found = []
    for page in write_pages(str(tmp_path / "man1")):
        with open(page, encoding="utf-8") as f:
            found += [(os.path.basename(page), m.group(0)) for m in ours.finditer(f.read())]
    assert found == []
