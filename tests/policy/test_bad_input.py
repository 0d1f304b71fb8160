"""Bad profile input never hangs or crashes (issue 10, items 11-13): non-regular and oversized
files, deep nesting, and long paths all end in a one-line error naming the file."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from confine_helpers import cli

from stockade.policy import IncludeError, Loader, PolicyError, compile_profiles
from stockade.policy.aare import parse as parse_aare
from stockade.policy.includes import read_policy_file
from stockade.policy.limits import MAX_ALTERNATION_DEPTH, MAX_FILE_BYTES, MAX_NESTING
from stockade.policy.modes import Perm


@pytest.mark.parametrize("user", ["root", "nobody"])
@pytest.mark.parametrize("command", [["check"], ["explain", "read", "/etc/passwd", "--profile"]])
def test_device_as_profile_is_refused_quickly(command: list[str], user: str) -> None:
    out = cli(*command, "/dev/zero", user=user, timeout=20)
    assert out.returncode in (1, 2)
    assert "/dev/zero" in out.stderr and "not a regular file" in out.stderr
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr


def test_fifo_profile_and_fifo_include_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(PolicyError, match="not a regular file \\(a FIFO\\)"):
        read_policy_file(fifo)
    prof = tmp_path / "p"
    prof.write_text('include "fifo"\nprofile x {\n /a r,\n}\n')
    with pytest.raises(IncludeError) as err:
        compile_profiles(str(prof), loader=Loader(system=False))
    assert (err.value.file, err.value.line) == (str(prof), 1)
    assert "fifo" in err.value.message and "FIFO" in err.value.message
    out = cli("check", str(prof), timeout=20)
    assert out.returncode == 1 and f"{prof}:1:1:" in out.stderr


def test_device_include_is_refused(tmp_path: Path) -> None:
    prof = tmp_path / "p"
    prof.write_text("profile x {\n include </dev/zero>\n}\n")
    with pytest.raises(IncludeError, match="character device"):
        compile_profiles(str(prof), loader=Loader(system=False))


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(PolicyError, match="too large") as err:
        read_policy_file(big)
    assert str(err.value).startswith(f"{big}: ")
    out = cli("check", str(big), timeout=20)
    assert out.returncode == 1 and "too large" in out.stderr


def test_directory_check_skips_fifo_and_reports_per_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "a-fifo")
    (tmp_path / "good").write_text("profile good {\n /a r,\n}\n")
    out = cli("check", str(tmp_path), timeout=20)
    assert out.returncode == 0, out.stderr
    assert "1 profile(s)" in out.stdout


# -- item 13: nesting ------------------------------------------------------------------------

DEEP = 5000


@pytest.mark.parametrize(("name", "text", "line"), [
    ("hats", "profile p {\n" + "^h {\n" * DEEP + "}\n" * DEEP + "}\n", MAX_NESTING + 1),
    ("children", "profile p {\n" + "profile c {\n" * DEEP + "}\n" * DEEP + "}\n",
     MAX_NESTING + 1),
    ("qualifier blocks", "profile p {\n" + "audit {\n" * DEEP + "}\n" * DEEP + "}\n",
     MAX_NESTING + 1),
    ("conditionals", "${b} = true\nprofile p {\n" + "if ${b} {\n" * DEEP + "}\n" * DEEP
     + "}\n", MAX_NESTING + 2),
    ("else-if chain", "${b} = true\nprofile p {\n if ${b} {\n}" + " else if ${b} {\n}" * DEEP
     + "\n}\n", None),
    ("parentheses", "profile p {\n if " + "(" * DEEP + "defined @{x}" + ")" * DEEP
     + " {\n }\n}\n", 2),
    ("not", "profile p {\n if " + "not " * DEEP + "defined @{x} {\n }\n}\n", 2),
    ("and", "profile p {\n if defined @{x}" + " and defined @{x}" * DEEP + " {\n }\n}\n", 2),
    ("braces", "profile p {\n /" + "{a," * DEEP + "b" + "}" * DEEP + " r,\n}\n", 2),
    ("variables", "".join(f"@{{v{i}}} = @{{v{i + 1}}}\n" for i in range(DEEP))
     + f"@{{v{DEEP}}} = /x\nprofile p {{\n @{{v0}} r,\n}}\n", DEEP + 3),
    ("doubling variables", "@{a0} = x y\n" + "".join(
        f"@{{a{i + 1}}} = @{{a{i}}} @{{a{i}}}\n" for i in range(30))
     + "profile p {\n /@{a30} r,\n}\n", 33),
])
def test_deep_nesting_is_a_located_error(tmp_path: Path, name: str, text: str,
                                         line: int | None) -> None:
    path = tmp_path / "deep"
    path.write_text(text)
    with pytest.raises(PolicyError) as err:
        compile_profiles(str(path), loader=Loader(system=False))
    assert err.value.file == str(path) and err.value.line > 0 and err.value.col > 0
    if line is not None:
        assert err.value.line == line, err.value
    assert "deep" in err.value.message or "more than" in err.value.message


def test_deep_include_chain_and_nesting_across_includes(tmp_path: Path) -> None:
    for i in range(100):
        (tmp_path / f"f{i}").write_text(f'include "f{i + 1}"\n')
    (tmp_path / "f100").write_text("")
    with pytest.raises(IncludeError, match="nested too deep"):
        compile_profiles(str(tmp_path / "f0"), loader=Loader(system=False))
    half = MAX_NESTING // 2 + 2
    (tmp_path / "inner").write_text("audit {\n" * half + "/a r,\n" + "}\n" * half)
    outer = tmp_path / "outer"
    outer.write_text("profile p {\n" + "audit {\n" * half + 'include "inner"\n' + "}\n" * half
                     + "}\n")
    with pytest.raises(PolicyError, match="counted through includes"):
        compile_profiles(str(outer), loader=Loader(system=False))
    # the same inner file, parsed first at a shallow depth, is still refused deep down
    shallow = tmp_path / "shallow"
    shallow.write_text('profile s {\n include "inner"\n}\n')
    loader = Loader(system=False)
    compile_profiles(str(shallow), loader=loader)
    with pytest.raises(PolicyError, match="counted through includes"):
        compile_profiles(str(outer), loader=loader)


def test_nesting_within_the_limits_compiles(tmp_path: Path) -> None:
    depth = MAX_NESTING - 1
    path = tmp_path / "ok"
    path.write_text("profile p {\n" + "".join(f"profile c{i} {{\n /a{i} r,\n" for i in range(depth))
                    + "}\n" * depth + "}\n")
    assert len(list(compile_profiles(str(path), loader=Loader(system=False))[0].walk())) == MAX_NESTING


def test_directory_check_reports_a_deep_file_and_checks_the_others(tmp_path: Path) -> None:
    (tmp_path / "a-deep").write_text("profile p {\n" + "^h {\n" * DEEP + "}\n" * DEEP + "}\n")
    (tmp_path / "b-good").write_text("profile good {\n /a r,\n}\n")
    out = cli("check", str(tmp_path), timeout=60)
    assert out.returncode == 1
    assert "internal error" not in out.stderr
    assert f"{tmp_path}/a-deep:{MAX_NESTING + 1}:" in out.stderr and "nesting too deep" in out.stderr
    assert "1 profile(s), 1 error(s)" in out.stdout


def test_variable_with_thousands_of_references_compiles(tmp_path: Path) -> None:
    """Each reference in a value is one step of a loop, not one level of recursion."""
    path = tmp_path / "refs"
    path.write_text("@{x} = y\n@{z} = " + "@{x}" * 3000 + "\nprofile p {\n /@{z} r,\n}\n")
    (prof,) = compile_profiles(str(path), loader=Loader(system=False))
    assert prof.matcher.lookup("/" + "y" * 3000).allows(Perm.READ)


@pytest.mark.skipif(shutil.which("apparmor_parser") is None, reason="needs apparmor_parser")
@pytest.mark.parametrize("depth", [MAX_ALTERNATION_DEPTH, MAX_ALTERNATION_DEPTH + 1])
def test_brace_depth_limit_is_apparmor_parsers(tmp_path: Path, depth: int) -> None:
    """The `{` nesting limit is upstream's: apparmor_parser -Q -K accepts and refuses the same
    depths (its MAX_ALT_DEPTH)."""
    path = tmp_path / "braces"
    path.write_text("profile p {\n /" + "{a," * depth + "b" + "}" * depth + " r,\n}\n")
    oracle = subprocess.run(["apparmor_parser", "-Q", "-K", str(path)], capture_output=True,
                            text=True, timeout=60)
    try:
        compile_profiles(str(path), loader=Loader(system=False))
        ours = True
    except PolicyError:
        ours = False
    assert ours == (oracle.returncode == 0) == (depth <= MAX_ALTERNATION_DEPTH), oracle.stderr


# -- item 12: long paths -----------------------------------------------------------------------

def _timed() -> Callable[..., tuple[float, float]]:
    """benchmarks/parse_scaling.py's interleaved best-of timing."""
    spec = importlib.util.spec_from_file_location(
        "parse_scaling", Path(__file__).resolve().parents[2] / "benchmarks" / "parse_scaling.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.timed  # type: ignore[no-any-return]


@pytest.mark.parametrize("shape", ["/" + "?" * 50_000, "/*a" * 17_000, "/" + "{a,a}" * 10_000,
                                   "/{a,b}" + "?" * 50_000, "/" + "[ab]" * 12_500,
                                   "/a" * 25_000])
def test_pattern_translation_is_linear(shape: str) -> None:
    """4x the pattern takes about 4x the time (it took 16-20x: string growth and list copies
    per character). A ratio in the same run, so a busy machine slows both sides."""
    small, large = _timed()(lambda: parse_aare(shape), lambda: parse_aare(shape * 4), 5)
    assert large / small < 10, (small, large)


def test_megabyte_path_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "long"
    path.write_text("profile p {\n /" + "?" * 1_280_000 + " r,\n}\n")
    out = cli("check", str(path), timeout=60)
    assert out.returncode == 1
    assert f"{path}:2:2:" in out.stderr and "pattern too long" in out.stderr
    assert all(len(line) < 400 for line in out.stderr.splitlines())  # the caret line is cut
    with pytest.raises(PolicyError, match="pattern too long"):
        compile_profiles(str(path), loader=Loader(system=False))


def test_file_name_with_a_brace_or_newline_is_a_file_not_text(tmp_path: Path) -> None:
    for name in ("d{1}", "new\nline"):
        path = tmp_path / name
        path.write_text("profile brace {\n /etc/hostname r,\n}\n")
        (prof,) = compile_profiles(str(path), loader=Loader(system=False))
        assert prof.name == "brace" and prof.pos.file == str(path)
        out = cli("explain", "--profile", str(path), "--json", "read", "/etc/hostname", timeout=60)
        assert out.returncode == 0, out.stderr


def test_nul_in_an_abi_or_include_name_is_a_missing_file_not_a_crash() -> None:
    """Found by test_mutated_real_profiles: `abi \\x00<abi/3.0>,` reached os.stat with a NUL
    (ValueError) through fsview; os.path.exists answers False there, and so does fsview."""
    from stockade import fsview

    assert fsview.exists("/etc/\x00passwd") is False
    assert fsview.isdir("/\x00") is False
    assert fsview.lexists("/etc/\x00passwd") is False
    for text in ("abi \x00<abi/3.0>,\nprofile p { /x r, }\n",
                 'include "/etc/\x00passwd"\nprofile p { /x r, }\n'):
        loader = Loader()
        with contextlib.suppress(PolicyError):  # a clear error is fine; a ValueError is not
            compile_profiles(loader.load_text(text, "<nul>"), loader=loader)
