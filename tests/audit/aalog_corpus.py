"""Generated AppArmor log lines, one generator per record format.

The field order of each kernel record follows security/apparmor: audit.c audit_pre()
(apparmor=, operation=, class=, info=, error=, namespace=, profile= or label=, name=), then
lsm_audit.c dump_common_audit_data() (pid=, comm=, the address fields of network events,
capability=), then the class's own callback: file.c file_audit_cb() (requested_mask=,
denied_mask=, fsuid=, ouid=, target=), capability.c audit_cb() (capname=), net.c
audit_net_cb() (family=, sock_type=, protocol=, requested_mask=, denied_mask=, addr=,
peer_addr=, peer=), ipc.c audit_signal_cb()/audit_ptrace_cb() (requested_mask=,
denied_mask=, signal=, peer=), mount.c audit_cb() (fstype=, srcname=, flags=). D-Bus
records come from dbus-daemon as USER_AVC (bus=, path=, interface=, member=, mask=, name=,
pid=, label=, peer_pid=, peer_label=). The prefixes are those of audit.log (including the
pre-2.6 APPARMOR_* type names and auditd's UNKNOWN[n]), the kernel ring buffer (dmesg),
syslog, socklog and an audit dispatcher.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# keys libapparmor 3.0.8 (the installed oracle) does not know yet; newer libapparmor reads them
NEW_KEYS = ("class", "execpath", "peer_addr", "addr", "tcontext", "saddr", "daddr", "src",
            "dest", "method", "denied", "requested")


def _hex(text: str) -> str:
    return text.encode().hex().upper()


def _untrusted(rng: random.Random, text: str) -> str:
    """audit_log_untrustedstring(): quoted, or hex when it holds a space or quote."""
    if " " in text or rng.random() < 0.15:
        return _hex(text)
    return f'"{text}"'


class Gen:
    """Builds one line of a record format with random values."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def pick(self, *xs: str) -> str:
        return self.r.choice(xs)

    def path(self) -> str:
        return self.pick("/etc/shadow", "/home/u/my file", "/tmp/x", "/usr/bin/ping",
                         "/proc/1/mem", "/var/log/a.log", "/dev/null")

    def profile(self) -> str:
        return self.pick("/usr/sbin/cupsd", "snap.app.app", "/bin/ping//null-/bin/x",
                         "firefox", "my profile", "/usr/bin/man//man_groff")

    def head(self, verdict: str | None = None) -> str:
        verdict = verdict or self.pick("DENIED", "ALLOWED", "AUDIT")
        return f'apparmor="{verdict}"'

    def subject(self) -> str:
        ns = f" namespace={_untrusted(self.r, 'root//lxd')}" if self.r.random() < 0.1 else ""
        key = "label" if self.r.random() < 0.3 else "profile"
        return f"{ns} {key}={_untrusted(self.r, self.profile())}"

    def task(self) -> str:
        comm = _untrusted(self.r, self.pick("cat", "my app", "ping"))
        return f" pid={self.r.randint(1, 99999)} comm={comm}"

    def cls(self, name: str) -> str:
        return f' class="{name}"' if self.r.random() < 0.5 else ""

    def info(self, *texts: str) -> str:
        if self.r.random() < 0.5:
            return ""
        return f' info="{self.pick(*texts)}" error=-{self.pick("1", "13", "22")}'

    def ids(self) -> str:
        return f" fsuid={self.r.randint(0, 2000)} ouid={self.r.randint(0, 2000)}"


def file_access(g: Gen) -> str:
    op = g.pick("open", "mknod", "unlink", "rename_src", "truncate", "getattr", "exec")
    mask = g.pick("r", "w", "rw", "a", "x", "m", "c", "d", "wc", "l")
    target = f" target={_untrusted(g.r, g.path())}" if op in ("exec", "rename_src") else ""
    info = g.info("no new privs", "Failed name lookup - deleted entry")
    return (f'{g.head()} operation="{op}"{g.cls("file")}{info}'
            f'{g.subject()} name={_untrusted(g.r, g.path())}{g.task()} requested_mask="{mask}"'
            f' denied_mask="{mask}"{g.ids()}{target}')


def file_lock(g: Gen) -> str:
    return (f'{g.head()} operation="file_lock"{g.cls("file")}{g.subject()} name={_untrusted(g.r, g.path())}'
            f'{g.task()} requested_mask="k" denied_mask="k"{g.ids()}')


def capability(g: Gen) -> str:
    cap, num = g.pick(("sys_admin", "21"), ("net_raw", "13"), ("dac_override", "1"))  # type: ignore[misc]
    return (f'{g.head()} operation="capable"{g.cls("cap")}{g.subject()}{g.task()}'
            f' capability={num}  capname="{cap}"')


def network(g: Gen) -> str:
    op = g.pick("create", "bind", "connect", "sendmsg", "setsockopt")
    fam, st, proto = g.pick(("inet", "stream", "6"), ("inet6", "dgram", "17"), ("netlink", "raw", "15"),
                            ("inet", "raw", "1"), ("packet", "raw", "768"))  # type: ignore[misc]
    proto = f'"{proto}"' if g.r.random() < 0.1 else proto
    return (f'{g.head()} operation="{op}"{g.cls("net")}{g.subject()}{g.task()} family="{fam}"'
            f' sock_type="{st}" protocol={proto} requested_mask="{op[:4]}" denied_mask="{op[:4]}"')


def network_addr(g: Gen) -> str:
    ports = f" laddr=127.0.0.1 lport={g.r.randint(1, 65535)} faddr=::1 fport={g.r.randint(1, 65535)}"
    return (f'{g.head()} operation="connect"{g.subject()}{g.task()}{ports} family="inet"'
            f' sock_type="stream" protocol=6 requested_mask="connect" denied_mask="connect"')


def unix_socket(g: Gen) -> str:
    addr = g.pick(" addr=none", ' addr="@/tmp/.X11-unix/X0"', "")
    return (f'{g.head()} operation="{g.pick("connect", "send", "accept")}" class="net"{g.subject()}'
            f'{g.task()} family="unix" sock_type="stream" protocol=0 requested_mask="send receive"'
            f' denied_mask="send"{addr} peer_addr="@/tmp/dbus-x" peer="unconfined"')


def signal(g: Gen) -> str:
    return (f'{g.head()} operation="signal"{g.cls("signal")}{g.subject()}{g.task()}'
            f' requested_mask="{g.pick("send", "receive")}" denied_mask="send"'
            f' signal={g.pick("kill", "term", "hup", "usr1", "rtmin+3")}'
            f' peer="{g.pick("unconfined", "/usr/bin/x")}"')


def ptrace(g: Gen) -> str:
    return (f'{g.head()} operation="ptrace"{g.cls("ptrace")}{g.subject()}{g.task()}'
            f' requested_mask="{g.pick("read", "trace", "readby", "tracedby")}" denied_mask="read"'
            f' peer="{g.pick("unconfined", "/usr/sbin/sshd")}"')


def mount(g: Gen) -> str:
    op = g.pick("mount", "umount", "pivotroot")
    info = g.info("failed flags match", "failed srcname match")
    return (f'{g.head()} operation="{op}"{g.cls("mount")}{info}'
            f'{g.subject()} name="/mnt/x"{g.task()} fstype="{g.pick("ext4", "tmpfs", "proc")}"'
            f' srcname="/dev/sda1" flags="rw, nosuid, nodev"')


def dbus(g: Gen) -> str:
    op, mask = g.pick(("dbus_method_call", "send"), ("dbus_signal", "receive"),
                      ("dbus_eavesdrop", "eavesdrop"), ("dbus_bind", "bind"))  # type: ignore[misc]
    body = (f'apparmor="{g.pick("DENIED", "ALLOWED")}" operation="{op}" bus="{g.pick("system", "session")}"')
    if op != "dbus_eavesdrop" and op != "dbus_bind":
        body += (' path="/org/freedesktop/DBus" interface="org.freedesktop.DBus"'
                 f' {"method" if g.r.random() < 0.1 else "member"}="Hello"')
    body += f' mask="{mask}"'
    if op != "dbus_eavesdrop":
        body += ' name="org.freedesktop.DBus"'
    body += f' pid={g.r.randint(2, 9999)} label="{g.profile()}"'
    if op not in ("dbus_eavesdrop", "dbus_bind"):
        body += ' peer_pid=1 peer_label="unconfined"'
    body += ' exe="/usr/bin/dbus-daemon" sauid=102 hostname=? addr=? terminal=?'
    return body


def domain(g: Gen) -> str:
    op = g.pick("change_hat", "change_profile", "change_onexec", "exec")
    info = g.pick("unconfined", "profile not found", "no new privs")
    return (f'{g.head()} operation="{op}"{g.cls("domain")} info="{info}"'
            f' error=-{g.pick("1", "13")}{g.subject()} name="{g.profile()}"{g.task()}'
            f' {g.pick("target", "name2")}="{g.profile()}"')


def status(g: Gen) -> str:
    return (f'apparmor="STATUS" operation="{g.pick("profile_load", "profile_replace", "profile_remove")}"'
            f'{g.subject()} name="{g.profile()}"{g.task()}')


def hint(g: Gen) -> str:
    return (f'apparmor="{g.pick("HINT", "ERROR")}" operation="{g.pick("change_hat", "profile_load")}"'
            f' info="unknown_hat"{g.subject()}{g.task()}')


def new_keys(g: Gen) -> str:
    """Fields newer kernels add: class=, execpath=, tcontext=, saddr= ... (libapparmor 4)."""
    return (f'{g.head()} operation="{g.pick("open", "connect", "exec")}" class="{g.pick("file", "net")}"'
            f'{g.subject()}{g.task()} saddr=10.0.0.1 src={g.r.randint(1, 9)} daddr=10.0.0.2'
            f' dest={g.r.randint(1, 9)} requested="r" denied="r" execpath="/usr/bin/x"'
            f' tcontext="unconfined"')


BODIES: dict[str, Callable[[Gen], str]] = {
    "file": file_access, "file_lock": file_lock, "capability": capability,
    "network": network, "network addresses": network_addr, "unix": unix_socket,
    "signal": signal, "ptrace": ptrace, "mount": mount, "domain": domain,
    "status": status, "hint/error": hint, "newer fields": new_keys,
}


def _stamp(g: Gen) -> str:
    return f"audit({g.r.randint(10**9, 2 * 10**9)}.{g.r.randint(0, 999):03d}:{g.r.randint(1, 99999)}):"


# prefixes: (name, builder of the whole line from a kernel body)
def _auditlog(g: Gen, body: str) -> str:
    return f"type=AVC msg={_stamp(g)} {body}"


def _node(g: Gen, body: str) -> str:
    return f"type=AVC msg={_stamp(g)} {body}\x1d"  # auditd's enriched separator


def _old_type(g: Gen, body: str) -> str:
    name = g.pick("APPARMOR_DENIED", "APPARMOR_ALLOWED", "APPARMOR_AUDIT", "APPARMOR_STATUS",
                  "APPARMOR_HINT", "APPARMOR_ERROR")
    return f"type={name} msg={_stamp(g)} {body}"


def _unknown_type(g: Gen, body: str) -> str:
    return f"type=UNKNOWN[{g.pick('1500', '1501', '1502', '1503', '1505', '1507')}] msg={_stamp(g)} {body}"


def _dmesg(g: Gen, body: str) -> str:
    return f"[{g.r.randint(1, 99999):>6}.{g.r.randint(0, 999999):06d}] audit: type=1400 {_stamp(g)} {body}"


def _syslog(g: Gen, body: str) -> str:
    stamp = f" [{g.r.randint(1, 99999):>6}.{g.r.randint(0, 999999):06d}]" if g.r.random() < 0.5 else ""
    typ = "type=1400 " if g.r.random() < 0.5 else ""
    return f"Jan {g.r.randint(1, 28):>2} 12:34:56 myhost kernel:{stamp} {typ}{_stamp(g)} {body}"


def _syslog_audit(g: Gen, body: str) -> str:
    return (f"2024-02-0{g.r.randint(1, 9)}T12:34:56.123456+01:00 host-1 kernel: "
            f"[{g.r.randint(1, 99999):>6}.{g.r.randint(0, 999999):06d}] audit: type=1400 {_stamp(g)} {body}")


def _socklog(g: Gen, body: str) -> str:
    return f"2024-02-01 12:34:56.123 kern.notice: [ 1234.567890] {_stamp(g)} {body}"


def _dispatch(g: Gen, body: str) -> str:
    return f"msg={_stamp(g)} {body}"


PREFIXES: dict[str, Callable[[Gen, str], str]] = {
    "audit.log AVC": _auditlog, "auditd enriched": _node, "type=APPARMOR_*": _old_type,
    "type=UNKNOWN[n]": _unknown_type, "dmesg": _dmesg, "syslog": _syslog,
    "syslog ISO date": _syslog_audit, "socklog": _socklog, "audit dispatcher": _dispatch,
}


def user_avc(g: Gen) -> str:
    return (f"type=USER_AVC msg={_stamp(g)} pid={g.r.randint(1, 999)} uid=102 auid=4294967295"
            f" ses=4294967295 msg='{dbus(g)}'")


def syslog_user_avc(g: Gen) -> str:
    return (f"Feb  1 12:34:56 host kernel: [ 1234.567890] audit: type=1107 {_stamp(g)}"
            f" pid=1 uid=102 auid=4294967295 ses=4294967295 msg='{dbus(g)}"
            + ("'" if g.r.random() < 0.5 else ""))


def syslog_dbus_daemon(g: Gen) -> str:
    return f"Feb  1 12:34:56 host dbus-daemon[{g.r.randint(1, 999)}]: {dbus(g)}"


def pre26(g: Gen) -> str:
    """AppArmor 2.0-2.5's own record text, which libapparmor no longer decodes."""
    return (f"type=APPARMOR msg={_stamp(g)} REJECTING r access to {g.path()} "
            f"(cat(1234) profile /bin/cat active /bin/cat)")


def other_type(g: Gen) -> str:
    return f"type=SYSCALL msg={_stamp(g)} arch=c000003e syscall=2 success=no exit=-13"


def unknown_key(g: Gen) -> str:
    return f"type=AVC msg={_stamp(g)} {file_access(g)} bogus_key=1"


WHOLE: dict[str, Callable[[Gen], str]] = {
    "dbus USER_AVC": user_avc, "dbus via syslog": syslog_user_avc,
    "dbus-daemon syslog": syslog_dbus_daemon, "pre-2.6 APPARMOR": pre26,
    "other audit type": other_type, "unknown key": unknown_key,
}
FORMATS = [*BODIES, *PREFIXES, *WHOLE]


def generate(seed: int, count: int) -> list[tuple[str, str]]:
    """(format, line) pairs: every body under every prefix, then the whole-line formats."""
    g = Gen(random.Random(seed))
    out: list[tuple[str, str]] = []
    while len(out) < count:
        for name, body in BODIES.items():
            prefix = g.r.choice(list(PREFIXES))
            line = PREFIXES[prefix](g, body(g))
            out.append((name, line))
            out.append((prefix, line))
        for name, whole in WHOLE.items():
            out.append((name, whole(g)))
    return out
