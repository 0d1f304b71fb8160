"""The compiler's file entries (FileEntry, one per file and link rule) carry each qualifier
and mode of their rule in the field of its name (the compiler makes them positionally)."""

from __future__ import annotations

from stockade.policy import compile_profiles
from stockade.policy.modes import Perm

PROFILE = """profile p /bin/true {
  /plain r,
  audit deny /denied w,
  owner /mine/** rw,
  other /theirs a,
  priority=5 /prio ix,
  quiet deny /q r,
  /exec Px -> /bin/other,
  /x l -> /y,
}
"""


def test_each_field_holds_its_own_value() -> None:
    entries = {e.pattern.text: e for e in compile_profiles(PROFILE)[0].file_entries}
    plain, denied = entries["/plain"], entries["/denied"]
    assert plain.rule.path == "/plain" and plain.perms == Perm.READ
    assert (plain.deny, plain.audit, plain.quiet, plain.owner, plain.other,
            plain.priority, plain.exec_mode, plain.exec_target) == \
        (False, False, False, False, False, 0, None, None)
    assert (denied.deny, denied.audit, denied.quiet) == (True, True, False)
    assert denied.perms & Perm.WRITE and not denied.perms & Perm.READ
    assert entries["/mine/**"].owner and not entries["/mine/**"].other
    assert entries["/theirs"].other and not entries["/theirs"].owner
    assert entries["/prio"].priority == 5 and entries["/prio"].exec_mode == "ix"
    assert entries["/q"].quiet and entries["/q"].deny
    exec_entry = entries["/exec"]
    assert (exec_entry.exec_mode, exec_entry.exec_target) == ("Px", "/bin/other")
    assert all(e.rule.path == text and e.perms == e.rule.perms
               for text, e in entries.items() if text != "/x")
    assert entries["/x"].perms == Perm.LINK
