"""Permission merging: allow minus deny, owner/other, audit/quiet, exec modes and conflicts."""

from __future__ import annotations

import pytest

from stockade.policy import PolicyError, compile_profiles
from stockade.policy.modes import Perm

from .conftest import compile_text, one

R, W, A, X, M, K, L = Perm.READ, Perm.WRITE, Perm.APPEND, Perm.EXEC, Perm.MMAP, Perm.LOCK, \
    Perm.LINK


def test_union_of_allows_minus_denies() -> None:
    p = one("profile t {\n /etc/** r,\n /etc/app/** w,\n deny /etc/app/secret rw,\n}\n")
    assert p.file_perms("/etc/app/conf").allow == R | W | A
    fp = p.file_perms("/etc/app/secret")
    assert fp.allow == Perm.NONE and fp.deny == R | W | A
    assert fp.quiet == R | W | A  # deny without audit is quiet
    assert len(fp.rules) == 3
    assert p.file_perms("/etc/other").allow == R
    assert p.file_perms("/var/x").allow == Perm.NONE


def test_audit_masks() -> None:
    p = one("profile t {\n audit /a rw,\n audit deny /b w,\n /b r,\n}\n")
    assert p.file_perms("/a").audit == R | W | A
    fp = p.file_perms("/b")
    assert fp.audit == W | A and fp.quiet == Perm.NONE and fp.allow == R


def test_owner_and_other() -> None:
    p = one("profile t {\n owner /home/** rw,\n other /srv/** r,\n /pub/** r,\n}\n")
    assert p.file_perms("/home/u/f", owner=True).allow == R | W | A
    assert p.file_perms("/home/u/f", owner=False).allow == Perm.NONE
    assert p.file_perms("/srv/f", owner=True).allow == Perm.NONE
    assert p.file_perms("/srv/f", owner=False).allow == R
    assert p.file_perms("/pub/f", owner=False).allow == R


def test_owner_block() -> None:
    p = one("profile t {\n owner {\n  /x r,\n  audit /y w,\n }\n}\n")
    assert p.file_perms("/x", owner=False).allow == Perm.NONE
    assert p.file_perms("/y", owner=True).audit == W | A


def test_exec_mode_and_target() -> None:
    p = one("profile t {\n /usr/bin/* rix,\n /usr/bin/special Px -> other,\n}\n")
    fp = p.file_perms("/usr/bin/ls")
    assert fp.exec_mode == "ix" and fp.allows(R | X)
    fp = p.file_perms("/usr/bin/special")
    assert fp.exec_mode == "Px" and fp.exec_target == "other"  # exact path beats the glob


def test_deny_x_removes_exec() -> None:
    p = one("profile t {\n /usr/bin/* ix,\n deny /usr/bin/su x,\n}\n")
    fp = p.file_perms("/usr/bin/su")
    assert not fp.allows(X) and fp.exec_mode is None


@pytest.mark.parametrize("rules", [
    "/a/* px,\n /a/b* ix,",
    "/a/* px -> x,\n /a/b* px -> y,",
    "/a/b px,\n /a/b ix,",
    "/a/{b,c} px,\n /a/c cx,",
])
def test_conflicting_x_modifiers_are_errors(rules: str) -> None:
    with pytest.raises(PolicyError, match="conflicting x modifiers") as info:
        compile_text(f"profile t {{\n {rules}\n}}\n")
    assert info.value.line == 3


@pytest.mark.parametrize("rules", [
    "/a/b px,\n /a/* ix,",          # exact beats glob: no conflict
    "/a/* px,\n /b/* ix,",          # no overlap
    "owner /a/* px,\n other /a/* ix,",
    "/a/* px,\n /a/b* px,",         # same mode
])
def test_non_conflicting_x(rules: str) -> None:
    compile_text(f"profile t {{\n {rules}\n}}\n")


def test_priority() -> None:
    p = one("profile t {\n priority=1 /x r,\n deny /x r,\n /y r,\n}\n")
    assert p.file_perms("/x").allow == R
    assert p.file_perms("/y").allow == R


def test_capabilities() -> None:
    p = one("profile t {\n capability chown setuid,\n deny capability setuid,\n"
            " audit capability kill,\n}\n")
    caps = p.capabilities
    assert caps.effective == {"chown", "kill"}
    assert caps.deny == {"setuid"} and caps.audit == {"kill"} and "setuid" in caps.quiet
    assert len(one("profile t {\n capability,\n}\n").capabilities.effective) == 41


def test_variables_aliases_and_conditionals() -> None:
    p = one("@{D} = /srv/a /srv/b\n@{D} += /srv/c\n${ON} = false\nalias /srv/ -> /data/,\n"
            "profile t {\n @{D}/** r,\n if ${ON} {\n  /on r,\n } else {\n  /off r,\n }\n}\n")
    for path in ("/srv/a/x", "/srv/b/x", "/srv/c/x", "/data/a/x", "/off"):
        assert p.file_perms(path).allow == R, path
    assert p.file_perms("/on").allow == Perm.NONE


def test_home_tunable_trailing_slash_folds() -> None:
    p = one("include <tunables/global>\nprofile t {\n owner @{HOME}/.cfg rw,\n"
            " @{PROC}/@{pid}/stat r,\n}\n")
    assert p.file_perms("/home/alice/.cfg").allow == R | W | A
    assert p.file_perms("/root/.cfg").allow == R | W | A
    assert p.file_perms("/proc/1234/stat").allow == R
    assert p.file_perms("/proc/self/stat").allow == Perm.NONE


def test_children_hats_and_typed_rules() -> None:
    (p,) = compile_text(
        "profile parent /usr/bin/p flags=(complain) {\n network inet stream,\n"
        " signal send set=(term) peer=parent//worker,\n set rlimit nofile <= 64,\n"
        " ^worker {\n  /w r,\n }\n profile child {\n  /c r,\n }\n}\n")
    assert p.mode == "complain" and p.attachment == "/usr/bin/p"
    assert [c.name for c in p.children] == ["parent//worker", "parent//child"]
    assert [h.local_name for h in p.hats] == ["worker"]
    assert p.children[0].file_perms("/w").allow == R
    assert p.file_perms("/w").allow == Perm.NONE
    assert p.network[0].family == "inet" and p.network[0].pos.line == 2
    assert p.signal[0].peer == "parent//worker"
    assert p.rlimit[0].value == "64"
    assert [r.kind for r in p.rules] == ["network", "signal", "rlimit"]


def test_profile_name_variable_and_includes_of_bundled_abstractions() -> None:
    (p,) = compile_profiles("include <tunables/global>\nprofile svc {\n"
                            " include <abstractions/base>\n"
                            " include <abstractions/nameservice>\n}\n",
                            include_dirs=[])
    assert p.file_perms("/etc/ld.so.cache").allows(R)
    assert p.file_perms("/etc/hosts").allows(R)
    assert any(r.kind == "signal" and r.peer == "svc" for r in p.rules)


def test_rules_carry_source_positions() -> None:
    p = one("profile t {\n\n   /etc/hostname r,\n}\n")
    (rule,) = p.file_perms("/etc/hostname").rules
    assert (rule.pos.line, rule.pos.col) == (3, 4) and rule.text == "/etc/hostname r,"
