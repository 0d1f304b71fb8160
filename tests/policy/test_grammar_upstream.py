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
    ("owner io_uring,", False), ("owner { capability chown, }", False),
    ("owner { /x r, }", True), ("deny audit change_profile,", False),
    ("deny audit /x r,", False), ("owner deny /x r,", False), ("owner audit /x r,", False),
    ("audit audit /x r,", False), ("deny allow /x r,", False),
    ("deny { allow /x r, }", False), ("owner { other /x r, }", False),
    ("deny { deny /x w, }", True), ("audit { deny /x w, }", True),
    ("{ /x r, }", True), ("deny file,", False), ("audit set rlimit nofile <= 3,", False),
    ("priority=5 audit deny owner /x r,", True), ("audit priority=5 /x r,", False),
    ("priority=1 { /x r, }", False),
]


@pytest.mark.parametrize(("body", "ok"), PREFIX, ids=[b for b, _ in PREFIX])
def test_prefixes(body: str, ok: bool) -> None:
    assert accepts(prof(body)) is ok
