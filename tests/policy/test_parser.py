"""Parser unit tests: every statement and rule kind of apparmor.d(5) becomes the right node."""

from __future__ import annotations

import pytest

from stockade.policy import ast
from stockade.policy.modes import Perm
from stockade.policy.parser import parse_text


def body(text: str) -> list[ast.Node]:
    (prof,) = parse_text("profile t {\n" + text + "\n}\n", "t.prof")
    assert isinstance(prof, ast.Profile)
    return prof.body


def rule(text: str) -> ast.Rule:
    (r,) = body(text)
    assert isinstance(r, ast.Rule)
    return r


def test_preamble_statements() -> None:
    nodes = parse_text(
        'abi <abi/3.0>,\n'
        'include <tunables/global>\n'
        '#include "/etc/x"\n'
        'include if exists <local/x>\n'
        '@{VAR} = /a /b "/c d"\n'
        '@{VAR} += /e\n'
        '${BOOL} = true\n'
        'alias /usr/ -> /mnt/usr/,\n', "p")
    kinds = [type(n).__name__ for n in nodes]
    assert kinds == ["Abi", "Include", "Include", "Include", "VarAssign", "VarAssign",
                     "BoolAssign", "Alias"]
    inc = nodes[1]
    assert isinstance(inc, ast.Include) and inc.magic and inc.path == "tunables/global"
    assert isinstance(nodes[2], ast.Include) and not nodes[2].magic
    assert isinstance(nodes[3], ast.Include) and nodes[3].if_exists
    var = nodes[4]
    assert isinstance(var, ast.VarAssign) and var.values == ("/a", "/b", "/c d")
    assert isinstance(nodes[5], ast.VarAssign) and nodes[5].append
    assert isinstance(nodes[6], ast.BoolAssign) and nodes[6].value is True
    assert isinstance(nodes[7], ast.Alias) and nodes[7].target == "/mnt/usr/"
    assert var.pos == ast.SourcePos("p", 5, 1)


def test_profile_headers() -> None:
    nodes = parse_text(
        "profile foo /usr/bin/foo{,.sh} xattrs=(user.x=y) flags=(complain, attach_disconnected)"
        " {\n}\n"
        "/usr/bin/bar flags=(enforce) {\n}\n"
        'profile "quoted name" {\n}\n', "p")
    a, b, c = nodes
    assert isinstance(a, ast.Profile) and a.name == "foo"
    assert a.attachment == "/usr/bin/foo{,.sh}"
    assert a.flags == ("complain", "attach_disconnected")
    assert a.xattrs == {"user.x": ("y",)}
    assert isinstance(b, ast.Profile) and b.name == "/usr/bin/bar" and b.flags == ("enforce",)
    assert isinstance(c, ast.Profile) and c.name == "quoted name"


def test_hats_children_blocks_and_conditionals() -> None:
    nodes = body(
        "  ^hat1 {\n  /a r,\n  }\n"
        "  hat hat2 flags=(complain) {\n  }\n"
        "  profile child {\n  }\n"
        "  owner {\n    /b r,\n    audit /c w,\n  }\n"
        "  if ${B} {\n    /d r,\n  } else {\n    /e r,\n  }\n")
    hat1, hat2, child, block, cond = nodes
    assert isinstance(hat1, ast.Profile) and hat1.is_hat and hat1.name == "hat1"
    assert isinstance(hat2, ast.Profile) and hat2.is_hat and hat2.flags == ("complain",)
    assert isinstance(child, ast.Profile) and not child.is_hat
    assert isinstance(block, ast.QualifierBlock) and block.qualifiers.owner
    assert len(block.body) == 2
    assert isinstance(cond, ast.Conditional) and cond.cond == ast.Cond(op="bool", name="B")
    assert len(cond.body) == 1 and len(cond.else_body) == 1


@pytest.mark.parametrize(("text", "path", "perms", "exec_mode", "target"), [
    ("/etc/passwd r,", "/etc/passwd", Perm.READ, None, None),
    ("r /etc/passwd,", "/etc/passwd", Perm.READ, None, None),
    ("file /etc/x rw,", "/etc/x", Perm.READ | Perm.WRITE | Perm.APPEND, None, None),
    ("file rw /etc/x,", "/etc/x", Perm.READ | Perm.WRITE | Perm.APPEND, None, None),
    ("/var/log/x a,", "/var/log/x", Perm.APPEND, None, None),
    ("/x lkm,", "/x", Perm.LINK | Perm.LOCK | Perm.MMAP, None, None),
    ("/bin/sh ix,", "/bin/sh", Perm.EXEC, "ix", None),
    ("/bin/a Px -> foo,", "/bin/a", Perm.EXEC, "Px", "foo"),
    ("/bin/a rCx -> child,", "/bin/a", Perm.READ | Perm.EXEC, "Cx", "child"),
    ('"/with space" r,', "/with space", Perm.READ, None, None),
    ("@{HOME}/x r,", "@{HOME}/x", Perm.READ, None, None),
    ("/{a,b}/c r,", "/{a,b}/c", Perm.READ, None, None),
])
def test_file_rules(text: str, path: str, perms: Perm, exec_mode: str | None,
                    target: str | None) -> None:
    r = rule(text)
    assert isinstance(r, ast.FileRule)
    assert (r.path, r.perms, r.exec_mode, r.exec_target) == (path, perms, exec_mode, target)


@pytest.mark.parametrize("mode", ["ix", "px", "Px", "cx", "Cx", "ux", "Ux", "pix", "Pix",
                                  "cix", "Cix", "pux", "PUx", "cux", "CUx"])
def test_every_exec_mode(mode: str) -> None:
    r = rule(f"/bin/prog {mode},")
    assert isinstance(r, ast.FileRule) and r.exec_mode == mode and r.perms & Perm.EXEC


def test_bare_file_and_qualifiers() -> None:
    r = rule("audit allow owner file,")
    assert isinstance(r, ast.FileRule) and r.path == "/{**,}" and r.exec_mode == "ix"
    assert r.qualifiers == ast.Qualifiers(audit=True, allow=True, owner=True)
    r = rule("audit deny owner /x r,")
    assert r.qualifiers == ast.Qualifiers(audit=True, deny=True, owner=True)
    r = rule("priority=10 allow other /x r,")
    assert r.qualifiers.priority == 10 and r.qualifiers.allow and r.qualifiers.other


def test_link_rules() -> None:
    r = rule("link subset /a/* -> /b/*,")
    assert isinstance(r, ast.LinkRule) and r.subset and r.target == "/b/*"
    r = rule("/a l -> /b,")
    assert isinstance(r, ast.FileRule) and r.link_target == "/b"


def test_capability() -> None:
    r = rule("capability setuid setgid,")
    assert isinstance(r, ast.CapabilityRule) and r.names == ("setuid", "setgid")
    r = rule("capability,")
    assert isinstance(r, ast.CapabilityRule) and r.names == ()


def test_network() -> None:
    r = rule("network inet stream,")
    assert isinstance(r, ast.NetworkRule) and (r.family, r.sock_type) == ("inet", "stream")
    r = rule("network inet tcp,")
    assert isinstance(r, ast.NetworkRule) and r.protocol == "tcp"
    r = rule("network (connect, send) inet6 stream ip=::1 port=443 peer=(ip=10.0.0.1 port=22),")
    assert isinstance(r, ast.NetworkRule)
    assert r.access == ("connect", "send") and r.conds == {"ip": ("::1",), "port": ("443",)}
    assert r.peer == {"ip": ("10.0.0.1",), "port": ("22",)}
    assert isinstance(rule("network,"), ast.NetworkRule)


def test_signal_ptrace_unix_dbus() -> None:
    r = rule("signal (send, receive) set=(hup, term) peer=foo,")
    assert isinstance(r, ast.SignalRule)
    assert r.access == ("send", "receive") and r.signals == ("hup", "term") and r.peer == "foo"
    r = rule("ptrace (read, trace) peer=bar,")
    assert isinstance(r, ast.PtraceRule) and r.access == ("read", "trace") and r.peer == "bar"
    r = rule("unix (connect, send) type=stream addr=@foo peer=(label=x),")
    assert isinstance(r, ast.UnixRule) and r.conds["type"] == ("stream",)
    assert r.peer == {"label": ("x",)}
    r = rule("dbus send bus=system path=/org/x interface=org.X member=Y peer=(name=org.Z),")
    assert isinstance(r, ast.DbusRule) and r.access == ("send",)
    assert r.conds["member"] == ("Y",) and r.peer == {"name": ("org.Z",)}


def test_mount_family() -> None:
    r = rule("mount options=(ro, bind) fstype=ext4 /dev/sda1 -> /mnt/,")
    assert isinstance(r, ast.MountRule) and r.operation == "mount"
    assert r.options == ("ro", "bind") and r.fstype == ("ext4",)
    assert (r.source, r.mountpoint) == ("/dev/sda1", "/mnt/")
    r = rule("remount /mnt/,")
    assert isinstance(r, ast.MountRule) and r.operation == "remount" and r.mountpoint == "/mnt/"
    r = rule("umount /mnt/**,")
    assert isinstance(r, ast.MountRule) and r.operation == "umount"
    r = rule("pivot_root oldroot=/old/ /new/ -> child,")
    assert isinstance(r, ast.PivotRootRule)
    assert (r.oldroot, r.newroot, r.target) == ("/old/", "/new/", "child")


def test_change_profile_rlimit_and_new_classes() -> None:
    r = rule("change_profile safe /bin/x -> other,")
    assert isinstance(r, ast.ChangeProfileRule)
    assert (r.exec_mode, r.exec_path, r.target) == ("safe", "/bin/x", "other")
    r = rule("change_profile -> p//*,")
    assert isinstance(r, ast.ChangeProfileRule) and r.target == "p//*"
    r = rule("set rlimit nofile <= 1024,")
    assert isinstance(r, ast.RlimitRule) and (r.resource, r.value) == ("nofile", "1024")
    r = rule("set rlimit as <= 1GB,")
    assert isinstance(r, ast.RlimitRule) and r.value == "1GB"
    assert isinstance(rule("userns create,"), ast.UsernsRule)
    r = rule("io_uring sqpoll override_creds label=foo,")
    assert isinstance(r, ast.IoUringRule) and r.access == ("sqpoll", "override_creds")
    r = rule("mqueue (read, write) type=posix /q,")
    assert isinstance(r, ast.MqueueRule) and r.name == "/q" and r.mqueue_type == "posix"
    assert isinstance(rule("all,"), ast.AllRule)


def test_positions_and_text() -> None:
    nodes = body("  # comment\n  /etc/x   r,  # trailing\n\tcapability  chown,")
    a, b = nodes
    assert a.pos == ast.SourcePos("t.prof", 3, 3) and a.text == "/etc/x   r,"
    assert b.pos == ast.SourcePos("t.prof", 4, 2) and b.text == "capability  chown,"
    assert a.kind == "file" and b.kind == "capability"


def test_multiline_rule_and_comment_hash_in_path() -> None:
    (r,) = body("  dbus send\n       bus=session\n       member=Foo,")
    assert isinstance(r, ast.DbusRule) and r.conds["bus"] == ("session",)
    (r,) = body("  /tmp/a#b r,")
    assert isinstance(r, ast.FileRule) and r.path == "/tmp/a#b"


def _parsed(text: str, fast: bool) -> object:
    from stockade.policy.parser import Parser

    parser = Parser(text, "p")
    parser.fast_rules = fast
    return parser.parse()


def _lexed(text: str, fast: bool) -> object:
    from stockade.policy.lexer import Lexer

    lexer = Lexer(text, "p")
    lexer.plain_rules = fast
    return lexer.tokens()


def _same_both_ways(run, text: str) -> str:
    """Run with the shortcut and without: the same result or the same error (which)."""
    from stockade.policy.errors import PolicyError

    answers = []
    for fast in (True, False):
        try:
            answers.append(("same result", run(text, fast)))
        except PolicyError as err:
            answers.append(("same error", str(err)))
    assert answers[0] == answers[1], text
    return answers[0][0]


def test_plain_file_rules_parse_as_the_general_path_does():
    """`PATH MODE,` lines take a shortcut (Parser.fast_rules): the same tree, or the same
    error, as the general statement parser on generated profiles."""
    import random


    rng = random.Random(4)
    paths = ["/a", "/a/*", "/b/**", "/c/{x,y}", "/d/", "/e.[0-9]", '"/q r"', "@{HOME}/f", "/g"]
    modes = ["r", "rw", "ix", "px", "Px", "mr", "rk", "l", "x", "a", "rwx", "zz", "cx", "w"]
    lines = [lambda: f"{rng.choice(paths)} {rng.choice(modes)},",
             lambda: f"{rng.choice(paths)}  {rng.choice(modes)} ,",
             lambda: f"{rng.choice(paths)}\n    {rng.choice(modes)},",
             lambda: f"{rng.choice(modes)} {rng.choice(paths)},",
             lambda: f"{rng.choice(['deny ', 'audit ', 'owner ', 'allow '])}{rng.choice(paths)} "
                     f"{rng.choice(modes)},",
             lambda: f"{rng.choice(paths)} {rng.choice(modes)} -> /t,",
             lambda: f"{rng.choice(paths)} {rng.choice(modes)}",
             lambda: "capability chown,",
             lambda: "# " + rng.choice(paths)]
    outcomes = {"same result": 0, "same error": 0}
    for _ in range(600):
        body = [rng.choice(lines)() for _ in range(rng.randint(1, 6))]
        if rng.random() < 0.4:
            block = rng.choice(["deny", "audit", "prompt", "quiet", "owner"])
            body = [f"{block} {{", *body, "}"]
        text = "profile t {\n" + "\n".join(f"  {b}" for b in body) + "\n}\n"
        outcomes[_same_both_ways(_parsed, text)] += 1
    assert min(outcomes.values()) > 50, outcomes  # both were compared


def test_plain_rule_lines_lex_as_the_general_path_does(monkeypatch):
    """`/PATH MODE,` lines are lexed in one step (Lexer.plain_rules): the same tokens, or the
    same error, as the general lexer on generated texts (odd characters in paths included)."""
    import random

    from stockade.policy.lexer import Lexer

    taken = []
    one_step = Lexer._plain_rule
    monkeypatch.setattr(Lexer, "_plain_rule", lambda self, m, out: taken.append(1)
                        or one_step(self, m, out))
    rng = random.Random(14)
    bits = ["/a", "/a", "/a.b", "/a_b", "/b-c", "/d->e", "/f#g", "/h=i", "/j\u00a0k", "/l\\ m",
            "/n,o", "/p{q,r}", "/s:t", "/u+v", "/w(x)", "/y<z", "/é", "/", "-", "*", "**", "[0-9]", "!", '"']
    gaps = [" ", " ", " ", "\t", "  ", "\\\n ", "\n", "", "\u00a0", " \x0b"]
    modes = ["r", "r", "rw", "rw", "mr", "ix", "px", "r ", "R", "r1", "", "rw,x", "->", "r\n"]
    shown = {"same result": 0, "same error": 0}
    for _ in range(1500):
        lines = []
        for _ in range(rng.randint(1, 5)):
            pick = bits[:5] if rng.random() < 0.5 else bits  # plain paths half the time
            path = "".join(rng.choice(pick) for _ in range(rng.randint(1, 4)))
            lines.append(f"{rng.choice(['', '  ', 'deny '])}{path}{rng.choice(gaps)}"
                         f"{rng.choice(modes)}{rng.choice([',', ',', '', ' ,', ',,'])}"
                         f"{rng.choice(['', ' # c', ' {', '}'])}")
        text = "profile t {\n" + "\n".join(lines) + "\n}\n"
        shown[_same_both_ways(_lexed, text)] += 1
    assert min(shown.values()) > 50 and len(taken) > 300, (shown, len(taken))
