"""Verdicts that read what the AVC key leaves out (a pid, an exe, a program's state) are asked
again for every request on a live process, never answered from the cache (C mirror or not)."""

import os
import subprocess
import sys

import pytest
from sv_helpers import NOBODY, Tree

# the two supervisor mechanics: the C mirror of the AVC, and pure Python
MECHANICS = pytest.mark.parametrize("pure", ["0", "1"], ids=["c", "python"])

ONLY_CAT = """\
rules:
  - id: only-cat-reads-secret
    effect: deny
    hooks: [file_open]
    condition: object.path == "{secret}" && subject.exe != "/usr/bin/cat"
"""

SECRET_ONCE = '''
from stockade.modules.programmable import hook

seen = set()


@hook("file_open")  # not cacheable: the answer depends on `seen`
def secret_once(req):
    path = req.obj.path if req.obj is not None else ""
    if path.endswith("/secret"):
        if path in seen:
            return False
        seen.add(path)
    return None
'''

def reads_under_stockade(user: str, pure: str, policy: str, text: str, options: list[str],
                         *programs: str) -> list[str]:
    """Run `programs` one after the other on a secret file under `stockade run` with the
    policy file `policy` (its text formatted with the secret's path) given by `options`
    (formatted with its path); what each printed, or `PROGRAM:denied`."""
    tree = Tree(owner=NOBODY if user == "nobody" else 0)
    try:
        secret = str(tree.file("secret", "SECRET\n"))
        policy_path = str(tree.file(policy, text.format(secret=secret)))
        for path in (secret, policy_path):
            os.chmod(path, 0o644)
        shell = "; ".join(f"{p} {secret} || echo {p.split()[0]}:denied" for p in programs)
        cmd = [sys.executable, "-m", "stockade", "run", "-q", "--mode", "enforce",
               *(o.format(policy=policy_path) for o in options), "--rx", "/", "--",
               "/bin/sh", "-c", shell]
        if user == "nobody":
            cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
        env = {**os.environ, "STOCKADE_SUPERVISOR_PURE": pure, "HOME": "/tmp"}
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
        assert out.returncode == 0, out
        return out.stdout.split()
    finally:
        tree.cleanup()


@MECHANICS
def test_abac_exe_rule_is_asked_for_each_program(user: str, pure: str) -> None:
    # a denial first (not shared with cat), then an allow (not shared with head)
    got = reads_under_stockade(user, pure, "abac.yaml", ONLY_CAT,
                               ["--lsm", "capability,abac", "--module-option",
                                "abac.policy_file={policy}"], "head -c 7", "cat", "head -c 7")
    assert got == ["head:denied", "SECRET", "head:denied"]


@MECHANICS
def test_programmable_no_opinion_is_asked_every_time(user: str, pure: str) -> None:
    got = reads_under_stockade(user, pure, "once.py", SECRET_ONCE,
                               ["--lsm", "capability", "--module-file", "{policy}"],
                               "cat", "cat", "head -c 7")
    assert got == ["SECRET", "cat:denied", "head:denied"]
