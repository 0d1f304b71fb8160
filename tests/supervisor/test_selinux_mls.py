"""MLS through the supervisor: a process at s1 reads s0, cannot read s2, cannot write s0 (no
write down), with the labels read from the descriptors the supervisor opened."""

import os
from pathlib import Path

import pytest
from sv_helpers import NOBODY, Tree, script, supervised

MINI = Path(__file__).resolve().parent.parent / "selinux" / "data" / "mini.cil"
# mini.cil plus what a program needs to start: its unlabelled files (the `file` SID) readable
EXTRA = """
(allow user_t unlabeled_t (file (read open getattr execute execute_no_trans map ioctl lock)))
(allow user_t unlabeled_t (dir (search read open getattr)))
(allow user_t user_tmp_t (dir (search read open getattr)))
"""


@pytest.fixture
def policy():
    where = Tree()
    p = where.root / "policy.cil"
    p.write_text(MINI.read_text() + EXTRA)
    os.chmod(p, 0o644)
    yield str(p)
    where.cleanup()


def test_mls_read_down_no_read_up_no_write_down(policy, user):
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        ctx = "system_u:object_r:user_tmp_t:"
        tree.file("s0", "LOW\n", selinux=ctx + "s0")
        tree.file("s1", "SAME\n", selinux=ctx + "s1")
        tree.file("s2", "SECRET\n", selinux=ctx + "s2")
        d = str(tree.root)
        run = supervised(script(f"""
attempt(lambda: print(open({d + '/s0'!r}).read().strip()))
attempt(lambda: open({d + '/s2'!r}).read())
attempt(lambda: open({d + '/s0'!r}, 'a'))
attempt(lambda: open({d + '/s1'!r}, 'a').write('+'))
"""), user=user, lsm="capability,selinux", contexts=["selinux=user_u:user_r:user_t:s1"],
            options=[f'selinux.policy_paths=["{policy}"]'], rw=[d])
        assert run.lines == ["LOW", "OK", "EACCES", "EACCES", "OK"], run
        assert (tree.root / "s1").read_text() == "SAME\n+"
        denied = [r for r in run.audit if r["result"] == "DENIED"]
        assert {r["module"] for r in denied} == {"selinux"}
        assert any("s2" in r["object"] for r in denied)
    finally:
        tree.cleanup()


# A domain transition on exec (mini.cil: user_t runs passwd_exec_t → passwd_t, which may read
# shadow_t); passwd_t also needs to start an interpreter from unlabelled files.
TRANSITION_EXTRA = """
(allow passwd_t unlabeled_t (file (read open getattr execute execute_no_trans map ioctl lock)))
(allow passwd_t unlabeled_t (dir (search read open getattr)))
(allow passwd_t user_tmp_t (dir (search read open getattr)))
(allow passwd_t passwd_exec_t (file (open getattr ioctl map)))
"""


def test_exec_moves_the_task_to_the_transition_domain(policy, user):
    with open(policy, "a") as f:
        f.write(TRANSITION_EXTRA)
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        ctx = "system_u:object_r:{}:s0"
        tree.file("shadow", "HASHES\n", selinux=ctx.format("shadow_t"))
        tool = tree.file("passwd-tool", "#!/usr/bin/python3\n"
                         f"print(open({str(tree.root / 'shadow')!r}).read().strip())\n",
                         selinux=ctx.format("passwd_exec_t"))
        os.chmod(tool, 0o755)
        d = str(tree.root)
        run = supervised(script(f"""
import os
attempt(lambda: open({d + '/shadow'!r}).read())
os.execv({str(tool)!r}, [{str(tool)!r}])
"""), user=user, lsm="capability,selinux", contexts=["selinux=user_u:user_r:user_t:s0"],
            options=[f'selinux.policy_paths=["{policy}"]'], rx=[d])
        # user_t may not read shadow_t; after exec of passwd_exec_t the task is passwd_t
        assert run.lines == ["EACCES", "HASHES"], run
        denied = [r for r in run.audit if r["result"] == "DENIED"]
        assert [r["fields"]["scontext"].split(":")[2] for r in denied] == ["user_t"]
    finally:
        tree.cleanup()
