"""Signals from a `run -p` sandbox: a rule narrower than "every signal to every process" keeps
Landlock's signal scope (nothing else would enforce the narrowing), so neither a process outside
the sandbox nor the launcher can be signalled. Runs as root and as nobody."""

from __future__ import annotations

import os

from confine_helpers import PY, cli
from test_redteam import bystander, lines

# prints, for each attempt, OK or the errno name; the launcher is the program's parent
KILLER = ("import errno, os, signal, sys\n"
          "def t(label, pid, sig):\n"
          "    try:\n"
          "        os.kill(pid, sig)\n"
          "    except OSError as e:\n"
          "        print(label + ':' + errno.errorcode[e.errno], flush=True)\n"
          "    else:\n"
          "        print(label + ':OK', flush=True)\n"
          "other = int(sys.argv[1])\n"
          "t('exists', other, 0)\n"
          "t('launcher', os.getppid(), signal.SIGKILL)\n"
          "t('other', other, signal.SIGKILL)\n")


def _profile(area, body: str):
    prof = area.root / "sig.profile"
    prof.write_text("#include <tunables/global>\nprofile sig {\n"
                    f"  #include <abstractions/base>\n  /usr/** rix,\n{body}}}\n")
    os.chmod(prof, 0o644)
    return prof


def test_base_abstraction_does_not_reach_outside(area, user):
    """base's `signal (receive, send) set=("exists"),` allows only signal 0: the scope stays."""
    prof = _profile(area, "")
    with bystander(user) as other:
        res = cli("run", "-q", "--no-cache", "-p", str(prof), "--", PY, "-c", KILLER,
                  str(other.pid), user=user)
        assert other.poll() is None, res  # still alive
    assert lines(res) == ["exists:EPERM", "launcher:EPERM", "other:EPERM"], res


def test_narrower_peer_rule_keeps_the_scope(area, user):
    prof = _profile(area, "  signal send set=(kill) peer=someone,\n")
    with bystander(user) as other:
        res = cli("run", "-q", "--no-cache", "-p", str(prof), "--", PY, "-c", KILLER,
                  str(other.pid), user=user)
        assert other.poll() is None, res
    assert lines(res) == ["exists:EPERM", "launcher:EPERM", "other:EPERM"], res


def test_explain_agrees_on_the_base_abstraction(area):
    prof = _profile(area, "")
    res = cli("explain", "--profile", str(prof), "kill", "1")
    assert "signal scope refuses it" in res.stdout + res.stderr, res
