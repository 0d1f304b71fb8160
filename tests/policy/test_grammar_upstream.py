"""Accept/reject decisions taken from upstream's grammar, one cause of issue 12 at a time.

Each case cites the upstream source (apparmor/apparmor parser/*) that decides it. Cases the
installed apparmor_parser 3.0.8 also knows are covered by the differential harness too; the
ones here include AppArmor 4.x syntax that 3.0.8 cannot judge.
"""

from __future__ import annotations

import pytest

from stockade.policy import Loader, PolicyError, compile_profiles


def accepts(text: str) -> bool:
    try:
        compile_profiles(text, loader=Loader(system=False, bundled=True))
    except PolicyError:
        return False
    return True


def prof(body: str, pre: str = "") -> str:
    return f"{pre}profile t {{\n  {body}\n}}\n"


# parser_yacc.y `opt_prefix: opt_priority opt_audit_flag opt_rule_mode opt_owner_flag`;
# owner is refused by every rule class's valid_prefix (capability: "owner conditional not
# allowed on capability rules"; network.h, af_unix.h, dbus.h, signal.h, ptrace.h, mount.h,
# userns.h, mqueue.h, io_uring.h, all_rule.h) and only file rules take it (entry_add_prefix).
PREFIX = [
    ("owner /x r,", True), ("user /x r,", True), ("other /x r,", True),
    ("audit deny owner /x r,", True), ("owner link /a -> /b,", True),
    ("owner capability sys_admin,", False), ("owner change_profile -> /bin/foo,", False),
    ("owner all,", False), ("owner network,", False), ("owner unix,", False),
    ("owner signal,", False), ("owner ptrace,", False), ("owner dbus,", False),
    ("owner mount,", False), ("owner userns,", False), ("owner mqueue,", False),
    ("owner io_uring,", False), ("owner { capability chown, }", True),
    ("owner { /x r, }", True), ("deny audit change_profile,", False),
    ("deny audit /x r,", False), ("owner deny /x r,", False), ("owner audit /x r,", False),
    ("audit audit /x r,", False), ("deny allow /x r,", False),
    ("deny { allow /x r, }", False), ("owner { other /x r, }", True),
    ("deny { deny /x w, }", True), ("audit { deny /x w, }", True),
    ("{ /x r, }", True), ("deny file,", False), ("audit set rlimit nofile <= 3,", False),
    ("priority=5 audit deny owner /x r,", True), ("audit priority=5 /x r,", False),
    ("priority=1 { /x r, }", False),
]


@pytest.mark.parametrize(("body", "ok"), PREFIX, ids=[b for b, _ in PREFIX])
def test_prefixes(body: str, ok: bool) -> None:
    assert accepts(prof(body)) is ok


# network.cc: parse_address (inet_pton v4/v6 or "none"), parse_port (N or ordered N-M,
# each <= UINT16_MAX), peer conds only with AA_PEER_NET_PERMS (connect accept send receive),
# move_conditionals (interface=, label=), net_find_mapping (family [type|proto] | type).
NETWORK = [
    ("network ip=192.168.0.1,", True), ("network ip=::1,", True), ("network ip=none,", True),
    ("network ip=192.168.0.1/33,", False), ("network ip=192.168.0.1/24,", False),
    ("network ip=256.1.1.1,", False), ("network ip=fe80::1%eth0,", False),
    ("network port=443,", True), ("network port=80-443,", True), ("network port=443-80,", False),
    ("network port=65535,", True), ("network port=65536,", False), ("network port=-1,", False),
    ("network peer=(port=65536),", False), ("network peer=(ip=10.0.0.1 port=53),", True),
    ("network connect peer=(ip=127.0.0.1),", True), ("network (send receive) peer=(port=1),", True),
    ("network bind peer=(ip=127.0.0.1),", False), ("network listen peer=(port=1),", False),
    ("network (connect create) peer=(port=1),", False), ("network bind ip=127.0.0.1 port=80,", True),
    ("network send interface=\"local*\",", True), ("network interface=eth0,", True),
    ("network peer=(interface=eth0),", False), ("network label=foo,", True),
    ("network unspec,", True), ("network local,", False), ("network inet stream tcp,", False),
    ("network inet tcp,", True), ("network inet6 icmp,", False), ("network tcp,", True),
    ("network netlink ip=1.2.3.4,", False), ("network inet ip=1.2.3.4,", True),
    ("network ip=1.2.3.4 ip=1.2.3.5,", False), ("network (send) inet,", True),
    ("network (create, bind),", True), ("network inet6 raw icmpv6,", False),
]
# af_rule.cc supported_conds and af_unix.cc: label only in the peer, protocol unsupported,
# type single-valued; peer conds only with peer accesses.
UNIX = [
    ("unix (connect) peer=(label=foo),", True), ("unix listen peer=(label=x),", False),
    ("unix bind peer=(addr=@x),", False), ("unix (send) peer=(addr=@x label=y),", True),
    ("unix label=foo,", False), ("unix protocol=0,", False), ("unix type=(stream dgram),", False),
    ("unix type=stream type=dgram,", False), ("unix type=bogus,", False),
    ("unix peer=(label=a label=b),", False), ("unix addr=@a,", True),
]
# mount.cc: mnt_opts_table, conflicting_flags(), gen_flag_rules() for propagation flags;
# parser_yacc.y mnt_rule (conditionals before the paths).
MOUNT = [
    ("mount options=(rw, ro) -> /foo,", False), ("mount options=(XXX) -> /foo,", False),
    ("mount options=(private) /a -> /b,", False), ("mount options=(private) -> /b,", True),
    ("mount options=(rshared) /x,", True), ("mount options=(ro, nosuid) /a -> /b,", True),
    ("mount options in (ro, rw) /a -> /b,", True), ("mount option=ro /a -> /b,", True),
    ("mount /a -> options=(ro) /b,", False), ("mount options=(ro) options=(rw) /a,", True),
    ("mount options=(shared) fstype=ext4 -> /x,", False), ("remount options=(bogus) /x,", False),
    ("unmount /mnt/,", True),
]
# signal.cc (rtmin+N, N a number up to 32), ptrace grammar (write = trace), dbus.cc (the
# bus name and the peer name share one field), parser_misc.c move_conditional_value.
OTHER = [
    ("signal set=rtmin+001,", True), ("signal set=rtmin+33,", False),
    ("signal peer=a peer=b,", False), ("signal set=(int) set=(hup),", True),
    ("ptrace write,", True), ("ptrace peer=a peer=b,", False),
    ("dbus name=x peer=(name=y),", False), ("dbus bus=a bus=b,", False),
    ("pivot_root oldroot=/a oldroot=/b /c,", True),
]


@pytest.mark.parametrize(("body", "ok"), NETWORK + UNIX + MOUNT + OTHER,
                         ids=[b for b, _ in NETWORK + UNIX + MOUNT + OTHER])
def test_network_unix_mount_and_peers(body: str, ok: bool) -> None:
    assert accepts(prof(body)) is ok


# parser_lex.l BOOL_VARIABLE `$(\{NAME\}|NAME)`, SET_VARIABLE `@(\{NAME\}|NAME)`, NAME
# `[[:alpha:]][[:alnum:]_]*`, ASSIGNMENTS `= += ?= :=`; parser_yacc.y varassign
# (`?=` keeps an earlier value, `:=` replaces it, += on a boolean is an error) and the
# 4.x condition grammar (expr: and/or/not/parentheses); ASSIGN_MODE `\\\n` continues a line.
VARIABLES = [
    ("$FOO=true\n", "if $FOO { /foo r, }", True),
    ("${FOO} = TRUE\n", "if $FOO { /foo r, }", True),
    ("$FOO = true\n", "if defined $FOO { /foo r, }", True),
    ("${A} = true\n${B} = false\n", "if ${A} and not ${B} { /foo r, }", True),
    ("${A} = true\n${B} = false\n", "if ${A} or ${B} { /foo r, }", True),
    ("${A} = true\n", "if (${A}) { /foo r, }", True),
    ("${A} += true\n", "/foo r,", False),
    ("${A} = true,\n", "/foo r,", False),
    ("@{FOO} = /a\n@{FOO} ?= /b\n", "@{FOO} r,", True),
    ("@{FOO} ?= /b\n", "@{FOO} r,", True),
    ("@{FOO} = /a\n@{FOO} := /b\n", "@{FOO} r,", True),
    ("@{FOO} = /a\n@{FOO} = /b\n", "@{FOO} r,", False),
    ("@{FOO} = /a \\\n  /b\n", "@{FOO} r,", True),
    ("@{FOO} = /a,\n", "@{FOO} r,", False),
    ("@FOO = /a\n", "@{FOO} r,", True),
    ("@{_FOO} = /a\n", "/x r,", False),
    ("@{1FOO} = /a\n", "/x r,", False),
    ("@{F_1} = /a\n", "@{F_1} r,", True),
    ("", "@{_FOO} r,", False),
    ("@{FOO} = /a\n", "@{FOO}/=/x r,", True),
    ("", "/foo,bar r,", True),
]


@pytest.mark.parametrize(("pre", "body", "ok"), VARIABLES,
                         ids=[p + b for p, b, _ in VARIABLES])
def test_variables_and_booleans(pre: str, body: str, ok: bool) -> None:
    assert accepts(prof(body, pre)) is ok


def test_auto_variables_follow_the_attachment() -> None:
    # parser_variable.c process_profile_variables: @{attach_path} and @{exec_path} are the
    # attachment, defined only for a profile that has one
    (p,) = compile_profiles("profile t /usr/bin/t {\n  @{exec_path} rix,\n  "
                            "@{attach_path}.conf r,\n}\n", loader=Loader(system=False))
    assert p.file_perms("/usr/bin/t").exec_mode == "ix"
    assert p.file_perms("/usr/bin/t.conf").allows(1)
    assert not accepts("profile t {\n  @{exec_path} r,\n}\n")


def test_include_and_abi_forms(tmp_path, monkeypatch) -> None:
    # parser_lex.l INCLUDE: <x>, <"x y">, "x", bare x (a path, opened as given);
    # a directory includes its files; parser_yacc.y abi_features_base: the abi file must
    # exist and be a regular file
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "x.include").write_text("/from/x r,\n")
    (tmp_path / "a b").mkdir()
    (tmp_path / "a b" / "c").write_text("/from/c r,\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "one").write_text("/one r,\n")
    (tmp_path / "dir" / "two").write_text("/two r,\n")
    (tmp_path / "abi").mkdir()
    (tmp_path / "abi" / "4.0").write_text("features {\n}\n")
    monkeypatch.chdir(tmp_path)

    def ok(text: str) -> bool:
        try:
            compile_profiles(text, loader=Loader([str(tmp_path)], system=False))
        except PolicyError:
            return False
        return True

    assert ok(prof("include inc/x.include"))
    assert ok(prof('include <"a b/c">'))
    assert ok(prof("include <dir>"))
    assert ok("abi <abi/4.0>,\n" + prof("/x r,"))
    assert not ok("abi <abi/4.19>,\n" + prof("/x r,"))
    assert not ok("abi <abi>,\n" + prof("/x r,"))
    assert not ok("abi <>,\n" + prof("/x r,"))
    assert not ok(prof("include <inc/missing>"))


# profile.h flagvals::init/merge (flags, conflicts, error= errno names, kill.signal=),
# parser_yacc.y profile_base (name [attachment] [xattrs=(...)] [+ identities=(...)]
# [flags=(...) | (...)]; flagvals needs one value), hat (no xattrs), add_to_list /
# add_hat_to_policy (duplicate names).
HEADERS = [
    ("profile t flags=()", False), ("profile t flags=(complain)", True),
    ("/p (complain)", True), ("profile t flags=complain", False),
    ("profile t flags=(attach_disconnected, no_attach_disconnected)", False),
    ("profile t flags=(attach_disconnected.ipc, no_attach_disconnected)", False),
    ("profile t flags=(attach_disconnected.ipc)", True),
    ("profile t flags=(attach_disconnected.ipc=/run)", True),
    ("profile t flags=(attach_disconnected.path=x)", False),
    ("profile t flags=(chroot_relative, namespace_relative)", False),
    ("profile t flags=(mediate_deleted, delegate_deleted)", False),
    ("profile t flags=(chroot_attach, chroot_no_attach)", False),
    ("profile t flags=(kill, complain)", False), ("profile t flags=(complain, complain)", True),
    ("profile t flags=(error=EPERM)", True), ("profile t flags=(error=eacces)", True),
    ("profile t flags=(error=EBOGUS)", False), ("profile t flags=(error=-1)", False),
    ("profile t flags=(error=EPERM, error=EACCES)", False),
    ("profile t flags=(kill.signal=hup)", True), ("profile t flags=(kill.signal=bogus)", False),
    ("profile t flags=(debug)", True), ("profile t flags=(interruptible)", True),
    ("profile t flags=(prompt)", True), ("profile t flags=(default_allow)", True),
    ("profile t xattrs=(value)", True), ("profile t /x xattrs=(a=b) flags=(complain)", True),
    ("profile t /x flags=(complain) xattrs=(a=b)", False),
    ("profile t + identities=(foo)", True), ("profile t + identities=(\"a b\")", False),
    ("profile t xattrs=(a=b) + identities=(foo) flags=(audit)", True),
]


@pytest.mark.parametrize(("header", "ok"), HEADERS, ids=[h for h, _ in HEADERS])
def test_profile_headers(header: str, ok: bool) -> None:
    assert accepts(f"{header} {{\n  /x r,\n}}\n") is ok


PROFILES = [
    ("profile t {\n  profile kid {\n  }\n  profile kid {\n  }\n}\n", False),
    ("profile t {\n  ^hat {\n  }\n  ^hat {\n  }\n}\n", False),
    ("profile t {\n  ^hat {\n  }\n  hat hat {\n  }\n}\n", False),
    ("profile t {\n}\nprofile t {\n}\n", False),
    ("profile t {\n}\nprofile u {\n}\n", True),
    ("profile t {\n  ^h xattrs=(a=b) {\n  }\n}\n", False),
    ("profile t {\n  ^h /x {\n  }\n}\n", True),
    ("rewrite /a -> /b,\nprofile t {\n}\n", True),
]


@pytest.mark.parametrize(("text", "ok"), PROFILES)
def test_profiles_hats_and_names(text: str, ok: bool) -> None:
    assert accepts(text) is ok


# parser_lex.l MODE_CHARS (no upper-case A or K), parser_misc.c parse_sub_perms
# (IS_DIFF_QUAL: a repeated identical exec mode is fine), parser_yacc.y frule (`subset`
# only with link perms; link and exec with -> conflict in the mode-first form; a plain x
# with a named transition), file_rule_tail (`safe`/`unsafe` need exec perms), the rlimit
# rule (units per resource) and change_profile (exec path starts with / or a variable).
FILE_AND_OTHER = [
    ("/bin/cat pxpx,", True), ("/bin/cat ixix,", True), ("/bin/cat pxix,", False),
    ("/bin/cat Pxpx,", False), ("/x K,", False), ("/x A,", False), ("/x R,", True),
    ("/x rk,", True), ("unsafe px /foo,", True), ("safe /foo px,", True),
    ("unsafe /x r,", False), ("lpx /foo -> t,", False), ("/foo lpx -> t,", True),
    ("l subset /a -> /b,", True), ("r subset /a -> /b,", False), ("/x x -> kid,", True),
    ("x /x -> kid,", True), ("/x x,", False), ("/x r -> kid,", True),
    ("/[!a]x r,", False), ('"/[!a]x" r,', True), ("/a\\!b r,", True),
    ("set rlimit rttime <= 60m,", False), ("set rlimit rttime <= 60ms,", True),
    ("set rlimit cpu <= 500ms,", False), ("set rlimit cpu <= 2minutes,", True),
    ("set rlimit memlock <= 64 KB,", True), ("set rlimit as <= 1G,", True),
    ("set rlimit core <= 1b,", False), ("set rlimit nproc <= 10K,", False),
    ("set rlimit nice <= 25,", False), ("set rlimit nice <= -20,", True),
    ("set rlimit nofile <= -1,", False), ("rlimit nofile <= 3,", False),
    ("change_profile bin/foo,", False), ("change_profile /usr/bin/x -> y,", True),
]


@pytest.mark.parametrize(("body", "ok"), FILE_AND_OTHER, ids=[b for b, _ in FILE_AND_OTHER])
def test_file_modes_rlimits_change_profile(body: str, ok: bool) -> None:
    assert accepts(prof(body)) is ok


# 4.x rule classes and the `in` keyword: userns (USERNS_MODE: `create` only), mqueue.cc
# (validate_qname, type=, no `in`), io_uring (sqpoll, override_creds, label=), all_rule.h,
# the rule classes' "keyword 'in' is not allowed" (dbus.cc, signal.cc, af_rule.cc), dbus.cc
# single-valued conditionals, and `peer=(` being a conditional group (parser_lex.l) that
# signal and ptrace rules do not take.
NEWER = [
    ("userns,", True), ("userns create,", True), ("userns (create),", False),
    ("userns bogus,", False), ("userns label=x,", False),
    ("mqueue,", True), ("mqueue /q,", True), ("mqueue 1234,", True), ("mqueue q,", False),
    ("mqueue type=sysv /q,", False), ("mqueue type=posix 12,", False),
    ("mqueue type=bogus,", False), ("mqueue (read write) type=posix label=x /q,", True),
    ("mqueue type in (posix),", False),
    ("io_uring,", True), ("io_uring sqpoll,", True), ("io_uring (sqpoll override_creds),", True),
    ("io_uring override_creds label=foo,", True), ("io_uring bogus=x,", False),
    ("all,", True), ("all x,", False), ("deny all,", True), ("audit all,", True),
    ("priority=1 all,", False), ("io_uring (sqpoll bogus),", True),
    ("priority=-5 /x r,", True), ("priority=1001 /x r,", False), ("prompt /x r,", True),
    ("prompt /x px -> y,", True), ("audit prompt owner /x w,", True), ("prompt deny /x r,", False),
    ("prompt capability chown,", True), ("deny prompt /x r,", False),
    ("signal set in (hup),", False), ("dbus bus in (system),", False),
    ("dbus bus=(system session),", False), ("unix type in (stream),", False),
    ("mount options in (ro) -> /x,", True), ("pivot_root oldroot in (/a) /b,", True),
    ("signal peer=(a),", False), ("ptrace peer=(a),", False), ("signal set=(tstp poll),", True),
    ("signal set=(lost),", False),
]


@pytest.mark.parametrize(("body", "ok"), NEWER, ids=[b for b, _ in NEWER])
def test_newer_rule_classes_and_in(body: str, ok: bool) -> None:
    assert accepts(prof(body)) is ok


def test_child_profiles_need_the_keyword() -> None:
    # parser_yacc.y: `rules: rules local_profile` (TOK_PROFILE) and `rules hat`; a bare
    # path header is a top-level profile only
    assert not accepts("profile t {\n  /usr/bin/kid {\n  }\n}\n")
    assert accepts("profile t {\n  profile /usr/bin/kid {\n  }\n}\n")


def test_reincluded_file_is_skipped_in_its_scope(tmp_path) -> None:
    # parser_lex.l include_filename/search_path: a file already in the scope's include
    # cache (the top level, or one profile) is skipped, so its variables are not redeclared
    (tmp_path / "vars").write_text("@{V} = /v\n")
    (tmp_path / "rules").write_text("/r r,\n")
    text = ("include <vars>\ninclude <vars>\nprofile t {\n  include <rules>\n"
            "  include <rules>\n  @{V} r,\n}\nprofile u {\n  include <rules>\n}\n")
    t, u = compile_profiles(text, loader=Loader([str(tmp_path)], system=False))
    assert t.file_perms("/v").allows(1) and t.file_perms("/r").allows(1)
    assert u.file_perms("/r").allows(1)


# parser_lex.l: a '{' starting a token opens a block except where a value is lexed (after
# '=', after '->', in an assignment); inside a name it belongs to the name. af_unix.cc:
# addr is @abstract, none or auto. parser_misc.c _parse_label for change_profile targets.
# LIST_COND_MODE: a parenthesised conditional value inside peer=( ) or xattrs=( ) holds one.
LEXING = [
    ("profile t {/x r,}\n", True), ("profile t{\n  /x r,\n}\n", False),
    (prof("dbus send member={a,b},"), True), (prof("change_profile -> {a,b},"), True),
    ("@{A} = {a,b} /c\n" + prof("/x/@{A} r,"), True),
    (prof("unix (bind) addr=/tmp/sock,"), False), (prof("unix (bind) addr=@sock,"), True),
    (prof("unix (connect) peer=(addr=auto),"), True),
    (prof("change_profile -> ::x,"), False), (prof("change_profile -> :ns,"), False),
    (prof("change_profile -> :ns:x,"), True), (prof("change_profile -> :ns://x,"), True),
    ("profile t xattrs=(a=(b c)) {\n}\n", False), ("profile t xattrs=(a=(b)) {\n}\n", True),
    (prof("unix (send) peer=(label=(a b)),"), False),
    (prof("unix (send) peer=(label=(a)),"), True),
]


@pytest.mark.parametrize(("text", "ok"), LEXING)
def test_lexing_corners(text: str, ok: bool) -> None:
    assert accepts(text) is ok


# dbus.cc dbus_rule(): a service rule (name=) and a message rule (path, interface, member,
# peer) exclude each other; bind needs a service rule, send/receive a message rule,
# eavesdrop only a bus; label only inside peer=( ). The (r|w|rw|wr) modes (parser_lex.l);
# `peer=` without parentheses is no dbus/unix/network conditional; `key=()` is empty.
DBUS_AND_MORE = [
    ("dbus bind bus=session name=org.x,", True),
    ("dbus bind bus=session name=org.x peer=(label=y),", False),
    ("dbus send name=org.x,", False), ("dbus send peer=(name=org.x),", True),
    ("dbus eavesdrop bus=session,", True), ("dbus eavesdrop bus=session path=/x,", False),
    ("dbus label=x,", False), ("dbus path=/a peer=(path=/b),", False),
    ("dbus wr,", True), ("signal wr,", True), ("ptrace wr,", True),
    ("dbus peer=label,", False), ("unix peer=label,", False), ("signal set=(),", False),
    ("capability \"chown\",", False), ("network \"inet\",", True),
]


@pytest.mark.parametrize(("body", "ok"), DBUS_AND_MORE, ids=[b for b, _ in DBUS_AND_MORE])
def test_dbus_modes_and_groups(body: str, ok: bool) -> None:
    assert accepts(prof(body)) is ok


def test_signal_names_are_canonical() -> None:
    # signal.cc maps tstp to SIGTSTP (the kernel's "stp"), poll to SIGIO and reads rtmin+N
    # as a number, so the rule holds the names the kernel reports
    (p,) = compile_profiles(prof("signal set=(tstp poll rtmin+007),"),
                            loader=Loader(system=False))
    assert p.rules[0].signals == ("stp", "io", "rtmin+7")


def test_profile_keyword_and_name_share_a_line() -> None:
    assert not accepts("profile t {\n  hat\n  h {\n  }\n}\n")
    assert accepts('profile t {\n  ^"hat x" {\n  }\n}\n')


# parser_yacc.y factor (comparisons, a bare true/false, boolean values that are
# conditions) and cond_expr.cc (sets: `in` is a subset test, == and != set equality;
# orderings compare two numbers or two sets, not one with the other).
COMPARISONS = [
    ("@{A} = a b\n", "if @{A} == a { /x r, }", True),
    ("@{A} = a b\n", "if a in @{A} { /x r, }", True),
    ("@{A} = a b\n", "if @{A} in a { /x r, }", True),
    ("@{A} = a\n", "if @{A} != b { /x r, }", True),
    ("", "if 5 > 3 { /x r, }", True), ("", "if 0x10 >= 16 { /x r, }", True),
    ("", "if 5 > a { /x r, }", False), ("", "if true { /x r, }", True),
    ("", "if maybe { /x r, }", False), ("", "if @{NOPE} == a { /x r, }", False),
    ("${A} = true and false\n", "if ${A} { /x r, }", True),
    ("${A} = true\n${B} = ${A}\n", "if ${B} { /x r, }", True),
    ("${A} = ${NOPE}\n", "/x r,", False),
]


@pytest.mark.parametrize(("pre", "body", "ok"), COMPARISONS,
                         ids=[p + b for p, b, _ in COMPARISONS])
def test_condition_comparisons(pre: str, body: str, ok: bool) -> None:
    assert accepts(prof(body, pre)) is ok


def test_comparisons_decide_the_branch() -> None:
    text = ("@{A} = a b\n${B} = @{A} == a\nprofile t {\n  if ${B} {\n    /b r,\n  }\n"
            "  if a in @{A} {\n    /in r,\n  }\n  if 5 < 3 {\n    /lt r,\n  }\n}\n")
    (p,) = compile_profiles(text, loader=Loader(system=False))
    assert [r.text for r in p.rules] == ["/in r,"]


def test_block_prefixes_reach_file_rules_only() -> None:
    # parser_yacc.y `rules opt_prefix block` applies entry_add_prefix to the file rules in
    # the block: `owner { other /y r, }` is no error and grants nothing (owner masks the
    # other permissions away); a rlimit in a block is no error either
    (p,) = compile_profiles(prof("owner {\n    other /y r,\n  }\n  audit {\n"
                                 "    set rlimit nofile <= 3,\n  }"),
                            loader=Loader(system=False))
    assert not p.file_perms("/y", owner=True).allows(1)
    assert not p.file_perms("/y", owner=False).allows(1)


# parser_lex.l QPATHNAME (\"(\/|{SET_VAR_PREFIX})...\"): a quoted path in a file rule starts
# with '/' or a variable; anything else is a lexer error in state INITIAL (checked against
# apparmor_parser 3.0.8: `"{/a,/b}/x" r,`, `r "{/a}",`, `file "{/a}" r,`, `"foo" r,`).
@pytest.mark.parametrize(("body", "ok"), [
    ('"{/a,/b}/x" r,', False), ('r "{/a,/b}/x",', False), ('file "{/a,/b}/x" r,', False),
    ('owner "{/a,/b}/x" r,', False), ('"foo" r,', False), ('"/a b/x" r,', True),
    ('"@{HOME}/x" r,', True), ('/x rPx -> "{a}",', True),
])
def test_quoted_file_paths_start_with_a_slash_or_variable(body: str, ok: bool) -> None:
    text = "@{HOME}=/home\nprofile t {\n  " + body + "\n}\n"
    assert accepts(text) is ok
