"""Names chosen by someone else never reach a terminal raw (issue 10, item 18): every command's
human-readable output escapes control characters, escape sequences, bidi overrides and
undecodable bytes; a name cannot start a line of its own; JSON output keeps the exact name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.cli.output import HumanStream, paint, printable

# OSC title change, BEL, clear screen, carriage return, a forged line, C1 CSI, RTL override, a
# byte that is not UTF-8 (as a surrogate escape): a name a confined program could choose.
EVIL = "ev\x1b]0;pwned\x07\x1b[2J\rFAKE1\nFAKE2\x9b\u202e\udcff"
_RAW = ("\x1b", "\x07", "\r", "\x9b", "\u202e", "\udcff")


def stockade(*args: str, cwd: str | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "stockade", *args], capture_output=True,
                          timeout=120, cwd=cwd, env={**os.environ, "LC_ALL": "C.UTF-8", **(env or {})})


def assert_escaped(out: subprocess.CompletedProcess[bytes], *, must_show: bool = True) -> None:
    """No raw control character in either stream; the name shown escaped (somewhere)."""
    both = ""
    for stream in (out.stdout, out.stderr):
        text = stream.decode("utf-8", "surrogateescape")
        for raw in _RAW:
            assert raw not in text, (raw, text)
        assert not any(line.startswith(("FAKE1", "FAKE2")) for line in text.splitlines()), text
        both += text
    assert "Traceback" not in both and "internal error" not in both, both
    if must_show:
        assert "\\x07" in both and "\\u202e" in both and "\\xff" in both, both


def test_printable_escapes_and_is_idempotent() -> None:
    shown = printable(EVIL)
    assert shown == "ev\\x1b]0;pwned\\x07\\x1b[2J\\rFAKE1\\nFAKE2\\x9b\\u202e\\xff"
    assert printable(shown) == shown
    assert printable("/home/jos\u00e9/\u4e2d file") == "/home/jos\u00e9/\u4e2d file"
    assert printable("a\tb\nc", keep="\n") == "a\\tb\nc"


def test_human_stream_keeps_our_colours_only() -> None:
    class Tty:
        written = ""

        def write(self, text: str) -> int:
            Tty.written += text
            return len(text)

        def isatty(self) -> bool:
            return True

    stream = HumanStream(Tty())  # type: ignore[arg-type]
    os.environ.pop("NO_COLOR", None)
    stream.write(paint("DENIED", "red", stream) + " " + EVIL + "\n")  # type: ignore[arg-type]
    assert Tty.written == "\x1b[31mDENIED\x1b[0m " + printable(EVIL, "\n") + "\n"


@pytest.fixture
def evil_dir(tmp_path: Path) -> Iterator[Path]:
    os.chmod(tmp_path, 0o755)
    yield tmp_path


def _evil_path(root: Path) -> str:
    return os.fsdecode(os.fsencode(str(root)) + b"/" + os.fsencode(EVIL))


def test_check(evil_dir: Path) -> None:
    bad = Path(_evil_path(evil_dir))
    inline = EVIL.replace("\n", "")  # a newline in the file starts a line of the file
    bad.write_bytes(os.fsencode(f'profile p {{\n  /tmp/{inline} r,\n  {inline} rw,\n}}\n'))
    out = stockade("check", str(evil_dir))
    assert out.returncode == 1
    assert_escaped(out)
    caret = out.stderr.decode().splitlines()
    assert any(line.strip() == "^" for line in caret)


def test_check_table(evil_dir: Path) -> None:
    good = evil_dir / "good"
    good.write_bytes(os.fsencode(f'profile "{EVIL}" {{\n  /tmp/x r,\n}}\n'))
    out = stockade("check", str(good))
    assert_escaped(out, must_show=False)
    js = stockade("check", "--json", str(good))
    if js.returncode == 0:
        assert json.loads(js.stdout)["profiles"][0]["name"] == EVIL.replace("\udcff", "\udcff")


def test_explain(evil_dir: Path) -> None:
    path = _evil_path(evil_dir)
    out = stockade("explain", "--as", "nobody", "read", path)
    assert out.returncode == 1
    assert_escaped(out)
    js = stockade("explain", "--json", "--as", "nobody", "read", path)
    layers = json.loads(js.stdout)["layers"]
    assert any(layer["request"].endswith(EVIL) for layer in layers)


def _evil_log(root: Path) -> Path:
    hexname = (str(root) + "/").encode().hex().upper() + os.fsencode(EVIL).hex().upper()
    comm = os.fsencode(EVIL[:15]).hex().upper()
    now = int(time.time())
    log = root / "audit.log"
    log.write_text(
        f'type=AVC msg=audit({now}.100:10): apparmor="DENIED" operation="open" class="file" '
        f'profile={hexname} name={hexname} pid=1234 comm={comm} requested_mask="r" '
        'denied_mask="r" fsuid=0 ouid=0\n')
    return log


def test_audit_query_stats_notify_logprof(evil_dir: Path) -> None:
    log = _evil_log(evil_dir)
    store = str(evil_dir / "s.sqlite")
    assert stockade("audit", "import", "--store", store, str(log)).returncode == 0
    for args in (["query"], ["stats"]):
        out = stockade("audit", *args, "--store", store)
        assert out.returncode == 0, out.stderr
        assert_escaped(out)
    js = json.loads(stockade("audit", "query", "--json", "--store", store).stdout)
    # the reader shows an undecodable byte of a hex-encoded name as \\xff (backslashreplace)
    assert js[0]["object"] == _evil_path(evil_dir).replace("\udcff", "\\xff")
    out = stockade("notify", "--once", "--no-desktop", "--audit-log", "", "--log", str(log))
    assert out.returncode == 0, out.stderr
    assert_escaped(out)
    out = stockade("notify", "--summary", "--no-desktop", "--audit-log", "", "--log", str(log))
    assert_escaped(out)
    prof = evil_dir / "prof"
    prof.write_bytes(os.fsencode(f'profile "{_evil_path(evil_dir)}" {{\n  /etc/hostname r,\n}}\n'))
    out = stockade("logprof", "-p", str(prof), "--log", str(log), "--any-profile")
    assert_escaped(out, must_show=False)


def test_compile(evil_dir: Path) -> None:
    # no newline in a quoted string, no glob brackets in a path rule
    target = Path(_evil_path(evil_dir).replace("\n", "").replace("]", "").replace("[", ""))
    target.mkdir()
    prof = evil_dir / "prof"
    prof.write_bytes(os.fsencode(f'profile p {{\n  "{target}/" r,\n  "{target}/**" rw,\n}}\n'))
    out = stockade("compile", str(prof))
    assert out.returncode == 0, out.stderr
    assert_escaped(out, must_show=False)  # the paths are counted, not listed
    out = stockade("compile", "--full", str(prof))
    assert out.returncode == 0, out.stderr
    assert_escaped(out)


def test_run_learn_and_status_messages(evil_dir: Path) -> None:
    missing = _evil_path(evil_dir)
    out = stockade("run", "--", missing)
    assert out.returncode == 127
    assert_escaped(out)
    out = stockade("learn", "-o", str(evil_dir / "out"), "--", missing)
    assert_escaped(out)
    out = stockade("run", "--rx", missing, "--", "/bin/true")
    assert_escaped(out, must_show=False)
    out = stockade("status", env={"STOCKADE_PROFILE": EVIL.replace("\udcff", "")})
    assert_escaped(out, must_show=False)


def test_usage_error_with_evil_argument() -> None:
    out = stockade("explain", "--as", EVIL, "read", "/etc/hostname")
    assert out.returncode == 2
    assert_escaped(out, must_show=False)
    assert out.stderr.count(b"\n") == 1
    out = stockade("audit", "query", "--result", EVIL)
    assert out.returncode == 2
    assert_escaped(out, must_show=False)


def test_learn_review_prompt_is_escaped() -> None:
    from stockade.cli.learn import review
    from stockade.learn.proposals import Proposal

    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return "i"

    review([Proposal("file", path="/srv/" + EVIL, letters={"r"})], ask)
    for raw in _RAW:
        assert raw not in asked[0]
    assert "\\x1b]0;pwned" in asked[0]


def test_label_get_shows_a_planted_label_escaped(evil_dir: Path) -> None:
    target = evil_dir / "f"
    target.write_text("x")
    try:
        os.setxattr(target, "user.stockade.biba", os.fsencode(EVIL.replace("\udcff", "")))
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    out = stockade("label", "get", str(target))
    assert out.returncode == 0, out.stderr
    assert_escaped(out, must_show=False)
    assert b"\\x1b]0;pwned" in out.stdout


# the start-up path has no `re`: the careful path's test and the colour split are written out,
# and must mean what the regular expressions they replaced meant
_OLD_SGR = "(\033\\[(?:31|32|33|34|1|2|0)m)"
_pieces = st.lists(st.sampled_from(["\033[", "\033[1m", "\033[31m", "\033[34m", "\033[0m",
                                    "\033[35m", "\033[m", "\033[10m", "\033[3", "m", "1", "31",
                                    "x", "\n", "\t", " ", "é", "\x7f", "\udcff", ""]))


@settings(max_examples=500, deadline=None)
@given(_pieces.map("".join))
def test_colour_split_is_the_regular_expressions(text: str) -> None:
    import re

    from stockade.cli import output

    assert output._split_colours(text) == re.split(_OLD_SGR, text)
    assert output._plain(text) == (re.search(r"[^ -~]", text) is None)


@given(st.text(alphabet=st.characters(exclude_categories=())))
def test_plain_is_printable_ascii(text: str) -> None:
    import re

    from stockade.cli import output

    assert output._plain(text) == (re.search(r"[^ -~]", text) is None)
