"""Exact paths are matched by a dict beside the RE2 Set of globs: the same entries, in the
same order, as matching every pattern's own regex."""

from __future__ import annotations

import re2

from stockade.policy import Loader, compile_profiles
from stockade.policy.aare import query_bytes
from stockade.policy.matcher import FileMatcher

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
    "/** w,",
    "//dir/** m,",
    "/dir/x/** k,",
    "owner /dir/** w,",
]
PATHS = ["/etc/passwd", "/etc//passwd", "/etc/group", "/etc/passwdx", "/bin/ls", "/usr/bin/ls",
         "/usr/bin/lx", "/a/x", "/home/caf\u00e9/f", "/home/cafe/f", "/dir", "/dir/x", "/",
         "/nothing", "/dir/x", "/dir/x/", "/dir/x/y", "/dir//x/y", "/dir/\n", "//dir/a"]


def _options() -> re2.Options:
    opts = re2.Options()
    opts.encoding = re2.Options.Encoding.LATIN1
    return opts


def _assert_like_regexes(matcher: FileMatcher, paths: list[str]) -> None:
    """Each path (as a file and as a directory) gets the entries whose own regex matches it,
    in entry order."""
    compiled = [re2.compile(e.pattern.regex.encode("latin-1"), _options())
                for e in matcher.entries]
    for path in paths:
        for is_dir in (False, True):
            query = query_bytes(path, is_dir)
            want = [e for e, rx in zip(matcher.entries, compiled, strict=True)
                    if rx.fullmatch(query)]
            assert matcher.matching(path, is_dir=is_dir) == want, (path, is_dir)


def test_exact_and_glob_entries_match_like_their_regexes():
    text = "profile t {\n" + "\n".join(f"  {r}" for r in RULES) + "\n}\n"
    (prof,) = compile_profiles(text, loader=Loader(system=False))
    assert not prof.matcher._trees  # few trees: they stay in the Set
    matcher = FileMatcher(prof.file_entries, trees_from=0)
    assert matcher._exact and matcher._globs and matcher._trees  # every way is exercised
    _assert_like_regexes(matcher, PATHS)
    for path in PATHS:  # the same results with the trees in the Set
        assert prof.matcher.matching(path) == matcher.matching(path)
    assert prof.file_perms("/etc//passwd").allow == prof.file_perms("/etc/passwd").allow
    assert prof.file_perms("/usr/bin/ls").exec_mode == "ix"


def test_generated_patterns_match_like_their_regexes():
    """Exact paths, whole trees (`DIR/**`) and other globs, each answered its own way, give
    what each entry's own regex says, in entry order."""
    import random

    rng = random.Random(21)
    words = ["a", "b", "c\u00e9", "**", "*", "?", "{a,b}", "[ab]", "", "x/"]
    rules = []
    for _ in range(300):
        parts = [rng.choice(words) for _ in range(rng.randint(1, 4))]
        tail = rng.choice(["", "/", "/**", "/**/", "**"])
        rules.append(f"{'deny ' if rng.random() < 0.1 else ''}/{'/'.join(parts)}{tail} "
                     f"{rng.choice(['r', 'w', 'm', 'k'])},")
    text = "profile t {\n" + "\n".join(f"  {r}" for r in rules) + "\n}\n"
    (prof,) = compile_profiles(text, loader=Loader(system=False))
    matcher = FileMatcher(prof.file_entries, trees_from=0)
    assert matcher._exact and matcher._globs and len(matcher._trees) > 10
    _assert_like_regexes(matcher, ["/" + "/".join(rng.choice(["a", "b", "c\u00e9", "x", "", "ab"])
                                                  for _ in range(rng.randint(0, 5)))
                                   for _ in range(1500)])


def test_directory_globs_match_like_their_regexes():
    """Globs whose matches all lie directly in one literal directory (`/a/b*`, `/a/[^x]?`),
    asked only among their directory's globs (dirs_from=0: always), give what each entry's
    own regex says; globs that can match a `/` after their literal directory (`/a/{b,c/d}*`,
    `/a/[^x]` when a negated class takes `/`, `/a/**`) stay in the big Set."""
    import random

    from stockade.policy.matcher import dir_split

    rng = random.Random(5)
    words = ["a", "b", "c\u00e9", "*", "?", "{a,b}", "{a,b/c}", "[ab]", "[^a]", "[a-z]",
             "[.-0]", "**", "", "x/"]
    rules = []
    for _ in range(400):
        head = "/".join(rng.choice(["a", "b", "c\u00e9", "ab"]) for _ in range(rng.randint(0, 2)))
        last = "".join(rng.choice(words) for _ in range(rng.randint(1, 3)))
        tail = rng.choice(["", "", "/"])
        rules.append(f"{'deny ' if rng.random() < 0.1 else ''}/{head}{'/' if head else ''}"
                     f"{last}{tail} {rng.choice(['r', 'w', 'm', 'k'])},")
    text = "profile t {\n" + "\n".join(f"  {r}" for r in rules) + "\n}\n"
    (prof,) = compile_profiles(text, loader=Loader(system=False))
    matcher = FileMatcher(prof.file_entries, dirs_from=0)
    assert len(matcher._dirs) > 5 and matcher._globs  # both ways are exercised
    assert any(len(v) > 16 for v in matcher._dirs.values())  # and both kinds of directory
    names = ["a", "b", "c\u00e9", "x", "", "ab", "a.b", "-/", "ba"]
    _assert_like_regexes(matcher, ["/" + "/".join(rng.choice(names)
                                                  for _ in range(rng.randint(0, 4)))
                                   for _ in range(3000)])
    assert matcher._dir_sets  # some directories were asked through their own Set
    (one,) = compile_profiles("profile t { /a/{b,c/d}* r, /a/b* r, /a/** r, }",
                              loader=Loader(system=False))
    splits = [dir_split(e.pattern) for e in one.file_entries]
    assert splits == [None, (b"/a/", b"b"), None]
