"""Fuzzing `stockade explain`'s input (issue 10, items 16 and 17): any operation, target and
option values, as a user could type them, end in an answer (0, 1) or a usage error (2), never
an internal error; no case over a second."""

from __future__ import annotations

import contextlib
import io
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.cli.main import INTERNAL_ERROR_EXIT, main
from stockade.lsm import operations as ops

from .corpus import examples

_WORDS = st.sampled_from(["", "0", "-1", "4294967295", "4294967294", "65", "64", "root",
                          "nobody", "/", "/etc/shadow", "/dev/mem", "127.0.0.1:80", "[::1]:0",
                          ":99999", "1", "999999999", "\udcff", "\x1b[2J", "a,b", "all", "none",
                          "TERM", "SIGKILL", "rtmin", "0777", "7777", "8", "root:root", ":"])
# What argv can hold: no NUL (the kernel passes C strings), and surrogates only as Python's
# escapes of undecodable bytes (U+DC80-U+DCFF, as os.fsdecode makes them).
_ARGV_BYTES = st.binary(max_size=12).filter(lambda b: b"\0" not in b).map(
    lambda b: b.decode("utf-8", "surrogateescape"))
_VALUES = _WORDS | _ARGV_BYTES | st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=12)
_OPTIONS = ("--as", "--groups", "--caps", "--owner", "--group", "--mode", "--to", "--new-mode",
            "--new-owner", "--signal", "--fstype", "--yama-scope", "--lockdown", "--lsm")


@settings(deadline=timedelta(seconds=1), suppress_health_check=list(HealthCheck), database=None,
          max_examples=examples(400))
@given(op=st.sampled_from(ops.OPERATIONS) | _VALUES, target=_VALUES,
       options=st.lists(st.tuples(st.sampled_from(_OPTIONS), _VALUES), max_size=3),
       json_out=st.booleans())
def test_explain_never_fails_inside(op: str, target: str, options: list[tuple[str, str]],
                                    json_out: bool) -> None:
    argv = ["explain", *(["--json"] if json_out else [])]
    for name, value in options:
        argv += [f"{name}={value}"]
    argv += ["--", op, target] if not op.startswith("-") else [op, target]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse's own usage errors
            status = exc.code if isinstance(exc.code, int) else 2
    assert status != INTERNAL_ERROR_EXIT, (argv, err.getvalue())
    assert status in (0, 1, 2), (argv, status, err.getvalue())
