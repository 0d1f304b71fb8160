"""The helper programs stockade starts come from fixed system directories and only root may
change them (host/tools.py); a plan that may write those directories is refused (red team 14:
a sandbox planted /usr/local/sbin/nft, and root's next `stockade status` ran it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from confine_helpers import REPO, STOCKADE, cli

from stockade.host import tools


def test_a_grant_over_a_helper_directory_is_refused(area, user):
    for grant in ("/usr/sbin", "/sbin", "/usr/sbin/nft"):
        if not os.path.lexists(grant):
            continue
        res = cli("run", "--rx", "/", "--rw", grant, "--", "/usr/bin/true", user=user,
                  own_code_refusal=True)
        assert res.returncode == 125, res
        assert "the launcher's own code" in res.stderr and "/usr/sbin" in res.stderr, res
    res = cli("run", "--rx", "/", "--rw", str(area.allowed), "--", "/usr/bin/true", user=user)
    assert res.returncode == 0, res


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="a private mount namespace needs root")
def test_status_does_not_run_a_program_planted_on_roots_path():
    """The red team's scenario: /usr/local/sbin (first on Debian root's PATH) is writable by a
    sandbox; root's `status` must not run the `nft` or `iptables-save` planted there."""
    scratch = tempfile.mkdtemp(prefix="stockade-t-")
    os.chmod(scratch, 0o755)
    marker = os.path.join(scratch, "ran")
    try:
        script = (
            'mount --bind "$1" /usr/local/sbin || exit 3\n'
            '"$3" -m stockade run -q --rx / --rw /usr/local/sbin -- /bin/sh -c \''
            'for n in nft iptables-save notify-send dot systemd-analyze; do '
            'printf "#!/bin/sh\\necho $n >> $0\\n" "$2" > /usr/local/sbin/$n; '
            'chmod 755 /usr/local/sbin/$n; done\' "$2" || exit 4\n'
            'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin '
            '"$3" -m stockade status --json > /dev/null\n'
            'ls /usr/local/sbin\n')
        res = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                              "sh", scratch, marker, STOCKADE[0]],
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(REPO / "src")})
        assert res.returncode == 0, res
        assert "nft" in res.stdout and "iptables-save" in res.stdout, res  # the plant happened
        assert not os.path.exists(marker), Path(marker).read_text()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_helper_someone_else_may_change_is_refused(tmp_path):
    """Found only where root alone may change every name on the way to it."""
    assert tools.find("no-such-helper-program") is None
    assert "not installed" in tools.why_missing("no-such-helper-program")
    found = tools.find("sh")
    assert found is not None and os.path.dirname(found) in tools.TOOL_DIRS
    assert tools.refusal(found) is None
    # a copy in a directory owned by someone else, and one in a world-writable directory
    d = tmp_path / "d"
    d.mkdir()
    os.chmod(tmp_path, 0o755)
    prog = d / "prog"
    prog.write_text("#!/bin/sh\n")
    os.chmod(prog, 0o755)
    if os.geteuid() == 0:
        os.chown(d, 65534, 65534)
        assert "owned by uid 65534" in (tools.refusal(str(prog)) or ""), tools.refusal(str(prog))
        os.chown(d, 0, 0)
    os.chmod(d, 0o777)
    assert "writable by its group or others" in (tools.refusal(str(prog)) or "")
    # a link whose directory someone else may write is refused though its target is fine
    os.chmod(d, 0o755)
    link_dir = tmp_path / "links"
    link_dir.mkdir(mode=0o777)
    os.chmod(link_dir, 0o777)
    os.symlink(found, link_dir / "sh")
    assert "writable by its group or others" in (tools.refusal(str(link_dir / "sh")) or "")
