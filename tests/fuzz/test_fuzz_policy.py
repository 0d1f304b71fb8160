"""Fuzzing the profile parser and the include resolver (issue 10, "Done when"): random bytes,
random text and mutations of every real profile (/etc/apparmor.d, stockade's data) are parsed,
included, compiled and linted; the only exception allowed out is `PolicyError`, and no case may
take more than a second. A fixed budget of examples keeps `make test` short."""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.policy import Loader, PolicyError, check, compile_profiles, lint

from .corpus import PROFILE_TOKENS, as_text, examples, mutated, profile_seeds

FUZZ = settings(deadline=timedelta(seconds=1), suppress_health_check=list(HealthCheck),
                database=None, max_examples=examples(300))

# One loader for the whole module: the system and bundled includes are parsed once, as in a
# directory `check` (its cache only holds files, which do not change while the tests run).
_LOADER = Loader()


def _compile_text(text: str) -> None:
    """Parse, resolve, compile and lint `text`, and ask each profile something."""
    try:
        pf = _LOADER.load_text(text, "<fuzz>")
        compiled = compile_profiles(pf, loader=_LOADER)
        lint(compiled)
        for prof in compiled:
            for sub in prof.walk():
                sub.file_perms("/etc/passwd")
                sub.file_perms("/tmp/x/", is_dir=True, owner=False)
                sub.rule_counts()
    except PolicyError as err:
        assert str(err) and "\n" not in err.message.strip("\n")


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    _compile_text(as_text(data))


@FUZZ
@given(st.lists(st.sampled_from(PROFILE_TOKENS) | st.text(max_size=3), max_size=60).map("".join))
def test_random_token_soup(text: str) -> None:
    _compile_text(text)


@settings(FUZZ, max_examples=examples(1000))
@given(mutated(profile_seeds(), PROFILE_TOKENS))
def test_mutated_real_profiles(text: str) -> None:
    _compile_text(text)


# -- the include resolver: a small tree of files including each other ------------------------

_INCLUDE_TARGETS = ("a", "b", "c", "d", "sub", "sub/e", "missing", "a/..", "/dev/null",
                    "/dev/zero", "fifo", "link", "../x", "")


@st.composite
def _include_line(draw: st.DrawFn) -> str:
    target = draw(st.sampled_from(_INCLUDE_TARGETS))
    magic = draw(st.booleans())
    keyword = draw(st.sampled_from(("include", "#include", "include if exists")))
    return f"{keyword} <{target}>" if magic else f'{keyword} "{target}"'


@st.composite
def _tree_file(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(
        _include_line(),
        st.sampled_from(("profile p {", "}", "^hat {", "/x r,", "@{V} = /v", "@{V} += /w",
                         "${B} = true", "if ${B} {", "if defined @{V} {", "} else {",
                         "owner @{V}/** rw,", "audit {", "capability chown,", "")),
        mutated(profile_seeds(), PROFILE_TOKENS, max_steps=2).map(lambda t: t[:300]),
    ), max_size=8))
    return "\n".join(parts) + "\n"


@settings(FUZZ, max_examples=examples(300))
@given(files=st.fixed_dictionaries({name: _tree_file() for name in ("a", "b", "c", "d", "sub/e")}),
       top=_tree_file())
def test_include_resolver(files: dict[str, str], top: str) -> None:
    with tempfile.TemporaryDirectory(prefix="stockade-fuzz-") as root:
        os.mkdir(os.path.join(root, "sub"))
        for name, text in files.items():
            with open(os.path.join(root, name), "w", encoding="utf-8",
                      errors="surrogateescape") as f:
                f.write(text)
        os.mkfifo(os.path.join(root, "fifo"))
        os.symlink("a", os.path.join(root, "link"))
        main = os.path.join(root, "main")
        with open(main, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(top)
        loader = Loader([root], system=False)
        with contextlib.suppress(PolicyError):
            compile_profiles(main, loader=loader)
        report = check([root], [root])  # a directory check never stops at one bad file
        assert len(report.files) == len([n for n in os.listdir(root)
                                         if os.path.isfile(os.path.join(root, n))])
