"""AppArmor through the supervisor, with the kernel's no_new_privs rule for transitions.

stockade always sets no_new_privs, and AppArmor refuses a domain transition to another
profile under no_new_privs (EPERM): a Px exec is refused, an ix exec stays in the profile.
"""

import os

from sv_helpers import NOBODY, Tree, supervised

PROFILES = """\
include <tunables/global>

profile outer {{
  include <abstractions/base>
  /usr/bin/cat {mode},
  deny {data} r,
}}

profile inner {{
  include <abstractions/base>
  /usr/bin/cat mr,
  {data} r,
}}
"""


def run_cat(tree: Tree, mode: str, user: str):
    data = tree.file("data.txt", "DATA\n")
    profile = tree.root / "profiles"
    profile.write_text(PROFILES.format(mode=mode, data=data))
    os.chmod(profile, 0o644)
    return supervised(["/usr/bin/cat", str(data)], user=user, lsm="capability,apparmor",
                      contexts=["apparmor=outer"],
                      options=[f'apparmor.profiles=["{profile}"]'], ro=[str(tree.root)])


def test_px_transition_is_refused_under_no_new_privs(user):
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        run = run_cat(tree, "Px -> inner", user)
        assert run.status == 126 and "Operation not permitted" in run.err, run
        (denial,) = [r for r in run.audit if r["result"] == "DENIED"]
        assert denial["profile"] == "outer" and denial["errno"] == 1  # EPERM
        assert "no new privs" in denial["reason"]
    finally:
        tree.cleanup()


def test_ix_stays_in_the_profile_that_denies(user):
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        run = run_cat(tree, "ix", user)
        assert run.status == 1 and "Permission denied" in run.err, run
        denied = [r for r in run.audit if r["result"] == "DENIED"]
        assert denied and all(r["profile"] == "outer" for r in denied)
    finally:
        tree.cleanup()
