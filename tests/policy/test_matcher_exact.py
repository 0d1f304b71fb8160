"""Exact paths are matched by a dict beside the RE2 Set of globs: the same entries, in the
same order, as matching every pattern's own regex."""

from __future__ import annotations

import re2

from stockade.policy import Loader, compile_profiles
from stockade.policy.aare import query_bytes

RULES = [
    "/etc/passwd r,",
    "/etc/pass* w,",
    "owner /etc/{passwd,group} k,",
    "/{usr/,}bin/ls ix,",
    "/{usr/,}bin/{ls,l?} m,",
    "/{a,a}/x r,",
    "deny /etc/passwd w,",
    "/home/caf\u00e9/f r,",
    "/home/*/f w,",
    "/dir/ r,",
    "/dir/** r,",
    "/ r,",
]
PATHS = ["/etc/passwd", "/etc//passwd", "/etc/group", "/etc/passwdx", "/bin/ls", "/usr/bin/ls",
         "/usr/bin/lx", "/a/x", "/home/caf\u00e9/f", "/home/cafe/f", "/dir", "/dir/x", "/",
         "/nothing"]


def _options() -> re2.Options:
    opts = re2.Options()
    opts.encoding = re2.Options.Encoding.LATIN1
    return opts


def test_exact_and_glob_entries_match_like_their_regexes():
    text = "profile t {\n" + "\n".join(f"  {r}" for r in RULES) + "\n}\n"
    (prof,) = compile_profiles(text, loader=Loader(system=False))
    matcher = prof.matcher
    assert matcher._exact and matcher._globs  # both ways are exercised
    compiled = [re2.compile(e.pattern.regex.encode("latin-1"), _options())
                for e in matcher.entries]
    for path in PATHS:
        for is_dir in (False, True):
            query = query_bytes(path, is_dir)
            want = [e for e, rx in zip(matcher.entries, compiled, strict=True)
                    if rx.fullmatch(query)]
            assert matcher.matching(path, is_dir=is_dir) == want, (path, is_dir)
    assert prof.file_perms("/etc//passwd").allow == prof.file_perms("/etc/passwd").allow
    assert prof.file_perms("/usr/bin/ls").exec_mode == "ix"
