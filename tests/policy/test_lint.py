"""Lint warnings for risky but valid rules."""

from __future__ import annotations

from stockade.policy import lint
from stockade.policy.lint import shell_escape_programs

from .conftest import one


def codes(text: str) -> list[str]:
    return [w.code for w in lint(one(text))]


def test_clean_profile_has_no_warnings() -> None:
    assert codes("profile t {\n /etc/app.conf r,\n /usr/bin/tool px,\n"
                 " capability net_bind_service,\n}\n") == []


def test_write_and_exec() -> None:
    assert codes("profile t {\n /opt/app/** rwix,\n}\n") == ["write-exec"]
    ws = lint(one("profile t {\n /srv/up/** w,\n /srv/up/*.bin px,\n}\n"))
    assert [w.code for w in ws] == ["write-exec"] and ws[0].line == 3


def test_unconfined_exec() -> None:
    assert codes("profile t {\n /usr/bin/x ux,\n}\n") == ["unconfined-exec"]
    assert codes("profile t {\n /usr/bin/x PUx,\n}\n") == ["unconfined-exec"]


def test_broad_writes() -> None:
    assert codes("profile t {\n /** w,\n}\n") == ["broad-write"]
    assert codes("profile t {\n /{**,} rw,\n}\n") == ["broad-write"]
    assert codes("profile t {\n /var/lib/app/** w,\n}\n") == []


def test_dangerous_capabilities() -> None:
    ws = lint(one("profile t {\n capability sys_admin chown,\n capability dac_override,\n"
                  " capability sys_module,\n deny capability sys_ptrace,\n}\n"))
    assert [(w.code, w.line) for w in ws] == [("dangerous-capability", 2),
                                              ("dangerous-capability", 3),
                                              ("dangerous-capability", 4)]


def test_inherit_exec_of_shell_escape_programs() -> None:
    for path in ("/bin/bash", "/usr/bin/python3.11", "/usr/bin/vim", "/usr/bin/find",
                 "/{,usr/}bin/tar", "/usr/bin/*"):
        assert codes(f"profile t {{\n {path} ix,\n}}\n") == ["inherit-escape"], path
    assert codes("profile t {\n /usr/bin/bash px,\n /usr/bin/true ix,\n}\n") == []


def test_shell_escape_list_is_data() -> None:
    names = shell_escape_programs()
    assert {"sh", "bash", "vim", "less", "find", "tar", "awk", "env"} <= set(names)


def test_warnings_cover_hats() -> None:
    ws = lint(one("profile t {\n ^h {\n  /usr/bin/x Ux,\n }\n}\n"))
    assert [(w.code, w.profile) for w in ws] == [("unconfined-exec", "t//h")]


def test_broad_hits_prefilter_matches_every_probe() -> None:
    """broad_hits looks only at probes starting with the literal prefix: on generated
    patterns it counts what each probe's full match counts (and so warns alike)."""
    import random

    from stockade.policy.aare import parse, query_bytes
    from stockade.policy.lint import _BROAD_PROBES, _regex, broad_hits

    pieces = ["/", "//", "etc", "usr", "bin", "sudo", "passwd", "var/lib", "dpkg", "home",
              "user", ".ssh", "srv", "www", "root", "boot", "*", "**", "?", "[a-z]", "[!x]",
              "{etc,usr}", "{,usr/}", "{**,}", "{/,//}", "s*", "e?c", "status", "."]
    rng = random.Random(14)
    patterns = ["/**", "/{**,}", "//**", "/*/**", "/{etc,usr,var,root}/**", "/e**"]
    for _ in range(3000):
        text = "/" + "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        patterns.append(text + rng.choice(["", "/", "/**", "*"]))
    broad = 0
    for text in patterns:
        pattern = parse(text)
        rx = _regex(pattern.regex)
        every = sum(1 for p in _BROAD_PROBES if rx.fullmatch(query_bytes(p)))
        assert broad_hits(pattern, least=0) == every, text
        assert (broad_hits(pattern) >= 3) == (every >= 3), text
        if every >= 3:
            broad += 1
            assert broad_hits(pattern) == every, text
    assert broad > 20  # the generator makes broad patterns too
