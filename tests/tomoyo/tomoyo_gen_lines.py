"""Generated TOMOYO policy lines, valid and broken, for the differential test against
tomoyo-checkpolicy (seeded: the same lines every run)."""

from __future__ import annotations

import random

NAMES = ["/etc/passwd", "/tmp/\\*", "/usr/lib/lib\\*.so\\*", "/home/\\{\\*\\}/\\*", "proc:/self/\\*",
         "/var/log/\\@.log", "/dev/tty\\$", "/tmp/a\\040b", "/x/\\x\\X\\a\\A\\+\\?", "@GROUP",
         "/tmp/\\*\\-\\*.tmp", "relative/x", "\\*", "/", "/dir/"]
BAD_NAMES = ["/tmp/\\400", "/tmp/\\{x", "/a/\\}b", "/t\\q", "/tmp/a\\", "/tmp/\\000", "/x\\{a\\}/",
             "/a/\\{b/c\\}/", "/tmp/\\041", "/tmp/\\1"]
NUMBERS = ["0", "0644", "0x5401", "10-20", "0-0xff", "@NUM", "8", "0999", "+5", "65536"]
BAD_NUMBERS = ["x", "10-5", "0x", "1-", "-", "@", "1.5", ""]
ADDRESSES = ["127.0.0.1", "10.0.0.0-10.255.255.255", "::1", "fe80::1-fe80::ff", "@ADDR",
             "0:0:0:0:0:0:0:1"]
BAD_ADDRESSES = ["1.2.3", "1.2.3.256", "1.2.3.9-1.2.3.1", "foo", "::1-1.2.3.4", "1:2:3:4:5:6:7:8:9"]
CONDITIONS = ["task.uid=0", "task.euid!=0-99", "path1.uid=task.uid", "path1.type=file",
              "path1.perm=0644", "exec.argc=1-3", 'exec.argv[0]="sh"',
              'exec.envp["HOME"]=NULL', 'exec.realpath="/bin/sh"', "exec.realpath=@G",
              "grant_log=yes", "path1.parent.uid=0", "task.gid=@NUM", "10=10"]
BAD_CONDITIONS = ["foo", "task.uid", "task.uid=foo", "task.type=execute_handler",
                  "exec.argv[x]=\"a\"", 'exec.argv[0]=sh', "grant_log=maybe", "=0",
                  'exec.envp[HOME]=NULL', "exec.realpath=/bin/sh", "task.uid=1-0",
                  'auto_domain_transition="<kernel>"']
FILE_GROUPS = [("read", "write", "append", "unlink", "getattr", "rmdir", "truncate", "symlink",
                "chroot", "unmount"), ("link", "rename", "pivot_root"),
               ("create", "mkdir", "mkfifo", "mksock", "ioctl", "chmod", "chown", "chgrp"),
               ("mkblock", "mkchar"), ("mount",), ("execute",)]
ARGS = {0: (1, 0), 1: (2, 0), 2: (1, 1), 3: (1, 3), 4: (3, 1), 5: (1, 0)}
DOMAINS = ["<kernel>", "<kernel> /sbin/init", "<kernel> /usr/sbin/sshd /bin/bash",
           "<kernel> /usr/bin/\\*", "</usr/sbin/sshd> /bin/sh"]
BAD_DOMAINS = ["<kernel", "kernel> /x", "<kernel> x", "<kernel> /a\\400", "<>"]
OLD_KEYWORDS = ["capability SYS_ADMIN", "ipc signal 9 <kernel>", "deny_autobind 0-1023",
                "task auto_execute_handler /bin/x", "task denied_execute_handler /bin/x",
                "task auto_domain_transition <kernel> /x", "file_pattern /tmp/\\*",
                "alias /a /b", "allow_read /etc/passwd", "network inet stream recv 1.2.3.4 5",
                "file open /x", "misc capability x"]


def _pick(rng: random.Random, good: list[str], bad: list[str], p_bad: float) -> tuple[str, bool]:
    if rng.random() < p_bad:
        return rng.choice(bad), False
    return rng.choice(good), True


def _conds(rng: random.Random, p_bad: float) -> str:
    out = []
    for _ in range(rng.choice((0, 0, 1, 2))):
        out.append(_pick(rng, CONDITIONS, BAD_CONDITIONS, p_bad)[0])
    return (" " + " ".join(out)) if out else ""


def file_line(rng: random.Random, p_bad: float) -> str:
    g = rng.randrange(len(FILE_GROUPS))
    ops = rng.sample(FILE_GROUPS[g], k=min(len(FILE_GROUPS[g]), rng.choice((1, 1, 2))))
    if rng.random() < p_bad / 3:  # mix shapes
        ops.append(rng.choice(rng.choice(FILE_GROUPS)))
    names, numbers = ARGS[g]
    if rng.random() < p_bad / 3:
        names += rng.choice((-1, 1))
    if rng.random() < p_bad / 3:
        numbers += rng.choice((-1, 1))
    args = [_pick(rng, NAMES, BAD_NAMES, p_bad / 2)[0] for _ in range(max(names, 0))]
    args += [_pick(rng, NUMBERS, BAD_NUMBERS, p_bad / 2)[0] for _ in range(max(numbers, 0))]
    if g == 5 and rng.random() < 0.3:
        args.append(rng.choice(["keep", "child", "reset", "<kernel> /x", "/bin/x", "KEEP",
                                "x/y", "\\*"]))
    return f"file {'/'.join(ops)} {' '.join(a for a in args if a)}".rstrip() + _conds(rng, p_bad)


def network_line(rng: random.Random, p_bad: float) -> str:
    family = rng.choice(("inet", "unix", "inet6" if rng.random() < p_bad else "inet"))
    protos = {"inet": ["stream", "dgram", "raw"], "unix": ["stream", "dgram", "seqpacket"],
              "inet6": ["stream"]}[family]
    proto = rng.choice(protos + (["seqpacket" if family == "inet" else "raw"]
                                 if rng.random() < p_bad else []))
    ops = rng.sample(["bind", "listen", "connect", "accept", "send", "recv"][:6 if rng.random()
                                                                              < p_bad else 5],
                     k=rng.choice((1, 2)))
    if family == "unix":
        args = [_pick(rng, NAMES, BAD_NAMES, p_bad / 2)[0]]
    else:
        args = [_pick(rng, ADDRESSES, BAD_ADDRESSES, p_bad / 2)[0],
                _pick(rng, NUMBERS, BAD_NUMBERS, p_bad / 2)[0]]
    if rng.random() < p_bad / 3:
        args = args[:-1]
    return f"network {family} {proto} {'/'.join(ops)} {' '.join(args)}".rstrip() + \
        _conds(rng, p_bad)


def acl_line(rng: random.Random, p_bad: float) -> str:
    r = rng.random()
    if r < 0.6:
        return file_line(rng, p_bad)
    if r < 0.8:
        return network_line(rng, p_bad)
    if r < 0.88:
        return "misc env " + _pick(rng, ["HOME", "LD_\\*", "PATH"], ["", "A\\400"], p_bad)[0] + \
            _conds(rng, p_bad)
    if r < 0.95:
        return "task manual_domain_transition " + \
            _pick(rng, DOMAINS, BAD_DOMAINS, p_bad)[0] + _conds(rng, p_bad)
    return rng.choice(OLD_KEYWORDS)


def domain_lines(rng: random.Random, n: int, p_bad: float = 0.3) -> list[str]:
    """`n` domain-policy lines."""
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.1:
            out.append(_pick(rng, DOMAINS, BAD_DOMAINS, p_bad)[0])
        elif r < 0.17:
            out.append(f"{rng.choice(('use_profile', 'use_group'))} "
                       f"{_pick(rng, ['0', '3', '255', '+1'], ['256', 'x', '-1', ''], p_bad)[0]}")
        elif r < 0.2:
            out.append(rng.choice(("quota_exceeded", "transition_failed", "quota_exceeded x")))
        else:
            out.append(acl_line(rng, p_bad))
    return out


def exception_lines(rng: random.Random, n: int, p_bad: float = 0.3) -> list[str]:
    """`n` exception-policy lines."""
    out = []
    controls = ["initialize_domain", "no_initialize_domain", "keep_domain", "no_keep_domain",
                "reset_domain", "no_reset_domain"]
    for _ in range(n):
        r = rng.random()
        if r < 0.15:
            out.append("path_group G " + _pick(rng, NAMES, BAD_NAMES, p_bad)[0])
        elif r < 0.25:
            out.append("number_group N " + _pick(rng, NUMBERS, BAD_NUMBERS, p_bad)[0])
        elif r < 0.35:
            out.append("address_group A " + _pick(rng, ADDRESSES, BAD_ADDRESSES, p_bad)[0])
        elif r < 0.45:
            out.append("aggregator " + _pick(rng, NAMES, BAD_NAMES, p_bad)[0] + " " +
                       _pick(rng, ["/usr/bin/editor", "/x"], ["/x\\400"], p_bad)[0])
        elif r < 0.7:
            program = _pick(rng, ["/bin/sh", "/usr/sbin/\\*", "any"], ["sh", "/b\\400"],
                            p_bad)[0]
            source = rng.choice(["", " from any", " from /usr/sbin/sshd",
                                 " from " + _pick(rng, DOMAINS, BAD_DOMAINS, p_bad)[0],
                                 " from", " extra"])
            out.append(f"{rng.choice(controls)} {program}{source}")
        elif r < 0.95:
            out.append(f"acl_group {rng.choice(['0', '1', '255', '256'])} {acl_line(rng, p_bad)}")
        else:
            out.append(rng.choice([*OLD_KEYWORDS, "use_profile 1", "<kernel>"]))
        if rng.random() < 0.1:  # a namespace prefix, valid or not
            out[-1] = rng.choice(["<kernel> ", "</ns> ", "<kernel>", "<bad ", "<\\400> "]) + \
                out[-1]
    return out
