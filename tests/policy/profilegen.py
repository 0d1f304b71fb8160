"""Generated valid and broken profiles, one rule kind at a time, for the differential harness.

Every case is AppArmor 3.0 syntax (what Debian's apparmor_parser 3.0.8 knows), so the installed
parser can be the oracle. Each case is (kind, name, text, files): `files` are extra files
(relative path -> text) written next to the profile for include tests. The generator is
deterministic: a fixed seed gives the same cases every run.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    """One generated profile file."""

    kind: str
    name: str
    text: str
    files: dict[str, str] = field(default_factory=dict)


# Rule bodies by kind. Each list mixes valid and broken snippets; the oracle decides which is
# which, so a snippet only has to be interesting, not pre-labelled.
FILE_PATHS = ["/etc/app.conf", "/srv/data/**", "/var/log/*.log", "/usr/{bin,sbin}/tool",
              "/tmp/[a-z]*", "@{HOME}/.apprc", "/opt/x/{,sub/}f?", "/run/app/", "\"/a b/c\"",
              "/foo,bar", "@{FOO}/=/x", "/{en}", "/a/{b,c}/{d,e}", "/x/**/y", "/p/\\{lit",
              "relative/path", "/a/{b", "/a/b}", "/dev/null", "/[!a]x", "/[^a]x", "/{,a}"]
FILE_MODES = ["r", "rw", "a", "rk", "mr", "rl", "w", "rwk", "ra", "rwa", "K", "R", "W", "L",
              "M", "X", "x", "ix", "px", "Px", "cx", "Cx", "ux", "Ux", "pix", "PIx", "cux",
              "CUx", "pux", "pxpx", "pxix", "ixix", "rix", "mix", "rpx", "lpx", "wlk", "A",
              "rr", "kk", "rwlkm", "Pxpx", "pxPx", "z", "rx"]
EXEC_TARGETS = ["", " -> kid", " -> /other", " -> :ns:prof", " -> ", " -> a b"]
QUALIFIERS = ["", "audit ", "deny ", "owner ", "allow ", "audit deny ", "deny audit ",
              "audit owner ", "owner audit ", "deny owner ", "owner deny ", "audit allow ",
              "other ", "owner other ", "audit audit ", "deny deny ", "user ",
              "allow deny ", "audit deny owner ", "deny allow "]

NON_FILE = {
    "capability": [
        "capability,", "capability sys_admin,", "capability chown kill setuid,",
        "capability sys_bogus,", "capability CHOWN,", "capability (chown),",
        "capability chown,kill,", "capability audit_read bpf perfmon,",
        "capability checkpoint_restore,", "capability mac_admin mac_override,",
    ],
    "network": [
        "network,", "network inet,", "network inet stream,", "network inet tcp,",
        "network inet6 udp,", "network inet stream tcp,", "network unspec,", "network bogus,",
        "network netlink raw,", "network packet dgram,", "network stream,", "network tcp,",
        "network inet6 icmp,", "network inet icmp,", "network inet raw,", "network local,",
        "network unix stream,", "network bluetooth seqpacket,", "network inet dccp,",
        "network inet inet6,", "network dgram inet,", "network mctp,", "network ax25 rdm,",
        "network xdp,", "network inet6 raw icmpv6,",
    ],
    "unix": [
        "unix,", "unix (send, receive),", "unix type=stream,", "unix (bind) addr=@foo,",
        "unix (connect) peer=(label=foo),", "unix listen peer=(label=x),",
        "unix bind peer=(addr=@x),", "unix (send) peer=(addr=@x label=y),",
        "unix (bogus),", "unix type=stream type=dgram,", "unix addr=none,",
        "unix (create) type=dgram,", "unix (getattr, setattr),", "unix (getopt, setopt),",
        "unix (shutdown),", "unix (accept),", "unix send,", "unix rw,", "unix r,",
        "unix (read, write),", "unix peer=(label=a),", "unix label=foo,",
        "unix attr=x,", "unix opt=y,", "unix protocol=0,",
        "unix (connect, receive) type=seqpacket peer=(addr=\"@/tmp/x\"),",
        "unix bogus=x,", "unix peer=(bogus=x),", "unix (create) peer=(label=x),",
        "unix type=(stream dgram),", "unix (send) label=x peer=(label=y),",
    ],
    "signal": [
        "signal,", "signal (send),", "signal send set=(hup, term),", "signal receive peer=foo,",
        "signal set=kill,", "signal set=(bogus),", "signal set=rtmin+0,", "signal set=rtmin+32,",
        "signal set=rtmin+33,", "signal set=rtmin+001,", "signal set=(exists),",
        "signal (read, write),", "signal rw,", "signal r,", "signal (bogus),", "signal peer=a peer=b,",
        "signal set=(int) set=(hup),", "signal set=stp,", "signal set=emt,", "signal set=(usr1 usr2),",
        "signal (send receive) set=(segv),", "signal bogus=1,", "signal set=(hup,term),",
        "signal (send) peer=/usr/bin/foo,", "signal set=(rtmin+5),", "signal set=(-1),",
    ],
    "ptrace": [
        "ptrace,", "ptrace (read),", "ptrace trace,", "ptrace (readby, tracedby),",
        "ptrace write,", "ptrace (read) peer=foo,", "ptrace bogus,", "ptrace rw,", "ptrace r,",
        "ptrace peer=a peer=b,", "ptrace (trace read) peer=/usr/bin/x,", "ptrace (send),",
        "ptrace bogus=x,", "ptrace tracedby peer=unconfined,",
    ],
    "dbus": [
        "dbus,", "dbus send,", "dbus (send, receive) bus=session,",
        "dbus send bus=system path=/org/x interface=org.x member=Y peer=(name=org.y),",
        "dbus bind bus=session name=org.x,", "dbus eavesdrop bus=session,",
        "dbus receive peer=(label=foo),", "dbus bogus,", "dbus bus=a bus=b,",
        "dbus send peer=(name=a, label=b),", "dbus (bind, eavesdrop),", "dbus rw,", "dbus r,",
        "dbus path=/x path=/y,", "dbus bogus=1,", "dbus peer=(bogus=x),",
        "dbus (read write) bus=system,", "dbus send member={a,b},", "dbus name=x peer=(name=y),",
    ],
    "mount": [
        "mount,", "mount /dev/sda1 -> /mnt/,", "mount options=(ro, bind) /src/ -> /dst/,",
        "mount options=(rw, ro) -> /foo,", "mount options=(XXX) -> /foo,",
        "mount fstype=ext4 /dev/a -> /b/,", "mount options=ro,", "mount options=rbind /a -> /b,",
        "mount options=(make-private) -> /foo,", "mount options=(private) /a -> /b,",
        "mount options=(shared, private) -> /foo,", "mount options=(remount) -> /foo,",
        "mount options in (ro, nosuid) -> /x,", "mount vfstype=tmpfs,",
        "mount fstype=(ext3, ext4),", "mount options=(move) /a -> /b,",
        "mount options=(bind, remount) /a -> /b,", "mount options=(nodev,nosuid) /a -> /b,",
        "mount -> /x,", "mount /a,", "mount bogus=x,", "mount options=(ro) options=(rw) /a,",
        "mount options=(silent,acl,user_xattr) -> /x,", "mount options=(unbindable) -> /x,",
        "mount options=(rprivate),", "mount options=(rshared) /x,", "mount options=(make-rslave) -> /a,",
        "mount fstype=tmpfs options=(ro) tmpfs -> /x,", "mount /a -> options=(ro) /b,",
        "mount options=(strictatime) -> /x,", "mount options=(noatime,nodiratime) /a -> /b,",
        "mount options=(loud) -> /a,", "mount options=(dirsync,mand,nomand) -> /a,",
        "mount options=(B,R,M) /a -> /b,", "mount options=(r) -> /a,", "mount options=(w) -> /a,",
    ],
    "remount": [
        "remount,", "remount /mnt/,", "remount options=(ro) /mnt/,", "remount /a -> /b,",
        "remount options=(bind) /x,", "remount fstype=ext4 /x,", "remount options=(bogus) /x,",
    ],
    "umount": [
        "umount,", "umount /mnt/,", "umount /a /b,", "umount options=(ro) /mnt/,",
        "unmount /mnt/,", "umount fstype=ext4 /x,", "umount /a -> /b,",
    ],
    "pivot_root": [
        "pivot_root,", "pivot_root /newroot/,", "pivot_root oldroot=/old/ /new/,",
        "pivot_root /new/ -> kid,", "pivot_root oldroot=/a oldroot=/b /c,", "pivot_root bogus=1,",
        "pivot_root /a /b,", "pivot_root -> kid,",
    ],
    "change_profile": [
        "change_profile,", "change_profile -> other,", "change_profile /bin/foo -> other,",
        "change_profile safe /bin/foo -> other,", "change_profile unsafe /bin/foo,",
        "change_profile unsafe,", "change_profile safe -> x,", "change_profile bin/foo,",
        "change_profile -> :ns:prof,", "change_profile -> a b,", "change_profile /a /b,",
        "change_profile @{HOME}/x -> y,", "change_profile -> @{HOME},",
        "change_profile -> {a,b},", "change_profile -> safe,",
    ],
    "rlimit": [
        "set rlimit nofile <= 1024,", "set rlimit nofiles <= 3,", "set rlimit cpu <= 10,",
        "set rlimit cpu <= 10s,", "set rlimit rttime <= 60m,", "set rlimit rttime <= 60ms,",
        "set rlimit rttime <= 60,", "set rlimit nice <= -5,", "set rlimit nice <= 25,",
        "set rlimit as <= 1GB,", "set rlimit as <= 1G,", "set rlimit as <= 1K,",
        "set rlimit as <= 1KB,", "set rlimit as <= 1M,", "set rlimit data <= infinity,",
        "set rlimit nproc <= 10K,", "set rlimit nofile <= -1,", "set rlimit cpu <= 1h,",
        "set rlimit cpu <= 2minutes,", "set rlimit cpu <= 1week,", "set rlimit rttime <= 1s,",
        "set rlimit stack <= 1KB,", "set rlimit fsize <= 0x10,", "set rlimit rtprio <= 5,",
        "set rlimit rtprio <= 5s,", "rlimit nofile <= 3,", "set rlimit nofile <= 3 4,",
        "set rlimit cpu <= 500ms,", "set rlimit memlock <= 64 KB,", "set rlimit core <= 1b,",
        "set rlimit ofile <= 10,", "set rlimit locks <= 1,", "set rlimit sigpending <= 2,",
        "set rlimit msgqueue <= 3,", "set rlimit rss <= 100,",
    ],
    "link": [
        "link /a -> /b,", "link subset /a -> /b,", "link /a,", "link /a -> /b /c,",
        "/a l -> /b,", "l /a -> /b,", "link <= /a -> /b,", "l subset /a -> /b,",
        "rl /a -> /b,", "/a rl -> /b,",
    ],
}

VARIABLE_PREAMBLES = [
    "@{FOO} = /a /b\n", "@{FOO}=/a\n@{FOO}+=/b\n", "@{FOO} += /a\n", "@{FOO} = /a\n@{FOO} = /b\n",
    "@{FOO} = /a,\n", "@{_FOO} = /a\n", "@{1FOO} = /a\n", "@{F_1} = /a\n",
    "@{FOO} = \"/a b\" /c\n", "@{FOO} = /a \\\n  /b\n", "@{FOO} = @{BAR}\n@{BAR} = /x\n",
    "@{FOO} = /a\n@{BAR} = @{FOO}/b\n", "@FOO = /a\n", "@{FOO} =\n",
    "@{FOO} = /a # comment\n", "@{FOO}=\n/a\n", "@{FOO} = /{a,b}\n", "@{FOO} = a\n",
]
VARIABLE_USES = ["@{FOO}/x r,", "@{FOO} r,", "/x/@{FOO} r,", "@{UNDEF}/x r,",
                 "@{FOO}/@{FOO} r,", "/x@{FOO}y r,", "@{FOO}/=/x r,"]

BOOLEAN_CASES = [
    "$FOO=true\nprofile t {\n  if $FOO {\n    /foo r,\n  }\n}\n",
    "${FOO}=true\nprofile t {\n  if ${FOO} {\n    /foo r,\n  }\n}\n",
    "${FOO} = false\nprofile t {\n  if not ${FOO} {\n    /foo r,\n  } else {\n    /bar r,\n  }\n}\n",
    "${FOO} = TRUE\nprofile t {\n  if $FOO {\n    /foo r,\n  }\n}\n",
    "${FOO} = maybe\nprofile t {\n  /foo r,\n}\n",
    "${FOO} = true\n${FOO} = false\nprofile t {\n  /foo r,\n}\n",
    "${FOO} += true\nprofile t {\n  /foo r,\n}\n",
    "profile t {\n  if ${UNDEF} {\n    /foo r,\n  }\n}\n",
    "@{X} = /a\nprofile t {\n  if defined @{X} {\n    /foo r,\n  }\n}\n",
    "profile t {\n  if defined @{X} {\n    /foo r,\n  } else if defined ${Y} {\n    /bar r,\n  }\n}\n",
    "${A} = true\nprofile t {\n  if ${A} {\n  }\n}\n",
    "${A} = true\nprofile t {\n  if ${A}\n  {\n    /foo r,\n  }\n}\n",
    "${A} = true\nprofile t {\n  if ${A} { /foo r, } else { /bar r, }\n}\n",
    "${A} = true\nprofile t {\n  if ${A} {\n    profile kid {\n    }\n  }\n}\n",
    "${A} = true\nif ${A} {\n  /foo r,\n}\nprofile t {\n}\n",
    "${A}=true,\nprofile t {\n}\n",
    "$A = true\nprofile t {\n  if defined $A {\n    /x r,\n  }\n}\n",
]

INCLUDE_FILES = {"inc/abs": "/from/abs r,\n", "inc/dir/one": "/one r,\n",
                 "inc/dir/two": "/two r,\n", "inc/dir/.hidden": "bogus\n",
                 "inc/dir/x~": "bogus\n", "inc/bad": "bogus rule here\n",
                 "inc/self": "include <inc/self>\n/self r,\n",
                 "inc/twice": "include <inc/abs>\ninclude <inc/abs>\n",
                 "a b/c": "/space r,\n", "inc/vars": "@{V} = /v\n",
                 "inc/nested": "include <inc/abs>\n/nested r,\n"}
INCLUDE_STATEMENTS = [
    "include <inc/abs>", "#include <inc/abs>", "include \"{dir}/inc/abs\"", "include <inc/dir>",
    "include <inc/missing>", "include if exists <inc/missing>", "include if exists <inc/abs>",
    "include <inc/bad>", "include <inc/self>", "include <inc/twice>", "include <\"a b/c\">",
    "include \"{dir}/a b/c\"", "include inc/abs", "include {dir}/inc/abs", "include <>",
    "include <inc/abs> ,", "include <inc/abs>,", "include", "include <inc/nested>\n  include <inc/abs>",
    "include <inc/abs>\n  include <inc/abs>", "#include<inc/abs>", "include <  inc/abs  >",
    "include <inc/abs", "include \"inc/abs\"",
]
ABI_STATEMENTS = ["abi <abi/3.0>,", "abi <abi/3.0>", "abi \"/etc/apparmor.d/abi/3.0\",",
                  "abi <abi/4.19>,", "abi <>,", "abi,", "abi abi/3.0,", "abi <abi/kernel-5.4-vanilla>,",
                  "abi <abi/3.0>,\nabi <abi/3.0>,", "abi <abi/3.0> ,", "abi <abi>,"]

PROFILE_HEADERS = [
    "profile t", "profile t /usr/bin/t", "/usr/bin/t", "profile t flags=(complain)",
    "profile t flags=(complain, audit)", "profile t flags=(enforce, complain)",
    "profile t flags=()", "profile t flags=(bogus)", "profile t (complain)", "/usr/bin/t (complain)",
    "profile t flags=(attach_disconnected)", "profile t flags=(attach_disconnected.path=/x)",
    "profile t flags=(attach_disconnected, no_attach_disconnected)",
    "profile t flags=(chroot_relative, namespace_relative)", "profile t flags=(mediate_deleted)",
    "profile t flags=(mediate_deleted, delegate_deleted)", "profile t flags=(kill)",
    "profile t flags=(unconfined)", "profile t flags=(kill, complain)", "profile t flags=(error=EPERM)",
    "profile t flags=(error=EBOGUS)", "profile t flags=(error=-1)", "profile t flags=(debug)",
    "profile t flags=(chroot_attach, chroot_no_attach)", "profile t flags=(complain,complain)",
    "profile t flags=(interruptible)", "profile t flags=complain", "profile t flags=(audit)",
    "profile t xattrs=(user.foo=bar)", "profile t /x xattrs=(a=b) flags=(complain)",
    "profile t /x flags=(complain) xattrs=(a=b)", "profile t xattrs=(value)",
    "profile t xattrs=(a=b c=d)", "profile \"t s\"", "profile t//x", "profile :ns:t",
    "profile :ns t", "t", "profile t bin/t", "profile t @{HOME}/x", "profile t \"/a b\"",
    "profile t /x /y", "profile", "profile t flags", "hat t", "^t", "profile /t",
    "profile t flags=(namespace_relative)", "profile t flags=(Complain)",
    "profile t + identities=(foo)", "profile t flags=(prompt)",
]

CHILD_CASES = [
    "profile t {\n  profile kid {\n  }\n}\n",
    "profile t {\n  profile kid {\n  }\n  profile kid {\n  }\n}\n",
    "profile t {\n  ^hat {\n  }\n  ^hat {\n  }\n}\n",
    "profile t {\n  ^hat {\n  }\n  hat hat {\n  }\n}\n",
    "profile t {\n  hat h {\n    /x r,\n  }\n}\n",
    "profile t {\n  ^h flags=(complain) {\n  }\n}\n",
    "profile t {\n  ^h xattrs=(a=b) {\n  }\n}\n",
    "profile t {\n  ^h /x {\n  }\n}\n",
    "profile t {\n  profile kid /usr/bin/kid {\n  }\n}\n",
    "profile t {\n  profile kid {\n    profile grandkid {\n    }\n  }\n}\n",
    "profile t {\n  ^h {\n    ^hh {\n    }\n  }\n}\n",
    "profile t {\n}\nprofile t {\n}\n",
    "profile t {\n}\nprofile u {\n}\n",
    "/usr/bin/t {\n}\n/usr/bin/t {\n}\n",
    "profile t {\n  audit {\n    /x r,\n  }\n}\n",
    "profile t {\n  deny {\n    /x w,\n    capability chown,\n  }\n}\n",
    "profile t {\n  owner {\n    /x r,\n  }\n}\n",
    "profile t {\n  owner {\n    capability chown,\n  }\n}\n",
    "profile t {\n  audit deny {\n    /x r,\n  }\n}\n",
    "profile t {\n  deny {\n    deny /x r,\n  }\n}\n",
    "profile t {\n  audit {\n    deny /x r,\n  }\n}\n",
    "profile t {\n  deny {\n    allow /x r,\n  }\n}\n",
    "profile t {\n  owner {\n    owner /x r,\n  }\n}\n",
    "profile t {\n  {\n    /x r,\n  }\n}\n",
    "profile t {\n  /x r,\n",
    "profile t {\n  /x r,\n}\n}\n",
    "profile t {\n  alias /a -> /b,\n}\n",
    "alias /a -> /b,\nprofile t {\n}\n",
    "alias /a /b,\nprofile t {\n}\n",
    "rewrite /a -> /b,\nprofile t {\n}\n",
    "profile t {\n  profile kid flags=(complain) {\n  }\n}\n",
    "profile t {\n  owner profile kid {\n  }\n}\n",
    "profile t {\n  audit ^hat {\n  }\n}\n",
    "profile t {\n  /x r, /y r,\n}\n",
    "profile t {\n  /x r,/y r,\n}\n",
    "profile t {\n  /x r\n}\n",
    "profile t { /x r, }\n",
    "profile t {\n  file,\n}\n",
    "profile t {\n  owner file,\n}\n",
    "profile t {\n  file /x r,\n}\n",
    "profile t {\n  file r /x,\n}\n",
    "profile t {\n  deny file,\n}\n",
    "profile t {\n  audit file /x rw,\n}\n",
    "profile t {\n  file /x,\n}\n",
    "profile t {\n  unsafe /x px,\n}\n",
    "profile t {\n  unsafe px /foo,\n}\n",
    "profile t {\n  safe /x px,\n}\n",
    "profile t {\n  unsafe /x r,\n}\n",
    "profile t {\n  /x lpx -> kid,\n}\n",
    "profile t {\n  lpx /x -> kid,\n}\n",
    "profile t {\n  l /x -> /y,\n}\n",
    "profile t {\n  px /x -> kid,\n}\n",
    "profile t {\n  /x r -> kid,\n}\n",
    "profile t {\n  deny /x px,\n}\n",
    "profile t {\n  deny /x x,\n}\n",
    "profile t {\n  /x px -> :ns:kid,\n}\n",
    "profile t {\n  /x ix,\n  /x px,\n}\n",
    "profile t {\n  /x px,\n  /x px,\n}\n",
    "profile t {\n  /x px -> a,\n  /x px -> b,\n}\n",
    "profile t {\n  /x* px,\n  /xy ix,\n}\n",
    "profile t {\n  deny /x px,\n  /x px,\n}\n",
    "profile t {\n  deny /x x,\n  /x px,\n}\n",
    "profile t {\n  # comment\n  /x r, # trailing\n}\n",
    "# only a comment\n",
    "",
    "profile t {\n  /x r,\n}\n# end\n",
    "profile t {\n  capability\n}\n",
    "profile t {\n  ,\n}\n",
    "profile t {\n  /x r,,\n}\n",
]

IN_AND_VALUES = [
    "signal set in (hup, int),", "dbus bus in (system session),", "unix type in (stream),",
    "ptrace peer in (a b),", "mount options in (ro) -> /x,", "mount fstype in (ext4) -> /x,",
    "dbus bus=(system session),", "dbus path=(/a /b),", "signal set=(tstp poll),",
    "signal set=(lost),", "signal set=rtmin+,", "signal set=rtmin+5x,", "pivot_root oldroot in (/a) /b,",
    "unix peer=(addr in (@a)),", "network inet label=foo,", "mount options=(ro) fstype=(a b) /a -> /b,",
    "umount options in (ro) /x,", "remount options in (ro) /x,", "dbus member=(a),",
    "signal (send,receive) peer=(a),", "unix (send) peer=(label=(a b)),",
]
EXTRA_PROFILES = [
    "profile t /usr/bin/t//x {\n}\n", "profile \"/usr/bin/a b\" {\n}\n",
    "profile t \"/usr/bin/a b\" {\n}\n", "profile t @{HOME}/bin/t {\n}\n",
    "@{B} = /opt/b\nprofile t @{B}/t {\n}\n", "@{B} = b\nprofile t @{B} {\n}\n",
    "profile t //x {\n}\n", "profile :ns:t {\n}\n", "profile :ns:t /x {\n}\n",
    ":ns:/usr/bin/t {\n}\n", "profile :: t {\n}\n", "profile :ns t {\n}\n",
    "profile t {\n  profile /usr/bin/kid {\n  }\n}\n", "profile t {\n  /usr/bin/kid {\n  }\n}\n",
    "profile t {\n  ^/x {\n  }\n}\n", "profile t {\n  hat {\n  }\n}\n",
    "profile t {\n  profile {\n  }\n}\n", "profile t flags=(complain) flags=(audit) {\n}\n",
    "profile t (complain) (audit) {\n}\n", "profile t xattrs=(a=b) xattrs=(c=d) {\n}\n",
    "profile t {\n  /x r,\n  include <abstractions/base>\n}\n",
    "include <tunables/global>\nprofile t {\n  @{HOME}/x r,\n  @{PROC}/@{pid}/x r,\n}\n",
    "include <tunables/global>\nprofile t {\n  owner @{HOMEDIRS}/x rw,\n}\n",
    "profile t {\n  \"/a\\\"b\" r,\n}\n", "profile t {\n  /a\\ b r,\n}\n",
    "profile t {\n  /a\\,b r,\n}\n", "profile t {\n  /a#b r,\n}\n",
    "profile t {\n  /a/b r, # c\n}\n", "profile t {\n  /a/b\tr,\n}\n",
    "profile t {\r\n  /a r,\r\n}\r\n", "profile t {\n  /a rw\n  ,\n}\n",
]

#: Hand-picked corners (written with escapes; decoded with unicode_escape when used).
PROBES = [
    'profile t xattrs=(security.apparmor="foo") {\\n}\\n',
    'profile t xattrs=(a=/b/*) {\\n}\\n',
    'profile t xattrs=(a="b c") {\\n}\\n',
    'profile t /x xattrs=(a=b c=d) {\\n}\\n',
    'profile t xattrs=() {\\n}\\n',
    'profile t xattrs=(a=b,c=d) {\\n}\\n',
    'profile t xattrs=(a=(b c)) {\\n}\\n',
    'profile t {\\n  ^foo,\\n}\\n',
    'profile t {\\n  change_hat foo,\\n}\\n',
    'profile t {\\n  @{profile_name} r,\\n}\\n',
    'profile t {\\n  /x/@{profile_name} r,\\n}\\n',
    '@{V}=a\\nprofile @{V} {\\n}\\n',
    '@{V}=/a /b\\nprofile t @{V} {\\n}\\n',
    'profile t {\\n  /x rw,\\n  /x r,\\n}\\n',
    'profile t {\\n  /x r,\\n  deny /x r,\\n}\\n',
    'profile t {\\n  audit deny /x r,\\n  deny /x r,\\n}\\n',
    'alias /a -> /b\\nprofile t {\\n}\\n',
    'alias /a/ -> /b/,\\nalias /a/ -> /c/,\\nprofile t {\\n}\\n',
    'alias a -> /b,\\nprofile t {\\n}\\n',
    'profile t {\\n  capability chown chown,\\n}\\n',
    'profile t {\\n  capability all,\\n}\\n',
    'profile t {\\n  network inet stream,\\n  network inet stream,\\n}\\n',
    'profile t {\\n  dbus send bus=session path=/a member=foo.bar,\\n}\\n',
    'profile t {\\n  dbus send bus=session interface=org.a.b peer=(name=org.x label=/y),\\n}\\n',
    'profile t {\\n  dbus (send) peer=(label=a name=b label=c),\\n}\\n',
    'profile t {\\n  signal send set=(hup) peer=/usr/bin/x//child,\\n}\\n',
    'profile t {\\n  signal send set=(hup) peer=@{profile_name},\\n}\\n',
    'profile t {\\n  ptrace read peer=@{profile_name},\\n}\\n',
    'profile t {\\n  unix (send) type=stream addr=@abc peer=(addr=none),\\n}\\n',
    'profile t {\\n  unix addr=none,\\n}\\n',
    'profile t {\\n  unix (bind) addr=/tmp/sock,\\n}\\n',
    'profile t {\\n  unix (connect) type=stream peer=(label=unconfined'
    ' addr="@/tmp/.X11-unix/X[0-9]*"),\\n}\\n',
    'profile t {\\n  mount fstype=proc -> /proc/,\\n}\\n',
    'profile t {\\n  mount fstype=proc proc -> /proc/,\\n}\\n',
    'profile t {\\n  mount options=(ro,bind) -> /x/,\\n}\\n',
    'profile t {\\n  mount options=bind /a/ -> /b/,\\n}\\n',
    'profile t {\\n  mount options=(rw,remount) -> /x/,\\n}\\n',
    'profile t {\\n  umount -> /x,\\n}\\n',
    'profile t {\\n  pivot_root oldroot=/a/ /b/ -> t,\\n}\\n',
    'profile t {\\n  pivot_root oldroot=/a/ -> t,\\n}\\n',
    'profile t {\\n  change_profile -> t,\\n  change_profile -> t,\\n}\\n',
    'profile t {\\n  change_profile /x -> t//hat,\\n}\\n',
    'profile t {\\n  change_profile -> :ns:/x,\\n}\\n',
    'profile t {\\n  change_profile -> ::x,\\n}\\n',
    'profile t {\\n  change_profile -> :ns,\\n}\\n',
    'profile t {\\n  /x px -> &kid,\\n}\\n',
    'profile t {\\n  /x px -> ::kid,\\n}\\n',
    'profile t {\\n  /x px -> :ns,\\n}\\n',
    'profile t {\\n  /x px -> kid//hat,\\n}\\n',
    'profile t {\\n  /x cx -> kid,\\n  profile kid {\\n  }\\n}\\n',
    'profile t {\\n  /x cx,\\n}\\n',
    'profile t {\\n  /x Cx -> /y,\\n}\\n',
    'profile t {\\n  /x ux,\\n  /x Ux,\\n}\\n',
    'profile t {\\n  /x px,\\n  /x Px,\\n}\\n',
    'profile t {\\n  /x pix,\\n  /x pux,\\n}\\n',
    'profile t {\\n  /x rpx,\\n  /x rix,\\n}\\n',
    'profile t {\\n  /x* px,\\n  /x* px -> y,\\n}\\n',
    'profile t {\\n  link /a -> /b,\\n  link /a -> /c,\\n}\\n',
    'profile t {\\n  /a l -> /b,\\n  /a rl -> /c,\\n}\\n',
    'profile t {\\n  link subset /a -> /**,\\n}\\n',
    'profile t {\\n  /a/** rwl,\\n}\\n',
    'profile t {\\n  /** mrwlkix,\\n}\\n',
    'profile t {\\n  @{HOME} r,\\n}\\n',
    'include <tunables/global>\\nprofile t {\\n  @{HOME}/** r,\\n  @{run}/x r,\\n  @{sys}/x r,\\n '
    ' @{multiarch} r,\\n}\\n',
    'profile t {\\n  /x r,\\n}\\n\\n\\n',
    'profile t {\\n  /x r, }\\n',
    'profile t {/x r,}\\n',
    'profile t{\\n  /x r,\\n}\\n',
    'profile t {\\n  /x r,}\\n',
    'profile t {\\n  /x { r, }\\n}\\n',
    'profile t {\\n  /{a,b}{c,d} r,\\n}\\n',
    'profile t {\\n  /a{,b{,c}} r,\\n}\\n',
    'profile t {\\n  /a/** r,\\n  /a/*/** r,\\n}\\n',
    'profile t {\\n  /a/[a-z] r,\\n}\\n',
    'profile t {\\n  /a/\\\\[ r,\\n}\\n',
    'profile t {\\n  /a/? r,\\n}\\n',
    'profile t {\\n  "/a b" r,\\n}\\n',
    'profile t {\\n  r "/a b",\\n}\\n',
    'profile t {\\n  "@{HOME}/a b" r,\\n}\\n',
    '${A}=true\\nprofile t {\\n  if ${A} {\\n    /x r,\\n  } else if ${A} {\\n    /y r,\\n  } else'
    ' {\\n    /z r,\\n  }\\n}\\n',
    '${A}=true\\nprofile t {\\n  if ${A} {\\n    /x r,\\n  }\\n  else {\\n    /z r,\\n  }\\n}\\n',
    '${A}=true\\nprofile t {\\n  if ${A} {\\n    /x r,\\n  } else /z r,\\n}\\n',
    '${A}=true\\nprofile t {\\n  if not not ${A} {\\n  }\\n}\\n',
    '${A}=true\\nprofile t {\\n  if defined @{A} {\\n  }\\n}\\n',
    '${A}=true\\n@{A}=/x\\nprofile t {\\n}\\n',
    '@{A}=/x\\n${A}=true\\nprofile t {\\n}\\n',
    '${A}=true\\nprofile t {\\n  if ${A} {\\n    include <inc/abs>\\n  }\\n}\\n',
    '${A}=true\\nprofile t {\\n  if ${A} {\\n    ^hat {\\n    }\\n  }\\n}\\n',
    '${A}=true\\nprofile t {\\n  if ${A} {\\n    capability chown,\\n    network,\\n  }\\n}\\n',
    '${A}=true\\nprofile t {\\n  if ${A} {\\n    set rlimit nofile <= 3,\\n  }\\n}\\n',
    'profile t {\\n  if defined @{A} {\\n    @{A} r,\\n  }\\n}\\n',
    '@{A} = /a\\nprofile t {\\n  @{A} r,\\n  @{A}/ r,\\n  @{A}/** r,\\n}\\n',
    '@{A} = /a\\n@{B} = @{A}/b @{A}/c\\nprofile t {\\n  @{B} r,\\n}\\n',
    '@{A} = /a\\nprofile t {\\n  @{A}@{A} r,\\n}\\n',
    '@{A} = @{A}\\nprofile t {\\n  @{A} r,\\n}\\n',
    '@{A} = /a\\nprofile t {\\n  \\\\@{A} r,\\n}\\n',
    '@{A} = /a\\nprofile t {\\n  /x@{A r,\\n}\\n',
    '@{A} = /a\\nprofile t {\\n  /x/@{} r,\\n}\\n',
    '@{A}=/a\\n@{A}+=/b\\n@{A}+=/c\\nprofile t {\\n  @{A} r,\\n}\\n',
    '@{A}+=/b\\n@{A}=/a\\nprofile t {\\n  @{A} r,\\n}\\n',
    'profile t {\\n  @{A} = /a\\n}\\n',
    '@{A} = /a\\nprofile t {\\n  @{A} = /b\\n}\\n',
    '@{A} = "/a b"\\nprofile t {\\n  @{A} r,\\n}\\n',
    '@{A} = "/a b\\nprofile t {\\n}\\n',
    '@{A} = /a#b\\nprofile t {\\n  @{A} r,\\n}\\n',
    '@{A} = /a # c\\nprofile t {\\n  @{A} r,\\n}\\n',
    'profile t {\\n  #include <inc/abs>\\n}\\n',
    'profile t {\\n  include if exists <inc/nope>\\n}\\n',
    'profile t {\\n  include if exists "/nope"\\n}\\n',
    'profile t {\\n  include if exists\\n}\\n',
    'profile t {\\n  include <inc/abs> # comment\\n}\\n',
    'profile t {\\n  include <inc/abs> /y r,\\n}\\n',
    'profile t {\\n  include "inc/abs"\\n}\\n',
    'include <inc/abs>\\n',
    'profile t {\\n  ^hat flags=(complain) {\\n  }\\n}\\n',
    'profile t {\\n  hat h flags=(complain) {\\n  }\\n}\\n',
    'profile t {\\n  ^hat (complain) {\\n  }\\n}\\n',
    'profile t {\\n  profile kid (complain) {\\n  }\\n}\\n',
    'profile t {\\n  profile kid /x {\\n  }\\n  profile kid2 /x {\\n  }\\n}\\n',
    'profile t {\\n  profile kid//x {\\n  }\\n}\\n',
    'profile a/b {\\n}\\n',
    'profile a:b {\\n}\\n',
    'profile a,b {\\n}\\n',
    'profile "a b" {\\n}\\n',
    'profile @{A} {\\n}\\n',
    '@{A}=x\\nprofile @{A} {\\n}\\n',
    'profile t /a,b {\\n}\\n',
    '/a/b/ {\\n}\\n',
    '/a/* {\\n}\\n',
    '/a/{b,c} {\\n}\\n',
    'profile t /a/{b,c} {\\n}\\n',
    'profile t /a/[ {\\n}\\n',
    'profile t {\\n  /x r,\\n}\\nprofile u /x {\\n}\\n',
    'alias /a/ -> /b/,\\nalias /a/ -> /b/,\\nprofile t {\\n}\\n',
    'alias /a -> b,\\nprofile t {\\n}\\n',
    'alias @{A} -> /b,\\nprofile t {\\n}\\n',
    'profile t {\\n}\\nalias /a -> /b,\\n',
    'profile t {\\n}\\n@{A} = /x\\n',
    'profile t {\\n}\\nabi <abi/3.0>,\\n',
    'profile t {\\n  /x r,\\n}\\n,\\n',
    'profile t {\\n  capability chown # c\\n  ,\\n}\\n',
    'profile t {\\n  capability\\n  chown,\\n}\\n',
    'profile t {\\n  network\\n  inet,\\n}\\n',
    'profile t {\\n  /x\\n  r,\\n}\\n',
    'profile t {\\n  owner\\n  /x r,\\n}\\n',
    'profile t {\\n  deny\\n  /x r,\\n}\\n',
    'profile t {\\n  /x r\\n  ,\\n}\\n',
    'profile t {\\n  signal (send)\\n  set=(hup),\\n}\\n',
    'profile t {\\n  dbus send\\n  bus=system,\\n}\\n',
    'profile t {\\n  ^ hat {\\n  }\\n}\\n',
    'profile t {\\n  ^hat{\\n  }\\n}\\n',
    'profile t {\\n  hat\\n  h {\\n  }\\n}\\n',
    'profile t {\\n  ^"hat x" {\\n  }\\n}\\n',
    'profile t {\\n  ^hat//x {\\n  }\\n}\\n',
    'profile t {\\n  profile "kid x" {\\n  }\\n}\\n',
    'profile t {\\n  profile kid {\\n    ^hat {\\n    }\\n  }\\n}\\n',
    '^hat {\\n}\\n',
    'hat h {\\n}\\n',
    'profile t {\\n  file /x rw,\\n  file rw /x,\\n  file /x,\\n}\\n',
    'profile t {\\n  audit file,\\n  owner file /x r,\\n}\\n',
    'profile t {\\n  file safe /x px,\\n}\\n',
    'profile t {\\n  safe file /x px,\\n}\\n',
    'profile t {\\n  file file,\\n}\\n',
    'profile t {\\n  /x rwrw,\\n}\\n',
    'profile t {\\n  /x rmrm,\\n}\\n',
    'profile t {\\n  /x m,\\n}\\n',
    'profile t {\\n  /x l,\\n}\\n',
    'profile t {\\n  /x k,\\n}\\n',
    'profile t {\\n  /x ixm,\\n}\\n',
    'profile t {\\n  /x mix,\\n}\\n',
    'profile t {\\n  /x xi,\\n}\\n',
    'profile t {\\n  /x rwx,\\n}\\n',
    'profile t {\\n  deny /x rwx,\\n}\\n',
    'profile t {\\n  deny /x rwmlk,\\n}\\n',
    'profile t {\\n  deny /x a,\\n}\\n',
    'profile t {\\n  /x cix -> kid,\\n}\\n',
    'profile t {\\n  /x cux,\\n}\\n',
    'profile t {\\n  /x Cux,\\n}\\n',
    'profile t {\\n  /x CUx,\\n}\\n',
    'profile t {\\n  /x pUx,\\n}\\n',
    'profile t {\\n  /x PIx,\\n}\\n',
    'profile t {\\n  /x pIx,\\n}\\n',
    'profile t {\\n  /x uix,\\n}\\n',
    'profile t {\\n  /x iux,\\n}\\n',
    'profile t {\\n  /x px -> ,\\n}\\n',
    'profile t {\\n  /x px -> "a b",\\n}\\n',
    'profile t {\\n  /x ix -> kid,\\n}\\n',
    'profile t {\\n  /x ux -> kid,\\n}\\n',
    'profile t {\\n  /x rw -> kid,\\n}\\n',
    'profile t {\\n  deny /x x -> kid,\\n}\\n',
    'profile t {\\n  /x r, /y r,\\n}\\n',
    'profile t {\\n  capability chown chown,\\n}\\n',
    'profile t {\\n  capability sys_admin sys_admin,\\n  deny capability sys_admin,\\n}\\n',
    'profile t {\\n  capability checkpoint_restore,\\n}\\n',
    'profile t {\\n  capability "chown",\\n}\\n',
    'profile t {\\n  network unix,\\n}\\n',
    'profile t {\\n  network unix stream,\\n}\\n',
    'profile t {\\n  network inet dgram,\\n  network inet6 seqpacket,\\n}\\n',
    'profile t {\\n  network inet raw,\\n  network inet6 raw,\\n}\\n',
    'profile t {\\n  network inet6 icmpv6,\\n}\\n',
    'profile t {\\n  network inet udp,\\n}\\n',
    'profile t {\\n  network udp,\\n}\\n',
    'profile t {\\n  network icmp,\\n}\\n',
    'profile t {\\n  network raw,\\n}\\n',
    'profile t {\\n  network packet,\\n}\\n',
    'profile t {\\n  network netlink dgram,\\n}\\n',
    'profile t {\\n  network "inet",\\n}\\n',
    'profile t {\\n  network inet,inet6,\\n}\\n',
    'profile t {\\n  dbus bind name=org.x,\\n}\\n',
    'profile t {\\n  dbus bind bus=session name=org.x peer=(label=y),\\n}\\n',
    'profile t {\\n  dbus eavesdrop bus=session path=/x,\\n}\\n',
    'profile t {\\n  dbus receive bus=session peer=(name=:1.3),\\n}\\n',
    'profile t {\\n  dbus send bus=session interface=a.b member=c path=/d peer=(name=e label=f),\\n}\\n',
    'profile t {\\n  dbus (send, bogus),\\n}\\n',
    'profile t {\\n  dbus (rw),\\n}\\n',
    'profile t {\\n  dbus (r, w),\\n}\\n',
    'profile t {\\n  dbus wr,\\n}\\n',
    'profile t {\\n  dbus send bus=,\\n}\\n',
    'profile t {\\n  dbus send bus="a b",\\n}\\n',
    'profile t {\\n  dbus peer=(label=a),\\n}\\n',
    'profile t {\\n  dbus peer=label,\\n}\\n',
    'profile t {\\n  signal (send) set=(hup) peer=/x,\\n}\\n',
    'profile t {\\n  signal (rw),\\n}\\n',
    'profile t {\\n  signal (r w),\\n}\\n',
    'profile t {\\n  signal (send) set=hup set=int,\\n}\\n',
    'profile t {\\n  signal set=(HUP),\\n}\\n',
    'profile t {\\n  signal set=(1),\\n}\\n',
    'profile t {\\n  signal set=(),\\n}\\n',
    'profile t {\\n  signal send receive,\\n}\\n',
    'profile t {\\n  ptrace (read trace),\\n}\\n',
    'profile t {\\n  ptrace (readby, tracedby) peer=x,\\n}\\n',
    'profile t {\\n  ptrace (rw),\\n}\\n',
    'profile t {\\n  ptrace (w),\\n}\\n',
    'profile t {\\n  ptrace read trace,\\n}\\n',
    'profile t {\\n  ptrace peer=,\\n}\\n',
    'profile t {\\n  unix (send receive) type=dgram,\\n}\\n',
    'profile t {\\n  unix (bind, listen) type=stream addr=@a,\\n}\\n',
    'profile t {\\n  unix (rw),\\n}\\n',
    'profile t {\\n  unix (bogus),\\n}\\n',
    'profile t {\\n  unix peer=(addr=@a label=b),\\n}\\n',
    'profile t {\\n  unix type=stream peer=(type=stream),\\n}\\n',
    'profile t {\\n  unix listen,\\n}\\n',
    'profile t {\\n  unix accept peer=(label=x),\\n}\\n',
    'profile t {\\n  unix (send) label=x,\\n}\\n',
    'profile t {\\n  pivot_root /a/ -> kid,\\n  profile kid {\\n  }\\n}\\n',
    'profile t {\\n  pivot_root oldroot=/a/,\\n}\\n',
    'profile t {\\n  pivot_root bogus /a,\\n}\\n',
    'profile t {\\n  umount options=(ro),\\n}\\n',
    'profile t {\\n  remount /a/ /b/,\\n}\\n',
    'profile t {\\n  mount -> /a/,\\n}\\n',
    'profile t {\\n  mount /a/,\\n}\\n',
    'profile t {\\n  mount fstype=ext4,\\n}\\n',
    'profile t {\\n  mount options=ro fstype=ext4 /dev/a -> /b/,\\n}\\n',
    'profile t {\\n  mount options=(ro) -> ,\\n}\\n',
    'profile t {\\n  mount options=(ro) /a/ -> /b/ /c/,\\n}\\n',
    'profile t {\\n  mount options in (ro, bogus) -> /a/,\\n}\\n',
    'profile t {\\n  mount options=(ro) options in (rw) -> /a/,\\n}\\n',
    'profile t {\\n  mount options=(ro rw),\\n}\\n',
    'profile t {\\n  mount options=(suid nosuid),\\n}\\n',
    'profile t {\\n  remount options=(ro rw) /a/,\\n}\\n',
    'profile t {\\n  mount options=(bind, move) /a -> /b,\\n}\\n',
    'profile t {\\n  mount options=(shared, private) -> /b,\\n}\\n',
    'profile t {\\n  mount options=(make-shared) /a,\\n}\\n',
    'profile t flags=(complain attach_disconnected) {\\n}\\n',
    'profile t flags=(complain,audit,) {\\n}\\n',
    'profile t flags=(,complain) {\\n}\\n',
    'profile t flags=( complain ) {\\n}\\n',
    'profile t flags = (complain) {\\n}\\n',
    'profile t flags=(complain) \\n{\\n}\\n',
    'profile t\\n{\\n}\\n',
    'profile t /x\\n flags=(complain) {\\n}\\n',
    'profile t /x flags=(complain) {\\n  /x r,\\n}\\n',
    '@{A}=/a/b\\nprofile t @{A} {\\n}\\n',
    '@{A}=a\\nprofile t @{A} {\\n}\\n',
    'profile t /usr/bin/{a,b} {\\n}\\n',
    'profile t /usr/bin/a* {\\n}\\n',
    'profile t /** {\\n}\\n',
    'profile t "/usr/bin/a" {\\n}\\n',
    'profile /usr/bin/a /usr/bin/b {\\n}\\n',
    'profile t {\\n  ^hat {\\n    /x r,\\n  }\\n  /y r,\\n}\\n',
    'profile t {\\n  ^hat flags=(complain) {\\n  }\\n}\\n',
    'profile t {\\n  ^hat,\\n}\\n',
    'profile t {\\n  change_hat,\\n}\\n',
    'profile t {\\n  profile kid flags=(complain) {\\n    /x r,\\n  }\\n}\\n',
    'profile t {\\n  profile kid {\\n  }\\n  /x cx -> kid,\\n}\\n',
    'profile t {\\n  /x px -> t//kid,\\n}\\n',
    'profile t {\\n  deny /x w,\\n  /x w,\\n}\\n',
    'profile t {\\n  audit /x w,\\n  audit deny /x r,\\n}\\n',
    'profile t {\\n  /x w,\\n  /x a,\\n}\\n',
    'profile t {\\n  /x rwix,\\n  /x px,\\n}\\n',
    'profile t {\\n  owner /x ix,\\n  /x px,\\n}\\n',
    'profile t {\\n  owner /x ix,\\n  other /x px,\\n}\\n',
    'profile t {\\n  /tmp/** rw,\\n  owner /tmp/** rwk,\\n}\\n',
    'profile t {\\n  deny owner /x rw,\\n}\\n',
    'profile t {\\n  audit owner /x rw,\\n}\\n',
    'profile t {\\n  other /x rw,\\n}\\n',
    'profile t {\\n  audit other /x rw,\\n}\\n',
    'profile t {\\n  deny other /x rw,\\n}\\n',
    'profile t {\\n  owner link /a -> /b,\\n}\\n',
    'profile t {\\n  deny link /a -> /b,\\n}\\n',
    'profile t {\\n  audit link subset /a -> /b,\\n}\\n',
    'profile t {\\n  link /a -> /b -> /c,\\n}\\n',
    'profile t {\\n  link -> /b,\\n}\\n',
    'profile t {\\n  link subset subset /a -> /b,\\n}\\n',
    'profile t {\\n  /a l,\\n  /a k,\\n  /a m,\\n}\\n',
]

CONDITIONAL_DUP = [
    "dbus bus=a bus=b,", "signal peer=a peer=b,", "unix type=stream type=dgram,",
    "ptrace peer=a peer=b,", "pivot_root oldroot=/a oldroot=/b /c,", "unix addr=@a addr=@b,",
    "dbus peer=(name=a name=b),", "unix peer=(label=a label=b),",
]


def _profile(body: str, header: str = "profile t") -> str:
    return f"{header} {{\n  {body}\n}}\n"


def _file_cases(rng: random.Random) -> Iterator[Case]:
    combos = list(itertools.product(FILE_PATHS, FILE_MODES))
    rng.shuffle(combos)
    for i, (path, mode) in enumerate(combos[:260]):
        body = f"{path} {mode}," if i % 3 else f"{mode} {path},"
        yield Case("file", f"file-{i}", _profile(body))
    for i, mode in enumerate(m for m in FILE_MODES if "x" in m.lower()):
        for j, target in enumerate(EXEC_TARGETS):
            yield Case("exec", f"exec-{i}-{j}", _profile(f"/usr/bin/x{i} {mode}{target},"))
            if j < 3:
                yield Case("exec", f"exec-first-{i}-{j}",
                           _profile(f"{mode} /usr/bin/x{i}{target},"))


def _qualifier_cases(rng: random.Random) -> Iterator[Case]:
    bodies = ["/x r,", "capability chown,", "network inet,", "signal,", "ptrace,", "unix,",
              "dbus,", "mount,", "umount,", "pivot_root,", "change_profile -> x,",
              "set rlimit nofile <= 3,", "link /a -> /b,", "file,", "/x px,", "deny /x x,",
              "capability,"]
    for i, (q, b) in enumerate(itertools.product(QUALIFIERS, bodies)):
        yield Case("qualifiers", f"qual-{i}", _profile(f"{q}{b}"))


def cases(seed: int = 20261204) -> list[Case]:
    """Every generated case, in a fixed order."""
    rng = random.Random(seed)
    out: list[Case] = list(_file_cases(rng))
    out.extend(_qualifier_cases(rng))
    for kind, snippets in NON_FILE.items():
        for i, s in enumerate(snippets):
            out.append(Case(kind, f"{kind}-{i}", _profile(s)))
    for i, s in enumerate(IN_AND_VALUES):
        out.append(Case("conditionals", f"in-{i}", _profile(s)))
    for i, text in enumerate(EXTRA_PROFILES):
        out.append(Case("profiles", f"extra-{i}", text))
    for i, raw in enumerate(PROBES):
        out.append(Case("probes", f"probe-{i}", raw.encode().decode("unicode_escape"),
                        INCLUDE_FILES))
    for i, s in enumerate(CONDITIONAL_DUP):
        out.append(Case("conditionals", f"dupcond-{i}", _profile(s)))
    for i, (pre, use) in enumerate(itertools.product(VARIABLE_PREAMBLES, VARIABLE_USES)):
        out.append(Case("variables", f"var-{i}", pre + _profile(use)))
    for i, text in enumerate(BOOLEAN_CASES):
        out.append(Case("conditionals", f"bool-{i}", text))
    for i, stmt in enumerate(INCLUDE_STATEMENTS):
        out.append(Case("includes", f"inc-{i}", _profile(stmt), INCLUDE_FILES))
        if i < 8:
            out.append(Case("includes", f"inc-top-{i}", f"{stmt}\nprofile t {{\n}}\n",
                            INCLUDE_FILES))
    for i, text in enumerate([
            "include <inc/vars>\ninclude <inc/vars>\nprofile t {\n  @{V} r,\n}\n",
            "include <inc/vars>\nprofile t {\n  include <inc/vars>\n}\n",
            "profile t {\n  include <inc/abs>\n  include <inc/abs>\n}\n"
            "profile u {\n  include <inc/abs>\n}\n",
            "include <inc/vars>\nprofile t {\n  @{V} r,\n}\ninclude <inc/vars>\n"]):
        out.append(Case("includes", f"inc-twice-{i}", text, INCLUDE_FILES))
    for i, stmt in enumerate(ABI_STATEMENTS):
        out.append(Case("abi", f"abi-{i}", f"{stmt}\nprofile t {{\n  /x r,\n}}\n"))
        out.append(Case("abi", f"abi-in-{i}", _profile(stmt)))
    for i, header in enumerate(PROFILE_HEADERS):
        out.append(Case("profiles", f"hdr-{i}", _profile("/x r,", header)))
    for i, text in enumerate(CHILD_CASES):
        out.append(Case("profiles", f"child-{i}", text))
    # a few random multi-rule profiles mixing kinds
    pool = [s for snippets in NON_FILE.values() for s in snippets]
    for i in range(60):
        rules = [*rng.sample(pool, 4), f"{rng.choice(FILE_PATHS)} {rng.choice(FILE_MODES)},"]
        out.append(Case("mixed", f"mixed-{i}", _profile("\n  ".join(rules))))
    return out
