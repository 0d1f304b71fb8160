"""The `apparmor` export against apparmor_parser, the oracle no one here wrote.

apparmor_parser runs with -Q (no kernel load), -K (no cache) and -M with the feature set the
Debian package ships (/usr/share/apparmor-features/features), so it needs neither AppArmor
as the running LSM nor root. With -S it prints the compiled binary policy: where the
export compiles to the same bytes as the original file, AppArmor enforces exactly the same
policy from it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stockade.export.apparmor_text import flatten, fold_slashes, quote, rooted
from stockade.policy import compile_profiles, load
from tests.export.apparmor_dfa import dfas, first_difference
from tests.policy.test_apparmor_parser import _cases

PARSER = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"
FEATURES = "/usr/share/apparmor-features/features"
SYSTEM = Path("/etc/apparmor.d")
EXTRAS = Path("/usr/share/apparmor/extra-profiles")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "profiles"

needs_parser = pytest.mark.skipif(
    not (os.path.exists(PARSER) and os.path.exists(FEATURES) and SYSTEM.is_dir()),
    reason="needs apparmor_parser, its features file and /etc/apparmor.d (package apparmor)")


def _profile_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.name != "README")


def compiled_binary(path: Path) -> bytes:
    """apparmor_parser's binary policy for a file (asserts that it accepts the file)."""
    proc = subprocess.run([PARSER, "-Q", "-K", "-S", "-M", FEATURES, str(path)],
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def exported(src: Path, tmp_path: Path) -> Path:
    pf = load(str(src))
    out = tmp_path / (src.name + ".exported")
    out.write_text(flatten(pf, compile_profiles(pf)).text)
    return out


@needs_parser
@pytest.mark.parametrize("src", _profile_files(SYSTEM), ids=lambda p: p.name)
def test_system_profiles_export_to_the_same_binary_policy(src: Path, tmp_path: Path) -> None:
    out = exported(src, tmp_path)
    body = out.read_text().split("\n", 1)[1]
    assert not any(line.lstrip().startswith(("include", "#include", "@{", "if "))
                   for line in body.splitlines())
    assert compiled_binary(out) == compiled_binary(src)


#: Extras whose export means something else, and why (stockade's compiler, not the export).
KNOWN_DIFFERENT = {
    "usr.lib.firefox.firefox": "stockade expands @{profile_name} as a pattern; apparmor_parser "
                               "escapes the name's glob characters (a literal peer label)",
}


@pytest.mark.slow
@needs_parser
def test_extra_profiles_export_to_the_same_policy(tmp_path: Path) -> None:
    """Every extra is accepted; one that does not compile to the same bytes must compile
    to DFAs with the same permissions for every string a kernel can ask about."""
    files = _profile_files(EXTRAS)
    if not files:
        pytest.skip("needs apparmor-profiles (extra profiles)")
    differ: dict[str, str] = {}
    for src in files:
        out = exported(src, tmp_path)
        if compiled_binary(out) == compiled_binary(src):
            continue
        theirs, ours = dfas(PARSER, FEATURES, str(src)), dfas(PARSER, FEATURES, str(out))
        assert len(theirs) == len(ours), src.name
        diffs = [w for a, b in zip(theirs, ours, strict=True)
                 if (w := first_difference(a, b)) is not None]
        if diffs:
            differ[src.name] = repr(diffs[0])
    assert set(differ) == set(KNOWN_DIFFERENT), differ


def test_the_dfa_comparison_can_fail(tmp_path: Path) -> None:
    if not (os.path.exists(PARSER) and os.path.exists(FEATURES)):
        pytest.skip("needs apparmor_parser")
    (a := tmp_path / "a").write_text("profile t {\n  /a/{x,y}/** r,\n}\n")
    (b := tmp_path / "b").write_text("profile t {\n  /a/{x,y}/** r,\n  /a/x/ r,\n}\n")
    (c := tmp_path / "c").write_text("profile t {\n  /a/x/** r,\n  /a/y/** r,\n}\n")
    da, db, dc = (dfas(PARSER, FEATURES, str(p)) for p in (a, b, c))
    assert first_difference(da[0], db[0]) == "/a/x/"
    assert all(first_difference(x, y) is None for x, y in zip(da, dc, strict=True))


@needs_parser
@pytest.mark.parametrize(("name", "text"), [c for c in _cases() if c[0].startswith("valid")],
                         ids=lambda v: v if isinstance(v, str) and len(v) < 20 else "")
def test_generated_profiles_export_to_the_same_binary_policy(name: str, text: str,
                                                             tmp_path: Path) -> None:
    src = tmp_path / "gen.prof"
    src.write_text(text)
    assert compiled_binary(exported(src, tmp_path)) == compiled_binary(src)


@needs_parser
@pytest.mark.parametrize("src", _profile_files(EXAMPLES), ids=lambda p: p.name)
def test_example_profiles_export_to_the_same_binary_policy(src: Path, tmp_path: Path) -> None:
    assert compiled_binary(exported(src, tmp_path)) == compiled_binary(src)


def test_export_is_a_fixpoint_of_the_parser(tmp_path: Path) -> None:
    """Exporting the export changes nothing: every field survives the round trip."""
    text = ('@{D} = /srv/a/ "/srv/my b/"\n${X} = true\n'
            'profile p /usr/bin/p flags=(complain) {\n'
            '  if ${X} { @{D}/** rw, } else { /never r, }\n'
            '  owner { @{D}/k wk, }\n  deny /etc/shadow w,\n  /usr/bin/q Px -> other,\n'
            '  dbus send bus=session peer=(name=org.x label="a b"),\n'
            '  signal (send) set=(term hup) peer=@{profile_name},\n'
            '  ^hat { /h r, }\n  profile kid { /k r, }\n}\n')
    first = flatten(pf := load(text), compile_profiles(pf)).text
    second = flatten(pf2 := load(first), compile_profiles(pf2)).text
    assert second.split("\n", 1)[1] == first.split("\n", 1)[1]
    assert 'owner "/{srv/a,srv/my b}/k" wk,' in first and " if " not in first
    assert "signal send set=(term hup) peer=p," in first
    if os.path.exists(PARSER) and os.path.exists(FEATURES):
        (src := tmp_path / "p.prof").write_text(text)
        (out := tmp_path / "p.exported").write_text(first)
        assert compiled_binary(out) == compiled_binary(src)


@pytest.mark.parametrize(("path", "want"), [
    ("{/etc/,/usr/etc/}/x", "/{etc,usr/etc}/x"),
    ("/{/run,/var/run}/a", "/{run,var/run}/a"),
    ("{/usr,}/bin/x", "/{usr/,}bin/x"),
    ("{{/home/*/,/root/}/a,/b}/c", "/{{home/*,root}/a,b}/c"),
    ("/plain/path", "/plain/path"),
])
def test_paths_start_with_a_slash_as_the_lexer_needs(path: str, want: str) -> None:
    assert rooted(fold_slashes(path)) == want


def test_values_are_quoted_only_when_needed() -> None:
    assert quote("/a b") == '"/a b"'
    assert quote("/x/{a,b}") == "/x/{a,b}"
    assert quote("/x,y") == '"/x,y"'
    assert quote('say"x') == '"say\\"x"'


@needs_parser
def test_cli_writes_a_profile_apparmor_parser_accepts(tmp_path: Path) -> None:
    out = tmp_path / "demo.aa"
    proc = subprocess.run([sys.executable, "-m", "stockade", "export", "--format", "apparmor",
                           "-o", str(out), str(EXAMPLES / "demo-reader")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert compiled_binary(out) == compiled_binary(EXAMPLES / "demo-reader")


def test_stockade_only_rules_are_left_out_and_reported(tmp_path: Path) -> None:
    src = tmp_path / "s.prof"
    src.write_text("profile s {\n  /etc/hostname r,\n  deny syscall errno=EXDEV getppid,\n}\n")
    proc = subprocess.run([sys.executable, "-m", "stockade", "export", "--format", "apparmor",
                           "-v", str(src)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "syscall" not in proc.stdout and "/etc/hostname r," in proc.stdout
    assert "AppArmor has no syscall rule" in proc.stderr and "s.prof:3:3" in proc.stderr
    strict = subprocess.run([sys.executable, "-m", "stockade", "export", "--format", "apparmor",
                             "--strict", str(src)], capture_output=True, text=True, timeout=60)
    assert strict.returncode == 3 and strict.stdout == ""
    whole = subprocess.run([sys.executable, "-m", "stockade", "export", "--format", "apparmor",
                            "--strict", str(EXAMPLES / "demo-reader")],
                           capture_output=True, text=True, timeout=60)
    assert whole.returncode == 0 and "every rule is expressed" in whole.stderr
