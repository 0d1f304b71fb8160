"""Differential test: stockade accepts and rejects generated profiles as apparmor_parser does.

apparmor_parser runs with -Q (skip kernel load) and -K (no cache), which works as root
without AppArmor in the kernel. The generator uses syntax that AppArmor 3.0 knows.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from stockade.policy import PolicyError, compile_profiles

PARSER = shutil.which("apparmor_parser") or (
    "/usr/sbin/apparmor_parser" if Path("/usr/sbin/apparmor_parser").exists() else None)

PATHS = ["/etc/app.conf", "/srv/data/**", "/var/log/app/*.log", "/usr/{bin,sbin}/tool",
         "/tmp/[a-z]*", "@{HOME}/.apprc", "@{PROC}/@{pid}/stat", "/opt/x/{,sub/}f?",
         "/run/app/", "/dev/null"]
MODES = ["r", "rw", "a", "rk", "mr", "rl", "w", "rwk", "ra"]
EXEC = ["ix", "px", "Px", "cx -> kid", "Cx -> kid", "ux", "Ux", "pix", "Pix", "cux", "PUx",
        "px -> other"]
CAPS = ["chown", "setuid", "net_bind_service", "sys_admin", "dac_override", "kill"]
OTHER = ["network inet stream,", "network inet6 dgram,", "network netlink raw,", "network,",
         "signal (send) set=(term, hup) peer=other,", "signal,", "ptrace (read) peer=other,",
         "unix (send, receive) type=stream,", "dbus send bus=system path=/org/x member=Y,",
         "mount options=(ro, bind) /src/ -> /dst/,", "umount /mnt/,",
         "pivot_root /newroot/,", "change_profile -> other,", "set rlimit nofile <= 1024,",
         "link /a/x -> /b/x,", "file,", "capability,", "deny /etc/shadow rw,",
         "audit /var/log/app.log w,", "owner @{HOME}/** r,", "include <abstractions/base>"]

MUTATIONS = [
    ("unknown capability", lambda r: "capability sys_bogus,"),
    ("unknown network family", lambda r: "network bogusnet,"),
    ("missing comma", lambda r: "/etc/nocomma r\n  /etc/next r,"),
    ("undefined variable", lambda r: "@{UNDEFINED_VAR}/x r,"),
    ("bare x", lambda r: "/usr/bin/x x,"),
    ("append and write", lambda r: "/x rwa,"),
    ("deny with exec modifier", lambda r: "deny /x ix,"),
    ("conflicting x", lambda r: "/opt/c/* px,\n  /opt/c/b* ix,"),
    ("two exec modes", lambda r: "/opt/y ixpx,"),
    ("unbalanced brace in path", lambda r: "/opt/{a,b r,"),
    ("bad rlimit", lambda r: "set rlimit nofiles <= 3,"),
    ("unknown signal", lambda r: "signal set=(bogus),"),
    ("missing include", lambda r: "include <abstractions/does-not-exist>"),
]


def _valid_rules(rng: random.Random) -> list[str]:
    rules = []
    for _ in range(rng.randint(1, 8)):
        k = rng.random()
        if k < 0.45:
            path, mode = rng.choice(PATHS), rng.choice(MODES)
            qual = rng.choice(["", "", "owner ", "audit ", "deny "])
            rules.append(f"{qual}{path} {mode}," if rng.random() < 0.7 else
                         f"{qual}{mode} {path},")
        elif k < 0.6:
            rules.append(f"capability {' '.join(rng.sample(CAPS, rng.randint(1, 3)))},")
        else:
            rules.append(rng.choice(OTHER))
    # exec rules on disjoint exact paths cannot conflict
    for i in range(rng.randint(0, 3)):
        rules.append(f"/usr/lib/app/helper{i} {rng.choice(EXEC)},")
    return rules


def _profile(rules: list[str], rng: random.Random) -> str:
    flags = rng.choice(["", " flags=(complain)", " flags=(attach_disconnected)"])
    body = "\n  ".join(rules)
    kid = "\n  profile kid {\n    /kid r,\n  }" if rng.random() < 0.5 else ""
    hat = "\n  ^hat {\n    /hat r,\n  }" if rng.random() < 0.3 else ""
    return (f"include <tunables/global>\n@{{MYVAR}} = /srv/a /srv/b\n"
            f"profile gen /usr/bin/gen{flags} {{\n  {body}\n  @{{MYVAR}}/** r,{kid}{hat}\n}}\n"
            "profile other {\n}\n")


def _cases() -> list[tuple[str, str]]:
    rng = random.Random(20240601)
    out = []
    for i in range(26):
        out.append((f"valid-{i}", _profile(_valid_rules(rng), rng)))
    for name, make in MUTATIONS:
        rules = _valid_rules(rng)
        rules.insert(rng.randint(0, len(rules)), make(rng))
        out.append((f"invalid-{name}", _profile(rules, rng)))
    return out


def _apparmor_accepts(path: Path) -> tuple[bool, str]:
    assert PARSER is not None
    proc = subprocess.run([PARSER, "-Q", "-K", "-I", "/etc/apparmor.d", str(path)],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode == 0, proc.stderr


def _stockade_accepts(path: Path) -> tuple[bool, str]:
    try:
        compile_profiles(str(path))
    except PolicyError as err:
        return False, str(err)
    return True, ""


needs_parser = pytest.mark.skipif(
    PARSER is None or not Path("/etc/apparmor.d/tunables/global").exists(),
    reason="apparmor_parser and /etc/apparmor.d are needed")


@needs_parser
@pytest.mark.parametrize(("name", "text"), _cases(), ids=[n for n, _ in _cases()])
def test_accepts_and_rejects_like_apparmor_parser(name: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / "gen.prof"
    path.write_text(text)
    theirs, their_msg = _apparmor_accepts(path)
    ours, our_msg = _stockade_accepts(path)
    assert theirs == name.startswith("valid"), f"generator bug: {their_msg}"
    assert ours == theirs, f"stockade: {our_msg!r}; apparmor_parser: {their_msg!r}"
