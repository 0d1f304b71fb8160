# ruff: noqa: E501  (audit records are long lines; kept verbatim as the kernel writes them)
"""Parser and interpreter tests, each input written from the kernel's documented formats."""

from __future__ import annotations

from stockade.audit.readers import Correlator, parse_line, records_from_lines
from stockade.audit.readers.parser import decode_hex, get_field, parse_fields
from stockade.audit.suggest import describe


def read(text: str) -> list:
    return list(records_from_lines(text.strip("\n").splitlines()))


def hexs(text: str) -> str:
    return text.encode().hex().upper()


# --- Landlock: Documentation/admin-guide/LSM/landlock.rst, "Event samples" -------------------

LANDLOCK_SIGNAL = """
type=LANDLOCK_ACCESS msg=audit(1729738800.268:30): domain=1a6fdc66f blockers=scope.signal opid=1 ocomm="systemd"
type=LANDLOCK_DOMAIN msg=audit(1729738800.268:30): domain=1a6fdc66f status=allocated mode=enforcing pid=286 uid=0 exe="/root/sandboxer" comm="sandboxer"
type=SYSCALL msg=audit(1729738800.268:30): arch=c000003e syscall=62 success=no exit=-1 a0=1 a1=f a2=0 a3=0 items=0 ppid=272 pid=286 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="kill" exe="/usr/bin/kill" key=(null)
type=PROCTITLE msg=audit(1729738800.268:30): proctitle=6B696C6C0031
type=LANDLOCK_DOMAIN msg=audit(1729738800.324:31): domain=1a6fdc66f status=deallocated denials=1
"""

LANDLOCK_FS = """
type=LANDLOCK_ACCESS msg=audit(1729738800.221:33): domain=1a6fdc679 blockers=fs.write_file path="/dev/tty" dev="devtmpfs" ino=9
type=LANDLOCK_DOMAIN msg=audit(1729738800.221:33): domain=1a6fdc679 status=allocated mode=enforcing pid=289 uid=0 exe="/root/sandboxer" comm="sandboxer"
type=SYSCALL msg=audit(1729738800.221:33): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=55 a2=241 a3=1b6 items=1 ppid=272 pid=289 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="sh" exe="/usr/bin/dash" key=(null)
type=PROCTITLE msg=audit(1729738800.221:33): proctitle=7368002D63006563686F203E202F6574632F706173737764
type=LANDLOCK_ACCESS msg=audit(1729738800.221:34): domain=1a6fdc679 blockers=fs.write_file path="/etc/passwd" dev="vda2" ino=143821
type=SYSCALL msg=audit(1729738800.221:34): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=55 a2=241 a3=1b6 items=1 ppid=272 pid=289 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="sh" exe="/usr/bin/dash" key=(null)
type=PROCTITLE msg=audit(1729738800.221:34): proctitle=7368002D63006563686F203E202F6574632F706173737764
type=LANDLOCK_DOMAIN msg=audit(1729738800.261:35): domain=1a6fdc679 status=deallocated denials=2
"""


def test_landlock_signal_event_and_deallocation() -> None:
    records = read(LANDLOCK_SIGNAL)
    access = [r for r in records if r.operation == "scope.signal"]
    assert len(access) == 1
    r = access[0]
    assert (r.module, r.result, r.record_type) == ("landlock", "DENIED", 1423)
    assert r.object == "pid 1 (systemd)"
    assert (r.pid, r.comm, r.exe, r.uid) == (286, "kill", "/usr/bin/kill", 0)
    assert r.fields["proctitle"] == "kill 1"
    assert r.fields["domain"] == "1a6fdc66f"
    assert r.fields["domain_exe"] == "/root/sandboxer"
    assert r.fields["exit"] == "-1" and r.errno == 1
    assert (r.time, r.serial) == (1729738800.268, 30)
    assert r.raw.startswith("type=LANDLOCK_ACCESS msg=audit(1729738800.268:30)")
    allocated = [x for x in records if x.operation == "domain_allocated"]
    assert allocated and allocated[0].pid == 286 and allocated[0].result == "AUDIT"
    dealloc = [x for x in records if x.operation == "domain_deallocated"]
    assert len(dealloc) == 1 and dealloc[0].fields["denials"] == "1" and dealloc[0].serial == 31


def test_landlock_filesystem_events_keep_their_serials() -> None:
    records = read(LANDLOCK_FS)
    denials = [r for r in records if r.result == "DENIED"]
    assert [(r.serial, r.object) for r in denials] == [(33, "/dev/tty"), (34, "/etc/passwd")]
    assert all(r.operation == "fs.write_file" and r.denied == "fs.write_file" for r in denials)
    assert denials[1].fields["proctitle"] == "sh -c echo > /etc/passwd"
    assert denials[1].fields["syscall"] in ("openat", "syscall 257")
    assert denials[1].errno == 13


def test_landlock_two_access_records_in_one_event() -> None:
    text = """
type=UNKNOWN[1423] msg=audit(1729738801.000:40): domain=195ba459b blockers=fs.refer path="/usr/bin" dev="vda2" ino=351
type=UNKNOWN[1423] msg=audit(1729738801.000:40): domain=195ba459b blockers=fs.make_reg,fs.refer path="/usr/local" dev="vda2" ino=365
type=SYSCALL msg=audit(1729738801.000:40): arch=c000003e syscall=265 success=no exit=-18 a0=ffffff9c a1=1 a2=ffffff9c a3=2 items=2 ppid=1 pid=77 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="ln" exe="/usr/bin/ln" key=(null)
"""
    records = read(text)
    assert [r.object for r in records] == ["/usr/bin", "/usr/local"]
    assert records[1].denied == "fs.make_reg,fs.refer"
    assert [r.fields["record_index"] for r in records] == ["0", "1"]
    assert all(r.pid == 77 and r.comm == "ln" for r in records)


def test_landlock_hex_path_and_journal_prefix() -> None:
    path = "/tmp/a file"
    line = (f"Nov 26 13:51:00 host kernel: audit: type=1423 audit(1700000003.000:12): "
            f'domain=1a6fdc679 blockers=fs.read_file path={hexs(path)} dev="vda2" ino=5')
    [r] = read(line)
    assert r.object == path and r.module == "landlock"
    assert r.raw.startswith("type=1423 audit(")


def test_landlock_network_object() -> None:
    [r] = read('type=UNKNOWN[1423] msg=audit(1.0:2): domain=1a blockers=net.connect_tcp daddr=10.0.0.1 dest=443')
    assert r.object == "10.0.0.1:443" and r.operation == "net.connect_tcp"


# --- AppArmor: apparmor.d(5), kernel security/apparmor/audit.c --------------------------------

def test_apparmor_file_denial_audit_log() -> None:
    text = """
type=AVC msg=audit(1700000001.100:10): apparmor="DENIED" operation="open" class="file" profile="/usr/sbin/cupsd" name="/etc/shadow" pid=1234 comm="cupsd" requested_mask="r" denied_mask="r" fsuid=0 ouid=0
type=SYSCALL msg=audit(1700000001.100:10): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=55d0 a2=80000 a3=0 items=1 ppid=1 pid=1234 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="cupsd" exe="/usr/sbin/cupsd" subj=/usr/sbin/cupsd key=(null)
"""
    [r] = read(text)
    assert (r.module, r.result, r.operation, r.profile) == ("apparmor", "DENIED", "open", "/usr/sbin/cupsd")
    assert (r.object, r.requested, r.denied, r.pid, r.exe) == ("/etc/shadow", "r", "r", 1234, "/usr/sbin/cupsd")
    assert r.record_type == 1400 and r.mode == "enforce" and r.errno == 13


def test_apparmor_dmesg_capability_allowed_with_hex_comm() -> None:
    line = ('[  552.552217] audit: type=1400 audit(1700000002.000:11): apparmor="ALLOWED" '
            f'operation="capable" class="cap" profile="test" pid=99 comm={hexs("my app")} '
            'capability=21  capname="sys_admin"')
    [r] = read(line)
    assert (r.result, r.mode, r.object, r.comm) == ("ALLOWED", "complain", "sys_admin", "my app")


def test_apparmor_network_and_signal() -> None:
    net, sig = read("""
type=AVC msg=audit(1.5:1): apparmor="DENIED" operation="create" class="net" profile="p" pid=5 comm="nc" family="inet" sock_type="raw" protocol=1 requested_mask="create" denied_mask="create"
type=AVC msg=audit(1.6:2): apparmor="DENIED" operation="signal" class="signal" profile="p" pid=5 comm="kill" requested_mask="send" denied_mask="send" signal=kill peer="unconfined"
""")
    assert net.object == "inet raw" and net.denied == "create"
    assert sig.object == "unconfined" and sig.fields["signal"] == "kill"


def test_apparmor_user_avc_dbus() -> None:
    line = ("type=USER_AVC msg=audit(1700000005.000:99): pid=700 uid=102 auid=4294967295 "
            "ses=4294967295 subj=unconfined msg='apparmor=\"DENIED\" operation=\"dbus_method_call\" "
            "bus=\"system\" path=\"/org/freedesktop/hostname1\" interface=\"org.freedesktop.DBus.Properties\" "
            "member=\"GetAll\" mask=\"send\" name=\"org.freedesktop.hostname1\" pid=4242 "
            "label=\"snap.app\" peer_pid=800 peer_label=\"unconfined\" "
            "exe=\"/usr/bin/dbus-daemon\" sauid=102 hostname=? addr=? terminal=?'")
    [r] = read(line)
    assert (r.module, r.result, r.record_type, r.operation) == ("apparmor", "DENIED", 1107, "dbus_method_call")
    assert (r.profile, r.pid, r.requested) == ("snap.app", 4242, "send")
    assert r.object == "org.freedesktop.hostname1"


def test_apparmor_legacy_types() -> None:
    denied, status = read("""
type=APPARMOR_DENIED msg=audit(1200000000.100:5): operation="inode_permission" requested_mask="w::" denied_mask="w::" fsuid=1000 name="/home/u/x" pid=1 profile="/bin/foo" comm="foo"
type=1505 msg=audit(1200000000.200:6): operation="profile_load" name="/bin/foo" name2="default" pid=1
""")
    assert (denied.module, denied.result, denied.record_type) == ("apparmor", "DENIED", 1503)
    assert denied.object == "/home/u/x"
    assert (status.module, status.result, status.record_type) == ("apparmor", "AUDIT", 1505)


# --- SELinux: the AVC message format (avc_audit_post_callback) ---------------------------------

SELINUX = """
type=AVC msg=audit(1226270358.848:238): avc:  denied  { read write } for  pid=13349 comm="certwatch" name="cache" dev="dm-0" ino=218171 scontext=system_u:system_r:certwatch_t:s0 tcontext=system_u:object_r:var_t:s0 tclass=dir permissive=0
type=SYSCALL msg=audit(1226270358.848:238): arch=c000003e syscall=2 success=no exit=-13 a0=7fff a1=2 a2=0 a3=0 items=1 ppid=1 pid=13349 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="certwatch" exe="/usr/bin/certwatch" subj=system_u:system_r:certwatch_t:s0 key=(null)
type=CWD msg=audit(1226270358.848:238): cwd="/var/lib"
type=PATH msg=audit(1226270358.848:238): item=0 name="cache" inode=218171 dev=fd:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL
type=EOE msg=audit(1226270358.848:238):
"""


def test_selinux_avc_with_full_path_from_path_and_cwd() -> None:
    [r] = read(SELINUX)
    assert (r.module, r.result, r.operation) == ("selinux", "DENIED", "dir")
    assert r.requested == "read,write" and r.denied == "read,write"
    assert r.profile == "certwatch_t" and r.subject == "system_u:system_r:certwatch_t:s0"
    assert r.object == "/var/lib/cache"
    assert r.fields["tcontext"] == "system_u:object_r:var_t:s0"


def test_selinux_permissive_granted_and_capability() -> None:
    permissive, granted, cap = read("""
type=AVC msg=audit(1.0:1): avc:  denied  { getattr } for  pid=1 comm="ls" path="/srv/x" dev="sda" ino=2 scontext=u:r:a_t:s0 tcontext=u:object_r:b_t:s0 tclass=file permissive=1
type=AVC msg=audit(1.0:2): avc:  granted  { setenforce } for  pid=2 comm="setenforce" scontext=u:r:admin_t:s0 tcontext=u:object_r:security_t:s0 tclass=security
type=AVC msg=audit(1.0:3): avc:  denied  { sys_admin } for  pid=3 comm="mount" capability=21 scontext=u:r:a_t:s0 tcontext=u:r:a_t:s0 tclass=capability permissive=0
""")
    assert (permissive.result, permissive.mode, permissive.object) == ("ALLOWED", "permissive", "/srv/x")
    assert granted.result == "AUDIT" and granted.denied == ""
    assert cap.object == "sys_admin" and cap.result == "DENIED"


# --- seccomp: kernel/auditsc.c audit_seccomp() --------------------------------------------------

def _seccomp(code: str, serial: int) -> str:
    return (f"type=SECCOMP msg=audit(1700000100.000:{serial}): auid=1000 uid=1000 gid=1000 ses=2 "
            f"subj=unconfined pid=4321 comm={hexs('my tool')} exe=\"/usr/bin/tool\" sig=0 "
            f"arch=c000003e syscall=101 compat=0 ip=0x7f0000001234 code={code}")


def test_seccomp_actions() -> None:
    errno_, kill, log, allow = read("\n".join([
        _seccomp("0x50001", 1), _seccomp("0x80000000", 2), _seccomp("0x7ffc0000", 3),
        _seccomp("0x7fff0000", 4)]))
    assert (errno_.module, errno_.result, errno_.denied, errno_.errno) == ("seccomp", "DENIED", "errno(EPERM)", 1)
    assert errno_.comm == "my tool" and errno_.uid == 1000 and errno_.pid == 4321
    assert errno_.object in ("ptrace", "syscall 101")
    assert (kill.result, kill.denied) == ("DENIED", "kill_process")
    assert (log.result, log.denied) == ("AUDIT", "")
    assert allow.result == "ALLOWED"


def test_seccomp_errno_comes_from_the_syscall_record() -> None:
    """The kernel's `code=` holds the action only (seccomp_log() masks it with
    SECCOMP_RET_ACTION_FULL): the errno is the SYSCALL record's exit, or unknown, never 0."""
    alone, with_syscall = read("\n".join([
        _seccomp("0x50000", 5), _seccomp("0x50000", 6),
        "type=SYSCALL msg=audit(1700000100.000:6): arch=c000003e syscall=101 success=no exit=-1 "
        "a0=0 a1=0 a2=0 a3=0 items=0 ppid=1 pid=4321 auid=1000 uid=1000 gid=1000 euid=1000 "
        "suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=2 comm=\"tool\" "
        "exe=\"/usr/bin/tool\" key=(null)"]))
    assert (alone.result, alone.denied, alone.errno) == ("DENIED", "errno", 0)
    assert (with_syscall.result, with_syscall.denied, with_syscall.errno) == ("DENIED", "errno(EPERM)", 1)
    assert "errno(0)" not in describe(alone) + describe(with_syscall)


def test_clone3_enosys_is_the_expected_fallback_not_a_denial() -> None:
    clone3 = _seccomp("0x50000", 7).replace("syscall=101", "syscall=435")
    [r] = read(clone3)
    assert (r.result, r.errno, r.denied) == ("AUDIT", 38, "")
    assert "libc falls back to clone" in r.fields["expected"]
    eperm = clone3 + "\n" + ("type=SYSCALL msg=audit(1700000100.000:7): arch=c000003e syscall=435 "
                             "success=no exit=-1 a0=0 a1=0 a2=0 a3=0 items=0 ppid=1 pid=4321 "
                             "auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 "
                             "sgid=1000 fsgid=1000 tty=pts0 ses=2 comm=\"t\" exe=\"/t\" key=(null)")
    [denied] = read(eperm)  # a filter that refuses clone3 with EPERM does deny it
    assert (denied.result, denied.denied) == ("DENIED", "errno(EPERM)")


# --- the record layer: prefixes, hex, correlation, unknown types --------------------------------

def test_enriched_suffix_node_prefix_and_unknown_type_kept() -> None:
    line = ('node=web1 type=UNKNOWN[1999] msg=audit(1700000000.500:7): op=frob res=1'
            '\x1dUID="root"')
    [r] = read(line)
    assert (r.module, r.result, r.record_type, r.operation) == ("kernel", "AUDIT", 1999, "unknown[1999]")
    assert "\x1d" not in r.raw and r.raw.startswith("node=web1 type=UNKNOWN[1999]")
    rec = parse_line(line)
    assert rec is not None and rec.node == "web1" and rec.body == "op=frob res=1"


def test_syscall_only_event_is_one_kernel_record_with_all_lines() -> None:
    text = """
type=SYSCALL msg=audit(1700000000.000:50): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ppid=9 pid=10 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=2 comm="ls" exe="/usr/bin/ls" key="exec"
type=EXECVE msg=audit(1700000000.000:50): argc=2 a0="ls" a1="-l"
type=CWD msg=audit(1700000000.000:50): cwd="/home/u"
type=PATH msg=audit(1700000000.000:50): item=0 name="/usr/bin/ls" inode=1 dev=fd:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL
type=PROCTITLE msg=audit(1700000000.000:50): proctitle=6C73002D6C
"""
    [r] = read(text)
    assert (r.module, r.operation, r.pid, r.comm, r.uid, r.object) == ("kernel", "syscall", 10, "ls", 1000, "/usr/bin/ls")
    assert r.raw.count("\n") == 4  # all five lines kept


def test_hex_decoding_rules() -> None:
    assert decode_hex("6B696C6C0031", nul_as_space=True) == "kill 1"
    fields = parse_fields(f'name={hexs("a b")} a0=10 old=64 key=(null) comm="x y" exe=2F62696E')
    assert fields["name"] == "a b" and fields["a0"] == "10" and fields["old"] == "64"
    assert fields["key"] == "(null)" and fields["comm"] == "x y" and fields["exe"] == "/bin"
    assert get_field('pid=1 comm="a" auid=5 uid=7', "uid") == "7"
    assert get_field('pid=1 name=2F78', "name") == "/x"


def test_interleaved_events_and_eoe() -> None:
    lines = [
        'type=AVC msg=audit(1.000:1): apparmor="DENIED" operation="open" profile="a" name="/a" pid=1 comm="x" requested_mask="r" denied_mask="r"',
        'type=AVC msg=audit(1.000:2): apparmor="DENIED" operation="open" profile="b" name="/b" pid=2 comm="y" requested_mask="w" denied_mask="w"',
        'type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=2 success=no exit=-13 a0=0 a1=0 a2=0 a3=0 items=0 ppid=1 pid=111 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="x" exe="/x" key=(null)',
        'type=SYSCALL msg=audit(1.000:2): arch=c000003e syscall=2 success=no exit=-13 a0=0 a1=0 a2=0 a3=0 items=0 ppid=1 pid=222 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="y" exe="/y" key=(null)',
        "type=EOE msg=audit(1.000:2): ",
    ]
    corr = Correlator()
    out = []
    for line in lines:
        rec = parse_line(line)
        assert rec is not None
        out.extend(corr.add(rec))
    assert [r.profile for r in out] == ["b"]  # EOE completed event 2 only
    assert corr.pending == 1
    out.extend(corr.flush())
    assert [(r.profile, r.exe) for r in out] == [("b", "/y"), ("a", "/x")]


def test_correlator_is_bounded() -> None:
    corr = Correlator(max_pending=8, max_records=4)
    done = []
    for serial in range(100):
        rec = parse_line(f"type=SYSCALL msg=audit(5.0:{serial}): arch=c000003e syscall=1 pid=1")
        assert rec is not None
        done.extend(corr.add(rec))
        assert corr.pending <= 8
    assert len(done) == 92 and corr.evicted == 92
    big = []
    for _ in range(10):
        rec = parse_line("type=PATH msg=audit(6.0:1): item=0 name=\"/x\"")
        assert rec is not None
        big.extend(corr.add(rec))
    assert big, "an event of more than max_records records is cut"
    # events wait no longer than max_age when the source is live
    corr2 = Correlator(max_age=2.0)
    rec = parse_line('type=AVC msg=audit(7.0:1): apparmor="DENIED" operation="open" profile="p" name="/z" pid=1 comm="c"')
    assert rec is not None
    assert corr2.add(rec, now=100.0) == []
    assert corr2.expire(now=101.0) == []
    assert [r.object for r in corr2.expire(now=102.5)] == ["/z"]
    assert corr2.pending == 0


def test_non_audit_lines_are_counted_not_fatal() -> None:
    stats: dict[str, int] = {}
    records = list(records_from_lines(["hello", "", "type=AVC garbage", "[1.0] usb 1-1: new device"],
                                      stats=stats))
    assert records == [] and stats["skipped"] == 4


def test_syscall_exact_layout_agrees_with_the_general_search() -> None:
    """Where the anchored regex of audit_log_exit()'s layout matches, its fields are those of
    the general (lazy) search; a body in any other shape falls back to it and still parses."""
    import random

    from stockade.audit.readers.interpret import _SYSCALL, SYSCALL_EXACT, syscall_fields

    base = ("arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=7ffd1944 a2=80000 a3=0 "
            "items=1 ppid=6467 pid=6468 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 "
            "fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm=\"nginx\" "
            f"exe={hexs('/opt/my app/nginx')} subj=unconfined key=(null)")
    rng = random.Random(5)
    pieces = [" ", "=", "ppid=1 ", " ses=9", " key=\"k\"", "x", "\"", "-", "0"]
    exact = 0
    for n in range(3000):
        body = base
        for _ in range(n % 4):
            at = rng.randrange(len(body) + 1)
            body = body[:at] + rng.choice(pieces) + body[at:]
        match = SYSCALL_EXACT.match(body)
        general = _SYSCALL.search(body)
        if match is not None:
            exact += n % 4 != 0  # a mutated body that still has the kernel's layout
            assert general is not None and match.groupdict() == general.groupdict(), body
        syscall_fields(body)  # never raises, whichever path reads it
    assert exact > 0 and SYSCALL_EXACT.match(base) is not None
    fields = syscall_fields(base)
    assert (fields["pid"], fields["exit"], fields["exe"], fields["key"]) == \
        ("6468", "-13", "/opt/my app/nginx", "(null)")
    other = base.replace(" tty=pts0", "")  # an older kernel's layout: the general search
    assert SYSCALL_EXACT.match(other) is None and syscall_fields(other)["ses"] == "3"
