"""The fast path of `stockade run`'s options (cli/_options.py) against argparse: whenever the
fast path accepts an argv, argparse accepts it too and makes the same namespace; everything
else is left to argparse (errors, help, abbreviations)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.cli import main
from stockade.cli._options import Group, Option, fast_parse
from stockade.cli.run import args as _run_args

FLAGS = sorted({flag for opt in _run_args.OPTIONS for flag in opt.flags if flag.startswith("-")})
#: spellings the fast path must leave to argparse (abbreviations, help, joined short flags)
ODD = ["-h", "--help", "--pro", "--conn", "--verb", "-vq", "-qv", "-p/x", "-I/x", "-", "---",
       "--ro=", "--rx=-x", "--verbose=1", "--no-cache=x", "-p=/x", "--strict", "--strict=own",
       "--strict=bogus", "--best-effort", "--version"]
VALUES = ["/", "/usr", "/tmp/x y", "a=b", "80", "443", "0", "65535", "65536", "099", "-1", "x",
          "", "none", "tcp", "udp", "enforce", "complain", "learn", "CAP_NET_RAW", "own", "all",
          "--", "-v", "é", "\x1b[31m"]
TAIL = [["--", "/bin/true"], ["--", "sh", "-c", "exit 3"], ["--"], ["--", "--", "x"],
        ["/bin/true"], [], ["--", "-v"]]


def _token() -> st.SearchStrategy[list[str]]:
    flag = st.sampled_from(FLAGS)
    return st.one_of(
        flag.map(lambda f: [f]),
        st.tuples(flag, st.sampled_from(VALUES)).map(list),
        st.tuples(flag.filter(lambda f: f.startswith("--")), st.sampled_from(VALUES)).map(
            lambda fv: [f"{fv[0]}={fv[1]}"]),
        st.sampled_from(ODD).map(lambda t: [t]),
        st.sampled_from(VALUES).map(lambda v: [v]),
    )


argvs = st.tuples(st.lists(_token(), max_size=7), st.sampled_from(TAIL)).map(
    lambda parts: [t for tok in parts[0] for t in tok] + parts[1])


def _argparse(argv: list[str]) -> dict[str, object] | None:
    try:
        return vars(main.build_parser(["run"]).parse_args(["run", *argv]))
    except SystemExit:
        return None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argvs)
def test_the_fast_path_agrees_with_argparse(argv: list[str]) -> None:
    fast = main._fast_args(["run", *argv])
    if fast is None:
        return
    assert vars(fast) == _argparse(argv)


#: values each option takes (the well-formed argvs below: most take the fast path)
GOOD = {"--connect-tcp": ["80", "443", "0"], "--bind-tcp": ["8080"], "--net": ["none", "tcp"],
        "--mode": ["enforce", "complain", "learn"]}


def _well_formed() -> st.SearchStrategy[list[str]]:
    def spell(opt: Option) -> st.SearchStrategy[list[str]]:
        flag = st.sampled_from([f for f in opt.flags if f.startswith("-")])
        if opt.kwargs.get("action") in ("store_true", "store_false", "store_const"):
            return flag.map(lambda f: [f])
        values = st.sampled_from(GOOD.get(opt.flags[-1], ["/", "/etc", "x=y", "CAP_CHOWN"]))
        return st.one_of(st.tuples(flag, values).map(list),
                         st.tuples(flag, values).map(lambda fv: [f"{fv[0]}={fv[1]}"]))
    spellings = [spell(o) for o in _run_args.OPTIONS
                 if o.flags[0].startswith("-") and "nargs" not in o.kwargs]
    return st.tuples(st.lists(st.one_of(spellings), max_size=8), st.sampled_from(TAIL)).map(
        lambda parts: [t for tok in parts[0] for t in tok] + parts[1])


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_well_formed())
def test_well_formed_argvs_agree_with_argparse(argv: list[str]) -> None:
    fast = main._fast_args(["run", *argv])
    theirs = _argparse(argv)
    if fast is not None:
        assert vars(fast) == theirs
    elif argv[-2:] == ["--", "/bin/true"] and theirs is not None:
        # declined only for two options of one exclusive group (argparse may accept
        # --best-effort with --strict's group, or -v twice) or a `-p=`-style short value
        assert any(t in argv for t in ("-v", "--verbose")) or "--best-effort" in argv \
            or any(t.startswith("-") and not t.startswith("--") and "=" in t for t in argv)


@pytest.mark.parametrize("argv", [
    ["--rx", "/", "--", "/bin/true"],
    ["--rx", "/usr", "--ro", "/etc", "--rw", "/tmp", "--connect-tcp", "443", "--", "ls"],
    ["-p", "/p.aa", "-I", "/inc", "--profile-name", "x", "-q", "--no-cache", "--", "true"],
    ["--net=tcp", "--bind-tcp=8080", "--keep-cap", "CAP_NET_BIND_SERVICE", "--clear-env",
     "--allow-keyring", "--no-status-record", "--inherit-transitions", "--", "true"],
    ["--mode", "learn", "--learn", "/tmp/l", "--lsm", "capability,biba", "--context",
     "biba=low", "--module-option", "a.b=1", "--module-file", "/m.py", "--audit", "/tmp/a",
     "--complain", "--best-effort", "-v", "-v", "--", "true", "--rx", "-p"],
])
def test_plain_forms_take_the_fast_path(argv: list[str]) -> None:
    fast = main._fast_args(["run", *argv])
    assert fast is not None
    assert vars(fast) == _argparse(argv)


@pytest.mark.parametrize("argv", [
    ["--rx", "/"],  # no `--`: argparse (its REMAINDER, the usage error of no command)
    ["--pro", "p", "--", "x"], ["-h"], ["-vq", "--", "x"], ["-v", "-q", "--", "x"],
    ["--strict", "--", "x"], ["--ro", "-x", "--", "y"], ["--connect-tcp", "99999", "--", "x"],
    ["--net", "udp", "--", "x"], ["--ro=", "--", "x"], ["-p=/x", "--", "y"], ["/bin/true"],
    ["--verbose=1", "--", "x"],
])
def test_other_forms_are_left_to_argparse(argv: list[str]) -> None:
    assert main._fast_args(["run", *argv]) is None


def test_only_a_command_with_a_table_takes_it() -> None:
    assert main._fast_args(["explain", "--", "x"]) is None
    assert main._fast_args(["--version"]) is None and main._fast_args([]) is None


def test_the_table_is_what_argparse_builds() -> None:
    """Every option of the run parser comes from the table, with its dest and default."""
    parser = main.build_parser(["run"])
    sub = next(a for a in parser._actions if a.dest == "command").choices["run"]
    built = {a.dest: a.default for a in sub._actions if a.dest != "help"}
    assert built == {o.dest: fast_default for o, fast_default in
                     ((o, fast_parse(_run_args.OPTIONS, ["--"])[o.dest])
                      for o in _run_args.OPTIONS if o.dest != "argv")} | {"argv": None}


def test_an_exclusive_group_is_refused_as_argparse_does() -> None:
    one = Group(exclusive=True)
    table = [Option(("-a",), {"action": "store_true"}, one),
             Option(("-b",), {"action": "store_true"}, one),
             Option(("rest",), {"nargs": "..."})]
    assert fast_parse(table, ["-a", "-a", "--"]) == {"a": True, "b": False, "rest": ["--"]}
    assert fast_parse(table, ["-a", "-b", "--"]) is None


@pytest.mark.parametrize("columns", ["", "15", "16", "17", "80"])
def test_version_is_argparse_own(monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str], columns: str) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    with pytest.raises(SystemExit) as exited:
        main.build_parser([]).parse_args(["--version"])
    assert exited.value.code == 0
    theirs = capsys.readouterr().out
    try:  # where argparse would wrap the line, the fast path leaves it to argparse
        status = main.main(["--version"])
    except SystemExit as exit_:
        status = exit_.code
    assert status == 0
    assert capsys.readouterr().out == theirs


def test_a_plain_run_and_version_do_not_import_argparse() -> None:
    probe = ("import sys; sys.argv = ['stockade', *sys.argv[1:]]; "
             "from stockade.cli.main import main; s = main(); "
             "print(s, 'argparse' in sys.modules, 'gettext' in sys.modules, file=sys.stderr)")
    for args, status in ((["--version"], "0"), (["run", "--rx", "/", "--", "/bin/true"], "0"),
                         (["run", "--rx", "/", "--", "sh", "-c", "exit 7"], "7")):
        out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                             text=True, timeout=120, cwd="/")
        assert out.stderr.split()[-3:] == [status, "False", "False"], out.stderr
    # a form the fast path leaves to argparse still works, and its errors are argparse's
    out = subprocess.run([sys.executable, "-m", "stockade", "run", "--rx", "/", "-vq", "--",
                          "/bin/true"], capture_output=True, text=True, timeout=120, cwd="/")
    assert out.returncode == 125 and "not allowed with" in out.stderr
