"""Smack and ABAC on real processes through the supervisor (labels read from the opened fd)."""

import json
import os

from sv_helpers import NOBODY, Tree, script, supervised

OFFICE_HOURS = """\
rules:
  - id: office-hours-writes
    effect: deny
    hooks: [file_open, inode_create]
    condition: request.write && (env.hour < 8 || env.hour >= 18)
"""


def test_smack_labels_and_rules(user):
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        tree.file("public", "PUBLIC\n", smack="Public")
        tree.file("secret", "SECRET\n", smack="Secret")
        d = str(tree.root)
        run = supervised(script(f"""
attempt(lambda: print(open({d + '/public'!r}).read().strip()))
attempt(lambda: open({d + '/secret'!r}).read())
attempt(lambda: open({d + '/public'!r}, 'a').write('+'))
"""), user=user, lsm="capability,smack", contexts=["smack=App"],
            options=["smack.rules_text=App Public rwa"], rw=[d])
        assert run.lines == ["PUBLIC", "OK", "EACCES", "OK"], run
        assert (tree.root / "public").read_text() == "PUBLIC\n+"
        denied = [r for r in run.audit if r["result"] == "DENIED"]
        assert {r["module"] for r in denied} == {"smack"} and "secret" in denied[0]["object"]
    finally:
        tree.cleanup()


def test_abac_denies_writes_outside_working_hours(user):
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        tree.file("report", "Q3\n")
        policy = tree.root / "abac.yaml"
        policy.write_text(OFFICE_HOURS)
        os.chmod(policy, 0o644)
        d = str(tree.root)
        code = script(f"""
attempt(lambda: print(open({d + '/report'!r}).read().strip()))
attempt(lambda: open({d + '/report'!r}, 'a').write('+'))
""")
        options = [f"abac.policy_file={policy}"]
        night = supervised(code, user=user, lsm="capability,abac", contexts=(),
                           options=[*options, 'abac.clock="2026-01-07T22:30:00+00:00"'], rw=[d])
        assert night.lines == ["Q3", "OK", "EACCES"], night
        (denial,) = [r for r in night.audit if r["result"] == "DENIED"]
        assert denial["module"] == "abac" and denial["fields"]["rule"] == "office-hours-writes"
        day = supervised(code, user=user, lsm="capability,abac", contexts=(),
                         options=[*options, 'abac.clock="2026-01-07T10:30:00+00:00"'], rw=[d])
        assert day.lines == ["Q3", "OK", "OK"], day
        assert (tree.root / "report").read_text() == "Q3\n+"
        assert json.dumps(day.audit).count('"DENIED"') == 0
    finally:
        tree.cleanup()
